//! The Stripe connector against the Stripe sandbox: full and incremental
//! syncs of the five resources, a `429` mid-sync, a wrong key, the
//! `create-refund` action with its idempotency key and its preview, and
//! webhook signatures.

use super::support::{
    assert_failed, assert_preview, assert_refused, assert_succeeded, major, plugin_error, preview,
};
use omnify_sandbox::stripe::{self as sandbox_stripe, API_KEY};
use omnify_sandbox::world::{World, utc};
use omnify_tests::host::Reply;
use omnify_tests::platforms::PlatformHost;
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Unix seconds as the connector normalises them.
fn rfc3339(seconds: i64) -> String {
    utc(seconds).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The sandbox's charges as the connector's records, in primary-key order.
fn expected_charges(world: &World) -> Vec<Value> {
    let mut charges: Vec<Value> = world
        .payments
        .charges
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "amount": major(c.amount),
                "amount_refunded": major(c.amount_refunded),
                "currency": c.currency.to_uppercase(),
                "created": rfc3339(c.created),
                "customer": c.customer,
                "payment_intent": c.payment_intent,
                "status": "succeeded",
                "refunded": c.amount_refunded >= c.amount,
                "description": c.description,
            })
        })
        .collect();
    charges.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    charges
}

/// The page size the connector asked for: the host's batch size, at most
/// Stripe's 100.
fn page_limit(requests: &[String]) -> usize {
    let limit = requests[0]
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("limit="))
        .and_then(|l| l.parse().ok())
        .expect("a limit");
    assert!((1..=100).contains(&limit), "{limit}");
    assert!(
        requests.iter().all(|r| r.contains(&format!("limit={limit}"))),
        "every page asks for {limit}: {requests:?}"
    );
    limit
}

