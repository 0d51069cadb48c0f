//! The bounded worker pool: stuck connectors cannot hold it, API-started
//! syncs wait in it and can be cancelled there, and a deleted tenant's work
//! leaves it.

use super::{host_with, runs};
use omnify_control::scheduler::{ManualClock, Scheduler, SchedulerConfig};
use omnify_tests::host::TestHost;
use omnify_tests::source::Source;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    use omnify_control::store::storage::Table;
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
