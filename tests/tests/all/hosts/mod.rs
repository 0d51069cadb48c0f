//! Several hosts on one PostgreSQL store: each test makes a database of its
//! own on the server `OMNIFY_TEST_POSTGRES` names and starts two hosts on
//! it (in this process, or as `omnify serve` processes in `killed.rs`),
//! then checks what must hold with both serving: a due job runs once, a
//! run stays with the live host that holds it and passes on when that host
//! stops, one audit chain per tenant, an upgrade seen at once by the other
//! host, a concurrency quota counted across both, and commits on one host
//! waking the other's readers, and a revocation or suspension on one host
//! holding on the other (whose caches had the key and the call) within a
//! second. `readiness.rs` stops the database under a
//! host; `oauth.rs` has both hosts refresh one sign-in at once.

mod killed;
mod oauth;
mod readiness;

use omnify_control::scheduler::{ManualClock, Scheduler, SchedulerConfig};
use omnify_tests::guests;
use omnify_tests::holding::holding_server;
use omnify_tests::host::{TestHost, paged_source_manifest};
use omnify_tests::postgres::Scratch;
use omnify_tests::source::Source;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// Short leases, so that work passes on within the tests' patience.
const LEASE: Duration = Duration::from_secs(1);

/// Two hosts on one new database, the master key shared; host `a` made
/// the admin token.
struct TwoHosts {
    a: TestHost,
    b: TestHost,
    admin: String,
    _dirs: [tempfile::TempDir; 3],
    _database: Scratch,
}

impl TwoHosts {
    async fn start(test: &str) -> Option<Self> {
        let database = Scratch::create(test).await?;
        let (key_dir, dir_a, dir_b) = (temp(), temp(), temp());
        let master_key = key_dir.path().join("master.key");
        std::fs::write(&master_key, [7u8; 32]).expect("write the master key");
        let (a, admin) = TestHost::start_shared(dir_a.path(), &database.url, &master_key, LEASE).await;
        let (b, again) = TestHost::start_shared(dir_b.path(), &database.url, &master_key, LEASE).await;
        assert!(
            again.is_none(),
            "the second host finds the admin token the first made"
        );
        Some(Self {
            a,
            b,
            admin: admin.expect("the first host makes the admin token"),
            _dirs: [key_dir, dir_a, dir_b],
            _database: database,
        })
    }

    /// Publish the paged source on `a`, and enable it for `acme` against
    /// `source`.
    async fn with_paged_source(&self, source: &Source) {
        let published = self
            .a
            .upload(&self.admin, &paged_source_manifest(), guests::PAGED_SOURCE)
            .await;
        assert_eq!(published.status, 201, "{}", published.text);
        assert_eq!(self.a.create_tenant(&self.admin, "acme").await.status, 201);
        let enable = json!({ "config": { "base_url": source.base_url() } });
        let enabled = self
            .a
            .call(
                Method::PUT,
                "/v1/tenants/acme/plugins/paged-source",
                Some(&self.admin),
                Some(&enable),
            )
            .await;
        assert_eq!(enabled.status, 200, "{}", enabled.text);
    }

    /// Publish build 1 of the `versioned` connector on `a` and enable it
    /// for a new tenant `acme` against the holding server at `url`;
    /// returns the enablement's path.
    async fn with_versioned(&self, url: &str) -> &'static str {
        let admin = self.admin.as_str();
        assert_eq!(self.a.create_tenant(admin, "acme").await.status, 201);
        let published = self
            .a
            .upload(
                admin,
                &manifest("guests/versioned/plugin.toml"),
                guests::VERSIONED,
            )
            .await;
        assert_eq!(published.status, 201, "{}", published.text);
        let path = "/v1/tenants/acme/plugins/versioned";
        let enable = json!({"config": {"base_url": url}});
        let enabled = self.a.call(Method::PUT, path, Some(admin), Some(&enable)).await;
        assert_eq!(enabled.json["version"], "1.0.0", "{}", enabled.text);
        path
    }

    async fn stop(self) {
        self.a.stop().await;
        self.b.stop().await;
    }
}

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn manifest(dir: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)).expect("manifest")
}

