//! The scheduler with a real host: cron jobs fire at the expected minute on
//! an injected clock, and one tenant's thousand queued syncs do not hold
//! back another tenant's single sync by more than one sync. The worker
//! pool's own tests are in `pool.rs`.

mod pool;

use omnify_control::scheduler::{ManualClock, Scheduler, SchedulerConfig};
use omnify_control::sync::SyncRequest;
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
            &omnify_control::tenant::Principal::admin(),
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
        &omnify_control::tenant::Principal::admin(),
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
