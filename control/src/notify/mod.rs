//! Events out: a tenant's webhook endpoints (generic JSON or Slack-style
//! `{"text": ...}`) and the signed deliveries of events to them.
//!
//! One notifier ([`worker`]) follows each tenant's audit chain from a
//! durable cursor ([`follow`]): the deliveries an entry makes are written to
//! the outbox in the same transaction that moves the cursor past it, so a
//! restart neither loses nor repeats an event. A periodic sweep on an
//! injectable clock ([`sweep`]) adds the events of time (a proposal about to
//! expire, an expert's SLA passed). A bounded set of senders ([`send`])
//! posts each delivery, signed with the endpoint's secret, and retries it
//! with exponential backoff and jitter; every attempt is recorded.

mod endpoints;
mod follow;
mod send;
mod sweep;
mod worker;

pub use endpoints::{CreatedEndpoint, MAX_URL_LENGTH, NewEndpoint};
pub use send::{MAX_ATTEMPTS, SIGNATURE_HEADER, sign};
pub use sweep::{EXPIRY_WARNING, Swept};
pub use worker::Notifier;

use crate::store::storage::{key, prefix};
use serde::{Deserialize, Serialize};

/// The kinds of events an endpoint can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventKind {
    /// A proposal waits for a person's decision.
    #[serde(rename = "proposal.pending")]
    ProposalPending,
    /// A pending proposal expires within the hour (sent once per proposal).
    #[serde(rename = "proposal.expiring")]
    ProposalExpiring,
    /// An expert-required proposal waited past the tenant's SLA (sent to
    /// endpoints marked `escalation`, and only to them).
    #[serde(rename = "proposal.escalated")]
    ProposalEscalated,
    /// A sync or agent run failed.
    #[serde(rename = "run.failed")]
    RunFailed,
    /// The analytics agent reported a critical anomaly.
    #[serde(rename = "anomaly.critical")]
    AnomalyCritical,
    /// A call was refused because a quota of the tenant is used up (at most
    /// one event per quota and minute).
    #[serde(rename = "quota.reached")]
    QuotaReached,
    /// A connector's platform refused to refresh its sign-in: its calls and
    /// scheduled syncs stop until someone connects the account again.
    #[serde(rename = "connection.needs-reconnect")]
    ConnectionNeedsReconnect,
}

impl EventKind {
    /// The kind's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProposalPending => "proposal.pending",
            Self::ProposalExpiring => "proposal.expiring",
            Self::ProposalEscalated => "proposal.escalated",
            Self::RunFailed => "run.failed",
            Self::AnomalyCritical => "anomaly.critical",
            Self::QuotaReached => "quota.reached",
            Self::ConnectionNeedsReconnect => "connection.needs-reconnect",
        }
    }
}

/// How a delivery's body is shaped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointFormat {
    /// The event as JSON (see the README's "Events out").
    #[default]
    Json,
    /// A Slack-compatible incoming webhook: `{"text": "<summary> <link>"}`.
    Slack,
}

/// A tenant's webhook endpoint, as the API shows it: never its secret nor
/// its URL's path and query (a Slack webhook's path is a credential).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Endpoint {
    /// Unique within the tenant.
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// The URL's scheme, host and port, for example `https://hooks.slack.com`.
    pub origin: String,
    /// The kinds it is sent.
    pub kinds: Vec<EventKind>,
    /// The body's shape.
    pub format: EndpointFormat,
    /// Whether it is sent `proposal.escalated` events.
    pub escalation: bool,
    /// Who registered it.
    pub created_by: String,
    /// When, RFC 3339.
    pub created_at: String,
}

impl Endpoint {
    /// Whether an event of `kind` goes to this endpoint.
    pub fn wants(&self, kind: EventKind) -> bool {
        match kind {
            EventKind::ProposalEscalated => self.escalation,
            kind => self.kinds.contains(&kind),
        }
    }
}

/// An endpoint as stored: with its URL and signing secret sealed by the
/// vault.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredEndpoint {
    pub(crate) endpoint: Endpoint,
    /// The sealed URL, hex.
    pub(crate) url: String,
    /// The sealed signing secret, hex.
    pub(crate) secret: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed; no more are made.
    Failed,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    /// When it ended, RFC 3339.
    pub at: String,
    /// The status the endpoint answered, if it answered.
    pub status_code: Option<u16>,
    /// What went wrong, if anything (never the URL).
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

/// The delivery of one event to one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Unique within the endpoint; newer deliveries sort first.
    pub id: String,
    /// The endpoint.
    pub endpoint: String,
    /// The event's id (the same in every delivery of the event).
    pub event: String,
    /// The event's kind.
    pub kind: EventKind,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Every attempt so far, oldest first.
    pub attempts: Vec<Attempt>,
    /// The status code of the last attempt, if it got one.
    pub status_code: Option<u16>,
    /// When the next attempt is due, RFC 3339; none once delivered or failed.
    pub next_attempt_at: Option<String>,
    /// When it was made, RFC 3339.
    pub created_at: String,
}

/// A delivery as stored: with its body (built once, so that every attempt
/// sends the same bytes) and its next attempt in Unix seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OutboxRow {
    pub(crate) tenant: String,
    pub(crate) delivery: Delivery,
    pub(crate) body: String,
    pub(crate) next_unix: Option<u64>,
}

/// The most endpoints one tenant may have.
pub const MAX_ENDPOINTS: usize = 20;

/// The most deliveries the deliveries route lists, newest first.
pub const DELIVERIES_LISTED: usize = 100;

fn endpoint_key(tenant: &str, id: &str) -> Vec<u8> {
    key(&[tenant.as_bytes(), id.as_bytes()])
}

fn outbox_prefix(tenant: &str, endpoint: &str) -> Vec<u8> {
    prefix(&[tenant.as_bytes(), endpoint.as_bytes()])
}

fn outbox_key(tenant: &str, endpoint: &str, delivery: &str) -> Vec<u8> {
    key(&[tenant.as_bytes(), endpoint.as_bytes(), delivery.as_bytes()])
}

/// The due index orders by time first, so the due deliveries are a prefix
/// of it.
fn due_key(at_unix: u64, tenant: &str, endpoint: &str, delivery: &str) -> Vec<u8> {
    key(&[
        &at_unix.to_be_bytes(),
        tenant.as_bytes(),
        endpoint.as_bytes(),
        delivery.as_bytes(),
    ])
}

/// The vault slot of an endpoint's sealed `field`.
fn seal_context(tenant: &str, endpoint: &str, field: &str) -> Vec<u8> {
    key(&[
        b"notify-endpoint",
        tenant.as_bytes(),
        endpoint.as_bytes(),
        field.as_bytes(),
    ])
}

/// A delivery id that sorts newest first within its endpoint.
fn new_delivery_id() -> Result<String, crate::vault::VaultError> {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Ok(format!(
        "{:016x}{}",
        u64::MAX - millis,
        crate::vault::random_hex(4)?
    ))
}
