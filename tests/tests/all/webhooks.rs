//! The public webhook endpoint against an anonymous attacker: floods are
//! limited before any sandbox starts and only summarised in the audit chain,
//! never charged to the tenant's own quotas; oversize bodies are refused
//! unread; every address that is not an endpoint answers the same 404; and
//! signed deliveries are still kept and audited.

use omnify_control::webhooks::WebhookLimits;
use omnify_sandbox::stripe;
use omnify_tests::host::Reply;
use omnify_tests::platforms::{PlatformHost, TENANT};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A signed Stripe event and its headers.
fn signed_event(id: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let event = stripe::event("charge.refunded", json!({"id": id, "object": "charge"}), now());
    let body = event.to_string().into_bytes();
    (stripe::signed_webhook(&body, now()), body)
}

/// POST `body` to `/v1/hooks/{tenant}/{connector}` on a connection of its
/// own (the host may answer before reading the body, and then closes it).
async fn deliver(
    env: &PlatformHost,
    tenant: &str,
    connector: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Reply {
    let mut request = env
        .host
        .request(Method::POST, &format!("/v1/hooks/{tenant}/{connector}"))
        .header("connection", "close")
        .body(body);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    env.host.send(request).await
}

/// POST `body` to stripe of the tenant in 1 KiB chunks with no
/// `Content-Length`, over a raw loopback connection; the response as text.
async fn chunked_delivery(env: &PlatformHost, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = env.host.url.trim_start_matches("http://").to_string();
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
        let head = format!(
            "POST /v1/hooks/{TENANT}/stripe HTTP/1.1\r\nhost: {address}\r\n\
             content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        );
        let mut request = head.into_bytes();
        for chunk in body.as_bytes().chunks(1024) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        // The host may stop reading once the cap is passed.
        let _ = stream.write_all(&request).await;
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        String::from_utf8_lossy(&response).into_owned()
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the host answers within 10 s")
}

/// Calls of `plugin` recorded in the tenant's usage today.
async fn calls_of(env: &PlatformHost, plugin: &str) -> u64 {
    let usage = env.get(&format!("/v1/tenants/{TENANT}/usage")).await;
    assert_eq!(usage.status, 200, "{}", usage.text);
    usage
        .json
        .as_array()
        .into_iter()
        .flatten()
        .filter(|row| row["plugin"] == plugin)
        .filter_map(|row| row["calls"].as_u64())
        .sum()
}

/// The refusals of `reason` counted in the metrics for stripe of the tenant.
fn refusals_in_metrics(env: &PlatformHost, reason: &str) -> u64 {
    let text = env.host.control.meter().metrics().encode();
    text.lines()
        .filter(|line| line.starts_with("omnify_webhook_refusals_total{"))
        .filter(|line| {
            line.contains(&format!("tenant=\"{TENANT}\""))
                && line.contains("connector=\"stripe\"")
                && line.contains(&format!("reason=\"{reason}\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn set_quotas(env: &PlatformHost, quotas: Value) {
    let path = format!("/v1/tenants/{TENANT}/quotas");
    let reply = env
        .host
        .call(Method::PUT, &path, Some(&env.admin), Some(&quotas))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

/// The tenant's audit entries after the first `skip`.
async fn audit_after(env: &PlatformHost, skip: usize) -> Vec<Value> {
    env.audit().await.into_iter().skip(skip).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_forged_deliveries_is_limited_before_any_sandbox_and_only_summarised() {
    let env = PlatformHost::start(&["stripe"]).await;
    let burst = 5u32;
    env.host.control.set_webhook_limits(WebhookLimits {
        per_minute: 1,
        burst,
        ..WebhookLimits::default()
    });
    // Lower than the deliveries that reach the sandbox: were they charged to
    // the tenant, its own calls would be refused.
    set_quotas(&env, json!({"calls_per_minute": 3, "concurrent_calls": 1})).await;
    let audited_before = env.audit().await.len();
    let calls_before = calls_of(&env, "stripe").await;

    let client = reqwest::Client::new();
    let url = format!("{}/v1/hooks/{TENANT}/stripe", env.host.url);
    let body = vec![b'x'; 100 * 1024];
    let (waves, per_wave) = (4, 10);
    let mut statuses = Vec::new();
    let flood = async {
        for _ in 0..waves {
            let mut wave = tokio::task::JoinSet::new();
            for _ in 0..per_wave {
                let request = client
                    .post(&url)
                    .header("connection", "close")
                    .header("content-type", "application/json")
                    .body(body.clone());
                wave.spawn(async move {
                    let response = request.send().await.expect("the host answers");
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                    (response.status().as_u16(), retry_after)
                });
            }
            while let Some(outcome) = wave.join_next().await {
                statuses.push(outcome.expect("a delivery task"));
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), flood)
        .await
        .expect("the flood is answered within a minute");

    let total = waves * per_wave;
    let refused_by_plugin = statuses.iter().filter(|(status, _)| *status == 401).count();
    let limited: Vec<_> = statuses.iter().filter(|(status, _)| *status == 429).collect();
    assert_eq!(refused_by_plugin + limited.len(), total, "{statuses:?}");
    // The bucket holds `burst` and refills one a minute.
    assert!(
        (1..=burst as usize + 1).contains(&refused_by_plugin),
        "{statuses:?}"
    );
    assert!(
        limited.iter().all(|(_, retry)| retry.is_some_and(|s| s >= 1)),
        "every 429 says when to retry: {statuses:?}"
    );

    // Only the admitted deliveries started a sandbox.
    let sandboxes = calls_of(&env, "stripe").await - calls_before;
    assert_eq!(sandboxes, refused_by_plugin as u64);
    assert_eq!(
        refusals_in_metrics(&env, "bad_signature"),
        refused_by_plugin as u64
    );
    let over_budget = refusals_in_metrics(&env, "rate_limited") + refusals_in_metrics(&env, "concurrency");
    assert_eq!(over_budget, limited.len() as u64);

    // No entry per refusal: at most the first summary, written at once.
    let entries = audit_after(&env, audited_before).await;
    assert!(
        entries.iter().all(|e| e["action"] == "webhook.refused"),
        "{entries:#?}"
    );
    assert!(entries.len() <= 1, "{entries:#?}");
    env.host
        .control
        .flush_webhook_refusals(true)
        .await
        .expect("the rest is summarised");
    let summaries = audit_after(&env, audited_before).await;
    assert!(summaries.len() <= 2, "{summaries:#?}");
    let counted: u64 = summaries
        .iter()
        .filter_map(|e| e["details"]["count"].as_u64())
        .sum();
    assert_eq!(counted, total as u64, "{summaries:#?}");
    assert!(
        summaries
            .iter()
            .all(|e| e["actor"] == "webhook" && e["target"] == "stripe")
    );

    // The tenant's own calls are untouched by the flood.
    for _ in 0..2 {
        let spec = env.invoke("stripe", "spec", Value::Null).await;
        assert_eq!(spec.status, 200, "{}", spec.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_delivery_is_refused_unread_and_stores_nothing() {
    let env = PlatformHost::start(&["stripe"]).await;
    let limit = 4 * 1024;
    env.host.control.set_webhook_limits(WebhookLimits {
        max_body_bytes: limit,
        ..WebhookLimits::default()
    });
    let audited_before = env.audit().await.len();
    let calls_before = calls_of(&env, "stripe").await;

    // Signed, so only its size stands against it.
    let event = stripe::event(
        "charge.refunded",
        json!({"id": "ch_big", "object": "charge", "description": "x".repeat(2 * limit)}),
        now(),
    );
    let body = event.to_string().into_bytes();
    assert!(body.len() > limit);
    let headers = stripe::signed_webhook(&body, now());
    let refused = deliver(&env, TENANT, "stripe", &headers, body).await;
    assert_eq!(refused.status, 413, "{}", refused.text);
    assert_eq!(refused.json["error"]["code"], "body_too_large");

    assert!(env.records("stripe", "webhook_events").await.is_empty());
    assert_eq!(calls_of(&env, "stripe").await, calls_before);
    assert_eq!(refusals_in_metrics(&env, "too_large"), 1);
    let entries = audit_after(&env, audited_before).await;
    assert!(
        entries.iter().all(|e| e["action"] == "webhook.refused"),
        "{entries:#?}"
    );

    // Without a length, it is refused once the cap is passed.
    let response = chunked_delivery(&env, &"y".repeat(2 * limit)).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(env.records("stripe", "webhook_events").await.is_empty());
    assert_eq!(calls_of(&env, "stripe").await, calls_before);
    assert_eq!(refusals_in_metrics(&env, "too_large"), 2);

    // One under the cap is kept.
    let (headers, body) = signed_event("ch_small");
    assert!(body.len() <= limit);
    let kept = deliver(&env, TENANT, "stripe", &headers, body).await;
    assert_eq!(kept.status, 200, "{}", kept.text);
    assert_eq!(env.records("stripe", "webhook_events").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_and_connectors_cannot_be_enumerated() {
    let env = PlatformHost::start(&["stripe", "analytics"]).await;
    // A tenant that exists, with stripe published but not enabled for it.
    assert_eq!(env.host.create_tenant(&env.admin, "other").await.status, 201);
    let audited_before = env.audit().await.len();
    let (headers, body) = signed_event("ch_probe");

    let mut bodies = Vec::new();
    for (tenant, plugin) in [
        ("nobody", "stripe"),
        ("other", "stripe"),
        (TENANT, "analytics"),
        (TENANT, "shopify"),
        (TENANT, "no-such-plugin"),
    ] {
        let reply = deliver(&env, tenant, plugin, &headers, body.clone()).await;
        assert_eq!(reply.status, 404, "{tenant}/{plugin}: {}", reply.text);
        let request_id = reply.json["error"]["request_id"].as_str().unwrap_or_default();
        assert!(!request_id.is_empty(), "{}", reply.text);
        bodies.push((format!("{tenant}/{plugin}"), reply.text.replace(request_id, "")));
    }
    let (first, expected) = &bodies[0];
    for (address, text) in &bodies[1..] {
        assert_eq!(text, expected, "{address} differs from {first}");
    }
    assert!(
        !expected.contains("nobody") && !expected.contains("tenant"),
        "{expected}"
    );

    // Nothing was written for any of them.
    assert_eq!(env.audit().await.len(), audited_before);
    let other = env.get("/v1/tenants/other/audit?limit=1000").await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert!(
        other
            .json
            .as_array()
            .into_iter()
            .flatten()
            .all(|e| e["action"] != "webhook.refused"),
        "{}",
        other.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_deliveries_are_kept_audited_and_kept_off_the_tenant_quota() {
    let env = PlatformHost::start(&["stripe"]).await;
    set_quotas(&env, json!({"calls_per_minute": 2, "concurrent_calls": 1})).await;
    let calls_before = calls_of(&env, "stripe").await;

    let mut ids = Vec::new();
    for n in 0..3 {
        let (headers, body) = signed_event(&format!("ch_{n}"));
        let accepted = deliver(&env, TENANT, "stripe", &headers, body).await;
        assert_eq!(accepted.status, 200, "{}", accepted.text);
        assert_eq!(accepted.json["kinds"], json!(["charge.refunded"]));
        ids.push(accepted.json["records"][0].clone());
    }
    let kept = env.records("stripe", "webhook_events").await;
    assert_eq!(kept.len(), 3);
    assert!(kept.iter().all(|r| ids.contains(&r["id"])));

    // Metered as the webhook's calls, each audited as today.
    assert_eq!(calls_of(&env, "stripe").await - calls_before, 3);
    let audit = env.audit().await;
    let received: Vec<_> = audit
        .iter()
        .filter(|e| e["action"] == "webhook.receive")
        .collect();
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|e| e["actor"] == "webhook" && e["target"] == "stripe")
    );
    let invoked = audit
        .iter()
        .filter(|e| e["action"] == "plugin.invoke" && e["actor"] == "webhook")
        .count();
    assert_eq!(invoked, 3);
    assert!(audit.iter().all(|e| e["action"] != "webhook.refused"));

    // Three webhook calls, and the tenant's quota of two is still whole.
    for _ in 0..2 {
        let spec = env.invoke("stripe", "spec", Value::Null).await;
        assert_eq!(spec.status, 200, "{}", spec.text);
    }

    // Their fuel is recorded but not charged to the tenant's daily fuel.
    let usage = env.get(&format!("/v1/tenants/{TENANT}/usage")).await;
    let row = usage
        .json
        .as_array()
        .into_iter()
        .flatten()
        .find(|row| row["plugin"] == "stripe")
        .cloned()
        .unwrap_or_default();
    assert_eq!(row["webhook_calls"], 3, "{row}");
    let (fuel, webhook_fuel) = (
        row["fuel"].as_u64().unwrap_or(0),
        row["webhook_fuel"].as_u64().unwrap_or(0),
    );
    assert!(webhook_fuel > 0 && fuel > webhook_fuel, "{row}");
    set_quotas(&env, json!({"fuel_per_day": fuel - webhook_fuel + 1})).await;
    let spec = env.invoke("stripe", "spec", Value::Null).await;
    assert_eq!(spec.status, 200, "{}", spec.text);
}
