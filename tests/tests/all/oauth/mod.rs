//! OAuth run by the host, end to end against the platforms' sandboxed
//! authorization servers: the sign-in of every provider, the refusals of a
//! wrong `state`, a forged shop callback and wrong client configuration
//! (`connect.rs`), and keeping tokens fresh: refresh before expiry, after an
//! `auth` answer, once for concurrent calls, a rotated token that survives
//! a host dying mid-refresh, and a refused refresh that stops the schedule
//! (`refresh.rs`). The helpers are `omnify_tests::oauth`.

mod connect;
mod refresh;

use omnify_tests::oauth::*;
