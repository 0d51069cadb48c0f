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

impl Setup {
    /// Enable the source again for `acme` with `run_limits`.
    async fn limit_runs(&self, run_limits: Value) -> omnify_tests::host::Reply {
        let enable = json!({ "config": { "base_url": self.source.base_url() }, "run_limits": run_limits });
        self.host
            .enable(&self.admin, "acme", "paged-source", &enable)
            .await
    }

    async fn audit(&self) -> Vec<Value> {
        let audit = self
            .host
            .call(
                Method::GET,
                "/v1/tenants/acme/audit?since=0&limit=1000",
                Some(&self.admin),
                None,
            )
            .await;
        audit.json.as_array().cloned().unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_that_makes_no_progress_fails_in_bounded_time_naming_the_bug() {
    let setup = setup(50).await;
    setup.source.set_stuck(true);
    let started = std::time::Instant::now();
    let run = setup.sync_to_end(json!({})).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("connector bug in `paged-source`")
            && error.contains("no records and an unchanged state"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    // The first read moves from no state to 0; three more return the same.
    assert!(
        setup.source.requests().len() <= 5,
        "stopped after a few batches, not thousands: {}",
        setup.source.requests().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_run_limit_ends_a_run_and_keeps_what_was_committed() {
    let setup = setup(237).await;
    let cases = [
        (json!({"max_batches": 2}), "run_limits.max_batches", Some(100)),
        (json!({"max_records": 60}), "run_limits.max_records", Some(100)),
        (json!({"max_bytes": 1}), "run_limits.max_bytes", Some(50)),
        (
            json!({"max_duration_secs": 1}),
            "run_limits.max_duration_secs",
            None,
        ),
    ];
    for (limits, field, written) in cases {
        let slow = field.ends_with("duration_secs");
        setup.source.set_delay(if slow {
            Duration::from_millis(400)
        } else {
            Duration::ZERO
        });
        let enabled = setup.limit_runs(limits.clone()).await;
        assert_eq!(enabled.status, 200, "{}", enabled.text);
        assert_eq!(enabled.json["run_limits"], limits.clone());
        let started = std::time::Instant::now();
        let run = setup.sync_to_end(json!({"mode": "full-refresh"})).await;
        assert_eq!(run["status"], "failed", "{limits}: {run}");
        let error = run["last_error"].as_str().unwrap_or_default();
        assert!(error.contains(field) && error.contains("are kept"), "{error}");
        let stored = setup.all_records().await.len() as u64;
        assert_eq!(run["streams"][0]["records_written"].as_u64(), Some(stored));
        match written {
            Some(written) => assert_eq!(stored, written, "{limits}"),
            None => {
                assert!(stored > 0 && stored < 237, "{stored} records in about a second");
                assert!(started.elapsed() < Duration::from_secs(10));
            }
        }
    }
    setup.source.set_delay(Duration::ZERO);
    for (bad, message) in [
        (
            json!({"max_batches": 0}),
            "run_limits.max_batches must be at least 1",
        ),
        (json!({"max_records": u64::MAX}), "above the host's limit"),
    ] {
        let refused = setup.limit_runs(bad).await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert!(refused.text.contains(message), "{}", refused.text);
    }
    let unknown = setup.limit_runs(json!({"max_calls": 3})).await;
    assert!(unknown.status == 400 || unknown.status == 422, "{}", unknown.text);
    // Without limits of its own the enablement runs to the end.
    assert_eq!(setup.limit_runs(Value::Null).await.status, 200);
    let run = setup.sync_to_end(json!({"mode": "full-refresh"})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_sync_is_cancelled_at_a_batch_boundary_and_audited_with_its_canceller() {
    let setup = setup(1000).await;
    setup.source.set_delay(Duration::from_millis(150));
    let (operator, operator_id) = setup.host.create_key(&setup.admin, "acme", "operator").await;
    let (viewer, _) = setup.host.create_key(&setup.admin, "acme", "viewer").await;
    let started = setup
        .host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/paged-source/sync",
            Some(&operator),
            Some(&json!({})),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.text);
    let id = started.json["id"].as_str().expect("run id").to_string();
    let run_path = format!("/v1/tenants/acme/runs/{id}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let run = setup
            .host
            .call(Method::GET, &run_path, Some(&operator), None)
            .await;
        if run.json["streams"][0]["records_written"].as_u64().unwrap_or(0) >= 50 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no progress: {}", run.text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cancel_path = format!("{run_path}/cancel");
    let refused = setup
        .host
        .call(Method::POST, &cancel_path, Some(&viewer), None)
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let cancelled = setup
        .host
        .call(Method::POST, &cancel_path, Some(&operator), None)
        .await;
    assert_eq!(cancelled.status, 202, "{}", cancelled.text);
    let asked = std::time::Instant::now();
    let run = setup.host.wait_for_run(&setup.admin, "acme", &id).await;
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "stopped at the next batch"
    );
    assert_eq!(run["status"], "cancelled", "{run}");
    assert_eq!(run["cancelled_by"], format!("key:{operator_id}"));
    let written = run["streams"][0]["records_written"].as_u64().unwrap_or(0);
    assert!((50..1000).contains(&written), "{run}");
    assert_eq!(
        setup.all_records().await.len() as u64,
        written,
        "what was committed is kept"
    );
    let audit = setup.audit().await;
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "run.cancel" && e["actor"] == format!("key:{operator_id}")),
        "{audit:#?}"
    );
    assert!(audit.iter().any(|e| e["action"] == "sync.cancelled"));

    let again = setup
        .host
        .call(Method::POST, &cancel_path, Some(&operator), None)
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    let unknown = setup
        .host
        .call(
            Method::POST,
            "/v1/tenants/acme/runs/0000000000000-nope/cancel",
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_record_is_refused_and_nothing_of_its_batch_is_stored() {
    let setup = setup(3).await;
    setup.source.set_padding((1 << 20) + 100);
    let run = setup.sync_to_end(json!({})).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("record 0 of a batch")
            && error.contains("more than the 1048576 bytes a record may be"),
        "{error}"
    );
    assert!(setup.all_records().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_listed_a_page_at_a_time_newest_first() {
    let setup = setup(5).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let run = setup.sync_to_end(json!({})).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert!(
            run["streams"][0].get("checkpoint").is_none(),
            "the run's row carries no sync state: {run}"
        );
        ids.push(run["id"].as_str().expect("id").to_string());
    }
    ids.reverse();
    let page = |query: String| {
        let host = &setup.host;
        let admin = setup.admin.clone();
        async move {
            let reply = host
                .call(
                    Method::GET,
                    &format!("/v1/tenants/acme/runs?{query}"),
                    Some(&admin),
                    None,
                )
                .await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            reply
                .json
                .as_array()
                .expect("runs")
                .iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page("limit=2".into()).await, ids[..2].to_vec());
    assert_eq!(page(format!("limit=2&after={}", ids[1])).await, ids[2..].to_vec());
    assert!(page(format!("limit=2&after={}", ids[2])).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_paged_by_bytes_as_well_as_by_count() {
    // 12 records of 900 KB: more than a page's 8 MiB, far fewer than 1000.
    let setup = setup(12).await;
    setup.source.set_padding(900_000);
    let run = setup.sync_to_end(json!({"batch_size": 4})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let path = "/v1/tenants/acme/records/paged-source/items?limit=1000";
    let first = setup.host.call(Method::GET, path, Some(&setup.admin), None).await;
    assert_eq!(first.status, 200, "{}", &first.text[..200.min(first.text.len())]);
    let shown = first.json["records"].as_array().map_or(0, Vec::len);
    assert!(shown > 0 && shown < 12, "{shown} records on the first page");
    assert!(first.text.len() <= 8 << 20, "{} bytes", first.text.len());
    let next = first.json["next"].as_str().expect("a next page");
    let rest = setup
        .host
        .call(
            Method::GET,
            &format!("{path}&after={next}"),
            Some(&setup.admin),
            None,
        )
        .await;
    let more = rest.json["records"].as_array().map_or(0, Vec::len);
    assert_eq!(shown + more, 12, "two pages hold them all");
}
