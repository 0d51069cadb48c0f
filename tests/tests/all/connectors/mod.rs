//! The first-party connectors against the platform sandboxes, through the
//! real host: syncs, incremental syncs, rate limits, bad credentials,
//! actions and webhooks.

mod gohighlevel;
mod google;
mod linkedin;
mod meta;
mod shopify;
mod stripe;
mod support;
mod tiktok;
mod webhooks;
