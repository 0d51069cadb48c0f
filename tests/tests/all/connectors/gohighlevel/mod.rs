//! The GoHighLevel connector against the GoHighLevel sandbox: full and
//! incremental syncs of contacts, pipelines, opportunities and
//! appointments, the rate limit, a wrong token, signed webhooks, and the
//! analytics agent counting won deals as revenue where a tenant has no
//! store. The actions are in `actions.rs`.

mod actions;

use super::support::{assert_failed, assert_refused, assert_succeeded, major};
use omnify_sandbox::gohighlevel::{self as sandbox_ghl, ACCESS_TOKEN, INVALID_TOKEN_MESSAGE};
use omnify_sandbox::server::PlatformServer;
use omnify_sandbox::world::{CrmContact, DealStatus, World};
use omnify_tests::host::Reply;
use omnify_tests::platforms::{PlatformHost, TENANT};
use reqwest::Method;
use serde_json::{Value, json};

/// A world time (UTC) as the connector normalises it.
macro_rules! utc {
    ($time:expr) => {
        $time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    };
}

const STREAMS: [&str; 4] = ["contacts", "pipelines", "opportunities", "appointments"];

fn server(env: &PlatformHost) -> &PlatformServer {
    &env.sandbox.gohighlevel
}

fn stream_count(run: &Value, stream: &str) -> u64 {
    run["streams"]
        .as_array()
        .and_then(|streams| streams.iter().find(|s| s["stream"] == stream))
        .and_then(|s| s["records_written"].as_u64())
        .unwrap_or_else(|| panic!("no count of {stream} in {run}"))
}

/// `items` sorted by their string key, as the host lists records.
fn by_id<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<&T> {
    let mut sorted: Vec<&T> = items.iter().collect();
    sorted.sort_by(|a, b| id(a).cmp(id(b)));
    sorted
}

/// The world's opportunities as the connector's records, in key order.
fn expected_opportunities(world: &World) -> Vec<Value> {
    let crm = &world.crm;
    by_id(&crm.opportunities, |o| &o.id)
        .into_iter()
        .map(|o| {
            let pipeline = crm.pipeline(&o.pipeline_id).expect("its pipeline");
            let stage = pipeline.stages.iter().find(|s| s.id == o.stage_id).expect("its stage");
            let contact = crm.contact(&o.contact_id).expect("its contact");
            json!({
                "id": o.id, "name": o.name, "status": o.status.as_str(),
                "monetary_value": major(o.monetary_value_cents), "currency": crm.currency,
                "pipeline_id": pipeline.id, "pipeline_name": pipeline.name,
                "stage_id": stage.id, "stage_name": stage.name,
                "contact_id": contact.id, "contact_email": contact.email,
                "assigned_to": o.assigned_to, "source": o.source,
                "created_at": utc!(o.created_at), "updated_at": utc!(o.updated_at),
                "last_status_change_at": utc!(o.last_status_change_at),
                "won_at": if o.status == DealStatus::Won { json!(utc!(o.last_status_change_at)) } else { Value::Null },
            })
        })
        .collect()
}

/// The contacts a sync from the enablement's `start_date` (the world's
/// first day) reads: those changed since.
fn synced_contacts(world: &World) -> Vec<&CrmContact> {
    let start = world.first_day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let contacts: Vec<&CrmContact> = world
        .crm
        .contacts
        .iter()
        .filter(|c| c.date_updated >= start)
        .collect();
    assert!(
        contacts.len() < world.crm.contacts.len(),
        "some contacts are older than start_date"
    );
    by_id(&contacts, |c| &c.id).into_iter().copied().collect()
}

/// A day in Unix milliseconds.
const DAY_MS: i64 = 86_400_000;

/// Midnight UTC of today, in Unix milliseconds, as the connector computes it.
fn today_start() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    now - now % DAY_MS
}

