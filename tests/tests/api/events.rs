//! `GET /v1/tenants/{t}/events`: the tenant's live feed follows its audit
//! chain and its runs as they happen, resumes without a gap, and ends when
//! the key that opened it is revoked.

use super::*;
use std::time::Duration;
use tokio::time::Instant;

/// One server-sent event.
#[derive(Debug)]
struct Sse {
    event: String,
    id: Option<u64>,
    data: Value,
}

/// A feed being read.
struct Feed {
    response: reqwest::Response,
    buffer: String,
}

impl Feed {
    async fn open(world: &World, token: &str, last_event_id: Option<u64>) -> Self {
        let mut request = world
            .host
            .request(Method::GET, "/v1/tenants/acme/events")
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("the host answers");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().ok(),
            Some("text/event-stream")
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event, or `None` when the stream ends or `by` passes.
    async fn next(&mut self, by: Instant) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::from("message"), None, String::new());
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        event = value.trim().to_string();
                    } else if let Some(value) = line.strip_prefix("id:") {
                        id = value.trim().parse().ok();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if data.is_empty() && id.is_none() && event == "message" {
                    continue; // a keep-alive comment
                }
                let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                return Some(Sse { event, id, data });
            }
            let chunk = tokio::time::timeout_at(by, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Read events until one satisfies `wanted`, returning all read.
    async fn until(&mut self, wanted: impl Fn(&Sse) -> bool) -> Vec<Sse> {
        let by = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while let Some(event) = self.next(by).await {
            let done = wanted(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
        panic!("the awaited event never came; saw {seen:#?}");
    }
}

async fn start_sync(world: &World) -> String {
    let reply = world
        .host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hello-connector/sync",
            Some(&world.acme_operator),
            Some(&json!({})),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    reply.json["id"].as_str().expect("run id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_shows_a_sync_as_it_happens_and_resumes_without_a_gap() {
    let world = world().await;
    let (viewer, _) = world.host.create_key(&world.admin, "acme", "viewer").await;
    let mut feed = Feed::open(&world, &viewer, None).await;
    let run = start_sync(&world).await;
    let seen = feed
        .until(|e| e.event == "run" && e.data["id"] == run.as_str() && e.data["status"] == "succeeded")
        .await;
    // The run's batches went through the chain as they were committed.
    let audit: Vec<&Sse> = seen.iter().filter(|e| e.event == "audit").collect();
    assert!(
        audit
            .iter()
            .any(|e| e.data["action"] == "plugin.invoke" && e.data["details"]["export"] == "read"),
        "{seen:#?}"
    );
    let ids: Vec<u64> = audit.iter().filter_map(|e| e.id).collect();
    assert_eq!(ids.len(), audit.len(), "every audit event has its sequence as id");
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "in order, none missing: {ids:?}"
    );
    assert!(
        seen.iter()
            .all(|e| e.event != "run" || e.data.get("output").is_none_or(Value::is_null)),
        "runs come without their output"
    );

    // Reconnecting with the last id seen resumes right after it.
    let first = ids[0];
    let mut resumed = Feed::open(&world, &viewer, Some(first)).await;
    let by = Instant::now() + Duration::from_secs(10);
    let next = resumed.next(by).await.expect("an event");
    assert_eq!((next.event.as_str(), next.id), ("audit", Some(first + 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_ends_when_its_key_is_revoked_and_refuses_the_wrong_callers() {
    let world = world().await;
    let (viewer, viewer_id) = world.host.create_key(&world.admin, "acme", "viewer").await;
    let mut feed = Feed::open(&world, &viewer, None).await;
    let revoked = world
        .host
        .call(
            Method::DELETE,
            &format!("/v1/tenants/acme/keys/{viewer_id}"),
            Some(&world.admin),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let seen = feed.until(|e| e.event == "end").await;
    assert!(
        seen.last()
            .is_some_and(|e| e.data.as_str().is_some_and(|t| t.contains("revoked"))),
        "{seen:#?}"
    );
    assert!(
        feed.next(Instant::now() + Duration::from_secs(5)).await.is_none(),
        "and the stream closes"
    );

    let url = "/v1/tenants/acme/events";
    let host = &world.host;
    for (token, status) in [
        (None, 401),
        (Some(world.revoked.as_str()), 401),
        (Some(world.rival_operator.as_str()), 403),
    ] {
        let mut request = host.request(Method::GET, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("answered");
        assert_eq!(response.status(), status, "{token:?}");
    }
    let bad_resume = host
        .request(Method::GET, url)
        .bearer_auth(&world.acme_operator)
        .header("last-event-id", "yesterday")
        .send()
        .await
        .expect("answered");
    assert_eq!(bad_resume.status(), 400);
    let nobody = host
        .request(Method::GET, "/v1/tenants/nobody/events")
        .bearer_auth(&world.admin)
        .send()
        .await
        .expect("answered");
    assert_eq!(nobody.status(), 404);
}
