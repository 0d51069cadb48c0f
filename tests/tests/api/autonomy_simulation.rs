//! `POST /v1/tenants/{tenant}/autonomy/simulate` over real proposals: the
//! simulation of the current settings matches what intake did, a stricter
//! and a looser candidate differ as the policy says, and only the admin may
//! simulate; a bad candidate is refused and nothing changes.

use omnify_tests::platforms::{PlatformHost, TENANT};
use omnify_tests::proposing::{budget_change, propose, propose_run, set_level, start};
use reqwest::Method;
use serde_json::{Value, json};

fn simulate_path() -> String {
    format!("/v1/tenants/{TENANT}/autonomy/simulate")
}

async fn simulate(env: &PlatformHost, token: &str, candidate: &Value) -> omnify_tests::host::Reply {
    env.host
        .call(Method::POST, &simulate_path(), Some(token), Some(candidate))
        .await
}

/// `(executed, queued for a person, queued for an expert, refused)`.
fn counts(totals: &Value) -> (u64, u64, u64, u64) {
    let n = |field: &str| {
        totals[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field} in {totals}"))
    };
    (
        n("executed"),
        n("queued_for_human"),
        n("queued_for_expert"),
        n("refused"),
    )
}

fn level_totals(simulation: &Value, level: &str) -> (u64, u64, u64, u64) {
    let found = simulation["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .find(|l| l["level"] == level)
        .unwrap_or_else(|| panic!("no level {level} in {simulation}"));
    counts(&found["totals"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulation_replays_what_intake_did_and_what_a_candidate_would_do() {
    let env = start().await;
    set_level(&env, "autonomous").await;
    // Autonomous with the default guardrails (20%, confidence 0.8): the 10%
    // and the 3% run, the 30% and the unsure one wait, and the host refuses
    // a confidence above 1 before the policy sees it.
    let mut beyond = budget_change(&env, 1, 4.0, 0.9);
    beyond["confidence"] = json!(1.5);
    let first = propose(
        &env,
        vec![
            budget_change(&env, 0, 10.0, 0.9),
            budget_change(&env, 1, 3.0, 0.85),
            budget_change(&env, 2, 30.0, 0.95),
            beyond,
        ],
        vec![],
    )
    .await;
    assert_eq!(first.len(), 3, "{first:#?}");
    // A second run: 4% more on the campaign already raised 10% today runs
    // (14% ≤ 20%); an unsure one waits.
    let run = propose_run(
        &env,
        vec![budget_change(&env, 0, 4.0, 0.9), budget_change(&env, 2, 2.0, 0.5)],
        vec![],
    )
    .await;
    assert_eq!(
        run["output"]["refused"].as_array().map_or(0, Vec::len),
        0,
        "{run}"
    );
    let listed = env.get(&format!("/v1/tenants/{TENANT}/proposals")).await.json;
    let listed = listed.as_array().expect("proposals").clone();
    assert_eq!(listed.len(), 5);
    let auto = listed.iter().filter(|p| p["decision"]["kind"] == "auto").count() as u64;
    assert_eq!(auto, 3, "what intake ran: {listed:#?}");

    let autonomy_before = env.get(&format!("/v1/tenants/{TENANT}/autonomy")).await.json;
    let audit_before = env.audit().await.len();

    // The current settings as the candidate: the replay is what intake did.
    let same = simulate(&env, &env.admin, &json!({"level": "autonomous"})).await;
    assert_eq!(same.status, 200, "{}", same.text);
    let sim = same.json;
    assert_eq!(counts(&sim["actual"]), (3, 2, 0, 1), "{sim:#}");
    assert_eq!(counts(&sim["now"]), counts(&sim["actual"]));
    assert_eq!(counts(&sim["candidate_totals"]), counts(&sim["actual"]));
    assert_eq!(level_totals(&sim, "autonomous"), (3, 2, 0, 1));
    assert_eq!(level_totals(&sim, "human-led"), (0, 5, 0, 1));
    assert_eq!(level_totals(&sim, "expert-required"), (0, 0, 5, 1));
    // Guided (5% is low impact): the 10% waits, so the later 5% on the same
    // campaign runs (4% ≤ 5%); the 3% runs.
    assert_eq!(level_totals(&sim, "guided"), (2, 3, 0, 1));
    let rows = sim["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 5);
    for row in rows {
        assert_eq!(row["now"]["outcome"], row["actual"], "{row:#}");
        let stored = listed
            .iter()
            .find(|p| p["id"] == row["id"])
            .expect("a row per proposal");
        assert_eq!(row["action"], stored["action"]);
    }

    // Stricter: guided with the current guardrails.
    let stricter = simulate(&env, &env.admin, &json!({"level": "guided"})).await;
    assert_eq!(stricter.status, 200, "{}", stricter.text);
    assert_eq!(counts(&stricter.json["candidate_totals"]), (2, 3, 0, 1));
    let changed: Vec<&Value> = stricter.json["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["now"]["outcome"] != r["candidate"]["outcome"])
        .collect();
    assert_eq!(changed.len(), 1, "only the 10% raise now waits: {changed:#?}");
    assert_eq!(changed[0]["candidate"]["outcome"], "queued-for-human");
    assert!(
        changed[0]["change_percent"]
            .as_f64()
            .is_some_and(|p| (p - 10.0).abs() < 0.5),
        "{changed:#?}"
    );

    // Looser: autonomous up to 40%: the 30% runs too; the unsure one waits.
    let looser = json!({"level": "autonomous", "guardrails": {"max_change_percent": 40.0}});
    let looser = simulate(&env, &env.admin, &looser).await;
    assert_eq!(looser.status, 200, "{}", looser.text);
    assert_eq!(counts(&looser.json["candidate_totals"]), (4, 1, 0, 1));
    assert_eq!(looser.json["candidate"]["guardrails"]["max_change_percent"], 40.0);

    // Only the admin simulates.
    for role in ["viewer", "operator", "expert"] {
        let (key, _) = env.host.create_key(&env.admin, TENANT, role).await;
        let refused = simulate(&env, &key, &json!({"level": "guided"})).await;
        assert_eq!(refused.status, 403, "{role}: {}", refused.text);
    }

    // Bad candidates are refused.
    let unknown = simulate(&env, &env.admin, &json!({"level": "reckless"})).await;
    assert!((400..500).contains(&unknown.status), "{}", unknown.text);
    let negative = json!({"level": "autonomous", "guardrails": {"max_change_percent": -5.0}});
    let negative = simulate(&env, &env.admin, &negative).await;
    assert_eq!(negative.status, 422, "{}", negative.text);
    assert!(negative.text.contains("percentages"), "{}", negative.text);
    let extra = simulate(&env, &env.admin, &json!({"level": "guided", "learned": null})).await;
    assert!((400..500).contains(&extra.status), "{}", extra.text);

    // Simulating, refused or not, changes nothing: the settings, the
    // proposals and the audit chain are as they were.
    let key_entries = env.audit().await;
    let autonomy_after = env.get(&format!("/v1/tenants/{TENANT}/autonomy")).await.json;
    assert_eq!(autonomy_after, autonomy_before);
    let relisted = env.get(&format!("/v1/tenants/{TENANT}/proposals")).await.json;
    assert_eq!(relisted.as_array().map(Vec::len), Some(5));
    assert!(
        key_entries
            .iter()
            .skip(audit_before)
            .all(|e| e["action"] != "autonomy.set"
                && !e["action"].as_str().unwrap_or_default().starts_with("proposal.")),
        "{:#?}",
        &key_entries[audit_before..]
    );
}
