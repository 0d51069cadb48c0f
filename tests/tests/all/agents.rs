//! The first-party agents on data the connectors synced from the sandboxes,
//! through the real host: each finds the fact planted in the seeded world
//! and none in the control world, and its proposals wait or run as the
//! tenant's autonomy says. The planted facts sit where each world's seed
//! puts them, so the known-answer tests run over several seeds.

use omnify_sandbox::SandboxConfig;
use omnify_sandbox::world::Scenario;
use omnify_tests::platforms::{CONNECTORS, PlatformHost, TENANT};
use reqwest::Method;
use serde_json::{Value, json};

const AGENTS: [&str; 3] = ["analytics", "creative", "client-learning"];

/// The seeds of the known-answer tests: 42 (every other test's seed) and two
/// whose facts sit on other platforms, objects, days and lags. A
/// comma-separated `OMNIFY_AGENT_SEEDS` replaces them.
const SEEDS: [u64; 3] = [42, 7, 13];

fn seeds() -> Vec<u64> {
    match std::env::var("OMNIFY_AGENT_SEEDS") {
        Ok(list) => list
            .split(',')
            .map(|s| s.trim().parse().expect("OMNIFY_AGENT_SEEDS: seeds"))
            .collect(),
        Err(_) => SEEDS.to_vec(),
    }
}

/// A host with every connector synced from a world of `scenario` and every
/// agent enabled.
async fn synced(scenario: Scenario) -> PlatformHost {
    synced_seeded(scenario, SandboxConfig::default().seed).await
}

/// As [`synced`], from the world of `seed`.
async fn synced_seeded(scenario: Scenario, seed: u64) -> PlatformHost {
    let plugins: Vec<&str> = CONNECTORS.iter().chain(AGENTS.iter()).copied().collect();
    let env = PlatformHost::start_seeded(&plugins, scenario, seed).await;
    env.sync_all().await;
    env
}

fn insights<'a>(run: &'a Value, kind: &str) -> Vec<&'a Value> {
    run["output"]["insights"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["kind"] == kind)
        .collect()
}

fn proposals<'a>(run: &'a Value, action: &str) -> Vec<&'a Value> {
    run["output"]["proposals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["action"] == action)
        .collect()
}

