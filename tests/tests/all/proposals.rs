//! Proposals through the real host: the autonomy policy executes or queues
//! what an agent proposes, people approve (possibly editing) or reject, and
//! every execution reaches the platform once, through the connector.
//!
//! The agent is the `data-agent` test guest, whose `propose` task returns
//! the proposals it is given, so that each test controls exactly what is
//! proposed; the connector is the real `meta-ads` against its sandbox.

use omnify_tests::platforms::{PlatformHost, TENANT};
use omnify_tests::proposing::{approve, budget_change, budget_writes, campaign, propose, set_level, start};
use reqwest::Method;
use serde_json::{Value, json};

/// Change the stored proposal `id` behind the host's back, to stand for
/// what time or a crash would have done to it.
fn edit_stored(env: &PlatformHost, id: &str, edit: impl FnOnce(&mut Value)) {
    use omnify_control::store::Table;
    use omnify_control::store::storage::{get_json, key, put_json};

    let store = env.host.control.storage();
    let row = key(&[TENANT.as_bytes(), id.as_bytes()]);
    let mut tx = store.write().expect("a write transaction");
    let mut stored: Value = get_json(&*tx, Table::Proposals, &row)
        .expect("read")
        .expect("stored");
    edit(&mut stored);
    put_json(&mut *tx, Table::Proposals, &row, &stored).expect("write");
    tx.commit().expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_autonomy_level_executes_and_queues_the_right_proposals() {
    // Campaign 0: +4% (low impact), campaign 1: +15%, campaign 2: +4% at low
    // confidence; campaign 0 again: +30%, beyond the 20% guardrail. Each
    // level starts afresh: changes executed today count against the
    // guardrail of the next proposal on the same campaign.
    let expected = [
        ("autonomous", vec!["executed", "executed", "pending", "pending"]),
        ("guided", vec!["executed", "pending", "pending", "pending"]),
        ("human-led", vec!["pending", "pending", "pending", "pending"]),
        (
            "expert-required",
            vec!["pending", "pending", "pending", "pending"],
        ),
    ];
    for (level, statuses) in expected {
        let env = start().await;
        set_level(&env, level).await;
        let proposals = vec![
            budget_change(&env, 0, 4.0, 0.9),
            budget_change(&env, 1, 15.0, 0.9),
            budget_change(&env, 2, 4.0, 0.5),
            budget_change(&env, 0, 30.0, 0.95),
        ];
        let wanted_budget = proposals[0]["input"]["daily_budget"].as_f64().expect("budget");
        let made = propose(&env, proposals, vec![]).await;
        let by_rationale = |r: &str| {
            made.iter()
                .find(|p| p["rationale"] == r)
                .expect("proposal")
                .clone()
        };
        let order = [
            "test: 4% at confidence 0.9",
            "test: 15% at confidence 0.9",
            "test: 4% at confidence 0.5",
            "test: 30% at confidence 0.95",
        ];
        for (rationale, status) in order.iter().zip(&statuses) {
            let proposal = by_rationale(rationale);
            assert_eq!(proposal["status"], *status, "{level}: {proposal:#}");
            assert_eq!(proposal["requires_expert"], level == "expert-required");
            assert!(!proposal["policy"].as_str().unwrap_or_default().is_empty());
        }
        let executed = statuses.iter().filter(|s| **s == "executed").count();
        assert_eq!(budget_writes(&env), executed, "{level}");
        if executed > 0 {
            let (_, budget) = campaign(&env, 0);
            assert!(
                (budget - wanted_budget).abs() < 0.01,
                "{level}: {budget} vs {wanted_budget}"
            );
        }
        let audit = env.audit().await;
        let count = |action: &str| audit.iter().filter(|e| e["action"] == action).count();
        assert_eq!(count("proposal.create"), 4, "{level}");
        assert_eq!(count("proposal.execute"), executed, "{level}");
        assert_eq!(count("plugin.act"), executed, "{level}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_cannot_approve_an_expert_only_proposal_and_an_expert_can() {
    let env = start().await;
    set_level(&env, "expert-required").await;
    let made = propose(&env, vec![budget_change(&env, 1, 5.0, 0.99)], vec![]).await;
    let id = made[0]["id"].as_str().expect("id");
    let (operator, _) = env.host.create_key(&env.admin, TENANT, "operator").await;
    let (expert, _) = env.host.create_key(&env.admin, TENANT, "expert").await;

    let refused = approve(&env, &operator, id, json!({})).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(budget_writes(&env), 0);
    assert_eq!(env.proposal(id).await["status"], "pending");

    let approved = approve(&env, &expert, id, json!({})).await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(approved.json["status"], "executed", "{}", approved.text);
    assert_eq!(approved.json["decision"]["kind"], "approved");
    assert_eq!(budget_writes(&env), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_proposal_never_executes() {
    let env = start().await;
    let made = propose(&env, vec![budget_change(&env, 0, 10.0, 0.9)], vec![]).await;
    let id = made[0]["id"].as_str().expect("id");
    let path = format!("/v1/tenants/{TENANT}/proposals/{id}/reject");

    let no_reason = env
        .host
        .call(
            Method::POST,
            &path,
            Some(&env.admin),
            Some(&json!({"reason": " "})),
        )
        .await;
    assert!(
        no_reason.status == 400 || no_reason.status == 422,
        "{}",
        no_reason.text
    );
    assert_eq!(env.proposal(id).await["status"], "pending");

    let rejected = env
        .host
        .call(
            Method::POST,
            &path,
            Some(&env.admin),
            Some(&json!({"reason": "too aggressive"})),
        )
        .await;
    assert_eq!(rejected.status, 200, "{}", rejected.text);
    assert_eq!(rejected.json["status"], "rejected");
    assert_eq!(rejected.json["decision"]["reason"], "too aggressive");

    let late = approve(&env, &env.admin, id, json!({})).await;
    assert_eq!(late.status, 409, "{}", late.text);
    assert_eq!(budget_writes(&env), 0);
    // The decision is what the client-learning agent learns from.
    let records = env.records("omnify", "proposals").await;
    let record = records.iter().find(|r| r["id"] == id).expect("proposal record");
    assert_eq!(record["decision"], "rejected");
    assert_eq!(record["size"], "small");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_retried_while_the_first_runs_executes_once() {
    let env = start().await;
    let made = propose(&env, vec![budget_change(&env, 2, 8.0, 0.9)], vec![]).await;
    let id = made[0]["id"].as_str().expect("id");
    let (first, second) = tokio::join!(
        approve(&env, &env.admin, id, json!({})),
        approve(&env, &env.admin, id, json!({}))
    );
    assert_eq!(
        (first.status, second.status),
        (200, 200),
        "{} / {}",
        first.text,
        second.text
    );
    let again = approve(&env, &env.admin, id, json!({})).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json["status"], "executed");
    assert_eq!(again.json["execution"]["attempts"], 1);
    assert_eq!(again.json["execution"]["idempotency_key"], id);
    assert_eq!(budget_writes(&env), 1, "{:?}", env.sandbox.meta.writes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_approval_executes_the_edited_input() {
    let env = start().await;
    let made = propose(&env, vec![budget_change(&env, 1, 12.0, 0.9)], vec![]).await;
    let id = made[0]["id"].as_str().expect("id");
    let (campaign_id, budget) = campaign(&env, 1);
    let edited = json!({"input": {"campaign_id": campaign_id, "daily_budget": budget + 1.0}});

    let not_an_object = approve(&env, &env.admin, id, json!({"input": [1, 2]})).await;
    assert!(
        not_an_object.status == 400 || not_an_object.status == 422,
        "{}",
        not_an_object.text
    );
    assert_eq!(env.proposal(id).await["status"], "pending");

    let approved = approve(&env, &env.admin, id, edited).await;
    assert_eq!(approved.json["status"], "executed", "{}", approved.text);
    assert_eq!(approved.json["decision"]["kind"], "edited");
    assert!(approved.json["decision"]["proposed_input"].is_object());
    let (_, now) = campaign(&env, 1);
    assert!((now - (budget + 1.0)).abs() < 0.01, "{now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learned_thresholds_decide_what_runs_unattended() {
    let env = start().await;
    set_level(&env, "autonomous").await;
    let thresholds = json!({
        "kind": "confidence-thresholds",
        "title": "thresholds",
        "data": {"default": 0.9, "thresholds": {"set-daily-budget:small": 0.6}},
    });
    propose(&env, vec![], vec![thresholds]).await;
    let autonomy = env.get(&format!("/v1/tenants/{TENANT}/autonomy")).await.json;
    assert_eq!(autonomy["learned"]["thresholds"]["set-daily-budget:small"], 0.6);

    let made = propose(
        &env,
        vec![
            budget_change(&env, 0, 5.0, 0.7),
            budget_change(&env, 1, 15.0, 0.85),
        ],
        vec![],
    )
    .await;
    let status = |r: &str| made.iter().find(|p| p["rationale"] == r).expect("proposal")["status"].clone();
    assert_eq!(status("test: 5% at confidence 0.7"), "executed");
    assert_eq!(status("test: 15% at confidence 0.85"), "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_on_proposals_change_nothing() {
    let env = start().await;
    let made = propose(&env, vec![budget_change(&env, 0, 5.0, 0.9)], vec![]).await;
    let id = made[0]["id"].as_str().expect("id");
    let unknown = approve(&env, &env.admin, "nope", json!({})).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    let path = format!("/v1/tenants/{TENANT}/autonomy");
    for body in [
        json!({"level": "reckless"}),
        json!({"level": "autonomous", "guardrails": {"max_change_percent": 250.0}}),
        json!({"level": "autonomous", "guardrails": {"proposal_ttl_hours": 0}}),
    ] {
        let reply = env
            .host
            .call(Method::PUT, &path, Some(&env.admin), Some(&body))
            .await;
        assert!(
            reply.status == 400 || reply.status == 422,
            "{body}: {}",
            reply.text
        );
    }
    let (operator, _) = env.host.create_key(&env.admin, TENANT, "operator").await;
    let by_operator = env
        .host
        .call(
            Method::PUT,
            &path,
            Some(&operator),
            Some(&json!({"level": "autonomous"})),
        )
        .await;
    assert_eq!(by_operator.status, 403);
    assert_eq!(env.get(&path).await.json["level"], "human-led");
    assert_eq!(env.proposal(id).await["status"], "pending");
    assert_eq!(budget_writes(&env), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_nobody_decided_in_time_expires_and_cannot_be_approved() {
    let env = start().await;
    let made = propose(&env, vec![budget_change(&env, 0, 5.0, 0.9)], vec![]).await;
    let id = made[0]["id"].as_str().expect("id");
    assert_eq!(made[0]["status"], "pending");
    // Move its expiry into the past, as if its time-to-live had gone by.
    edit_stored(&env, id, |stored| stored["expires_at_unix"] = json!(1));

    assert_eq!(env.proposal(id).await["status"], "expired");
    let late = approve(&env, &env.admin, id, json!({})).await;
    assert_eq!(late.status, 409, "{}", late.text);
    assert!(late.text.contains("expired"), "{}", late.text);
    assert_eq!(budget_writes(&env), 0);
    let audit = env.audit().await;
    assert!(audit.iter().any(|e| e["action"] == "proposal.expire"));
}

/// Moving `share` of campaign 0's budget to campaign 1: two linked changes
/// that keep the total.
fn budget_move(env: &PlatformHost, share: f64) -> Vec<Value> {
    let ((from, from_budget), (to, to_budget)) = (campaign(env, 0), campaign(env, 1));
    let amount = (from_budget * share * 100.0).round() / 100.0;
    let change = |id: &str, budget: f64, delta: f64, label: &str| {
        json!({
            "connector": "meta-ads",
            "action": "set-daily-budget",
            "input": {"campaign_id": id, "daily_budget": ((budget + delta) * 100.0).round() / 100.0},
            "confidence": 0.95,
            "metric": "daily_budget",
            "absolute": delta,
            "percent": delta / budget * 100.0,
            "rationale": format!("test: move {label}"),
        })
    };
    vec![
        change(&from, from_budget, -amount, "cut"),
        change(&to, to_budget, amount, "raise"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_halves_of_a_budget_move_run_together_or_wait_together() {
    let env = start().await;
    set_level(&env, "autonomous").await;

    // 3% of the largest budget: both changes are inside the 20% guardrail.
    let small = propose(&env, budget_move(&env, 0.03), vec![]).await;
    assert!(small.iter().all(|p| p["status"] == "executed"), "{small:#?}");
    assert_eq!(small[0]["linked"], json!([small[1]["id"]]));
    assert_eq!(budget_writes(&env), 2);

    // 15% of it is more than 20% of the smaller budget: the raise waits, and
    // so does the cut that would otherwise run alone.
    let large = propose(&env, budget_move(&env, 0.15), vec![]).await;
    assert!(large.iter().all(|p| p["status"] == "pending"), "{large:#?}");
    let cut = large
        .iter()
        .find(|p| p["rationale"] == "test: move cut")
        .expect("cut");
    assert!(
        cut["policy"]
            .as_str()
            .expect("policy")
            .contains("part of a budget move"),
        "{cut:#}"
    );
    assert_eq!(budget_writes(&env), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_retried_after_a_client_timeout_executes_once() {
    let env = start().await;
    let made = propose(&env, vec![budget_change(&env, 2, 6.0, 0.9)], vec![]).await;
    let id = made[0]["id"].as_str().expect("id");
    let path = format!("/v1/tenants/{TENANT}/proposals/{id}/approve");
    // The platform answers slowly; the client gives up first.
    env.sandbox
        .meta
        .set_latency(std::time::Duration::from_millis(1500));
    let gave_up = env
        .host
        .request(Method::POST, &path)
        .bearer_auth(&env.admin)
        .header("content-type", "application/json")
        .body("{}")
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()));

    let retried = approve(&env, &env.admin, id, json!({})).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert!(
        retried.json["status"] == "approved" || retried.json["status"] == "executed",
        "{}",
        retried.text
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while env.proposal(id).await["status"] != "executed" {
        assert!(
            std::time::Instant::now() < deadline,
            "the approval never executed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    env.sandbox.meta.set_latency(std::time::Duration::ZERO);
    assert_eq!(budget_writes(&env), 1, "{:?}", env.sandbox.meta.writes());
    assert_eq!(env.proposal(id).await["execution"]["attempts"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_page_newest_first_and_refuse_a_bad_cursor() {
    let env = start().await;
    // One proposal on each of the sandbox's three Meta campaigns.
    let changes = (0..3)
        .map(|i| budget_change(&env, i, 2.0 + i as f64, 0.9))
        .collect();
    propose(&env, changes, vec![]).await;
    let path = format!("/v1/tenants/{TENANT}/proposals");
    let whole = env.get(&path).await.json;
    let whole: Vec<Value> = whole.as_array().expect("a list").clone();
    assert_eq!(whole.len(), 3);

    let mut paged: Vec<Value> = Vec::new();
    let mut pages = 0;
    loop {
        let after = paged
            .last()
            .map(|p| format!("&after={}", p["id"].as_str().expect("an id")))
            .unwrap_or_default();
        let page = env.get(&format!("{path}?limit=2{after}")).await.json;
        let page = page.as_array().expect("a page").clone();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        paged.extend(page);
        pages += 1;
        assert!(pages <= 2, "two pages, of 2 and 1");
    }
    assert_eq!(paged, whole, "the pages, in order, are the whole list");

    for (query, status, code) in [
        ("after=not-an-id", 400, "invalid_cursor"),
        ("after=00000000000000ff", 422, "invalid"),
        ("limit=0", 422, "invalid"),
        ("limit=1001", 422, "invalid"),
    ] {
        let reply = env
            .host
            .call(Method::GET, &format!("{path}?{query}"), Some(&env.admin), None)
            .await;
        assert_eq!(reply.status, status, "{query}: {}", reply.text);
        assert_eq!(reply.json["error"]["code"], code, "{query}: {}", reply.text);
    }
}