async fn runs(host: &TestHost, admin: &str) -> Vec<Value> {
    let reply = host
        .call(Method::GET, "/v1/tenants/acme/runs?limit=1000", Some(admin), None)
        .await;
    reply.json.as_array().cloned().unwrap_or_default()
}

/// Wait (30 s at most) until `acme` has `count` runs and all have ended.
async fn ended_runs(host: &TestHost, admin: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = runs(host, admin).await;
        if runs.len() >= count && runs.iter().all(|r| r["status"] != "running") {
            return runs;
        }
        assert!(Instant::now() < deadline, "the runs did not end: {runs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_job_fires_once_per_minute_with_two_hosts_looking() {
    let Some(hosts) = TwoHosts::start("a_cron_job_fires_once_per_minute_with_two_hosts_looking").await else {
        return;
    };
    let source = Source::start(20).await;
    hosts.with_paged_source(&source).await;
    let job = json!({
        "plugin": "paged-source",
        "schedule": {"type": "cron", "expression": "* * * * *", "timezone": "UTC"},
    });
    let created = hosts
        .b
        .call(
            Method::POST,
            "/v1/tenants/acme/jobs",
            Some(&hosts.admin),
            Some(&job),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let next_due =
        humantime::parse_rfc3339(created.json["next_due_at"].as_str().expect("next due")).expect("time");

    let config = SchedulerConfig {
        tick: Duration::ZERO,
        ..SchedulerConfig::default()
    };
    let (clock_a, clock_b) = (
        Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH)),
        Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH)),
    );
    let on_a = Scheduler::start(hosts.a.control.clone(), clock_a.clone(), config)
        .await
        .expect("scheduler");
    let on_b = Scheduler::start(hosts.b.control.clone(), clock_b.clone(), config)
        .await
        .expect("scheduler");
    for minute in 0..3u64 {
        let now = next_due + Duration::from_secs(60 * minute);
        clock_a.set(now);
        clock_b.set(now);
        let (taken_a, taken_b) = tokio::join!(on_a.tick(), on_b.tick());
        let (taken_a, taken_b) = (taken_a.expect("tick"), taken_b.expect("tick"));
        assert_eq!(
            taken_a + taken_b,
            1,
            "minute {minute}: taken once by one host ({taken_a} + {taken_b})"
        );
        let (again_a, again_b) = tokio::join!(on_a.tick(), on_b.tick());
        assert_eq!(
            again_a.expect("tick") + again_b.expect("tick"),
            0,
            "and not again"
        );
    }
    let runs = ended_runs(&hosts.a, &hosts.admin, 3).await;
    assert_eq!(runs.len(), 3, "one run per minute: {runs:?}");
    for run in &runs {
        assert_eq!(run["status"], "succeeded", "{run}");
    }
    // Runs of consecutive minutes may overlap here (the clocks jump), so
    // more than one may read the source; the store holds its records once.
    let records = hosts
        .b
        .call(
            Method::GET,
            "/v1/tenants/acme/records/paged-source/items?limit=1000",
            Some(&hosts.admin),
            None,
        )
        .await;
    assert_eq!(
        records.json["records"].as_array().map(Vec::len),
        Some(20),
        "{}",
        records.text
    );
    drop((on_a, on_b));
    hosts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stays_with_its_live_host_and_passes_on_when_that_host_stops() {
    let Some(hosts) =
        TwoHosts::start("a_run_stays_with_its_live_host_and_passes_on_when_that_host_stops").await
    else {
        return;
    };
    // 100 batches of 60 ms at least: the run is still under way when host
    // A stops, a few lease periods in.
    let items = 1000;
    let source = Source::start(items).await;
    source.set_delay(Duration::from_millis(60));
    hosts.with_paged_source(&source).await;
    let config = SchedulerConfig {
        tick: Duration::ZERO,
        ..SchedulerConfig::default()
    };
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let on_b = Scheduler::start(hosts.b.control.clone(), clock, config)
        .await
        .expect("scheduler");

    let started = hosts
        .a
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/paged-source/sync",
            Some(&hosts.admin),
            Some(&json!({"batch_size": 10})),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.text);
    let run_path = format!(
        "/v1/tenants/acme/runs/{}",
        started.json["id"].as_str().expect("a run")
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = hosts
            .b
            .call(Method::GET, &run_path, Some(&hosts.admin), None)
            .await;
        if run.json["streams"][0]["records_written"].as_u64().unwrap_or(0) >= 50 {
            assert_eq!(run.json["status"], "running", "{}", run.text);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sync made no progress: {}",
            run.text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Well past a lease period: host A renews its lease, so B leaves it be.
    tokio::time::sleep(LEASE * 2).await;
    assert_eq!(
        on_b.take_over().await.expect("look"),
        0,
        "the run of a live host stays with it"
    );

    // Host A stops: its run halts at a batch boundary and its leases go.
    let released = hosts
        .a
        .control
        .hand_back(Duration::from_secs(10))
        .await
        .expect("hand back");
    assert!(released >= 2, "the run's lease and the host's own: {released}");
    let halted = hosts
        .b
        .call(Method::GET, &run_path, Some(&hosts.admin), None)
        .await;
    assert_eq!(
        halted.json["status"], "running",
        "handed back, not ended: {}",
        halted.text
    );
    let written = halted.json["streams"][0]["records_written"].as_u64().unwrap_or(0);
    assert!(written < items, "stopped before the end: {}", halted.text);
    assert_eq!(
        on_b.take_over().await.expect("look"),
        1,
        "host B takes the run over at once"
    );

    let run = loop {
        let run = hosts
            .b
            .call(Method::GET, &run_path, Some(&hosts.admin), None)
            .await;
        if run.json["status"] != "running" {
            break run;
        }
        assert!(
            Instant::now() < deadline,
            "host B did not finish the run: {}",
            run.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(run.json["status"], "succeeded", "{}", run.text);
    assert_eq!(run.json["streams"][0]["records_written"], items, "{}", run.text);
    let records = hosts
        .b
        .call(
            Method::GET,
            "/v1/tenants/acme/records/paged-source/items?limit=1000",
            Some(&hosts.admin),
            None,
        )
        .await;
    let ids: Vec<u64> = records.json["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .collect();
    assert_eq!(ids, (1..=items).collect::<Vec<_>>(), "every record once");
    let served = source.take_items_served();
    assert!(
        served <= items + 2 * 10,
        "resumed from the last committed batch: {served} served"
    );
    let verified = hosts
        .b
        .call(
            Method::GET,
            "/v1/tenants/acme/audit/verify",
            Some(&hosts.admin),
            None,
        )
        .await;
    assert_eq!(verified.json["ok"], true, "{}", verified.text);
    drop(on_b);
    hosts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_on_both_hosts_leave_one_verifying_audit_chain_with_every_call() {
    let Some(hosts) =
        TwoHosts::start("calls_on_both_hosts_leave_one_verifying_audit_chain_with_every_call").await
    else {
        return;
    };
    let source = Source::start(5).await;
    hosts.with_paged_source(&source).await;
    let (a, b) = (Arc::new(hosts.a), Arc::new(hosts.b));
    let per_host = 25;
    let mut calls = Vec::new();
    for (name, host) in [("a", a.clone()), ("b", b.clone())] {
        for i in 0..per_host {
            let (host, admin) = (host.clone(), hosts.admin.clone());
            calls.push(tokio::spawn(async move {
                let body = json!({"export": "read", "input": {"stream": "items"}});
                let reply = host
                    .request(Method::POST, "/v1/tenants/acme/plugins/paged-source/invoke")
                    .bearer_auth(&admin)
                    .header("x-request-id", format!("call-{name}-{i}"))
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                    .expect("the host answers");
                (reply.status().as_u16(), format!("call-{name}-{i}"))
            }));
        }
    }
    let mut acknowledged = Vec::new();
    for call in calls {
        let (status, request_id) = call.await.expect("joined");
        assert_eq!(status, 200, "{request_id}");
        acknowledged.push(request_id);
    }
    for host in [&a, &b] {
        let verified = host
            .call(
                Method::GET,
                "/v1/tenants/acme/audit/verify",
                Some(&hosts.admin),
                None,
            )
            .await;
        assert_eq!(verified.status, 200, "{}", verified.text);
        assert_eq!(verified.json["ok"], true, "{}", verified.text);
    }
    let audit = a
        .call(
            Method::GET,
            "/v1/tenants/acme/audit?limit=1000",
            Some(&hosts.admin),
            None,
        )
        .await;
    let text = audit.text;
    for request_id in &acknowledged {
        assert!(
            text.contains(&format!("\"{request_id}\"")),
            "{request_id} is in the chain"
        );
    }
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_on_one_host_is_what_the_other_runs_next() {
    let Some(hosts) = TwoHosts::start("an_upgrade_on_one_host_is_what_the_other_runs_next").await else {
        return;
    };
    let (url, _waiting, release) = holding_server().await;
    release.send_replace(true);
    let admin = hosts.admin.as_str();
    let path = hosts.with_versioned(&url).await;
    let second = hosts
        .a
        .upload(
            admin,
            &manifest("guests/versioned-next/plugin.toml"),
            guests::VERSIONED_NEXT,
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    let build_on_b = || async {
        let read = json!({"export": "read", "input": {"stream": "build"}});
        let reply = hosts
            .b
            .call(Method::POST, &format!("{path}/invoke"), Some(admin), Some(&read))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json["output"]["result"]["records"][0]["build"].clone()
    };
    assert_eq!(build_on_b().await, "1");
    let upgraded = hosts
        .a
        .call(Method::POST, &format!("{path}/upgrade"), Some(admin), None)
        .await;
    assert_eq!(upgraded.json["version"], "2.0.0", "{}", upgraded.text);
    let changed = Instant::now();
    let mut build = build_on_b().await;
    while build != "2" && changed.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        build = build_on_b().await;
    }
    assert_eq!(build, "2", "host B runs the new pin within a second");
    let rolled_back = hosts
        .a
        .call(Method::POST, &format!("{path}/rollback"), Some(admin), None)
        .await;
    assert_eq!(rolled_back.status, 200, "{}", rolled_back.text);
    assert_eq!(build_on_b().await, "1", "and the rollback at once");
    hosts.stop().await;
}

/// Ask `host` with `token` until it answers `status`, for at most a second;
/// the answer it gave last.
async fn within_a_second(host: &TestHost, token: &str, path: &str, body: &Value, status: u16) -> u16 {
    let changed = Instant::now();
    loop {
        let reply = host.call(Method::POST, path, Some(token), Some(body)).await;
        if reply.status == status || changed.elapsed() > Duration::from_secs(1) {
            return reply.status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_or_suspension_on_one_host_holds_on_the_other_within_a_second() {
    let Some(hosts) = TwoHosts::start("a_revocation_or_suspension_on_one_host_holds").await else {
        return;
    };
    let (url, _waiting, release) = holding_server().await;
    release.send_replace(true);
    let admin = hosts.admin.as_str();
    let path = hosts.with_versioned(&url).await;
    let invoke = format!("{path}/invoke");
    let (key, key_id) = hosts.a.create_key(admin, "acme", "operator").await;
    let read = json!({"export": "read", "input": {"stream": "build"}});
    // Host B has read the key and the call's context, and keeps them.
    for _ in 0..3 {
        let reply = hosts.b.call(Method::POST, &invoke, Some(&key), Some(&read)).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let suspended = hosts
        .a
        .call(Method::POST, "/v1/tenants/acme/suspend", Some(admin), None)
        .await;
    assert_eq!(suspended.status, 200, "{}", suspended.text);
    assert_eq!(
        within_a_second(&hosts.b, &key, &invoke, &read, 403).await,
        403,
        "host B refuses the suspended tenant's calls within a second"
    );
    let resumed = hosts
        .a
        .call(Method::POST, "/v1/tenants/acme/resume", Some(admin), None)
        .await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(within_a_second(&hosts.b, &key, &invoke, &read, 200).await, 200);
    let revoked = hosts
        .a
        .call(
            Method::DELETE,
            &format!("/v1/tenants/acme/keys/{key_id}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(
        within_a_second(&hosts.b, &key, &invoke, &read, 401).await,
        401,
        "host B refuses the revoked key within a second"
    );
    hosts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_quota_holds_across_both_hosts() {
    let Some(hosts) = TwoHosts::start("a_concurrency_quota_holds_across_both_hosts").await else {
        return;
    };
    let (url, waiting, release) = holding_server().await;
    let admin = hosts.admin.clone();
    let path = hosts.with_versioned(&url).await;
    let quotas = json!({"concurrent_calls": 2});
    let set = hosts
        .b
        .call(
            Method::PUT,
            "/v1/tenants/acme/quotas",
            Some(&admin),
            Some(&quotas),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);

    let (a, b) = (Arc::new(hosts.a), Arc::new(hosts.b));
    let mut calls = Vec::new();
    for host in [&a, &b, &a, &b, &a, &b] {
        let (host, admin) = (host.clone(), admin.clone());
        calls.push(tokio::spawn(async move {
            let read = json!({"export": "read", "input": {"stream": "build"}});
            host.call(Method::POST, &format!("{path}/invoke"), Some(&admin), Some(&read))
                .await
        }));
        // Admissions one after another, so that which ones run is known.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while waiting.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "the first two calls did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut finished = Vec::new();
    for call in calls.drain(2..) {
        finished.push(call.await.expect("joined"));
    }
    assert_eq!(
        waiting.load(Ordering::SeqCst),
        2,
        "no third call reached the platform"
    );
    for refused in &finished {
        assert_eq!(refused.status, 429, "{}", refused.text);
        assert!(refused.text.contains("concurrent_calls"), "{}", refused.text);
    }
    release.send_replace(true);
    for call in calls {
        let reply = call.await.expect("joined");
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    // Both slots are free again, on either host.
    for host in [&a, &b] {
        let read = json!({"export": "read", "input": {"stream": "build"}});
        let reply = host
            .call(Method::POST, &format!("{path}/invoke"), Some(&admin), Some(&read))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_on_one_host_wakes_the_readers_of_the_other() {
    let Some(hosts) = TwoHosts::start("a_commit_on_one_host_wakes_the_readers_of_the_other").await else {
        return;
    };
    let mut commits_on_b = hosts.b.control.storage().watch_commits();
    commits_on_b.borrow_and_update();
    assert_eq!(hosts.a.create_tenant(&hosts.admin, "acme").await.status, 201);
    tokio::time::timeout(Duration::from_secs(2), commits_on_b.changed())
        .await
        .expect("host B hears of host A's commit within 2 s")
        .expect("the store is open");
    hosts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_is_sent_once_with_both_hosts_sending() {
    let Some(hosts) = TwoHosts::start("each_event_is_sent_once_with_both_hosts_sending").await else {
        return;
    };
    let source = Source::start(5).await;
    source.fail_always(omnify_tests::source::Fault::Unauthorized);
    hosts.with_paged_source(&source).await;
    let receiver = crate::notify::Receiver::start().await;
    let endpoint = json!({"url": receiver.hook("ops"), "kinds": ["run.failed"], "escalation": false});
    let registered = hosts
        .a
        .call(
            Method::POST,
            "/v1/tenants/acme/endpoints",
            Some(&hosts.admin),
            Some(&endpoint),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text);

    // Five runs that fail at once (the platform refuses the token), started
    // on both hosts: five events, each one delivery.
    let runs = 5;
    for i in 0..runs {
        let host = if i % 2 == 0 { &hosts.a } else { &hosts.b };
        let started = host
            .call(
                Method::POST,
                "/v1/tenants/acme/plugins/paged-source/sync",
                Some(&hosts.admin),
                Some(&json!({})),
            )
            .await;
        assert_eq!(started.status, 202, "{}", started.text);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.received("ops").len() < runs {
        assert!(
            Instant::now() < deadline,
            "not every failure was sent: {:?}",
            receiver.received("ops").len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Both notifiers look again after every commit and every second.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let received = receiver.received("ops");
    let mut ids: Vec<String> = received
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).expect("JSON")["id"].to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (received.len(), ids.len()),
        (runs, runs),
        "each event once: {received:#?}"
    );
    hosts.stop().await;
}
