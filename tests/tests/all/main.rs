//! The end-to-end suite: the real host, real components built from the
//! plugin sources, real outcomes. One module per concept, all in one test
//! binary, because every test binary links the whole host (wasmtime and
//! Cranelift included, about 130 MB each): twenty binaries filled the CI
//! machine's disk and spent minutes linking. The API's tests are their own
//! binary (`tests/api`) because they capture every log line of the process
//! to check that no secret is ever written to one.

mod agents;
mod browser;
mod caches;
mod cli_admin;
mod connectors;
mod console;
mod egress;
mod fair_share;
mod governance;
mod hosts;
mod notify;
mod oauth;
mod plugin_dev;
mod plugins;
mod proposals;
mod publishers;
mod registry;
mod sandbox;
mod scheduler;
mod sync;
mod tamper;
mod webhooks;
