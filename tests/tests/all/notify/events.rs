//! The events: the SLA's escalation and expiry on an injected clock, failed
//! runs, used-up quotas and the analytics agent's critical anomalies.

use super::*;
use omnify_control::scheduler::ManualClock;
use omnify_tests::platforms::{CONNECTORS, PlatformHost};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expert_proposal_past_its_sla_escalates_once_and_expiry_is_announced_once() {
    let env = env().await;
    let receiver = Receiver::start().await;
    let autonomy =
        json!({"level": "expert-required", "guardrails": {"proposal_ttl_hours": 72, "expert_sla_hours": 4}});
    let reply = env
        .call(Method::PUT, "autonomy", Some(&env.admin), Some(&autonomy))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let bad =
        json!({"level": "expert-required", "guardrails": {"proposal_ttl_hours": 4, "expert_sla_hours": 4}});
    let reply = env
        .call(Method::PUT, "autonomy", Some(&env.admin), Some(&bad))
        .await;
    assert_eq!(
        reply.status, 422,
        "the SLA must end before the expiry: {}",
        reply.text
    );

    let (escalation, _) = env.register(&receiver.hook("experts"), &[], true).await;
    let (ordinary, _) = env
        .register(
            &receiver.hook("team"),
            &["proposal.pending", "proposal.expiring"],
            false,
        )
        .await;
    let start = SystemTime::now();
    let clock = Arc::new(ManualClock::new(start));
    env.host.control.notifier().set_clock(clock.clone());

    let proposal = env.propose("Grace").await;
    let id = proposal["id"].as_str().expect("id").to_string();
    assert_eq!(proposal["requires_expert"], true);
    assert!(proposal["escalated_at"].is_null());
    env.until(&ordinary, "the pending event", |d| {
        delivered_of(d, "proposal.pending").len() == 1
    })
    .await;

    let swept = env.host.control.notify_sweep().await.expect("sweep");
    assert_eq!(swept.escalated, 0, "within the SLA");
    clock.set(start + Duration::from_secs(5 * 3600));
    let swept = env.host.control.notify_sweep().await.expect("sweep");
    assert_eq!(swept.escalated, 1);
    let shown = env
        .call(Method::GET, &format!("proposals/{id}"), Some(&env.admin), None)
        .await;
    assert!(shown.json["escalated_at"].is_string(), "{}", shown.text);
    assert_eq!(shown.json["status"], "pending");
    let escalated = env
        .until(&escalation, "the escalation", |d| {
            delivered_of(d, "proposal.escalated").len() == 1
        })
        .await;
    assert_eq!(escalated.len(), 1, "{escalated:#?}");
    let body: Value = serde_json::from_str(&receiver.received("experts")[0].body).expect("JSON");
    assert_eq!(body["data"]["proposal"], id.as_str());
    assert_eq!(body["data"]["requires_expert"], true);

    let swept = env.host.control.notify_sweep().await.expect("sweep");
    assert_eq!(swept.escalated, 0, "escalated once");
    let audit = env.call(Method::GET, "audit", Some(&env.admin), None).await;
    let escalations = audit.json["entries"]
        .as_array()
        .or(audit.json.as_array())
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "proposal.escalate")
        .count();
    assert_eq!(escalations, 1, "{}", audit.text);

    // Half an hour before the expiry: announced once, to the endpoint
    // that asked for it.
    let expires = proposal["expires_at_unix"].as_u64().expect("expiry");
    clock.set(SystemTime::UNIX_EPOCH + Duration::from_secs(expires - 1800));
    let swept = env.host.control.notify_sweep().await.expect("sweep");
    assert_eq!(swept.expiring, 1);
    let swept = env.host.control.notify_sweep().await.expect("sweep");
    assert_eq!(swept, Default::default(), "nothing twice");
    let team = env
        .until(&ordinary, "the expiring event", |d| {
            delivered_of(d, "proposal.expiring").len() == 1
        })
        .await;
    assert_eq!(
        team.len(),
        2,
        "pending and expiring, never the escalation: {team:#?}"
    );
    let experts = env.deliveries(&escalation).await;
    assert_eq!(experts.len(), 1, "only the escalation: {experts:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_and_a_used_up_quota_are_announced() {
    let env = env().await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = env
        .register(&receiver.hook("ops"), &["quota.reached", "run.failed"], false)
        .await;
    // The data agent has no task `nope`: its run fails.
    let path = format!("/v1/tenants/{TENANT}/plugins/data-agent/run");
    let task = json!({"kind": "nope", "input": {}});
    let started = env
        .host
        .call(Method::POST, &path, Some(&env.admin), Some(&task))
        .await;
    assert_eq!(started.status, 202, "{}", started.text);
    let run = env
        .host
        .wait_for_run(&env.admin, TENANT, started.json["id"].as_str().expect("run"))
        .await;
    assert_eq!(run["status"], "failed", "{run}");
    env.until(&endpoint, "the failed run", |d| {
        delivered_of(d, "run.failed").len() == 1
    })
    .await;
    let failed: Value = serde_json::from_str(&receiver.received("ops")[0].body).expect("JSON");
    assert_eq!(failed["kind"], "run.failed");
    assert_eq!(failed["data"]["run"], run["id"]);
    assert_eq!(failed["data"]["plugin"], "data-agent");
    let quotas = json!({"calls_per_minute": 1});
    let reply = env
        .host
        .call(
            Method::PUT,
            &format!("/v1/tenants/{TENANT}/quotas"),
            Some(&env.admin),
            Some(&quotas),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let read = json!({"export": "read", "input": {"stream": "greetings"}});
    let minute = || omnify_control::audit::unix_seconds(SystemTime::now()) / 60;
    let before = minute();
    let mut refused = 0;
    for _ in 0..4 {
        let reply = env
            .call(
                Method::POST,
                "plugins/hello-connector/invoke",
                Some(&env.operator),
                Some(&read),
            )
            .await;
        refused += usize::from(reply.status == 429);
    }
    let after = minute();
    assert!(refused >= 3, "the quota refuses: {refused}");
    let deliveries = env
        .until(&endpoint, "the quota event", |d| {
            !delivered_of(d, "quota.reached").is_empty()
        })
        .await;
    let announced = delivered_of(&deliveries, "quota.reached").len();
    // One per quota and minute (two if the minute turned meanwhile).
    assert!(
        announced <= usize::try_from(after - before + 1).unwrap_or(2),
        "{deliveries:#?}"
    );
    let body = receiver
        .received("ops")
        .into_iter()
        .find(|r| r.body.contains("quota.reached"))
        .expect("a quota event");
    let event: Value = serde_json::from_str(&body.body).expect("JSON");
    assert_eq!(event["data"]["quota"], "calls_per_minute");
    assert_eq!(event["data"]["limit"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analytics_agents_critical_anomaly_is_announced() {
    let mut plugins: Vec<&str> = CONNECTORS.to_vec();
    plugins.push("analytics");
    let env = PlatformHost::start(&plugins).await;
    env.sync_all().await;
    let receiver = Receiver::start().await;
    let body = json!({"url": receiver.hook("ops"), "kinds": ["anomaly.critical"]});
    let path = format!("/v1/tenants/{TENANT}/endpoints");
    let created = env
        .host
        .call(Method::POST, &path, Some(&env.admin), Some(&body))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let endpoint = created.json["endpoint"]["id"].as_str().expect("id").to_string();
    let review = env
        .run_agent("analytics", json!({"kind": "daily-review", "input": {}}))
        .await;
    assert_eq!(review["status"], "succeeded", "{review}");
    let critical: Vec<&Value> = review["output"]["insights"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["severity"] == "critical" && i["kind"].as_str().is_some_and(|k| k.contains("anomaly")))
        .collect();
    assert!(
        !critical.is_empty(),
        "the planted anomaly is critical: {:#}",
        review["output"]["insights"]
    );
    let deliveries_path = format!("{path}/{endpoint}/deliveries");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let deliveries = env
            .host
            .call(Method::GET, &deliveries_path, Some(&env.admin), None)
            .await;
        let list = deliveries.json.as_array().cloned().unwrap_or_default();
        if delivered_of(&list, "anomaly.critical").len() == critical.len() {
            assert_eq!(
                list.len(),
                critical.len(),
                "only the critical anomalies: {list:#?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the anomaly events: {list:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = receiver.received("ops");
    let titles: Vec<&str> = critical.iter().filter_map(|i| i["title"].as_str()).collect();
    for request in &received {
        let event: Value = serde_json::from_str(&request.body).expect("JSON");
        assert_eq!(event["kind"], "anomaly.critical");
        assert_eq!(event["data"]["run"], review["id"]);
        assert!(
            titles
                .iter()
                .any(|t| event["summary"].as_str().is_some_and(|s| s.contains(t))),
            "{event}"
        );
    }
}