async fn run(env: &PlatformHost, agent: &str, kind: &str, input: Value) -> Value {
    let run = env.run_agent(agent, json!({"kind": kind, "input": input})).await;
    assert_eq!(run["status"], "succeeded", "{agent}: {run}");
    // A first-party agent proposes only what it is granted, in the shape
    // each action takes: the host refuses none of it.
    assert!(
        run["output"]["refused"].is_null(),
        "{agent}: {:#}",
        run["output"]["refused"]
    );
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creative_finds_the_fatigued_ad_and_proposes_pausing_it() {
    for seed in seeds() {
        creative_finds_the_fatigued_ad(seed).await;
    }
}

async fn creative_finds_the_fatigued_ad(seed: u64) {
    let env = synced_seeded(Scenario::Planted, seed).await;
    let (platform, planted) = env
        .sandbox
        .world()
        .facts
        .fatigued_ad
        .clone()
        .expect("a fatigued ad");

    let review = run(&env, "creative", "creative-review", json!({})).await;
    let fatigue = insights(&review, "creative-fatigue");
    assert_eq!(fatigue.len(), 1, "seed {seed}: {:#}", review["output"]);
    assert_eq!(fatigue[0]["data"]["ad_id"], planted.as_str(), "seed {seed}");
    assert!(fatigue[0]["data"]["ctr_change_percent"].as_f64().expect("change") < -25.0);
    let rationale = fatigue[0]["rationale"].as_str().expect("rationale");
    assert!(
        rationale.contains('%'),
        "the rationale carries the numbers: {rationale}"
    );
    let pauses = proposals(&review, "pause-ad");
    assert_eq!(pauses.len(), 1, "{:#}", review["output"]["proposals"]);
    assert_eq!(pauses[0]["input"]["ad_id"], planted.as_str());

    // The tenant is human-led by default: the pause waits for a person.
    let pending = env
        .get(&format!("/v1/tenants/{TENANT}/proposals?status=pending"))
        .await;
    let queued: Vec<&Value> = pending
        .json
        .as_array()
        .expect("proposals")
        .iter()
        .filter(|p| p["action"] == "pause-ad")
        .collect();
    assert_eq!(queued.len(), 1, "{}", pending.text);
    assert_eq!(queued[0]["agent"], "creative");
    assert_eq!(queued[0]["connector"], platform.connector());
    // Judged by what the platform says of the ad, not by the agent's estimate.
    assert_eq!(queued[0]["preview"]["target_id"], planted.as_str());
    assert_eq!(queued[0]["preview"]["metric"], "active");
    assert_eq!(queued[0]["verified"]["percent"], -100.0);
    let approve = format!(
        "/v1/tenants/{TENANT}/proposals/{}/approve",
        queued[0]["id"].as_str().expect("id")
    );
    let approved = env
        .host
        .call(Method::POST, &approve, Some(&env.admin), Some(&json!({})))
        .await;
    assert_eq!(approved.json["status"], "executed", "{}", approved.text);
    let world = env.sandbox.world();
    let ad = world.account(platform).ad(&planted).expect("the ad");
    assert_eq!(ad.status, omnify_sandbox::world::Status::Paused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creative_finds_nothing_to_pause_in_the_control_world() {
    let env = synced(Scenario::Control).await;
    let review = run(&env, "creative", "creative-review", json!({})).await;
    assert!(
        insights(&review, "creative-fatigue").is_empty(),
        "{:#}",
        review["output"]
    );
    assert!(
        proposals(&review, "pause-ad").is_empty(),
        "{:#}",
        review["output"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_learning_turns_decisions_into_the_thresholds_the_host_uses() {
    let env = synced(Scenario::Planted).await;
    let before = run(&env, "client-learning", "learn-preferences", json!({})).await;
    assert_eq!(insights(&before, "confidence-thresholds").len(), 1);
    let autonomy_path = format!("/v1/tenants/{TENANT}/autonomy");
    let learned = env.get(&autonomy_path).await.json["learned"].clone();
    assert_eq!(learned["default"], 0.8, "{learned}");

    // The creative agent proposes; a person rejects; the learned threshold
    // for that kind of proposal rises above the default.
    let review = run(&env, "creative", "creative-review", json!({})).await;
    assert!(!proposals(&review, "pause-ad").is_empty());
    let pending = env
        .get(&format!("/v1/tenants/{TENANT}/proposals?status=pending"))
        .await;
    for proposal in pending.json.as_array().expect("proposals") {
        let path = format!(
            "/v1/tenants/{TENANT}/proposals/{}/reject",
            proposal["id"].as_str().expect("id")
        );
        let body = json!({"reason": "we refresh creatives ourselves"});
        let rejected = env
            .host
            .call(Method::POST, &path, Some(&env.admin), Some(&body))
            .await;
        assert_eq!(rejected.status, 200, "{}", rejected.text);
    }
    let after = run(&env, "client-learning", "learn-preferences", json!({})).await;
    let thresholds = &insights(&after, "confidence-thresholds")[0]["data"]["thresholds"];
    let learned = env.get(&autonomy_path).await.json["learned"].clone();
    let pause = learned["thresholds"]["pause-ad"]
        .as_f64()
        .expect("a threshold for pause-ad");
    assert!(pause > 0.8, "{learned}");
    assert_eq!(learned["thresholds"], *thresholds);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_finds_the_anomaly_the_best_campaign_and_the_revenue_lag() {
    for seed in seeds() {
        analytics_finds_the_planted_facts(seed).await;
    }
}

async fn analytics_finds_the_planted_facts(seed: u64) {
    let env = synced_seeded(Scenario::Planted, seed).await;
    let facts = env.sandbox.world().facts.clone();
    let (_, anomaly_campaign, anomaly_day) = facts.spend_anomaly.expect("a planted anomaly");
    let (platform, best) = facts.best_roas_campaign.expect("a planted best campaign");

    let review = run(&env, "analytics", "daily-review", json!({})).await;
    let anomalies = insights(&review, "spend-anomaly");
    assert_eq!(anomalies.len(), 1, "seed {seed}: {anomalies:#?}");
    assert_eq!(
        anomalies[0]["data"]["campaign_id"],
        anomaly_campaign.as_str(),
        "seed {seed}"
    );
    assert_eq!(
        anomalies[0]["data"]["date"],
        anomaly_day.to_string(),
        "seed {seed}"
    );

    let ranking = insights(&review, "roas-ranking");
    let outliers = ranking[0]["data"]["outliers"].as_array().expect("outliers");
    assert_eq!(outliers.len(), 1, "seed {seed}: {outliers:#?}");
    assert_eq!(outliers[0]["campaign_id"], best.as_str(), "seed {seed}");

    let lag = insights(&review, "revenue-lag");
    assert_eq!(lag.len(), 1, "seed {seed}: {:#}", review["output"]);
    assert_eq!(
        lag[0]["data"]["best_lag"],
        facts.revenue_lag_days.expect("a planted lag"),
        "seed {seed}"
    );

    // Budget moves toward the best campaign, within the 20% guardrail, and
    // keeping the platform's total.
    let moves = proposals(&review, "set-daily-budget");
    assert!(!moves.is_empty(), "{:#}", review["output"]["proposals"]);
    assert!(moves.iter().all(|p| p["connector"] == platform.connector()));
    let raised = moves
        .iter()
        .find(|p| p["input"]["campaign_id"] == best.as_str())
        .expect("a raise");
    assert!(raised["impact_absolute"].as_f64().expect("absolute") > 0.0);
    let total: f64 = moves
        .iter()
        .map(|p| p["impact_absolute"].as_f64().expect("absolute"))
        .sum();
    assert!(total.abs() < 0.01, "moves keep the total: {total}");
    for proposal in &moves {
        assert!(proposal["impact_percent"].as_f64().expect("percent").abs() <= 20.0 + 1e-9);
        assert!(
            proposal["rationale"]
                .as_str()
                .expect("rationale")
                .contains("ROAS")
        );
    }
    // Stored, the moves carry the platform's own figures, which agree with the
    // agent's, and are linked into one move.
    let stored = env.get(&format!("/v1/tenants/{TENANT}/proposals")).await.json;
    let stored: Vec<&Value> = stored
        .as_array()
        .expect("proposals")
        .iter()
        .filter(|p| p["run"] == review["id"] && p["action"] == "set-daily-budget")
        .collect();
    assert_eq!(stored.len(), moves.len());
    let verified: f64 = stored
        .iter()
        .map(|p| p["verified"]["money"].as_f64().expect("verified by a preview"))
        .sum();
    assert!(
        verified.abs() < 0.01,
        "the verified moves keep the total: {verified}"
    );
    for proposal in &stored {
        let claimed = proposal["expected_impact"]["percent"].as_f64().expect("claim");
        let checked = proposal["verified"]["percent"].as_f64().expect("verified");
        assert!((claimed - checked).abs() < 0.5, "{proposal:#}");
        assert_eq!(
            proposal["linked"].as_array().map(Vec::len),
            Some(stored.len() - 1)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_finds_nothing_in_the_control_world() {
    let env = synced(Scenario::Control).await;
    let review = run(&env, "analytics", "daily-review", json!({})).await;
    assert!(
        insights(&review, "spend-anomaly").is_empty(),
        "{:#}",
        review["output"]
    );
    assert!(
        insights(&review, "revenue-lag").is_empty(),
        "{:#}",
        review["output"]
    );
    let ranking = insights(&review, "roas-ranking");
    assert_eq!(ranking[0]["data"]["outliers"], json!([]));
    assert!(proposals(&review, "set-daily-budget").is_empty());
    assert!(!insights(&review, "blended-metrics").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forecast_of_a_held_back_week_mostly_falls_inside_its_interval() {
    let env = synced(Scenario::Planted).await;
    let review = run(&env, "analytics", "daily-review", json!({"holdout_days": 7})).await;
    let forecast = insights(&review, "forecast");
    for series in ["spend", "revenue"] {
        let holdout = &forecast[0]["data"][series]["holdout"];
        let days = holdout["days"].as_array().expect("held-back days");
        assert_eq!(days.len(), 7, "{holdout:#}");
        // The held-back days are what the platforms served, not the agent's
        // own reading of them.
        if series == "spend" {
            let world = env.sandbox.world();
            for day in days {
                let date = day["date"].as_str().expect("date").parse().expect("a date");
                let served = world.ad_spend_on(date) as f64 / 100.0;
                let actual = day["actual"].as_f64().expect("actual");
                assert!(
                    (actual - served).abs() <= 0.01 * served.max(1.0),
                    "{date}: {actual} vs {served}"
                );
            }
        }
        let inside = days.iter().filter(|d| d["inside"] == true).count();
        // A 90% interval: most of a week's days fall inside it.
        assert!(inside >= 4, "{series}: {inside} of 7 inside: {holdout:#}");
        let actual: f64 = days.iter().map(|d| d["actual"].as_f64().expect("actual")).sum();
        let point: f64 = days.iter().map(|d| d["point"].as_f64().expect("point")).sum();
        assert!(
            (point - actual).abs() / actual < 0.25,
            "{series}: forecast {point} vs actual {actual}"
        );
    }
}
