//! The browser console at `/console`, over real HTTP against a real host,
//! as a browser without JavaScript uses it: sign in with a key, read the
//! inbox, decide proposals with the forms ([`decisions`]), and the
//! session's security: CSRF tokens, tenants, expiry, revocation, sign-out
//! ([`sessions`]).

mod activity;
mod admin;
mod browser;
mod decisions;
mod insights;
mod reports;
mod sessions;
