//! The Shopify connector against the Shopify sandbox: full and incremental
//! syncs of orders, customers and products, `Retry-After`, a wrong token,
//! the `add-order-tag` action and its preview, and webhook signatures.

use super::support::{
    assert_failed, assert_preview, assert_refused, assert_succeeded, major, plugin_error, preview,
};
use omnify_sandbox::shopify::{self as sandbox_shopify, ACCESS_TOKEN};
use omnify_sandbox::world::World;
use omnify_tests::platforms::PlatformHost;
use serde_json::{Value, json};

/// A world time (UTC) as the connector normalises it: RFC 3339 with `Z`.
macro_rules! utc {
    ($time:expr) => {
        $time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    };
}

/// The sandbox's orders as the connector's records, in primary-key order.
fn expected_orders(world: &World) -> Vec<Value> {
    let mut orders: Vec<Value> = world
        .shop
        .orders
        .iter()
        .map(|o| {
            json!({
                "id": o.id.to_string(),
                "name": o.name,
                "created_at": utc!(o.created_at),
                "updated_at": utc!(o.updated_at),
                "total_price": major(o.total_cents),
                "currency": world.shop.currency,
                "financial_status": o.financial_status,
                "customer_id": o.customer_id.to_string(),
                "line_items": o.line_items.iter().map(|l| json!({
                    "product_id": l.product_id.to_string(),
                    "quantity": l.quantity,
                    "price": major(l.price_cents),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    orders.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    orders
}

/// The fields of `record` that `expected` names (line items likewise).
fn projected(record: &Value, expected: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (key, want) in expected.as_object().expect("an object") {
        let got = &record[key];
        let value = match (want, got) {
            (Value::Array(want), Value::Array(got)) if want.first().is_some_and(Value::is_object) => {
                Value::Array(got.iter().zip(want).map(|(g, w)| projected(g, w)).collect())
            }
            _ => got.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

fn stream_count(run: &Value, stream: &str) -> u64 {
    run["streams"]
        .as_array()
        .and_then(|streams| streams.iter().find(|s| s["stream"] == stream))
        .and_then(|s| s["records_written"].as_u64())
        .unwrap_or_else(|| panic!("no count of {stream} in {run}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_returns_exactly_the_shops_records() {
    let env = PlatformHost::start(&["shopify"]).await;
    let run = env
        .sync("shopify", &["orders", "customers", "products"], "full-refresh")
        .await;
    assert_succeeded(&run);

    let world = env.sandbox.world().clone();
    let orders = env.records("shopify", "orders").await;
    let expected = expected_orders(&world);
    assert_eq!(orders.len(), expected.len());
    assert_eq!(stream_count(&run, "orders"), expected.len() as u64);
    for (record, want) in orders.iter().zip(&expected) {
        assert_eq!(&projected(record, want), want);
    }
    let revenue: f64 = orders
        .iter()
        .map(|o| o["total_price"].as_f64().expect("total"))
        .sum();
    let world_revenue: i64 = world.shop.orders.iter().map(|o| o.total_cents).sum();
    assert!(
        (revenue - major(world_revenue)).abs() < 0.005,
        "{revenue} vs {world_revenue} cents"
    );

    let customers = env.records("shopify", "customers").await;
    assert_eq!(customers.len(), world.shop.customers.len());
    for (record, customer) in customers.iter().zip(&world.shop.customers) {
        assert_eq!(record["id"], customer.id.to_string());
        assert_eq!(record["email"], customer.email);
        assert_eq!(record["first_name"], customer.first_name);
        assert_eq!(record["updated_at"], utc!(customer.updated_at));
    }
    let products = env.records("shopify", "products").await;
    assert_eq!(products.len(), world.shop.products.len());
    for (record, product) in products.iter().zip(&world.shop.products) {
        assert_eq!(record["id"], product.id.to_string());
        assert_eq!(record["title"], product.title);
        assert_eq!(record["price"], major(product.price_cents));
        assert_eq!(record["currency"], "USD");
    }

    // Shopify's cursor pagination: the first request filters, the others
    // only follow `page_info` from the `Link` header.
    let requests = env.sandbox.shopify.requests();
    let order_pages: Vec<&String> = requests.iter().filter(|r| r.contains("/orders.json")).collect();
    assert!(order_pages[0].contains("status=any") && order_pages[0].contains("order=updated_at+asc"));
    assert!(
        order_pages[1..]
            .iter()
            .all(|r| r.contains("page_info=") && !r.contains("status="))
    );
    assert!(
        order_pages.len() as u64 >= expected.len() as u64 / 50,
        "{} pages",
        order_pages.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_reads_only_what_changed_since_the_last() {
    let env = PlatformHost::start(&["shopify"]).await;
    let first = env.sync("shopify", &["orders"], "incremental").await;
    assert_succeeded(&first);
    let (boundary, changed_id) = {
        let mut world = env.sandbox.world();
        let boundary = world
            .shop
            .orders
            .iter()
            .map(|o| o.updated_at)
            .max()
            .expect("orders");
        world.extend_days(1);
        let now = world.now();
        let old = &mut world.shop.orders[3];
        old.financial_status = "refunded".into();
        old.updated_at = now;
        (boundary, old.id.to_string())
    };
    env.sandbox.shopify.clear_requests();

    let second = env.sync("shopify", &["orders"], "incremental").await;
    assert_succeeded(&second);
    let world = env.sandbox.world().clone();
    // Inclusive `updated_at_min`: the orders at the boundary come again.
    let changed = world
        .shop
        .orders
        .iter()
        .filter(|o| o.updated_at >= boundary)
        .count() as u64;
    assert!(changed > 2, "a new day of orders and the refund");
    assert_eq!(stream_count(&second, "orders"), changed);
    let requests = env.sandbox.shopify.requests();
    let since = format!("updated_at_min={}", utc!(boundary).replace(':', "%3A"));
    assert!(requests[0].contains(&since), "{} lacks {since}", requests[0]);
    let pages = (changed as usize).div_ceil(50);
    assert_eq!(
        requests.len(),
        pages,
        "only the changed orders are paged: {requests:?}"
    );

    let orders = env.records("shopify", "orders").await;
    assert_eq!(orders.len(), world.shop.orders.len());
    let refunded = orders
        .iter()
        .find(|o| o["id"].as_str() == Some(changed_id.as_str()))
        .expect("the changed order");
    assert_eq!(refunded["financial_status"], "refunded");
    assert_eq!(refunded["updated_at"], utc!(world.now()));
    let expected = expected_orders(&world);
    for (record, want) in orders.iter().zip(&expected) {
        assert_eq!(&projected(record, want), want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_mid_sync_is_waited_out_as_retry_after_says() {
    let env = PlatformHost::start(&["shopify"]).await;
    env.sandbox.shopify.rate_limit_after(3);
    let started = std::time::Instant::now();
    let run = env.sync("shopify", &["orders"], "full-refresh").await;
    assert_succeeded(&run);
    assert_eq!(env.sandbox.shopify.rate_limited(), 1);
    // `Retry-After: 1.0` was waited out inside the read, not by a failed attempt.
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert!(run["last_error"].is_null(), "{run}");
    let requests = env.sandbox.shopify.requests();
    assert_eq!(requests[3], requests[4], "the refused page is asked again");
    let world = env.sandbox.world().clone();
    let orders = env.records("shopify", "orders").await;
    assert_eq!(orders.len(), world.shop.orders.len());
    let ids: Vec<&Value> = orders.iter().map(|o| &o["id"]).collect();
    let want: Vec<Value> = expected_orders(&world).iter().map(|o| o["id"].clone()).collect();
    assert_eq!(ids, want.iter().collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_fails_with_shopifys_auth_message() {
    let env = PlatformHost::start(&["shopify"]).await;
    let mut body = sandbox_shopify::enablement(&env.sandbox.shopify.url, &env.sandbox.world());
    body["secrets"]["access_token"] = json!(format!("{ACCESS_TOKEN}-revoked"));
    let enabled = env.enable("shopify", &body).await;
    assert_eq!(enabled.status, 200, "{}", enabled.text);

    let run = env.sync("shopify", &["orders"], "full-refresh").await;
    // The `auth` kind, with Shopify's own message.
    let error = assert_failed(&run, &["Invalid API key or access token"]);
    assert!(error.starts_with("authentication failed"), "{run}");
    assert_eq!(run["attempts"], 1, "auth is not retried");
    assert_eq!(env.sandbox.shopify.requests().len(), 1, "auth is not retried");

    let check = env.invoke("shopify", "check", json!({})).await;
    assert_ne!(check.status, 200, "{}", check.text);
    assert!(check.text.contains("auth"), "{}", check.text);
    assert!(
        check.text.contains("Invalid API key or access token"),
        "{}",
        check.text
    );
}

/// The first order of the world, to act on.
fn an_order(env: &PlatformHost) -> (u64, i64) {
    let world = env.sandbox.world();
    (
        world.shop.orders[0].id,
        world.shop.orders[0].updated_at.timestamp(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_order_tag_tags_the_order_once_and_is_audited() {
    let env = PlatformHost::start(&["shopify"]).await;
    let (id, updated_before) = an_order(&env);
    let input = json!({"order_id": id.to_string(), "tag": "vip"});
    let reply = env.act("shopify", "add-order-tag", input.clone(), "k1").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let result = &reply.json["output"]["result"];
    assert_eq!(result["changed"], true, "{}", reply.text);
    assert_eq!(result["tags"], json!(["vip"]));

    let writes = env.sandbox.shopify.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].method, "PUT");
    assert_eq!(writes[0].path, format!("/admin/api/2025-07/orders/{id}.json"));
    assert_eq!(writes[0].body["order"]["tags"], "vip");
    assert!(writes[0].applied);
    let updated_after = env.sandbox.world().shop.orders[0].updated_at.timestamp();
    assert!(
        updated_after > updated_before,
        "the tag moves updated_at, for incremental syncs"
    );

    // A retry finds the tag and writes nothing.
    let again = env.act("shopify", "add-order-tag", input, "k1").await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json["output"]["result"]["changed"], false);
    assert_eq!(env.sandbox.shopify.writes().len(), 1);

    let acts = env.act_entries("shopify").await;
    assert_eq!(acts.len(), 2, "both calls are audited: {acts:?}");
    for (entry, requests) in acts.iter().zip([2, 1]) {
        assert_eq!(entry["outcome"], "ok");
        assert_eq!(entry["details"]["action"]["name"], "add-order-tag");
        assert_eq!(entry["details"]["action"]["input"]["order_id"], id.to_string());
        assert_eq!(
            entry["details"]["http_requests"], requests,
            "read and write, then read only"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_order_tag_with_invalid_input_changes_nothing() {
    let env = PlatformHost::start(&["shopify"]).await;
    let (id, updated_before) = an_order(&env);
    for (input, want_kind, names) in [
        (json!({"order_id": id.to_string()}), "invalid-input", "`tag`"),
        (
            json!({"order_id": id.to_string(), "tag": "a,b"}),
            "invalid-input",
            "`tag`",
        ),
        (
            json!({"order_id": "#1001", "tag": "vip"}),
            "invalid-input",
            "`order_id`",
        ),
        (json!({"order_id": "1", "tag": "vip"}), "not-found", "no order 1"),
    ] {
        let reply = env.act("shopify", "add-order-tag", input, "k").await;
        assert_refused(&reply, want_kind, names);
    }
    assert!(env.sandbox.shopify.writes().is_empty());
    assert_eq!(
        env.sandbox.world().shop.orders[0].updated_at.timestamp(),
        updated_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_previews_read_the_orders_tags_and_change_nothing() {
    let env = PlatformHost::start(&["shopify"]).await;
    let (untagged, tagged) = {
        let mut world = env.sandbox.world();
        // Tagged in the shop's admin, behind the host's back.
        world.shop.orders[1].tags = vec!["wholesale".into(), "vip".into()];
        (world.shop.orders[0].id, world.shop.orders[1].id)
    };
    let before = env.sandbox.world().shop.clone();
    for (id, tag) in [(untagged, "vip"), (tagged, "vip"), (tagged, "gift")] {
        let order = before.orders.iter().find(|o| o.id == id).expect("the order");
        let now = if order.tags.iter().any(|t| t == tag) {
            1.0
        } else {
            0.0
        };
        let input = json!({"order_id": id.to_string(), "tag": tag});
        let reply = preview(&env, "shopify", "add-order-tag", input).await;
        assert_preview(&reply, ("order", &id.to_string()), "tagged", (now, 1.0), "status");
    }
    // A numeric id, as the schema allows.
    let reply = preview(
        &env,
        "shopify",
        "add-order-tag",
        json!({"order_id": tagged, "tag": " vip "}),
    )
    .await;
    assert_preview(
        &reply,
        ("order", &tagged.to_string()),
        "tagged",
        (1.0, 1.0),
        "status",
    );

    assert!(env.sandbox.shopify.writes().is_empty());
    let requests = env.sandbox.shopify.requests();
    assert!(requests.iter().all(|r| r.starts_with("GET ")), "{requests:?}");
    assert_eq!(env.sandbox.world().shop, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_tag_preview_is_refused_like_the_action_and_writes_nothing() {
    let env = PlatformHost::start(&["shopify"]).await;
    let (id, _) = an_order(&env);
    let before = env.sandbox.world().shop.clone();
    let cases = [
        (
            "remove-order-tag",
            json!({"order_id": id.to_string(), "tag": "vip"}),
            "not-found",
        ),
        (
            "add-order-tag",
            json!({"order_id": "1", "tag": "vip"}),
            "not-found",
        ),
        (
            "add-order-tag",
            json!({"order_id": "#1001", "tag": "vip"}),
            "invalid-input",
        ),
        (
            "add-order-tag",
            json!({"order_id": id.to_string(), "tag": "a,b"}),
            "invalid-input",
        ),
        (
            "add-order-tag",
            json!({"order_id": id.to_string()}),
            "invalid-input",
        ),
    ];
    for (name, input, kind) in cases {
        let previewed = plugin_error(&preview(&env, "shopify", name, input.clone()).await);
        assert_eq!(previewed.0, kind, "{name} {input}: {}", previewed.1);
        let acted = plugin_error(&env.act("shopify", name, input.clone(), "k").await);
        assert_eq!(previewed, acted, "{name} {input}: the action's error");
    }
    assert!(env.sandbox.shopify.writes().is_empty());
    assert_eq!(env.sandbox.world().shop, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_verified_against_the_raw_body() {
    let env = PlatformHost::start(&["shopify"]).await;
    let body = r##"{"id":5100000000,"name":"#1001","total_price":"123.45"}"##;
    let headers = sandbox_shopify::signed_webhook("orders/create", body.as_bytes());
    let deliver = |headers: &Vec<(String, String)>, body: &str| {
        let headers: Vec<Value> = headers.iter().map(|(n, v)| json!([n, v])).collect();
        json!({"headers": headers, "body": body})
    };

    let reply = env
        .invoke("shopify", "verify-webhook", deliver(&headers, body))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let events = &reply.json["output"]["result"];
    assert_eq!(events[0]["kind"], "orders/create", "{}", reply.text);
    assert_eq!(events[0]["payload"]["total_price"], "123.45", "{}", reply.text);

    let modified = body.replace("123.45", "1.00");
    let reply = env
        .invoke("shopify", "verify-webhook", deliver(&headers, &modified))
        .await;
    assert_ne!(reply.status, 200, "{}", reply.text);
    assert!(
        reply.text.contains("X-Shopify-Hmac-Sha256 does not match"),
        "{}",
        reply.text
    );

    // A well-formed signature, but of another body.
    let other = sandbox_shopify::signed_webhook("orders/create", b"{}");
    let forged: Vec<(String, String)> = headers
        .iter()
        .zip(&other)
        .map(|((n, v), (_, other))| match n.as_str() {
            "X-Shopify-Hmac-Sha256" => (n.clone(), other.clone()),
            _ => (n.clone(), v.clone()),
        })
        .collect();
    assert_ne!(forged, headers);
    let reply = env
        .invoke("shopify", "verify-webhook", deliver(&forged, body))
        .await;
    assert_ne!(reply.status, 200, "{}", reply.text);
    assert!(reply.text.contains("auth"), "{}", reply.text);
}
