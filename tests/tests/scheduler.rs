//! The scheduler with a real host: cron jobs fire at the expected minute on
//! an injected clock, and one tenant's thousand queued syncs do not hold
//! back another tenant's single sync by more than one sync.

use omnify_host::scheduler::{ManualClock, Scheduler, SchedulerConfig};
use omnify_host::sync::SyncRequest;
use omnify_tests::guests;
use omnify_tests::host::{TestHost, data_agent_manifest, host_with_paged_source};
use omnify_tests::source::Source;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn host_with(tenants: &[&str], source: &Source) -> (TestHost, String, tempfile::TempDir) {
    host_with_paged_source(tenants, source).await
}

async fn runs(host: &TestHost, admin: &str, tenant: &str) -> Vec<Value> {
    let reply = host
        .call(
            Method::GET,
            &format!("/v1/tenants/{tenant}/runs?limit=1000"),
            Some(admin),
            None,
        )
        .await;
    reply.json.as_array().cloned().unwrap_or_default()
}

fn at(text: &str) -> std::time::SystemTime {
    humantime::parse_rfc3339(text).expect("time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_job_fires_at_its_minute_on_an_injected_clock() {
    let source = Source::start(20).await;
    let (host, admin, _dir) = host_with(&["acme"], &source).await;
    let job = json!({
        "plugin": "paged-source",
        "schedule": {"type": "cron", "expression": "30 9 * * *", "timezone": "Europe/Paris"},
    });
    let created = host
        .call(Method::POST, "/v1/tenants/acme/jobs", Some(&admin), Some(&job))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);

    let clock = Arc::new(ManualClock::new(at("2026-11-23T08:00:00Z")));
    let config = SchedulerConfig {
        tick: Duration::ZERO,
        ..SchedulerConfig::default()
    };
    let scheduler = Scheduler::start(host.control.clone(), clock.clone(), config)
        .await
        .expect("scheduler");
    // The job was created at the real time; its next minute is read back and
    // the injected clock walks up to it.
    let jobs = host
        .call(Method::GET, "/v1/tenants/acme/jobs", Some(&admin), None)
        .await;
    assert_eq!(jobs.json.as_array().map(Vec::len), Some(1));

    clock.set(at("2020-01-01T00:00:00Z"));
    assert_eq!(
        scheduler.tick().await.expect("tick"),
        0,
        "nothing is due before its time"
    );
    let next_due = jobs.json[0]["next_due_at"]
        .as_str()
        .expect("next due")
        .to_string();
    let due = humantime::parse_rfc3339(&next_due).expect("time");
    assert!(
        next_due.ends_with(":30:00Z"),
        "09:30 in Paris is on the half hour in UTC: {next_due}"
    );
    clock.set(due - Duration::from_secs(60));
    assert_eq!(scheduler.tick().await.expect("tick"), 0, "one minute early");
    clock.set(due);
    assert_eq!(scheduler.tick().await.expect("tick"), 1, "due at its minute");
    assert_eq!(scheduler.tick().await.expect("tick"), 0, "taken once");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = runs(&host, &admin, "acme").await;
        if runs.first().is_some_and(|r| r["status"] == "succeeded") {
            assert_eq!(runs.len(), 1);
            assert_eq!(runs[0]["streams"][0]["records_written"], 20);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the job's run did not finish: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let jobs = host
        .call(Method::GET, "/v1/tenants/acme/jobs", Some(&admin), None)
        .await;
    let advanced =
        humantime::parse_rfc3339(jobs.json[0]["next_due_at"].as_str().expect("next")).expect("time");
    assert_eq!(
        advanced.duration_since(due).expect("later"),
        Duration::from_secs(86_400),
        "next day, same minute"
    );

    let invalid = json!({"plugin": "paged-source", "schedule": {"type": "cron", "expression": "every day", "timezone": "UTC"}});
    let refused = host
        .call(
            Method::POST,
            "/v1/tenants/acme/jobs",
            Some(&admin),
            Some(&invalid),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cron expression `every day`")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_with_a_thousand_queued_syncs_does_not_hold_back_another() {
    let source = Source::start(10).await;
    let (host, admin, _dir) = host_with(&["busy", "quiet"], &source).await;
    let clock = Arc::new(ManualClock::new(std::time::SystemTime::now()));
    let config = SchedulerConfig {
        workers: 1,
        per_tenant: 1,
        tick: Duration::ZERO,
    };
    let scheduler = Scheduler::start(host.control.clone(), clock, config)
        .await
        .expect("scheduler");
    for _ in 0..1000 {
        scheduler.enqueue(
            &omnify_host::tenant::Principal::admin(),
            "busy",
            "paged-source",
            SyncRequest::default(),
        );
    }
    // Let a few of the busy tenant's syncs run to learn how long one takes.
    let deadline = Instant::now() + Duration::from_secs(60);
    while runs(&host, &admin, "busy")
        .await
        .iter()
        .filter(|r| r["status"] == "succeeded")
        .count()
        < 3
    {
        assert!(Instant::now() < deadline, "the busy tenant's syncs do not run");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let longest = runs(&host, &admin, "busy")
        .await
        .iter()
        .filter(|r| r["status"] == "succeeded")
        .filter_map(|r| {
            let start = humantime::parse_rfc3339(r["started_at"].as_str()?).ok()?;
            let end = humantime::parse_rfc3339(r["ended_at"].as_str()?).ok()?;
            end.duration_since(start).ok()
        })
        .max()
        .expect("finished runs");

    let queued = Instant::now();
    scheduler.enqueue(
        &omnify_host::tenant::Principal::admin(),
        "quiet",
        "paged-source",
        SyncRequest::default(),
    );
    let waited = loop {
        if !runs(&host, &admin, "quiet").await.is_empty() {
            break queued.elapsed();
        }
        assert!(Instant::now() < deadline, "the quiet tenant's sync never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(
        scheduler.waiting() > 900,
        "the busy tenant still has most of its syncs queued"
    );
    // One sync's length, plus the time to set the next one up and to notice it.
    // One busy sync still running when the quiet one is queued, then the
    // quiet sync's own setup (a `discover` call); generous slack because the
    // tests of this binary share two cores.
    let bound = longest * 2 + Duration::from_secs(1);
    assert!(
        waited <= bound,
        "waited {waited:?}; one busy sync takes at most {longest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_run_not_yet_started_survives_a_restart_of_the_scheduler() {
    let source = Source::start(15).await;
    let (host, admin, _dir) = host_with(&["acme"], &source).await;
    let job = json!({"plugin": "paged-source", "schedule": {"type": "once"}});
    assert_eq!(
        host.call(Method::POST, "/v1/tenants/acme/jobs", Some(&admin), Some(&job))
            .await
            .status,
        201
    );

    let clock = Arc::new(ManualClock::new(
        std::time::SystemTime::now() + Duration::from_secs(1),
    ));
    let no_workers = SchedulerConfig {
        workers: 0,
        per_tenant: 1,
        tick: Duration::ZERO,
    };
    let first = Scheduler::start(host.control.clone(), clock.clone(), no_workers)
        .await
        .expect("scheduler");
    assert_eq!(first.tick().await.expect("tick"), 1);
    drop(first);
    assert!(runs(&host, &admin, "acme").await.is_empty(), "taken, not started");

    let workers = SchedulerConfig {
        workers: 1,
        per_tenant: 1,
        tick: Duration::ZERO,
    };
    let second = Scheduler::start(host.control.clone(), clock, workers)
        .await
        .expect("scheduler");
    assert_eq!(
        second.tick().await.expect("tick"),
        0,
        "a one-off job is taken once"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = runs(&host, &admin, "acme").await;
        if runs.first().is_some_and(|r| r["status"] == "succeeded") {
            assert_eq!(runs.len(), 1, "run once, not twice");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queued run was not picked up: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_tasks_run_on_demand_and_as_jobs_over_synced_records() {
    let source = Source::start(15).await;
    let (host, admin, _dir) = host_with(&["acme"], &source).await;
    assert_eq!(
        host.upload(&admin, &data_agent_manifest(), guests::DATA_AGENT)
            .await
            .status,
        201
    );
    let enabled = host.enable(&admin, "acme", "data-agent", &json!({})).await;
    assert_eq!(enabled.status, 200, "{}", enabled.text);

    let sync = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/paged-source/sync",
            Some(&admin),
            Some(&json!({})),
        )
        .await;
    let sync_id = sync.json["id"].as_str().expect("run id").to_string();
    let synced = host.wait_for_run(&admin, "acme", &sync_id).await;
    assert_eq!(synced["status"], "succeeded");

    let task = json!({"kind": "count", "input": {"streams": ["paged-source/items"]}});
    let started = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/data-agent/run",
            Some(&admin),
            Some(&task),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.text);
    let run_id = started.json["id"].as_str().expect("run id").to_string();
    let run = host.wait_for_run(&admin, "acme", &run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        run["output"]["insights"][0]["title"],
        "paged-source/items has 15 records"
    );

    // An operator's job: its scheduled run is the operator's in the log.
    let (operator, operator_id) = host.create_key(&admin, "acme", "operator").await;
    let job = json!({"plugin": "data-agent", "schedule": {"type": "once"}, "task": task});
    assert_eq!(
        host.call(Method::POST, "/v1/tenants/acme/jobs", Some(&operator), Some(&job))
            .await
            .status,
        201
    );
    let clock = Arc::new(ManualClock::new(
        std::time::SystemTime::now() + Duration::from_secs(1),
    ));
    let config = SchedulerConfig {
        workers: 1,
        per_tenant: 1,
        tick: Duration::ZERO,
    };
    let scheduler = Scheduler::start(host.control.clone(), clock, config)
        .await
        .expect("scheduler");
    assert_eq!(scheduler.tick().await.expect("tick"), 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let agent_runs: Vec<Value> = runs(&host, &admin, "acme")
            .await
            .into_iter()
            .filter(|r| r["plugin"] == "data-agent")
            .collect();
        if agent_runs.len() == 2 && agent_runs[0]["status"] == "succeeded" {
            assert_eq!(agent_runs[0]["output"]["insights"][0]["data"]["count"], 15);
            assert_eq!(agent_runs[0]["requested_by"], format!("key:{operator_id}"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the agent job did not run: {agent_runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let no_task = json!({"plugin": "data-agent", "schedule": {"type": "once"}});
    let refused = host
        .call(
            Method::POST,
            "/v1/tenants/acme/jobs",
            Some(&admin),
            Some(&no_task),
        )
        .await;
    assert_eq!(refused.status, 422);
    let connector_task = json!({"plugin": "paged-source", "schedule": {"type": "once"}, "task": task});
    let refused = host
        .call(
            Method::POST,
            "/v1/tenants/acme/jobs",
            Some(&admin),
            Some(&connector_task),
        )
        .await;
    assert_eq!(refused.status, 422);
    let audit = host
        .call(
            Method::GET,
            "/v1/tenants/acme/audit?since=0&limit=1000",
            Some(&admin),
            None,
        )
        .await;
    let entries = audit.json.as_array().expect("entries");
    let ends = entries.iter().filter(|e| e["action"] == "agent.end").count();
    assert_eq!(ends, 2);
    let scheduled: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "agent.start" || e["action"] == "plugin.invoke")
        .filter(|e| e["actor"] == format!("key:{operator_id}"))
        .collect();
    assert!(
        scheduled.len() >= 2,
        "the scheduled run's start and call are the operator's: {entries:#?}"
    );
    assert!(
        !entries.iter().any(|e| e["actor"] == "admin"
            && e["action"] == "agent.start"
            && e["seq"].as_u64() > scheduled[0]["seq"].as_u64()),
        "no scheduled step is the admin's"
    );
}

async fn start_sync(host: &TestHost, token: &str, tenant: &str) -> String {
    let started = host
        .call(
            Method::POST,
            &format!("/v1/tenants/{tenant}/plugins/paged-source/sync"),
            Some(token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.text);
    started.json["id"].as_str().expect("run id").to_string()
}

fn pool_of(workers: usize) -> SchedulerConfig {
    SchedulerConfig {
        workers,
        per_tenant: 1,
        tick: Duration::ZERO,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stuck_connectors_cannot_hold_the_pool_from_a_third_tenant() {
    let stuck = Source::start(10).await;
    stuck.set_stuck(true);
    let good = Source::start(25).await;
    let (host, admin, _dir) = host_with(&["stuck-a", "stuck-b", "fine"], &stuck).await;
    let enable = json!({ "config": { "base_url": good.base_url() } });
    let enabled = host.enable(&admin, "fine", "paged-source", &enable).await;
    assert_eq!(enabled.status, 200, "{}", enabled.text);
    let clock = Arc::new(ManualClock::new(std::time::SystemTime::now()));
    let _scheduler = Scheduler::start(host.control.clone(), clock, pool_of(2))
        .await
        .expect("scheduler");
    let a = start_sync(&host, &admin, "stuck-a").await;
    let b = start_sync(&host, &admin, "stuck-b").await;
    let fine = start_sync(&host, &admin, "fine").await;
    let started = Instant::now();
    let run = host.wait_for_run(&admin, "fine", &fine).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["streams"][0]["records_written"], 25);
    for (tenant, id) in [("stuck-a", &a), ("stuck-b", &b)] {
        let run = host.wait_for_run(&admin, tenant, id).await;
        assert_eq!(run["status"], "failed", "{run}");
        assert!(
            run["last_error"]
                .as_str()
                .unwrap_or_default()
                .contains("connector bug"),
            "{run}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_started_sync_waits_in_the_pool_and_is_cancelled_there() {
    let source = Source::start(1000).await;
    source.set_delay(Duration::from_millis(100));
    let (host, admin, _dir) = host_with(&["acme"], &source).await;
    let clock = Arc::new(ManualClock::new(std::time::SystemTime::now()));
    let scheduler = Scheduler::start(host.control.clone(), clock, pool_of(1))
        .await
        .expect("scheduler");
    let (operator, operator_id) = host.create_key(&admin, "acme", "operator").await;
    let first = start_sync(&host, &operator, "acme").await;
    let second = start_sync(&host, &operator, "acme").await;
    let waiting = host
        .call(
            Method::GET,
            &format!("/v1/tenants/acme/runs/{second}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (waiting.json["status"].as_str(), waiting.json["queued"].as_bool()),
        (Some("running"), Some(true)),
        "one run of a tenant at a time: the second waits in the pool: {}",
        waiting.text
    );
    assert_eq!(scheduler.waiting(), 1);
    let cancelled = host
        .call(
            Method::POST,
            &format!("/v1/tenants/acme/runs/{second}/cancel"),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(cancelled.status, 202, "{}", cancelled.text);
    assert_eq!(
        cancelled.json["status"], "cancelled",
        "ended at once: {}",
        cancelled.text
    );
    assert_eq!(cancelled.json["cancelled_by"], format!("key:{operator_id}"));
    assert_eq!(scheduler.waiting(), 0);
    assert_eq!(cancelled.json["attempts"], 0, "it never ran");

    let cancel_first = host
        .call(
            Method::POST,
            &format!("/v1/tenants/acme/runs/{first}/cancel"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(cancel_first.status, 202, "{}", cancel_first.text);
    let run = host.wait_for_run(&admin, "acme", &first).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    assert_eq!(run["cancelled_by"], "admin");
    let listed = runs(&host, &admin, "acme").await;
    assert!(listed.iter().all(|r| r["status"] == "cancelled"), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tenants_jobs_never_fire_and_its_runs_and_queue_are_gone() {
    use omnify_host::store::storage::Table;
    let source = Source::start(10).await;
    let (host, admin, _dir) = host_with(&["acme", "rival"], &source).await;
    let sync = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/paged-source/sync",
            Some(&admin),
            Some(&json!({})),
        )
        .await;
    assert_eq!(sync.status, 202, "{}", sync.text);
    let sync_id = sync.json["id"].as_str().expect("run id").to_string();
    assert_eq!(
        host.wait_for_run(&admin, "acme", &sync_id).await["status"],
        "succeeded"
    );
    let cron = json!({"plugin": "paged-source", "schedule": {"type": "cron", "expression": "*/5 * * * *", "timezone": "UTC"}});
    let once = json!({"plugin": "paged-source", "schedule": {"type": "once"}});
    for (tenant, job) in [("acme", &cron), ("acme", &once), ("rival", &once)] {
        let path = format!("/v1/tenants/{tenant}/jobs");
        let created = host.call(Method::POST, &path, Some(&admin), Some(job)).await;
        assert_eq!(created.status, 201, "{}", created.text);
    }

    // The one-off jobs are taken into the durable queue, not started.
    let now = std::time::SystemTime::now();
    let clock = Arc::new(ManualClock::new(now + Duration::from_secs(1)));
    let no_workers = SchedulerConfig {
        workers: 0,
        per_tenant: 1,
        tick: Duration::ZERO,
    };
    let first = Scheduler::start(host.control.clone(), clock.clone(), no_workers)
        .await
        .expect("scheduler");
    assert_eq!(first.tick().await.expect("tick"), 2, "both one-off jobs");
    drop(first);
    let queued = |host: &TestHost| {
        host.control
            .storage()
            .read()
            .expect("read")
            .scan(Table::Queue, b"", None, usize::MAX)
            .expect("scan")
            .into_iter()
            .map(|(_, job)| serde_json::from_slice::<Value>(&job).expect("a job")["tenant"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(queued(&host).len(), 2);

    let deleted = host
        .call(Method::DELETE, "/v1/tenants/acme", Some(&admin), None)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let tx = host.control.storage().read().expect("read");
    for table in [Table::Runs, Table::Jobs, Table::SyncState] {
        assert!(
            tx.scan(table, b"acme\0", None, 1).expect("scan").is_empty(),
            "{table:?} erased"
        );
    }
    assert!(
        !tx.scan(Table::Runs, b"rival\0", None, 1)
            .expect("scan")
            .is_empty()
            || !tx
                .scan(Table::Jobs, b"rival\0", None, 1)
                .expect("scan")
                .is_empty(),
        "the other tenant keeps its own"
    );
    drop(tx);
    assert_eq!(
        queued(&host),
        vec![json!("rival")],
        "only acme's queued run is gone"
    );

    // A day later, every five minutes has come and gone: nothing of acme fires.
    clock.set(now + Duration::from_secs(86_400));
    let second = Scheduler::start(host.control.clone(), clock, no_workers)
        .await
        .expect("scheduler");
    assert_eq!(
        second.tick().await.expect("tick"),
        0,
        "the deleted tenant's cron job never fires"
    );
    let runs = host
        .call(Method::GET, "/v1/tenants/acme/runs", Some(&admin), None)
        .await;
    assert_eq!(runs.status, 404, "its runs are gone with it: {}", runs.text);
}
