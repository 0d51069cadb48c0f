//! `GET /v1/tenants/{tenant}/events`: the tenant's live feed as server-sent
//! events (see [`omnify_control::feed`]).

use super::Api;
use super::error::{ApiError, ErrorBody};
use super::extract::Caller;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use omnify_control::feed::{FeedCursor, FeedItem};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The least time between two reads of the store for one feed: commits
/// that come quicker are sent together.
const STEP_INTERVAL: Duration = Duration::from_millis(100);

/// How long one connection lasts; the client reconnects with
/// `Last-Event-ID`, and its credential is checked again.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(3600);

pub(super) fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new().routes(routes!(events))
}

/// Where the feed starts.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// Send the audit entries after this sequence number first (0 for the
    /// whole chain); without it (or a `Last-Event-ID` header) the feed
    /// starts with what happens from now on.
    #[param(minimum = 0)]
    since: Option<u64>,
}

/// Follow a tenant's feed as server-sent events.
///
/// Each event's `event` is `audit` (a new entry of the tenant's audit
/// chain: sync batches, agent runs, proposals created, decided, executed or
/// expired, webhooks received, settings changed) or `run` (a run that
/// started, made progress or ended); its `data` is the entry or the run as
/// JSON. Audit events carry their sequence number as `id`, so a client that
/// reconnects with `Last-Event-ID` misses nothing. The connection ends after
/// an hour; reconnect to go on.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/events", tag = "audit", params(("tenant" = String, Path), EventsQuery),
    responses((status = 200, description = "A stream of `text/event-stream` events", content_type = "text/event-stream", body = FeedItem),
        (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn events(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let resume = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        "`Last-Event-ID` must be an audit sequence number",
                    )
                })?,
        ),
        None => query.since,
    };
    let cursor = api.control.open_feed(&caller.principal, &tenant, resume).await?;
    Ok(Sse::new(feed_events(api.control.clone(), cursor)).keep_alive(KeepAlive::default()))
}

/// The feed of `cursor` as server-sent events, until the credential or
/// the tenant goes away (an `end` event says why) or the connection's
/// lifetime passes: the API's stream, and the console's live page's.
pub(crate) fn feed_events(
    control: Arc<omnify_control::control::ControlPlane>,
    cursor: FeedCursor,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let feed = Feed {
        commits: control.watch_commits(),
        control,
        cursor,
        ends_at: Instant::now() + CONNECTION_LIFETIME,
        first: true,
    };
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        let events = feed.next_events().await?;
        Some((futures::stream::iter(events.into_iter().map(Ok)), feed))
    });
    futures::StreamExt::flatten(stream)
}

/// One connection's feed.
struct Feed {
    control: Arc<omnify_control::control::ControlPlane>,
    commits: tokio::sync::watch::Receiver<u64>,
    cursor: FeedCursor,
    ends_at: Instant,
    first: bool,
}

impl Feed {
    /// The next events, waiting for a commit when there are none; `None`
    /// ends the stream.
    async fn next_events(&mut self) -> Option<Vec<Event>> {
        loop {
            if !self.first {
                tokio::time::timeout_at(self.ends_at, self.commits.changed())
                    .await
                    .ok()?
                    .ok()?;
                tokio::time::sleep(STEP_INTERVAL).await;
            }
            self.first = false;
            self.commits.mark_unchanged();
            let items = match self.control.feed_step(&mut self.cursor).await {
                Ok(items) => items,
                Err(error) => {
                    // The credential or the tenant went away: say why, then end.
                    let event = Event::default().event("end").data(error.to_string());
                    self.ends_at = Instant::now();
                    return Some(vec![event]);
                }
            };
            if !items.is_empty() {
                return Some(items.iter().filter_map(event_of).collect());
            }
        }
    }
}

fn event_of(item: &FeedItem) -> Option<Event> {
    let event = match item {
        FeedItem::Audit(entry) => Event::default().event("audit").id(entry.seq.to_string()),
        FeedItem::Run(_) => Event::default().event("run"),
    };
    let data = match item {
        FeedItem::Audit(entry) => serde_json::to_string(entry),
        FeedItem::Run(run) => serde_json::to_string(run),
    };
    data.ok().map(|data| event.data(data))
}
