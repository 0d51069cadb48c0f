//! `GET /console/tenants/{tenant}/activity/events`: the tenant's live feed
//! as server-sent events for the console's page, authenticated by the
//! session cookie (a browser's `EventSource` cannot send a bearer token).
//! It is the API's stream ([`crate::events::feed_events`]) with the
//! session's principal, which already ends when the key is revoked; it
//! also ends, with an `end` event, when the session expires or is signed
//! out.

use super::Console;
use super::access::{self, FOLLOW_EVENTS};
use super::cookie;
use super::page::message;
use super::session::SESSION_COOKIE;
use super::visitor::{Visitor, refused};
use crate::events::feed_events;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;

/// How often an open stream looks whether its session still holds.
const SESSION_CHECK: Duration = Duration::from_secs(1);

/// Where the stream starts.
#[derive(Debug, Default, Deserialize)]
pub struct LiveQuery {
    /// After this audit sequence number (the newest the page shows); from
    /// now on without it. Text, so that a bad number reads as "from now".
    #[serde(default)]
    since: String,
}

/// What the merged stream sees next.
enum Step {
    /// An event of the feed.
    Feed(Event),
    /// The feed ended on its own (it sent its `end` event if it had one).
    FeedEnded,
    /// The session ended, for this reason.
    SessionEnded(String),
    /// Right after [`Step::SessionEnded`]: stop.
    Stop,
}

/// Resolves, with the reason, once the session of `token` no longer holds
/// (expired, signed out, its key revoked).
async fn session_ended(console: Console, token: String) -> String {
    let mut checks = tokio::time::interval(SESSION_CHECK);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        checks.tick().await;
        if let Err(error) = console.sessions.current(&console.control, &token).await {
            return error.to_string();
        }
    }
}

/// `feed` until it ends or the session of `token` does, whichever comes
/// first; the session's end is announced with an `end` event.
fn bounded_by_session(
    feed: impl Stream<Item = Result<Event, Infallible>> + Send + 'static,
    console: Console,
    token: String,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let feed = feed
        .map(|Ok(event)| Step::Feed(event))
        .chain(futures::stream::once(async { Step::FeedEnded }));
    // The session's end is two steps, so that the stream stops right after
    // its `end` event rather than at the feed's next event.
    let session = futures::stream::once(session_ended(console, token))
        .flat_map(|reason| futures::stream::iter([Step::SessionEnded(reason), Step::Stop]));
    futures::stream::select(feed, session).scan((), |(), step| {
        futures::future::ready(match step {
            Step::Feed(event) => Some(Ok(event)),
            Step::SessionEnded(reason) => Some(Ok(Event::default().event("end").data(reason))),
            Step::FeedEnded | Step::Stop => None,
        })
    })
}

/// `GET /console/tenants/{tenant}/activity/events`.
pub async fn events(
    State(console): State<Console>,
    visitor: Visitor,
    Path(tenant): Path<String>,
    Query(query): Query<LiveQuery>,
    headers: HeaderMap,
) -> Response {
    // The extractor found the session by this cookie, so it is there.
    let Some(token) = cookie::read(&headers, SESSION_COOKIE).map(str::to_string) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let resume = match headers.get("last-event-id") {
        Some(value) => match value.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(seq) => Some(seq),
            None => {
                return message(
                    StatusCode::BAD_REQUEST,
                    "Refused",
                    "`Last-Event-ID` must be an audit sequence number.",
                    &visitor.request_id,
                );
            }
        },
        None => query.since.trim().parse::<u64>().ok(),
    };
    let principal = &visitor.session.principal;
    let opened = match access::allow(principal, FOLLOW_EVENTS, Some(&tenant)) {
        Ok(()) => console.control.open_feed(principal, &tenant, resume).await,
        Err(error) => Err(error),
    };
    let cursor = match opened {
        Ok(cursor) => cursor,
        Err(error) => return refused(&visitor, error),
    };
    let feed = feed_events(console.control.clone(), cursor);
    Sse::new(bounded_by_session(feed, console, token))
        .keep_alive(KeepAlive::default())
        .into_response()
}