/// The fields of `record` that `expected` names.
fn projected(record: &Value, expected: &Value) -> Value {
    let fields = expected.as_object().expect("an object");
    Value::Object(fields.keys().map(|k| (k.clone(), record[k].clone())).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_returns_exactly_the_locations_records() {
    let env = PlatformHost::start(&["gohighlevel"]).await;
    let run = env.sync("gohighlevel", &STREAMS, "full-refresh").await;
    assert_succeeded(&run);
    let world = env.sandbox.world().clone();
    let crm = &world.crm;

    let contacts = env.records("gohighlevel", "contacts").await;
    let want_contacts = synced_contacts(&world);
    assert_eq!(contacts.len(), want_contacts.len());
    assert_eq!(stream_count(&run, "contacts"), want_contacts.len() as u64);
    for (record, contact) in contacts.iter().zip(&want_contacts) {
        let want = json!({
            "id": contact.id, "first_name": contact.first_name, "last_name": contact.last_name,
            "email": contact.email, "phone": contact.phone, "source": contact.source, "tags": contact.tags,
            "created_at": utc!(contact.date_added), "updated_at": utc!(contact.date_updated),
        });
        assert_eq!(projected(record, &want), want);
    }

    let pipelines = env.records("gohighlevel", "pipelines").await;
    assert_eq!(pipelines.len(), crm.pipelines.len());
    for (record, pipeline) in pipelines.iter().zip(by_id(&crm.pipelines, |p| &p.id)) {
        let stages: Vec<Value> = pipeline
            .stages
            .iter()
            .enumerate()
            .map(|(n, s)| json!({"id": s.id, "name": s.name, "position": n}))
            .collect();
        assert_eq!(
            record,
            &json!({"id": pipeline.id, "name": pipeline.name, "stages": stages})
        );
    }

    let opportunities = env.records("gohighlevel", "opportunities").await;
    let expected = expected_opportunities(&world);
    assert_eq!(opportunities.len(), expected.len());
    for (record, want) in opportunities.iter().zip(&expected) {
        assert_eq!(&projected(record, want), want);
    }
    let won: f64 = opportunities
        .iter()
        .filter(|o| o["status"] == "won")
        .map(|o| o["monetary_value"].as_f64().expect("a value"))
        .sum();
    let world_won: i64 = world.dates().map(|d| crm.won_on(d)).sum();
    assert!(
        world_won > 0 && (won - major(world_won)).abs() < 0.005,
        "{won} vs {world_won} cents"
    );

    let appointments = env.records("gohighlevel", "appointments").await;
    assert_eq!(appointments.len(), crm.appointments.len());
    for (record, event) in appointments.iter().zip(by_id(&crm.appointments, |a| &a.id)) {
        let calendar = crm
            .calendars
            .iter()
            .find(|c| c.id == event.calendar_id)
            .expect("its calendar");
        let want = json!({
            "id": event.id, "calendar_id": calendar.id, "calendar_name": calendar.name,
            "contact_id": event.contact_id, "title": event.title, "status": event.status,
            "assigned_user_id": event.assigned_user_id,
            "start_time": utc!(event.start_time), "end_time": utc!(event.end_time),
            "created_at": utc!(event.date_added), "updated_at": utc!(event.date_updated),
        });
        assert_eq!(projected(record, &want), want);
    }

    // GoHighLevel's paging: contacts by `searchAfter` in the body (several
    // pages of at most 100), opportunities by `startAfter`/`startAfterId`.
    let requests = server(&env).requests();
    let searches = requests.iter().filter(|r| *r == "POST /contacts/search").count();
    // A page is the host's batch size, at most GoHighLevel's 100.
    let page = run["batch_size"].as_u64().expect("a batch size").min(100) as usize;
    let synced = want_contacts.len();
    assert_eq!(
        searches,
        synced.div_ceil(page) + usize::from(synced.is_multiple_of(page))
    );
    assert!(searches > 1, "{searches} pages");
    let pages: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("GET /opportunities/search"))
        .collect();
    assert_eq!(pages.len(), crm.opportunities.len().div_ceil(page));
    assert!(pages[0].contains("status=all") && !pages[0].contains("startAfter"));
    assert!(
        pages[1..]
            .iter()
            .all(|r| r.contains("startAfter=") && r.contains("startAfterId="))
    );
    let windows = requests
        .iter()
        .filter(|r| r.starts_with("GET /calendars/events"))
        .count();
    assert!(windows >= 2 * 4, "each calendar in month windows: {windows}");
    assert!(server(&env).writes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_reads_only_the_contacts_changed_since_the_last() {
    let env = PlatformHost::start(&["gohighlevel"]).await;
    let first = env
        .sync("gohighlevel", &["contacts", "appointments"], "incremental")
        .await;
    assert_succeeded(&first);
    let (boundary, changed_id, appointments_before) = {
        let mut world = env.sandbox.world();
        let appointments_before = world.crm.appointments.len();
        let boundary = world
            .crm
            .contacts
            .iter()
            .map(|c| c.date_updated)
            .max()
            .expect("contacts");
        world.extend_days(1);
        let now = world.now();
        let old = &mut world.crm.contacts[3];
        old.tags.push("newsletter".into());
        old.date_updated = now;
        (boundary, old.id.clone(), appointments_before)
    };
    server(&env).clear_requests();
    let today = today_start();

    let second = env
        .sync("gohighlevel", &["contacts", "appointments"], "incremental")
        .await;
    assert_succeeded(&second);
    let world = env.sandbox.world().clone();
    // Inclusive: the contacts at the boundary time come again.
    let changed = world
        .crm
        .contacts
        .iter()
        .filter(|c| c.date_updated >= boundary)
        .count() as u64;
    assert!(changed > 2, "a new day of leads and the tag");
    assert_eq!(stream_count(&second, "contacts"), changed);
    let requests = server(&env).requests();
    let searches = requests.iter().filter(|r| *r == "POST /contacts/search").count();
    assert_eq!(searches, 1, "one page of changes: {requests:?}");

    let contacts = env.records("gohighlevel", "contacts").await;
    assert_eq!(contacts.len(), synced_contacts(&world).len());
    let record = contacts
        .iter()
        .find(|c| c["id"] == changed_id.as_str())
        .expect("the changed contact");
    assert!(
        record["tags"]
            .as_array()
            .expect("tags")
            .contains(&json!("newsletter"))
    );
    assert_eq!(record["updated_at"], utc!(world.now()));

    // Appointments start again a week before the last sync's day.
    let window = requests
        .iter()
        .find(|r| r.starts_with("GET /calendars/events"))
        .expect("an events request");
    let started = [today, today_start()].map(|day| format!("startTime={}", day - 7 * DAY_MS));
    assert!(
        started.iter().any(|s| window.contains(s.as_str())),
        "{window} vs {started:?}"
    );
    // The new day's appointments are seen only if they start after that,
    // as new bookings do; the sandbox's day may be long before today.
    let since = today - 7 * DAY_MS;
    let new = world.crm.appointments[appointments_before..]
        .iter()
        .filter(|a| a.start_time.timestamp_millis() >= since)
        .count();
    assert_eq!(
        env.records("gohighlevel", "appointments").await.len(),
        appointments_before + new
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_mid_sync_is_waited_out_and_the_sync_completes() {
    let env = PlatformHost::start(&["gohighlevel"]).await;
    server(&env).rate_limit_after(2);
    let started = std::time::Instant::now();
    let run = env.sync("gohighlevel", &["opportunities"], "full-refresh").await;
    assert_succeeded(&run);
    assert_eq!(server(&env).rate_limited(), 1);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After is waited out"
    );
    assert!(run["last_error"].is_null(), "{run}");
    let requests = server(&env).requests();
    assert_eq!(requests[2], requests[3], "the refused request is sent again");
    let world = env.sandbox.world().clone();
    let records = env.records("gohighlevel", "opportunities").await;
    let ids: Vec<&Value> = records.iter().map(|o| &o["id"]).collect();
    let want: Vec<Value> = expected_opportunities(&world)
        .iter()
        .map(|o| o["id"].clone())
        .collect();
    assert_eq!(ids, want.iter().collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_fails_with_gohighlevels_auth_message() {
    let env = PlatformHost::start(&["gohighlevel"]).await;
    let mut body = env.enablement("gohighlevel");
    body["secrets"]["access_token"] = json!(format!("{ACCESS_TOKEN}-revoked"));
    let enabled = env.enable("gohighlevel", &body).await;
    assert_eq!(enabled.status, 200, "{}", enabled.text);

    let run = env.sync("gohighlevel", &["contacts"], "full-refresh").await;
    let error = assert_failed(&run, &[INVALID_TOKEN_MESSAGE]);
    assert!(error.starts_with("authentication failed"), "{run}");
    assert_eq!(run["attempts"], 1, "auth is not retried");
    assert_eq!(server(&env).requests().len(), 1, "auth is not retried");

    let check = env.invoke("gohighlevel", "check", json!({})).await;
    assert_refused(&check, "auth", INVALID_TOKEN_MESSAGE);
}

/// The host's webhook endpoint of the tenant's GoHighLevel connector.
async fn deliver(env: &PlatformHost, headers: &[(String, String)], body: &[u8]) -> Reply {
    let mut request = env
        .host
        .request(Method::POST, &format!("/v1/hooks/{TENANT}/gohighlevel"))
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    env.host.send(request).await
}

fn without(headers: &[(String, String)], name: &str) -> Vec<(String, String)> {
    headers.iter().filter(|(n, _)| n != name).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_verified_with_either_signature_and_forgeries_refused() {
    let env = PlatformHost::start(&["gohighlevel"]).await;
    let event = sandbox_ghl::event(
        "OpportunityStatusUpdate",
        json!({"id": "o1", "status": "won", "monetaryValue": 1200}),
    );
    let body = event.to_string().into_bytes();
    let headers = sandbox_ghl::signed_webhook(&body);
    let invoke = |headers: &[(String, String)], body: &[u8]| {
        let headers: Vec<Value> = headers.iter().map(|(n, v)| json!([n, v])).collect();
        json!({"headers": headers, "body": String::from_utf8_lossy(body)})
    };
    for signed in [
        headers.clone(),
        without(&headers, "X-GHL-Signature"),
        without(&headers, "X-WH-Signature"),
    ] {
        let reply = env
            .invoke("gohighlevel", "verify-webhook", invoke(&signed, &body))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let events = &reply.json["output"]["result"];
        assert_eq!(events[0]["kind"], "OpportunityStatusUpdate", "{}", reply.text);
        assert_eq!(events[0]["payload"]["status"], "won");
    }

    // Altered on the way, signed for another body, or not signed at all.
    let altered = String::from_utf8_lossy(&body)
        .replace("1200", "9999")
        .into_bytes();
    let other = sandbox_ghl::signed_webhook(b"{}");
    let swap = |name: &str| -> Vec<(String, String)> {
        let forged = other
            .iter()
            .find(|(n, _)| n == name)
            .expect("a signature")
            .clone();
        let mut headers = without(&headers, "X-GHL-Signature");
        headers.retain(|(n, _)| n != "X-WH-Signature");
        headers.push(forged);
        headers
    };
    for (signed, sent, needle) in [
        (headers.clone(), altered.clone(), "X-GHL-Signature does not match"),
        (
            without(&headers, "X-GHL-Signature"),
            altered,
            "X-WH-Signature does not match",
        ),
        (
            swap("X-WH-Signature"),
            body.clone(),
            "X-WH-Signature does not match",
        ),
        (
            swap("X-GHL-Signature"),
            body.clone(),
            "X-GHL-Signature does not match",
        ),
        (
            vec![("Content-Type".to_string(), "application/json".to_string())],
            body.clone(),
            "no signature",
        ),
    ] {
        let reply = env
            .invoke("gohighlevel", "verify-webhook", invoke(&signed, &sent))
            .await;
        assert_refused(&reply, "auth", needle);
    }

    // Through the host's public endpoint: kept as records, forgeries refused.
    let accepted = deliver(&env, &headers, &body).await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.json["kinds"], json!(["OpportunityStatusUpdate"]));
    let forged = deliver(&env, &swap("X-GHL-Signature"), &body).await;
    assert_eq!(forged.status, 401, "{}", forged.text);
    let kept = env.records("gohighlevel", "webhook_events").await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["payload"]["id"], "o1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_counts_won_deals_as_revenue_where_the_tenant_has_no_store() {
    let ads = ["meta-ads", "google-ads", "tiktok-ads"];
    let plugins: Vec<&str> = ads.iter().copied().chain(["gohighlevel", "analytics"]).collect();
    let env = PlatformHost::start(&plugins).await;
    for connector in ads {
        assert_succeeded(
            &env.sync(connector, &["campaigns", "campaign_insights"], "full-refresh")
                .await,
        );
    }
    assert_succeeded(&env.sync("gohighlevel", &["opportunities"], "full-refresh").await);
    let run = env
        .run_agent("analytics", json!({"kind": "daily-review", "input": {}}))
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let insights = run["output"]["insights"].as_array().expect("insights");
    let blended = insights
        .iter()
        .find(|i| i["kind"] == "blended-metrics")
        .expect("blended metrics");
    let daily = &blended["data"]["daily"];
    let column = daily["columns"]
        .as_array()
        .and_then(|c| c.iter().position(|name| name == "store_revenue"))
        .expect("a revenue column");
    let world = env.sandbox.world().clone();
    let rows = daily["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 28);
    let mut total = 0.0;
    for row in rows {
        let day = row[0].as_str().expect("a date");
        let date = world
            .dates()
            .find(|d| d.to_string() == day)
            .expect("a day of the world");
        let revenue = row[column].as_f64().expect("revenue");
        assert!(
            (revenue - major(world.crm.won_on(date))).abs() < 0.005,
            "{day}: {revenue}"
        );
        total += revenue;
    }
    assert!(total > 0.0, "deals were won in the last 28 days");
    let window = &blended["data"]["windows"]["28"];
    assert!(
        (window["store_revenue"].as_f64().expect("a total") - total).abs() < 0.01,
        "{window}"
    );
    assert!(
        window["mer"].as_f64().is_some(),
        "MER joins the deals with the ad spend"
    );
}
