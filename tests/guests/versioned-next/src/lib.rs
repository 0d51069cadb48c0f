//! The second build of the `versioned` test connector (plugin version
//! 2.0.0), the same code as `versioned` reporting another build.

const BUILD: &str = "2";

include!("../../versioned/src/connector.rs");
