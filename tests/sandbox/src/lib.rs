//! # omnify-sandbox
//!
//! Loopback servers that speak the wire formats of the Meta Marketing API,
//! the Google Ads API, the TikTok Marketing API, the Shopify Admin API, the
//! Stripe API, the LinkedIn Marketing API and the GoHighLevel API, serving
//! one seeded [`world::World`]: ad accounts whose daily spend drives the
//! store's orders and the Stripe charges, and a CRM location.
//!
//! Each server also runs its platform's OAuth authorization server
//! ([`oauth`]): expiring access tokens, rotating refresh tokens, refusals.
//! Each server checks credentials and fails with the platform's own error
//! body, pages like the platform, can be armed to rate-limit with the
//! platform's own signal ([`server::Platform::rate_limit_after`]), and logs
//! every request and write so that tests can assert what a connector did.
//! The end-to-end tests start one per test; `omnify serve --demo` and the
//! `omnify-sandbox` binary start one for people to try the connectors.

pub mod gohighlevel;
pub mod google;
pub mod linkedin;
pub mod meta;
pub mod oauth;
pub mod server;
pub mod shopify;
pub mod stripe;
pub mod tiktok;
pub mod world;

use chrono::NaiveDate;
use oauth::Dialect;
use serde_json::Value;
use server::{PlatformServer, SharedWorld};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use world::{Scenario, World};

/// How to start a [`Sandbox`].
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The seed of the world.
    pub seed: u64,
    /// Which facts to plant.
    pub scenario: Scenario,
    /// The last day with data; yesterday (UTC) when `None`.
    pub last_day: Option<NaiveDate>,
    /// The first of seven consecutive ports (Meta, Google, TikTok, Shopify,
    /// Stripe, LinkedIn, GoHighLevel); any free ports when `None`.
    pub first_port: Option<u16>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            scenario: Scenario::Planted,
            last_day: None,
            first_port: None,
        }
    }
}

/// The seven servers, sharing one world.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The world they serve; change it to make the platforms change.
    pub world: SharedWorld,
    /// The Meta Marketing API (Graph API).
    pub meta: PlatformServer,
    /// The Google Ads API (REST).
    pub google: PlatformServer,
    /// The TikTok Marketing API.
    pub tiktok: PlatformServer,
    /// The Shopify Admin API.
    pub shopify: PlatformServer,
    /// The Stripe API.
    pub stripe: PlatformServer,
    /// The LinkedIn Marketing API.
    pub linkedin: PlatformServer,
    /// The GoHighLevel (LeadConnector) API v2.
    pub gohighlevel: PlatformServer,
}

impl Sandbox {
    /// Generate the world and start the seven servers on loopback.
    pub async fn start(config: SandboxConfig) -> std::io::Result<Self> {
        let last_day = config
            .last_day
            .unwrap_or_else(|| chrono::Utc::now().date_naive() - chrono::Duration::days(1));
        let world: SharedWorld = Arc::new(Mutex::new(World::generate(
            config.seed,
            config.scenario,
            last_day,
        )));
        let address = |offset: u16| {
            SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                config.first_port.map_or(0, |port| port + offset),
            )
        };
        Ok(Self {
            meta: PlatformServer::start(world.clone(), address(0), Dialect::Meta, meta::routes).await?,
            google: PlatformServer::start(world.clone(), address(1), Dialect::Google, google::routes).await?,
            tiktok: PlatformServer::start(world.clone(), address(2), Dialect::TikTok, tiktok::routes).await?,
            shopify: PlatformServer::start(world.clone(), address(3), Dialect::Shopify, shopify::routes)
                .await?,
            stripe: PlatformServer::start(world.clone(), address(4), Dialect::Stripe, stripe::routes).await?,
            linkedin: PlatformServer::start(world.clone(), address(5), Dialect::LinkedIn, linkedin::routes)
                .await?,
            gohighlevel: PlatformServer::start(
                world.clone(),
                address(6),
                Dialect::GoHighLevel,
                gohighlevel::routes,
            )
            .await?,
            world,
        })
    }

    /// The world, locked.
    pub fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Change the daily budget of campaign `campaign_id` on `platform` to
    /// `daily_budget_cents` behind the connectors' back, as a person in the
    /// platform's own interface would: the platform serves the new budget
    /// from then on, and its write log is unchanged. Returns whether the
    /// campaign exists.
    pub fn set_daily_budget(
        &self,
        platform: world::Platform,
        campaign_id: &str,
        daily_budget_cents: i64,
    ) -> bool {
        self.world()
            .set_daily_budget(platform, campaign_id, daily_budget_cents)
    }

    /// The server `connector` (a first-party plugin's name) talks to.
    pub fn server_of(&self, connector: &str) -> Option<&PlatformServer> {
        Some(match connector {
            "meta-ads" => &self.meta,
            "google-ads" => &self.google,
            "tiktok-ads" => &self.tiktok,
            "shopify" => &self.shopify,
            "stripe" => &self.stripe,
            "linkedin-ads" => &self.linkedin,
            "gohighlevel" => &self.gohighlevel,
            _ => return None,
        })
    }

    /// For each connector, its plugin name and the body of the enablement
    /// request (`PUT /v1/tenants/{t}/plugins/{name}`) that points it at this
    /// sandbox with valid credentials.
    pub fn enablements(&self) -> Vec<(&'static str, Value)> {
        let world = self.world();
        vec![
            ("meta-ads", meta::enablement(&self.meta.url, &world)),
            ("google-ads", google::enablement(&self.google.url, &world)),
            ("tiktok-ads", tiktok::enablement(&self.tiktok.url, &world)),
            ("shopify", shopify::enablement(&self.shopify.url, &world)),
            ("stripe", stripe::enablement(&self.stripe.url, &world)),
            ("linkedin-ads", linkedin::enablement(&self.linkedin.url, &world)),
            (
                "gohighlevel",
                gohighlevel::enablement(&self.gohighlevel.url, &world),
            ),
        ]
    }
}

/// `127.0.0.1:<port>` of a server URL, as an HTTP grant names it.
pub fn grant_of(url: &str) -> String {
    url.trim_start_matches("http://").to_string()
}
