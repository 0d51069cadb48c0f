//! Native tests of the whole review on small synthetic platforms.

use super::*;

/// One platform with one campaign ($100/day) and one ad group of two
/// ads over 28 days: `a` at `ctr_a`, `b` at 1.6%.
fn platform(ctr_a: f64) -> Streams {
    let mut insights = Vec::new();
    for day in 0..28 {
        for (ad, ctr) in [("a", ctr_a), ("b", 0.016)] {
            let wobble = if day % 2 == 0 { 1.02 } else { 0.98 };
            insights.push(json!({"date": records::format_date(20_600 + day), "ad_id": ad,
                "ad_group_id": "g", "campaign_id": "c", "impressions": 4000,
                "clicks": (4000.0 * ctr * wobble).round(), "spend": 50.0, "conversions": 2.0,
                "frequency": 1.2, "currency": "USD"}));
        }
    }
    Streams {
        connector: "meta-ads".into(),
        ads: Some(vec![
            json!({"id": "a", "ad_group_id": "g", "campaign_id": "c", "name": "Bold", "status": "active"}),
            json!({"id": "b", "ad_group_id": "g", "campaign_id": "c", "name": "Plain", "status": "active"}),
        ]),
        ad_groups: Some(vec![json!({"id": "g", "name": "Lookalike"})]),
        campaigns: Some(vec![json!({"id": "c", "name": "Prospecting", "status": "active",
            "daily_budget": 100.0, "currency": "USD"})]),
        ad_insights: Some(insights),
    }
}

fn run(input: Value, streams: Streams) -> RunOutput {
    analyze(&Params::from_input(&input).expect("params"), &[streams])
}

#[test]
fn a_clear_winner_scales_its_campaign_within_the_guardrail_and_the_loser_is_paused() {
    let output = run(
        json!({"guardrails": {"max_change_percent": 20.0}}),
        platform(0.024),
    );
    let budget = output
        .proposals
        .iter()
        .find(|p| p.action == "set-daily-budget")
        .expect("budget proposal");
    // Lift +50%: half of it is 25%, capped at the 20% guardrail.
    assert_eq!(budget.input, json!({"campaign_id": "c", "daily_budget": 120.0}));
    assert_eq!(budget.expected_impact.metric, "daily_budget");
    assert!((budget.expected_impact.percent - 20.0).abs() < 1e-9);
    assert!((budget.expected_impact.absolute - 20.0).abs() < 1e-9);
    assert!(budget.confidence > 0.8 && budget.confidence < 1.0);
    assert!(
        budget.rationale.contains("$100.00 to $120.00"),
        "{}",
        budget.rationale
    );
    let pause = output
        .proposals
        .iter()
        .find(|p| p.action == "pause-ad")
        .expect("pause");
    assert_eq!(pause.input, json!({"ad_id": "b"}));
    assert_eq!(pause.expected_impact.absolute, -50.0);
    assert!(!pause.rationale.contains("only active ad"), "{}", pause.rationale);
    let ranking = output
        .insights
        .iter()
        .find(|i| i.kind == "ad-ranking")
        .expect("ranking");
    assert_eq!(ranking.data["ads"][0]["verdict"], "winner");
    assert_eq!(ranking.data["ads"][1]["verdict"], "loser");
    assert!(output.insights.iter().all(|i| i.kind != "creative-fatigue"));
}

#[test]
fn the_budget_step_follows_tighter_guardrails() {
    let output = run(
        json!({"guardrails": {"max_budget_change_percent": 5.0}}),
        platform(0.024),
    );
    let budget = output
        .proposals
        .iter()
        .find(|p| p.action == "set-daily-budget")
        .expect("budget");
    assert_eq!(budget.input["daily_budget"], 105.0);
    let output = run(
        json!({"guardrails": {"max_change_percent": 20.0, "max_change_absolute": 7.5}}),
        platform(0.024),
    );
    let budget = output
        .proposals
        .iter()
        .find(|p| p.action == "set-daily-budget")
        .expect("budget");
    assert_eq!(budget.input["daily_budget"], 107.5);
    let output = run(
        json!({"guardrails": {"max_change_percent": 0.0}}),
        platform(0.024),
    );
    assert!(output.proposals.iter().all(|p| p.action != "set-daily-budget"));
}

#[test]
fn equal_ads_give_no_proposals() {
    let output = run(json!({}), platform(0.016));
    assert!(output.proposals.is_empty(), "{:#?}", output.proposals);
    let summary = output.insights.last().expect("summary");
    assert_eq!(summary.kind, "creative-review");
    assert_eq!(summary.data["ads"], 2);
}

#[test]
fn params_have_defaults_and_reject_nonsense() {
    let params = Params::from_input(&json!({})).expect("defaults");
    assert_eq!((params.window_days, params.min_impressions), (14, 1000.0));
    assert_eq!(
        (params.max_budget_change_percent, params.max_change_absolute),
        (20.0, None)
    );
    assert!(Params::from_input(&json!({"window_days": 2})).is_err());
    assert!(Params::from_input(&json!({"window_days": "14"})).is_err());
    assert!(Params::from_input(&json!({"min_impressions": -1})).is_err());
    let capped = Params::from_input(&json!({"guardrails": {"max_change_percent": 500}})).expect("capped");
    assert_eq!(capped.max_budget_change_percent, 100.0);
}

#[test]
fn describe_names_the_task() {
    let info = Creative::describe();
    assert_eq!(info.name, "creative");
    assert_eq!(info.tasks[0].kind, TASK);
}
