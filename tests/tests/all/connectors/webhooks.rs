//! Webhook deliveries through the host's public endpoint: the connector
//! verifies each over the raw body, the host keeps the events as records and
//! audits them; a refused delivery stores nothing.

use omnify_sandbox::{meta, shopify, stripe};
use omnify_tests::host::Reply;
use omnify_tests::platforms::{PlatformHost, TENANT};
use reqwest::Method;
use serde_json::json;

async fn deliver(env: &PlatformHost, connector: &str, headers: &[(String, String)], body: &[u8]) -> Reply {
    let mut request = env
        .host
        .request(Method::POST, &format!("/v1/hooks/{TENANT}/{connector}"))
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    env.host.send(request).await
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_deliveries_are_kept_and_refused_ones_store_nothing() {
    let env = PlatformHost::start(&["stripe", "meta-ads", "shopify", "google-ads"]).await;

    let event = stripe::event(
        "charge.refunded",
        json!({"id": "ch_1", "object": "charge"}),
        now(),
    );
    let body = event.to_string().into_bytes();
    let accepted = deliver(&env, "stripe", &stripe::signed_webhook(&body, now()), &body).await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.json["kinds"], json!(["charge.refunded"]));
    let kept = env.records("stripe", "webhook_events").await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["kind"], "charge.refunded");
    assert_eq!(kept[0]["payload"]["data"]["object"]["id"], "ch_1");
    assert_eq!(kept[0]["id"], accepted.json["records"][0]);

    // A wrong secret, a modified body and a stale timestamp are refused.
    let forged = stripe::signed_webhook_with("whsec_forged", &body, now());
    let mut modified = body.clone();
    modified.extend_from_slice(b" ");
    let stale = stripe::signed_webhook(&body, now() - 600);
    for (headers, body) in [
        (forged, body.clone()),
        (stripe::signed_webhook(&body, now()), modified),
        (stale, body.clone()),
        (Vec::new(), body.clone()),
    ] {
        let refused = deliver(&env, "stripe", &headers, &body).await;
        assert_eq!(refused.status, 401, "{}", refused.text);
        assert_eq!(refused.json["error"]["code"], "unauthenticated");
    }
    assert_eq!(env.records("stripe", "webhook_events").await.len(), 1);

    let change = json!({"object": "ad_account", "entry": [{"id": "1", "time": now(),
        "changes": [{"field": "campaigns", "value": {"id": "120211000000001"}}]}]});
    let body = change.to_string().into_bytes();
    let accepted = deliver(&env, "meta-ads", &meta::signed_webhook(&body), &body).await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.json["kinds"], json!(["ad_account.campaigns"]));

    let order = json!({"id": 5100000000u64, "total_price": "49.00"})
        .to_string()
        .into_bytes();
    let accepted = deliver(
        &env,
        "shopify",
        &shopify::signed_webhook("orders/create", &order),
        &order,
    )
    .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.json["kinds"], json!(["orders/create"]));

    // Google Ads has no webhooks; an unknown connector is not found.
    let google = deliver(&env, "google-ads", &[], b"{}").await;
    assert_eq!(google.status, 422, "{}", google.text);
    assert_eq!(deliver(&env, "nope", &[], b"{}").await.status, 404);

    let audit = env.audit().await;
    let received: Vec<_> = audit
        .iter()
        .filter(|e| e["action"] == "webhook.receive")
        .collect();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|e| e["actor"] == "webhook"));
    assert_eq!(received[0]["target"], "stripe");
}
