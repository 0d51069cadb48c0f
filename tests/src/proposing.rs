//! Helpers of the proposal tests: a host with `meta-ads` against its
//! sandbox and the `data-agent` guest, whose `propose` task returns exactly
//! the proposals it is given, so that each test controls what is proposed.

use crate::guests;
use crate::host::{Reply, data_agent_manifest};
use crate::platforms::{PlatformHost, TENANT};
use omnify_sandbox::world::Platform;
use reqwest::Method;
use serde_json::{Value, json};

/// A host with `meta-ads` and `data-agent` published and enabled, and
/// `extra` plugins (first-party) too.
pub async fn start_with(extra: &[&str]) -> PlatformHost {
    let mut plugins = vec!["meta-ads"];
    plugins.extend_from_slice(extra);
    let env = PlatformHost::start(&plugins).await;
    let published = env
        .host
        .upload(&env.admin, &data_agent_manifest(), guests::DATA_AGENT)
        .await;
    assert_eq!(published.status, 201, "{}", published.text);
    assert_eq!(env.enable("data-agent", &json!({})).await.status, 200);
    env
}

/// A host with `meta-ads` and `data-agent`.
pub async fn start() -> PlatformHost {
    start_with(&[]).await
}

/// The Meta campaign `index` of the sandbox: its id and daily budget.
pub fn campaign(env: &PlatformHost, index: usize) -> (String, f64) {
    let world = env.sandbox.world();
    let campaign = &world.account(Platform::Meta).campaigns[index];
    (campaign.id.clone(), campaign.daily_budget_cents as f64 / 100.0)
}

/// A budget change of `percent` on campaign `index` with `confidence`,
/// whose claimed impact is the true one.
pub fn budget_change(env: &PlatformHost, index: usize, percent: f64, confidence: f64) -> Value {
    let (id, budget) = campaign(env, index);
    let new_budget = (budget * (1.0 + percent / 100.0) * 100.0).round() / 100.0;
    json!({
        "connector": "meta-ads",
        "action": "set-daily-budget",
        "input": {"campaign_id": id, "daily_budget": new_budget},
        "confidence": confidence,
        "metric": "daily_budget",
        "absolute": new_budget - budget,
        "percent": percent,
        "rationale": format!("test: {percent}% at confidence {confidence}"),
    })
}

/// Run the data agent's `propose` task with `proposals` and `insights`;
/// returns the finished run.
pub async fn propose_run(env: &PlatformHost, proposals: Vec<Value>, insights: Vec<Value>) -> Value {
    let task = json!({"kind": "propose", "input": {"proposals": proposals, "insights": insights}});
    let run = env.run_agent("data-agent", task).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    run
}

/// The proposals stored from `run`, sorted by rationale.
pub async fn proposals_of(env: &PlatformHost, run: &Value) -> Vec<Value> {
    let mut listed = env.get(&format!("/v1/tenants/{TENANT}/proposals")).await.json;
    let listed = listed.as_array_mut().expect("proposals");
    listed.retain(|p| p["run"] == run["id"]);
    listed.sort_by_key(|p| p["rationale"].as_str().unwrap_or_default().to_string());
    listed.clone()
}

/// Propose, and return the proposals stored, sorted by rationale.
pub async fn propose(env: &PlatformHost, proposals: Vec<Value>, insights: Vec<Value>) -> Vec<Value> {
    let run = propose_run(env, proposals, insights).await;
    proposals_of(env, &run).await
}

/// Set the tenant's autonomy level.
pub async fn set_level(env: &PlatformHost, level: &str) {
    let path = format!("/v1/tenants/{TENANT}/autonomy");
    let reply = env
        .host
        .call(
            Method::PUT,
            &path,
            Some(&env.admin),
            Some(&json!({"level": level})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

/// Approve proposal `id` as `token` with `body`.
pub async fn approve(env: &PlatformHost, token: &str, id: &str, body: Value) -> Reply {
    let path = format!("/v1/tenants/{TENANT}/proposals/{id}/approve");
    env.host.call(Method::POST, &path, Some(token), Some(&body)).await
}

/// How many writes the Meta sandbox applied.
pub fn budget_writes(env: &PlatformHost) -> usize {
    env.sandbox.meta.writes().iter().filter(|w| w.applied).count()
}
