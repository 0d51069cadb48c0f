//! The `omnify` command: `omnify serve` runs the host (the HTTP API and
//! console of `omnify-api` on the control plane of `omnify-control`), and
//! the other subcommands administer a host or help plugin authors.

pub mod cli;
