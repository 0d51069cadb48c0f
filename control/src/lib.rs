//! The Omnify control plane.
//!
//! [`control::ControlPlane`] is what the API and the commands call: it
//! decides who may do what ([`tenant`]), which plugin versions run for whom
//! ([`catalog`], [`enablement`]), signs tenants in to platforms
//! ([`oauth`]), meters and records every call ([`meter`],
//! [`audit`]), and runs the work that outlives a request ([`sync`],
//! [`scheduler`], [`proposals`], [`notify`], [`webhooks`]). Everything it
//! keeps goes through [`store::Storage`]: the embedded redb store for one
//! host, or PostgreSQL shared by several ([`hosts`] holds their leases).
//! The sandboxed calls themselves are `omnify-runtime`'s.

pub mod audit;
mod cached;
pub mod catalog;
pub mod control;
pub mod dispatch;
pub mod enablement;
pub mod feed;
pub mod hosts;
pub mod meter;
pub mod notify;
pub mod oauth;
pub mod proposals;
pub mod reports;
pub mod scheduler;
mod schema;
pub mod store;
pub mod sync;
pub mod tenant;
pub mod vault;
pub mod webhooks;
