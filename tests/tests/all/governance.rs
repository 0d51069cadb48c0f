//! The host decides what runs, whatever an agent claims or a key tries:
//! impact is computed from the connector's preview, proposals stay inside
//! the agent's grant, a platform that moved sends a proposal back to
//! people, only the admin acts directly, and a contract 1.0 plugin keeps
//! running but never acts unattended.

use omnify_sandbox::world::Platform;
use omnify_tests::guests;
use omnify_tests::platforms::TENANT;
use omnify_tests::proposing::{
    approve, budget_change, budget_writes, campaign, proposals_of, propose, propose_run, set_level, start,
};
use reqwest::Method;
use serde_json::{Value, json};

/// A proposal of `action` on `connector` with `input` and the agent's own
/// claims.
fn claim(
    connector: &str,
    action: &str,
    input: Value,
    confidence: Value,
    percent: Value,
    label: &str,
) -> Value {
    json!({
        "connector": connector,
        "action": action,
        "input": input,
        "confidence": confidence,
        "metric": "daily_budget",
        "absolute": 0.01,
        "percent": percent,
        "rationale": format!("test: {label}"),
    })
}

/// The manifest of a frozen contract 1.0 guest.
fn v1_0_manifest(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("guests/{name}/plugin.toml"));
    std::fs::read_to_string(path).expect("read plugin.toml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_cannot_set_its_own_guardrails_or_propose_outside_its_grant() {
    let env = start().await;
    // The tenant narrows the agent: two actions on meta-ads, refunds on
    // stripe (not enabled here), and no threshold-setting.
    let grants = json!({"grants": {
        "data_streams": ["omnify/proposals"],
        "proposes": [
            "meta-ads:set-daily-budget",
            "meta-ads:pause-campaign",
            "meta-ads:delete-account",
            "stripe:create-refund",
        ],
        "learns_thresholds": false,
    }});
    assert_eq!(env.enable("data-agent", &grants).await.status, 200);
    set_level(&env, "autonomous").await;
    let (first, first_budget) = campaign(&env, 0);
    let (second, _) = campaign(&env, 1);

    let proposals = vec![
        // Understated: a pause is a -100% spend change, a budget of 999,999
        // is far more than +1%.
        claim(
            "meta-ads",
            "pause-campaign",
            json!({"campaign_id": first}),
            json!(0.99),
            json!(1.0),
            "a pause",
        ),
        claim(
            "meta-ads",
            "set-daily-budget",
            json!({"campaign_id": second, "daily_budget": 999_999.0}),
            json!(0.99),
            json!(1.0),
            "a budget",
        ),
        // Outside the grant, for a connector not enabled, an action the
        // connector does not offer, an input that does not fit.
        claim(
            "shopify",
            "create-refund",
            json!({"charge": "ch_1"}),
            json!(0.9),
            json!(1.0),
            "a refund",
        ),
        claim(
            "meta-ads",
            "resume-campaign",
            json!({"campaign_id": first}),
            json!(0.9),
            json!(1.0),
            "ungranted",
        ),
        claim(
            "stripe",
            "create-refund",
            json!({"charge": "ch_1"}),
            json!(0.9),
            json!(1.0),
            "not enabled",
        ),
        claim(
            "meta-ads",
            "delete-account",
            json!({}),
            json!(0.9),
            json!(1.0),
            "no such action",
        ),
        claim(
            "meta-ads",
            "set-daily-budget",
            json!({"amount": 5}),
            json!(0.9),
            json!(1.0),
            "bad input",
        ),
        // Numbers no honest agent returns.
        claim(
            "meta-ads",
            "set-daily-budget",
            json!({"campaign_id": first, "daily_budget": first_budget}),
            json!("nan"),
            json!(1.0),
            "nan",
        ),
        claim(
            "meta-ads",
            "set-daily-budget",
            json!({"campaign_id": first, "daily_budget": first_budget}),
            json!(0.9),
            json!("inf"),
            "infinite",
        ),
        claim(
            "meta-ads",
            "set-daily-budget",
            json!({"campaign_id": first, "daily_budget": first_budget}),
            json!(1.5),
            json!(1.0),
            "sure beyond sure",
        ),
    ];
    let thresholds = json!({
        "kind": "confidence-thresholds",
        "title": "lower every bar",
        "data": {"default": 0.0, "thresholds": {}},
    });
    let run = propose_run(&env, proposals, vec![thresholds]).await;

    let refused = run["output"]["refused"]
        .as_array()
        .expect("refusals on the run")
        .clone();
    let reason_for = |action: &str, connector: &str| {
        refused
            .iter()
            .filter(|r| r["action"] == action && r["connector"] == connector)
            .map(|r| r["reason"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    assert!(
        reason_for("create-refund", "shopify").contains("not granted"),
        "{refused:#?}"
    );
    assert!(
        reason_for("resume-campaign", "meta-ads").contains("not granted"),
        "{refused:#?}"
    );
    assert!(
        reason_for("create-refund", "stripe").contains("not enabled"),
        "{refused:#?}"
    );
    let budget_reasons = reason_for("set-daily-budget", "meta-ads");
    for expected in ["schema", "confidence", "finite"] {
        assert!(budget_reasons.contains(expected), "{expected}: {budget_reasons}");
    }
    assert!(
        reason_for("delete-account", "meta-ads").contains("has no action"),
        "{refused:#?}"
    );
    assert!(
        reason_for("confidence-thresholds", "").contains("learns_thresholds"),
        "{refused:#?}"
    );
    assert_eq!(refused.len(), 9, "{refused:#?}");

    // The two granted ones wait for a person, judged by what the platform
    // said, not by the agent's 1%.
    let made = proposals_of(&env, &run).await;
    assert_eq!(made.len(), 2, "{made:#?}");
    for proposal in &made {
        assert_eq!(proposal["status"], "pending", "{proposal:#}");
        assert!(
            proposal["policy"]
                .as_str()
                .unwrap_or_default()
                .contains("verified"),
            "{proposal:#}"
        );
    }
    let pause = made
        .iter()
        .find(|p| p["action"] == "pause-campaign")
        .expect("pause");
    assert_eq!(pause["verified"]["percent"], -100.0, "{pause:#}");
    assert_eq!(pause["preview"]["target_id"], first.as_str());
    assert!((pause["preview"]["current"].as_f64().unwrap_or_default() - first_budget).abs() < 0.01);
    assert_eq!(
        pause["expected_impact"]["percent"], 1.0,
        "the claim is kept for people"
    );
    let budget = made
        .iter()
        .find(|p| p["action"] == "set-daily-budget")
        .expect("budget");
    assert!(
        budget["verified"]["percent"].as_f64().unwrap_or_default() > 1000.0,
        "{budget:#}"
    );

    assert!(
        env.sandbox.meta.writes().is_empty(),
        "{:?}",
        env.sandbox.meta.writes()
    );
    let autonomy = env.get(&format!("/v1/tenants/{TENANT}/autonomy")).await.json;
    assert!(autonomy["learned"].is_null(), "{autonomy:#}");
    let audit = env.audit().await;
    assert_eq!(
        audit.iter().filter(|e| e["action"] == "proposal.refuse").count(),
        9
    );
    assert!(
        !audit
            .iter()
            .any(|e| e["action"] == "plugin.act" || e["action"] == "autonomy.learn")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_whose_target_moved_goes_back_to_people_and_one_that_did_not_executes() {
    let env = start().await;
    let moved = propose(&env, vec![budget_change(&env, 0, 10.0, 0.9)], vec![]).await;
    let steady = propose(&env, vec![budget_change(&env, 1, 10.0, 0.9)], vec![]).await;
    let (moved_id, steady_id) = (
        moved[0]["id"].as_str().expect("id"),
        steady[0]["id"].as_str().expect("id"),
    );
    let (first, first_budget) = campaign(&env, 0);
    let (second, second_budget) = campaign(&env, 1);
    {
        // Someone changes the budgets on the platform meanwhile: one by a
        // third, the other by a cent (within the 1% tolerance).
        let mut world = env.sandbox.world();
        let account = world.account_mut(Platform::Meta);
        let cents = |budget: f64| (budget * 100.0).round() as i64;
        account.campaign_mut(&first).expect("campaign").daily_budget_cents = cents(first_budget * 4.0 / 3.0);
        account
            .campaign_mut(&second)
            .expect("campaign")
            .daily_budget_cents = cents(second_budget) + 1;
    }

    let refused = approve(&env, &env.admin, moved_id, json!({})).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert!(refused.text.contains("stale"), "{}", refused.text);
    let requeued = env.proposal(moved_id).await;
    assert_eq!(requeued["status"], "pending", "{requeued:#}");
    assert!(requeued["decision"].is_null());
    let now = requeued["preview"]["current"].as_f64().expect("fresh preview");
    assert!((now - first_budget * 4.0 / 3.0).abs() < 0.02, "{requeued:#}");
    assert_eq!(budget_writes(&env), 0);

    let executed = approve(&env, &env.admin, steady_id, json!({})).await;
    assert_eq!(executed.status, 200, "{}", executed.text);
    assert_eq!(executed.json["status"], "executed", "{}", executed.text);
    assert_eq!(budget_writes(&env), 1);
    // The person who saw the new figures can still approve the moved one.
    let again = approve(&env, &env.admin, moved_id, json!({})).await;
    assert_eq!(again.json["status"], "executed", "{}", again.text);
    let audit = env.audit().await;
    assert_eq!(
        audit.iter().filter(|e| e["action"] == "proposal.stale").count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_the_platform_refuses_shows_failed_and_a_retry_executes_once() {
    let env = start().await;
    let made = propose(
        &env,
        vec![budget_change(&env, 0, 5.0, 0.9), budget_change(&env, 1, 5.0, 0.9)],
        vec![],
    )
    .await;
    let (limited, refused) = (
        made[0]["id"].as_str().expect("id"),
        made[1]["id"].as_str().expect("id"),
    );

    // The platform rate-limits the write (the preview before it passes).
    env.sandbox.meta.rate_limit_after(2);
    let failed = approve(&env, &env.admin, limited, json!({})).await;
    assert_eq!(failed.json["status"], "failed", "{}", failed.text);
    let error = failed.json["execution"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("rate"), "{error}");
    let retried = approve(&env, &env.admin, limited, json!({})).await;
    assert_eq!(retried.json["status"], "executed", "{}", retried.text);
    assert_eq!(retried.json["execution"]["attempts"], 2);

    // The platform refuses the token.
    let mut body = env.enablement("meta-ads");
    body["secrets"]["access_token"] = json!("expired-token");
    assert_eq!(env.enable("meta-ads", &body).await.status, 200);
    let failed = approve(&env, &env.admin, refused, json!({})).await;
    assert_eq!(failed.json["status"], "failed", "{}", failed.text);
    assert!(
        failed.json["execution"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("auth"),
        "{}",
        failed.text
    );
    assert_eq!(
        env.enable("meta-ads", &env.enablement("meta-ads")).await.status,
        200
    );
    let retried = approve(&env, &env.admin, refused, json!({})).await;
    assert_eq!(retried.json["status"], "executed", "{}", retried.text);

    assert_eq!(budget_writes(&env), 2, "{:?}", env.sandbox.meta.writes());
    let audit = env.audit().await;
    let executions: Vec<&Value> = audit
        .iter()
        .filter(|e| e["action"] == "proposal.execute")
        .collect();
    assert_eq!(executions.len(), 4);
    assert!(
        executions[0]["outcome"]
            .as_str()
            .unwrap_or_default()
            .starts_with("error")
    );
    assert_eq!(executions[0]["actor"], "admin", "the approver executes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_admin_acts_directly_and_its_key_cannot_collide_with_a_proposal() {
    let env = start().await;
    let made = propose(&env, vec![budget_change(&env, 0, 5.0, 0.9)], vec![]).await;
    let id = made[0]["id"].as_str().expect("id");
    let (first, budget) = campaign(&env, 0);
    let (operator, _) = env.host.create_key(&env.admin, TENANT, "operator").await;
    let (expert, _) = env.host.create_key(&env.admin, TENANT, "expert").await;
    let path = format!("/v1/tenants/{TENANT}/plugins/meta-ads/invoke");
    let act = json!({"export": "act", "input": {
        "name": "set-daily-budget",
        "input": {"campaign_id": first, "daily_budget": budget * 2.0},
        "idempotency_key": id,
    }});
    let audit_before = env.audit().await.len();
    for level in ["autonomous", "guided", "human-led", "expert-required"] {
        set_level(&env, level).await;
        for token in [&operator, &expert] {
            let reply = env.host.call(Method::POST, &path, Some(token), Some(&act)).await;
            assert_eq!(reply.status, 403, "{level}: {}", reply.text);
        }
    }
    for (export, input) in [
        ("verify-webhook", json!({"headers": [], "body": "{}"})),
        (
            "read",
            json!({"stream": "campaigns", "state": {"after": "https://elsewhere.test/"}}),
        ),
    ] {
        let body = json!({"export": export, "input": input});
        let reply = env
            .host
            .call(Method::POST, &path, Some(&operator), Some(&body))
            .await;
        assert_eq!(reply.status, 403, "{export}: {}", reply.text);
    }
    assert!(env.sandbox.meta.writes().is_empty());
    let audit = env.audit().await;
    assert_eq!(
        audit.len(),
        audit_before + 4,
        "only the four level changes: {:#?}",
        &audit[audit_before..]
    );

    // The admin may, and its key is kept apart from the proposal's.
    let direct = env
        .act("meta-ads", "set-daily-budget", act["input"]["input"].clone(), id)
        .await;
    assert_eq!(direct.status, 200, "{}", direct.text);
    let entry = env.act_entries("meta-ads").await.pop().expect("audited");
    assert_eq!(
        entry["details"]["action"]["idempotency_key"],
        format!("direct:{id}")
    );
    assert_eq!(entry["details"]["action"]["direct"], true);
    let approved = approve(&env, &env.admin, id, json!({})).await;
    // The budget moved (the admin doubled it): the proposal is stale, not
    // swallowed by the direct action's key.
    assert_eq!(approved.status, 409, "{}", approved.text);
    assert_eq!(env.proposal(id).await["status"], "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_1_0_plugins_run_on_the_1_1_host_and_never_act_unattended() {
    let env = start().await;
    for (name, component) in [
        ("v1-0-connector", guests::V1_0_CONNECTOR),
        ("v1-0-agent", guests::V1_0_AGENT),
    ] {
        let published = env.host.upload(&env.admin, &v1_0_manifest(name), component).await;
        assert_eq!(published.status, 201, "{name}: {}", published.text);
        assert_eq!(published.json["contract"], "1.0.0");
        assert_eq!(env.enable(name, &json!({})).await.status, 200);
    }
    set_level(&env, "autonomous").await;

    let preview = env
        .invoke(
            "v1-0-connector",
            "preview",
            json!({"name": "set-budget", "input": {}}),
        )
        .await;
    assert_eq!(preview.status, 400, "{}", preview.text);
    assert!(preview.text.contains("contract 1.0"), "{}", preview.text);
    let acted = env
        .act(
            "v1-0-connector",
            "set-budget",
            json!({"campaign": "a", "daily_budget": 10}),
            "k1",
        )
        .await;
    assert_eq!(acted.status, 200, "{}", acted.text);
    let synced = env.sync("v1-0-connector", &["budgets"], "full-refresh").await;
    assert_eq!(synced["status"], "succeeded", "{synced}");

    let run = env
        .run_agent(
            "v1-0-agent",
            json!({"kind": "propose", "input": {"daily_budget": 11}}),
        )
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["output"]["insights"][0]["data"]["count"], 1, "{run}");
    let made = proposals_of(&env, &run).await;
    assert_eq!(made.len(), 1, "{run}");
    assert_eq!(made[0]["status"], "pending", "{:#}", made[0]);
    assert!(
        made[0]["policy"]
            .as_str()
            .unwrap_or_default()
            .contains("contract 1.0"),
        "{:#}",
        made[0]
    );
    assert_eq!(
        env.act_entries("v1-0-connector").await.len(),
        1,
        "only the admin's own act"
    );

    // A person may still approve it: the 1.0 `act` runs through the seam.
    let id = made[0]["id"].as_str().expect("id");
    let approved = approve(&env, &env.admin, id, json!({})).await;
    assert_eq!(approved.json["status"], "executed", "{}", approved.text);
    env.sync("v1-0-connector", &["budgets"], "full-refresh").await;
    let budgets = env.records("v1-0-connector", "budgets").await;
    assert_eq!(budgets, vec![json!({"campaign": "a", "daily_budget": 11})]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_more_proposals_than_the_host_takes_fails_and_stores_none() {
    let env = start().await;
    let many: Vec<Value> = (0..201).map(|i| budget_change(&env, i % 3, 1.0, 0.9)).collect();
    let task = json!({"kind": "propose", "input": {"proposals": many}});
    let run = env.run_agent("data-agent", task).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 200"),
        "{run}"
    );
    let stored = env.get(&format!("/v1/tenants/{TENANT}/proposals")).await.json;
    assert_eq!(stored.as_array().map(Vec::len), Some(0), "{stored}");
    assert!(env.sandbox.meta.writes().is_empty());
}
