//! The first build of the `versioned` test connector (plugin version
//! 1.0.0); `versioned-next` is the second. Each reports its build, so a
//! test can see which component answered a call.

const BUILD: &str = "1";

include!("connector.rs");
