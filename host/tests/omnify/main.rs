//! The `omnify` command run as a process, as its users run it: the
//! partner's `plugin new` and `plugin run`, and `serve` killed and started
//! again. One test binary, since each one links the whole host.

mod cli;
mod container;
mod crash;
mod partner;
