//! The sync engine against a loopback source, through the API: records land
//! in the record store by primary key, incremental syncs fetch only what is
//! new, `Retry-After` is honoured, backoff gives up, `auth` fails at once.

use omnify_tests::host::{TestHost, host_with_paged_source};
use omnify_tests::source::{Fault, Source};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

struct Setup {
    host: TestHost,
    admin: String,
    source: Source,
    _dir: tempfile::TempDir,
}

async fn setup(items: u64) -> Setup {
    let source = Source::start(items).await;
    let (host, admin, dir) = host_with_paged_source(&["acme"], &source).await;
    Setup {
        host,
        admin,
        source,
        _dir: dir,
    }
}

impl Setup {
    async fn sync(&self, body: Value) -> omnify_tests::host::Reply {
        self.host
            .call(
                Method::POST,
                "/v1/tenants/acme/plugins/paged-source/sync",
                Some(&self.admin),
                Some(&body),
            )
            .await
    }

    /// Start a sync and wait for its run to end.
    async fn sync_to_end(&self, body: Value) -> Value {
        let started = self.sync(body).await;
        assert_eq!(started.status, 202, "{}", started.text);
        let id = started.json["id"].as_str().expect("run id");
        self.host.wait_for_run(&self.admin, "acme", id).await
    }

    async fn all_records(&self) -> Vec<Value> {
        let mut records = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(after) => format!("/v1/tenants/acme/records/paged-source/items?limit=40&after={after}"),
                None => "/v1/tenants/acme/records/paged-source/items?limit=40".to_string(),
            };
            let page = self.host.call(Method::GET, &path, Some(&self.admin), None).await;
            assert_eq!(page.status, 200, "{}", page.text);
            records.extend(page.json["records"].as_array().expect("records").iter().cloned());
            match page.json["next"].as_str() {
                Some(next) => after = Some(next.to_string()),
                None => return records,
            }
        }
    }
}

fn ids(records: &[Value]) -> Vec<u64> {
    records.iter().filter_map(|r| r["id"].as_u64()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_stores_exactly_the_sources_records() {
    let setup = setup(237).await;
    let run = setup.sync_to_end(json!({"mode": "full-refresh"})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["streams"][0]["records_written"], 237);
    assert_eq!(run["streams"][0]["batches"], 5, "batches of 50");
    assert!(run["fuel"].as_u64().unwrap_or(0) > 0);
    assert_eq!(ids(&setup.all_records().await), (1..=237).collect::<Vec<_>>());

    let again = setup.sync_to_end(json!({"mode": "full-refresh"})).await;
    assert_eq!(again["status"], "succeeded");
    assert_eq!(
        setup.all_records().await.len(),
        237,
        "a second full refresh does not duplicate"
    );

    let filtered = setup
        .host
        .call(
            Method::GET,
            "/v1/tenants/acme/records/paged-source/items?filter=group:0&limit=1000",
            Some(&setup.admin),
            None,
        )
        .await;
    assert_eq!(filtered.json["records"].as_array().map(Vec::len), Some(79));

    let runs = setup
        .host
        .call(Method::GET, "/v1/tenants/acme/runs", Some(&setup.admin), None)
        .await;
    assert_eq!(runs.json.as_array().map(Vec::len), Some(2));
    let audit = setup
        .host
        .call(
            Method::GET,
            "/v1/tenants/acme/audit?since=0&limit=1000",
            Some(&setup.admin),
            None,
        )
        .await;
    let actions: Vec<&str> = audit
        .json
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions.iter().filter(|a| **a == "sync.start").count(), 2);
    assert_eq!(actions.iter().filter(|a| **a == "sync.end").count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_fetches_only_what_changed() {
    let setup = setup(120).await;
    let first = setup.sync_to_end(json!({})).await;
    assert_eq!(
        (first["status"].as_str(), first["streams"][0]["mode"].as_str()),
        (Some("succeeded"), Some("incremental"))
    );
    assert_eq!(setup.source.take_items_served(), 120);

    setup.source.add_items(30);
    let second = setup.sync_to_end(json!({})).await;
    assert_eq!(second["status"], "succeeded");
    assert_eq!(second["streams"][0]["records_written"], 30);
    assert_eq!(
        setup.source.take_items_served(),
        30,
        "only the new items were fetched"
    );
    assert_eq!(ids(&setup.all_records().await), (1..=150).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let setup = setup(60).await;
    setup.source.fail_next(Fault::RateLimited(1));
    let run = setup.sync_to_end(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["attempts"], 3, "one rate-limited read and two batches");
    assert!(
        run["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("rate limited"),
        "{run}"
    );
    let requests = setup.source.requests();
    let limited = requests
        .iter()
        .position(|(_, status)| status.as_u16() == 429)
        .expect("a 429");
    let gap = requests[limited + 1].0 - requests[limited].0;
    assert!(
        gap >= Duration::from_secs(1),
        "waited {gap:?} after `Retry-After: 1`"
    );
    assert_eq!(ids(&setup.all_records().await), (1..=60).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_gives_up_after_the_last_attempt() {
    let setup = setup(10).await;
    setup.source.fail_always(Fault::Unavailable);
    let run = setup.sync_to_end(json!({})).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["attempts"], 5);
    let error = run["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("gave up after 5 attempts") && error.contains("down for maintenance"),
        "{error}"
    );
    assert_eq!(setup.source.requests().len(), 5);
    // Backoffs of 20, 40, 80 and 160 ms (the test host's base of 20 ms,
    // doubling), each cut by at most half by jitter: at least 150 ms in all.
    let requests = setup.source.requests();
    let spread = requests[4].0 - requests[0].0;
    assert!(
        spread >= Duration::from_millis(150),
        "the retries backed off: {spread:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auth_error_fails_the_run_at_once_with_the_plugins_message() {
    let setup = setup(10).await;
    setup.source.fail_always(Fault::Unauthorized);
    let run = setup.sync_to_end(json!({})).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["attempts"], 1, "no retry on auth");
    assert!(
        run["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("token expired"),
        "{run}"
    );
    let audit = setup
        .host
        .call(
            Method::GET,
            "/v1/tenants/acme/audit?since=0&limit=1000",
            Some(&setup.admin),
            None,
        )
        .await;
    assert!(
        audit
            .json
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["action"] == "sync.fail")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_stream_is_a_clear_error_and_starts_nothing() {
    let setup = setup(10).await;
    let reply = setup.sync(json!({"streams": ["orders"]})).await;
    assert_eq!(reply.status, 422);
    assert_eq!(
        reply.json["error"]["message"],
        "`paged-source` has no stream `orders` (it has: items)"
    );
    let runs = setup
        .host
        .call(Method::GET, "/v1/tenants/acme/runs", Some(&setup.admin), None)
        .await;
    assert_eq!(runs.json, json!([]));
    let bad_filter = setup
        .host
        .call(
            Method::GET,
            "/v1/tenants/acme/records/paged-source/items?filter=nocolon",
            Some(&setup.admin),
            None,
        )
        .await;
    assert_eq!(bad_filter.status, 422);
}