fn ids(records: &[Value]) -> Vec<&str> {
    records.iter().map(|r| r["id"].as_str().expect("an id")).collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// Run `create-refund` with `input` under `key`.
async fn refund(env: &PlatformHost, input: Value, key: &str) -> Reply {
    env.act("stripe", "create-refund", input, key).await
}

/// The cents refunded so far of the charge `id`.
fn amount_refunded(world: &World, id: &str) -> i64 {
    world.payments.charge(id).expect("the charge").amount_refunded
}

/// A charge with nothing refunded yet, and its amount in cents.
fn unrefunded_charge(env: &PlatformHost) -> (String, i64) {
    let world = env.sandbox.world();
    let charge = world
        .payments
        .charges
        .iter()
        .rev()
        .find(|c| c.amount_refunded == 0)
        .expect("an unrefunded charge");
    (charge.id.clone(), charge.amount)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_returns_exactly_the_accounts_objects() {
    let env = PlatformHost::start(&["stripe"]).await;
    let check = env.invoke("stripe", "check", Value::Null).await;
    assert_eq!(check.status, 200, "the sandbox's key works: {}", check.text);
    env.sandbox.stripe.clear_requests();
    let streams = [
        "charges",
        "customers",
        "refunds",
        "subscriptions",
        "payment_intents",
    ];
    let run = env.sync("stripe", &streams, "full-refresh").await;
    assert_succeeded(&run);

    let charges = env.records("stripe", "charges").await;
    let world = env.sandbox.world().clone();
    assert!(
        world.payments.charges.len() > 200,
        "more than two pages of charges"
    );
    assert_eq!(charges, expected_charges(&world));
    let total: f64 = charges
        .iter()
        .map(|c| c["amount"].as_f64().expect("amount"))
        .sum();
    let cents: i64 = world.payments.charges.iter().map(|c| c.amount).sum();
    assert!((total - major(cents)).abs() < 0.005, "{total} vs {cents} cents");

    let intents = env.records("stripe", "payment_intents").await;
    assert_eq!(intents.len(), world.payments.charges.len());
    let charge = &world.payments.charges[7];
    let intent = intents
        .iter()
        .find(|p| p["id"] == charge.payment_intent.as_str())
        .expect("the charge's payment intent");
    assert_eq!(intent["latest_charge"], charge.id.as_str());
    assert_eq!(intent["amount"], major(charge.amount));
    assert_eq!(intent["currency"], "USD");

    let refunds = env.records("stripe", "refunds").await;
    let expected: Vec<String> = world.payments.refunds.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids(&refunds), sorted(expected));
    let first = &world.payments.refunds[0];
    let record = refunds
        .iter()
        .find(|r| r["id"] == first.id.as_str())
        .expect("the refund");
    assert_eq!(record["amount"], major(first.amount));
    assert_eq!(record["charge"], first.charge.as_str());
    assert_eq!(record["created"], rfc3339(first.created));

    let customers = env.records("stripe", "customers").await;
    let expected: Vec<String> = world.payments.customers.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids(&customers), sorted(expected));
    assert_eq!(customers[0]["email"], "buyer0@example.com");

    // Canceled subscriptions too, which Stripe lists only when asked.
    let subscriptions = env.records("stripe", "subscriptions").await;
    assert_eq!(subscriptions.len(), world.payments.subscriptions.len());
    for subscription in &world.payments.subscriptions {
        let record = subscriptions
            .iter()
            .find(|s| s["id"] == subscription.id.as_str())
            .expect("every subscription");
        assert_eq!(record["status"], subscription.status.as_str());
        assert_eq!(record["amount"], major(subscription.amount));
        assert_eq!(record["interval"], "month");
        assert_eq!(record["customer"], subscription.customer.as_str());
    }

    let requests = env.sandbox.stripe.requests();
    let pages = world.payments.charges.len().div_ceil(page_limit(&requests));
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.starts_with("GET /v1/charges"))
            .count(),
        pages,
        "one request per page of charges"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_lists_only_what_was_created_since_the_cursor() {
    let env = PlatformHost::start(&["stripe"]).await;
    let first = env.sync("stripe", &["charges"], "incremental").await;
    assert_succeeded(&first);
    let limit = page_limit(&env.sandbox.stripe.requests());
    let newest = env
        .sandbox
        .world()
        .payments
        .charges
        .iter()
        .map(|c| c.created)
        .max()
        .expect("charges");

    env.sandbox.world().extend_days(1);
    env.sandbox.stripe.clear_requests();
    let second = env.sync("stripe", &["charges"], "incremental").await;
    assert_succeeded(&second);

    let world = env.sandbox.world().clone();
    let new = world
        .payments
        .charges
        .iter()
        .filter(|c| c.created >= newest)
        .count();
    assert!(new > 1 && new < limit, "a day of charges fits one page: {new}");
    assert_eq!(
        env.sandbox.stripe.requests(),
        vec![format!("GET /v1/charges?limit={limit}&created%5Bgte%5D={newest}")],
        "one page from the cursor on"
    );
    assert_eq!(second["streams"][0]["records_written"], new as u64, "{second}");
    assert_eq!(env.records("stripe", "charges").await, expected_charges(&world));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_mid_listing_is_waited_out_and_the_listing_resumes() {
    let env = PlatformHost::start(&["stripe"]).await;
    env.sandbox.stripe.rate_limit_after(3);
    let started = Instant::now();
    let run = env.sync("stripe", &["charges"], "incremental").await;
    assert_succeeded(&run);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited Stripe's second out"
    );
    assert_eq!(env.sandbox.stripe.rate_limited(), 1);
    assert!(
        run["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("Too many requests"),
        "the rate limit carried Stripe's message: {run}"
    );
    let requests = env.sandbox.stripe.requests();
    let limit = page_limit(&requests);
    assert!(
        requests[3].contains("starting_after="),
        "limited mid-listing: {requests:?}"
    );
    assert_eq!(requests[3], requests[4], "the refused page was asked for again");
    let world = env.sandbox.world().clone();
    assert_eq!(env.records("stripe", "charges").await, expected_charges(&world));

    // The cursor moved only once the listing was done: the next sync lists
    // from the newest charge, not from a page in the middle.
    env.sandbox.stripe.clear_requests();
    let again = env.sync("stripe", &["charges"], "incremental").await;
    assert_succeeded(&again);
    let newest = world
        .payments
        .charges
        .iter()
        .map(|c| c.created)
        .max()
        .expect("charges");
    assert_eq!(
        env.sandbox.stripe.requests(),
        vec![format!("GET /v1/charges?limit={limit}&created%5Bgte%5D={newest}")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_fails_with_stripes_message() {
    let env = PlatformHost::start(&["stripe"]).await;
    let mut body = env.enablement("stripe");
    body["secrets"]["api_key"] = json!("sk_test_51Wrong000000xyz9");
    let reply = env.enable("stripe", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let run = env.sync("stripe", &["charges"], "full-refresh").await;
    assert_failed(&run, &["Invalid API Key provided: sk_test_*************xyz9"]);
    assert_eq!(run["attempts"], 1, "no retry on a wrong key: {run}");
    assert!(env.records("stripe", "charges").await.is_empty());

    let (kind, message) = plugin_error(&env.invoke("stripe", "check", Value::Null).await);
    assert_eq!(kind, "auth", "{message}");
    let (charge, _) = unrefunded_charge(&env);
    let reply = refund(&env, json!({"charge": charge}), "k1").await;
    assert_refused(&reply, "auth", "Invalid API Key provided");
    assert!(env.sandbox.stripe.writes().iter().all(|w| !w.applied));
    assert_ne!(API_KEY, "sk_test_51Wrong000000xyz9");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_changes_the_charge_and_is_audited() {
    let env = PlatformHost::start(&["stripe"]).await;
    let (charge, amount) = unrefunded_charge(&env);
    assert!(amount > 1050);
    let refunds_before = env.sandbox.world().payments.refunds.len();

    let input = json!({"charge": charge, "amount": 10.5, "reason": "requested_by_customer"});
    let reply = refund(&env, input, "refund-1").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let result = &reply.json["output"]["result"];
    assert_eq!(result["amount"], 10.5, "{result}");
    assert_eq!(result["currency"], "USD");
    assert_eq!(result["charge"], charge.as_str());
    assert_eq!(result["replayed"], false);

    {
        let world = env.sandbox.world();
        assert_eq!(world.payments.refunds.len(), refunds_before + 1);
        assert_eq!(amount_refunded(&world, &charge), 1050);
        let made = world.payments.refunds.last().expect("the refund");
        assert_eq!(
            (made.id.as_str(), made.amount),
            (result["id"].as_str().expect("id"), 1050)
        );
    }
    let writes = env.sandbox.stripe.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.as_str()),
        ("POST", "/v1/refunds")
    );
    assert_eq!(
        writes[0].body,
        json!({"charge": charge, "amount": "1050", "reason": "requested_by_customer"})
    );
    // The API puts `direct:` before the key of an action invoked directly.
    assert_eq!(writes[0].idempotency_key.as_deref(), Some("direct:refund-1"));
    assert!(writes[0].applied);

    let audit = env.audit().await;
    let act = audit
        .iter()
        .rev()
        .find(|e| e["action"] == "plugin.act")
        .expect("the action is audited");
    assert_eq!(act["target"], "stripe", "{act}");
    assert_eq!(act["outcome"], "ok", "{act}");

    // A full refresh shows the new refund and the charge's refunded amount.
    let run = env.sync("stripe", &["refunds", "charges"], "full-refresh").await;
    assert_succeeded(&run);
    let refunds = env.records("stripe", "refunds").await;
    assert!(
        refunds
            .iter()
            .any(|r| r["id"] == result["id"] && r["amount"] == 10.5)
    );
    let charges = env.records("stripe", "charges").await;
    let record = charges
        .iter()
        .find(|c| c["id"] == charge.as_str())
        .expect("the charge");
    assert_eq!(record["amount_refunded"], 10.5);
    assert_eq!(record["refunded"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_refund_acted_twice_refunds_once() {
    let env = PlatformHost::start(&["stripe"]).await;
    let (charge, amount) = unrefunded_charge(&env);
    let refunds_before = env.sandbox.world().payments.refunds.len();

    let first = refund(&env, json!({"charge": charge}), "retry-me").await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = refund(&env, json!({"charge": charge}), "retry-me").await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json["output"]["result"]["replayed"], true);
    assert_eq!(
        again.json["output"]["result"]["id"],
        first.json["output"]["result"]["id"]
    );
    assert_eq!(
        first.json["output"]["result"]["amount"],
        major(amount),
        "all that remained"
    );

    let writes = env.sandbox.stripe.writes();
    assert_eq!(writes.len(), 2, "two POSTs");
    assert_eq!(writes.iter().filter(|w| w.applied).count(), 1, "one refund");
    assert!(
        writes
            .iter()
            .all(|w| w.idempotency_key.as_deref() == Some("direct:retry-me"))
    );
    let world = env.sandbox.world();
    assert_eq!(world.payments.refunds.len(), refunds_before + 1);
    assert_eq!(amount_refunded(&world, &charge), amount);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_refund_is_refused_clearly_and_changes_nothing() {
    let env = PlatformHost::start(&["stripe"]).await;
    let (charge, amount) = unrefunded_charge(&env);
    let before = env.sandbox.world().payments.clone();

    // Refused by the connector before any request.
    for (input, expected) in [
        (
            json!({"charge": charge, "reason": "because"}),
            "`reason` must be one of",
        ),
        (
            json!({"charge": charge, "amount": -5}),
            "`amount` must be a positive number",
        ),
        (json!({"amount": 5}), "missing field `charge`"),
        (
            json!({"charge": "ch_1/../../v1/customers"}),
            "`charge` must be a charge id",
        ),
    ] {
        assert_refused(&refund(&env, input, "bad").await, "invalid-input", expected);
    }
    assert!(env.sandbox.stripe.requests().is_empty(), "nothing reached Stripe");

    // Refused by Stripe: its message comes back.
    let too_much = major(amount) + 1.0;
    let (kind, message) =
        plugin_error(&refund(&env, json!({"charge": charge, "amount": too_much}), "big").await);
    assert_eq!(kind, "invalid-input", "{message}");
    assert!(
        message.contains("amount_too_large") && message.contains("greater than unrefunded amount"),
        "{message}"
    );
    let ghost = refund(&env, json!({"charge": "ch_nosuchcharge"}), "ghost").await;
    assert_refused(&ghost, "not-found", "No such charge: 'ch_nosuchcharge'");

    // The unknown charge is not found when it is read, before any POST.
    let writes = env.sandbox.stripe.writes();
    assert_eq!(
        writes.len(),
        1,
        "only the refund Stripe refused was posted: {writes:?}"
    );
    assert!(writes.iter().all(|w| !w.applied), "{writes:?}");
    assert_eq!(env.sandbox.world().payments, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_verified_like_stripe() {
    let env = PlatformHost::start(&["stripe"]).await;
    let charge = env.sandbox.world().payments.charges[0].clone();
    let event = sandbox_stripe::event("charge.refunded", sandbox_stripe::charge_json(&charge), now());
    let body = event.to_string();
    let deliver = |headers: Vec<(String, String)>, body: String| {
        env.invoke(
            "stripe",
            "verify-webhook",
            json!({"headers": headers, "body": body}),
        )
    };

    let reply = deliver(
        sandbox_stripe::signed_webhook(body.as_bytes(), now()),
        body.clone(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let events = &reply.json["output"]["result"];
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{events}");
    assert_eq!(events[0]["kind"], "charge.refunded");
    assert_eq!(events[0]["payload"], event);

    // Several v1 signatures while a secret is rolled: one matching is enough.
    let mut rolled = sandbox_stripe::signed_webhook(body.as_bytes(), now());
    let old = sandbox_stripe::webhook_signature("whsec_old", body.as_bytes(), now());
    rolled[1].1 = rolled[1].1.replacen(",v1=", &format!(",v1={old},v1="), 1);
    assert_eq!(deliver(rolled, body.clone()).await.status, 200);

    let refusals = [
        (
            sandbox_stripe::signed_webhook_with("whsec_someoneelse", body.as_bytes(), now()),
            body.clone(),
            "no v1 signature",
        ),
        (
            sandbox_stripe::signed_webhook(body.as_bytes(), now()),
            body.replace("charge.refunded", "charge.succeeded"),
            "no v1 signature",
        ),
        (
            sandbox_stripe::signed_webhook(body.as_bytes(), now() - 600),
            body.clone(),
            "tolerance",
        ),
        (vec![], body.clone(), "no Stripe-Signature header"),
    ];
    for (headers, body, expected) in refusals {
        assert_refused(&deliver(headers, body).await, "auth", expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_previews_read_the_charge_and_change_nothing() {
    let env = PlatformHost::start(&["stripe"]).await;
    let (whole, amount) = unrefunded_charge(&env);
    // Another charge, refunded in part (in Stripe's dashboard, say).
    let (part, part_amount) = {
        let mut world = env.sandbox.world();
        let charge = world
            .payments
            .charges
            .iter_mut()
            .find(|c| c.amount_refunded == 0 && c.id != whole)
            .expect("another unrefunded charge");
        charge.amount_refunded = 1000;
        (charge.id.clone(), charge.amount)
    };
    let before = env.sandbox.world().payments.clone();
    let left = part_amount - 1000;
    let cases = [
        (json!({"charge": whole}), &whole, (major(amount), 0.0)),
        (
            json!({"charge": whole, "amount": 10.5, "reason": "duplicate"}),
            &whole,
            (major(amount), major(amount - 1050)),
        ),
        (json!({"charge": part}), &part, (major(left), 0.0)),
        (
            json!({"charge": part, "amount": 5}),
            &part,
            (major(left), major(left - 500)),
        ),
    ];
    for (input, id, values) in cases {
        let reply = preview(&env, "stripe", "create-refund", input).await;
        let unit = before.currency.to_uppercase();
        assert_preview(&reply, ("charge", id), "net-charge-amount", values, &unit);
    }
    assert!(env.sandbox.stripe.writes().is_empty());
    let requests = env.sandbox.stripe.requests();
    assert!(
        requests.iter().all(|r| r.starts_with("GET /v1/charges/ch_")),
        "{requests:?}"
    );
    assert_eq!(env.sandbox.world().payments, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_refund_preview_is_refused_like_the_action_and_writes_nothing() {
    let env = PlatformHost::start(&["stripe"]).await;
    let (charge, amount) = unrefunded_charge(&env);
    let (before, refunded) = {
        let world = env.sandbox.world();
        let refunded = world
            .payments
            .charges
            .iter()
            .find(|c| c.amount_refunded >= c.amount)
            .expect("a refunded charge");
        (world.payments.clone(), refunded.id.clone())
    };
    let cases = [
        ("refund-all", json!({"charge": charge}), "not-found", "refund-all"),
        (
            "create-refund",
            json!({"charge": "ch_nosuchcharge"}),
            "not-found",
            "No such charge: 'ch_nosuchcharge'",
        ),
        (
            "create-refund",
            json!({"charge": "ch_1/../../v1/customers"}),
            "invalid-input",
            "`charge` must be a charge id",
        ),
        (
            "create-refund",
            json!({"charge": charge, "amount": 10.005}),
            "invalid-input",
            "more decimals",
        ),
        // Refused by Stripe when acted, by the preview itself.
        (
            "create-refund",
            json!({"charge": charge, "amount": major(amount) + 1.0}),
            "invalid-input",
            "greater than unrefunded amount",
        ),
        (
            "create-refund",
            json!({"charge": refunded}),
            "invalid-input",
            "has already been refunded",
        ),
    ];
    for (name, input, kind, needle) in &cases {
        let reply = preview(&env, "stripe", name, input.clone()).await;
        assert_refused(&reply, kind, needle);
    }
    assert!(env.sandbox.stripe.writes().is_empty());
    for (name, input, kind, needle) in &cases {
        assert_refused(&env.act("stripe", name, input.clone(), "bad").await, kind, needle);
    }
    let writes = env.sandbox.stripe.writes();
    assert_eq!(writes.len(), 2, "the two Stripe refused: {writes:?}");
    assert!(writes.iter().all(|w| !w.applied), "{writes:?}");
    assert_eq!(env.sandbox.world().payments, before);
}
