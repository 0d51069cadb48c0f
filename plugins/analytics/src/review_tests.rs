//! Known-answer tests of the whole review on a synthetic business shaped
//! like the sandbox's: three platforms of three campaigns of four ads, 90
//! days, and optionally the planted facts (a spend spike, a best-ROAS
//! campaign, revenue two days behind spend).

use crate::dataset::{AD_PLATFORMS, Dataset, Platform, parse_charge, parse_order};
use crate::date;
use crate::review::{Options, review};
use crate::testutil::Rng;
use omnify_sdk::agent::{RunOutput, Severity};
use omnify_sdk::{Value, json};

const WEEK: [f64; 7] = [1.0, 0.95, 0.95, 1.0, 1.1, 1.2, 1.15];

fn world(seed: u64, planted: bool, platforms: &[usize]) -> Dataset {
    let mut rng = Rng::new(seed);
    let last = date::parse("2026-06-30").expect("date");
    let first = last - 89;
    let mut data = Dataset::default();
    let mut spend_by_day = vec![0.0; 90];
    // The store's three platforms, as in the sandbox (LinkedIn's B2B
    // account does not drive the store's sales).
    for (p, (connector, label)) in AD_PLATFORMS.iter().enumerate().take(3) {
        let budgets: Vec<f64> = [150.0, 80.0, 50.0]
            .iter()
            .map(|b| b + rng.uniform(0.0, 19.0))
            .collect();
        let mut roas: Vec<f64> = (0..3).map(|_| rng.uniform(1.8, 2.6)).collect();
        if planted && p == 1 {
            roas[1] = 7.5;
        }
        let campaigns: Vec<Value> = (0..3)
            .map(|c| {
                json!({"id": format!("{p}{c}"), "name": format!("{label} {c}"), "status": "active",
                "daily_budget": budgets[c], "currency": "USD"})
            })
            .collect();
        let mut insights = Vec::new();
        for (t, day_spend) in spend_by_day.iter_mut().enumerate() {
            let day = first + t as i64;
            let weekly = WEEK[date::weekday(day)];
            for c in 0..3 {
                let (mut spend, mut value, mut impressions) = (0.0, 0.0, 0.0);
                for _ in 0..4 {
                    let mut s = budgets[c] / 4.0 * weekly * rng.uniform(0.85, 1.0);
                    if planted && p == 0 && c == 0 && t == 70 {
                        s *= 3.2;
                    }
                    spend += s;
                    value += s * roas[c] * rng.uniform(0.9, 1.1);
                    impressions += (s / rng.uniform(9.0, 13.0) * 1000.0).round();
                }
                *day_spend += spend;
                let clicks = (impressions * 0.018).round();
                insights.push(
                    json!({"date": date::format(day), "campaign_id": format!("{p}{c}"),
                    "impressions": impressions, "clicks": clicks, "spend": spend,
                    "conversions": (clicks * 0.04).round(), "conversion_value": value, "currency": "USD"}),
                );
            }
        }
        if platforms.contains(&p) {
            data.add_platform(Platform::new(connector, label), &campaigns, &insights);
        } else {
            data.add_platform(Platform::new(connector, label), &[], &[]);
        }
    }
    let lag = if planted { 2 } else { 0 };
    let (mut orders, mut charges) = (Vec::new(), Vec::new());
    for t in 0..90usize {
        let day = date::format(first + t as i64);
        let revenue = 300.0 + 2.4 * spend_by_day[t.saturating_sub(lag)] * rng.uniform(0.92, 1.08);
        orders.push(
            json!({"id": format!("o{t}"), "created_at": format!("{day}T12:00:00Z"),
            "total_price": revenue * 0.7, "currency": "USD", "financial_status": "paid"}),
        );
        charges.push(
            json!({"id": format!("c{t}"), "created": format!("{day}T13:00:00Z"),
            "amount": revenue * 0.3, "amount_refunded": 0.0, "currency": "USD", "status": "succeeded"}),
        );
    }
    data.add_revenue("shopify/orders", &orders, parse_order);
    data.add_revenue("stripe/charges", &charges, parse_charge);
    data
}

fn of_kind<'a>(out: &'a RunOutput, kind: &str) -> Vec<&'a omnify_sdk::agent::Insight> {
    out.insights.iter().filter(|i| i.kind == kind).collect()
}

#[test]
fn finds_every_planted_fact() {
    for seed in 1..6 {
        let out = review(&world(seed, true, &[0, 1, 2]), &Options::default());
        let anomalies = of_kind(&out, "spend-anomaly");
        assert_eq!(anomalies.len(), 1, "seed {seed}: {anomalies:#?}");
        let a = &anomalies[0];
        assert_eq!(
            (a.data["campaign_id"].as_str(), a.data["date"].as_str()),
            (Some("00"), Some("2026-06-11"))
        );
        assert!(
            a.rationale.contains("Thursday") && a.rationale.contains("robust z"),
            "{}",
            a.rationale
        );

        let ranking = of_kind(&out, "roas-ranking");
        assert_eq!(ranking.len(), 1);
        let outliers = ranking[0].data["outliers"].as_array().expect("outliers");
        assert_eq!(outliers.len(), 1, "seed {seed}: {outliers:?}");
        assert_eq!(outliers[0]["campaign_id"], "11");
        assert_eq!(ranking[0].severity, Severity::Notice);

        let lag = of_kind(&out, "revenue-lag");
        assert_eq!(lag.len(), 1, "seed {seed}");
        assert_eq!(lag[0].data["best_lag"], 2);

        assert_eq!(out.proposals.len(), 2, "seed {seed}: {:#?}", out.proposals);
        let net: f64 = out.proposals.iter().map(|p| p.expected_impact.absolute).sum();
        assert!(net.abs() < 1e-9);
        for p in &out.proposals {
            assert_eq!(
                (p.connector.as_str(), p.action.as_str()),
                ("google-ads", "set-daily-budget")
            );
            assert!(p.expected_impact.percent.abs() <= 20.0 + 1e-9);
            assert!(p.confidence > 0.8 && p.confidence <= 1.0);
            assert!(p.rationale.contains("Welch t"), "{}", p.rationale);
        }
        let raise = out
            .proposals
            .iter()
            .find(|p| p.expected_impact.absolute > 0.0)
            .expect("raise");
        assert_eq!(raise.input["campaign_id"], "11");
        assert_eq!(of_kind(&out, "blended-metrics").len(), 1);
        assert_eq!(of_kind(&out, "forecast").len(), 1);
        assert!(of_kind(&out, "data-coverage").is_empty());
    }
}

#[test]
fn finds_nothing_in_the_control_world() {
    for seed in 1..6 {
        let out = review(&world(seed, false, &[0, 1, 2]), &Options::default());
        assert!(
            of_kind(&out, "spend-anomaly").is_empty(),
            "seed {seed}: {:#?}",
            of_kind(&out, "spend-anomaly")
        );
        assert!(of_kind(&out, "revenue-lag").is_empty(), "seed {seed}");
        let ranking = of_kind(&out, "roas-ranking");
        assert_eq!(ranking[0].data["outliers"], json!([]));
        assert_eq!(ranking[0].severity, Severity::Info);
        assert!(out.proposals.is_empty(), "seed {seed}: {:#?}", out.proposals);
    }
}

#[test]
fn forecasts_cover_a_held_back_week() {
    let (mut inside, mut total) = (0, 0);
    for seed in 1..6 {
        for planted in [true, false] {
            let input = json!({"holdout_days": 7});
            let out = review(
                &world(seed, planted, &[0, 1, 2]),
                &Options::from_input(&input).expect("options"),
            );
            let forecast = of_kind(&out, "forecast")[0];
            for series in ["spend", "revenue"] {
                let held = forecast.data[series]["holdout"]["days"]
                    .as_array()
                    .expect("holdout");
                assert_eq!(held.len(), 7);
                assert_eq!(held[0]["date"], "2026-06-24");
                inside += held.iter().filter(|d| d["inside"] == json!(true)).count();
                total += held.len();
                assert_eq!(forecast.data[series]["days"].as_array().map(Vec::len), Some(30));
            }
        }
    }
    let coverage = inside as f64 / total as f64;
    assert!(coverage >= 0.8, "coverage {coverage}");
}

#[test]
fn blended_metrics_add_up() {
    let out = review(&world(2, false, &[0, 1, 2]), &Options::default());
    let blended = of_kind(&out, "blended-metrics")[0];
    let week = &blended.data["windows"]["7"];
    let platforms: f64 = week["platforms"]
        .as_object()
        .expect("platforms")
        .values()
        .map(|p| p["spend"].as_f64().unwrap_or(0.0))
        .sum();
    assert!((platforms - week["blended"]["spend"].as_f64().expect("spend")).abs() < 0.05);
    let mer = week["mer"].as_f64().expect("mer");
    assert!(mer > 2.0 && mer < 3.5, "{mer}");
    assert_eq!(blended.data["daily"]["rows"].as_array().map(Vec::len), Some(28));
    assert_eq!(
        blended.data["campaign_daily"]["rows"].as_array().map(Vec::len),
        Some(28 * 9)
    );
    assert!(blended.rationale.contains("MER"), "{}", blended.rationale);
}

#[test]
fn missing_platforms_and_revenue_degrade_gracefully() {
    let mut data = world(3, true, &[1]);
    data.revenue.clear();
    data.revenue_sources.clear();
    let out = review(&data, &Options::default());
    let coverage = of_kind(&out, "data-coverage");
    assert_eq!(coverage.len(), 1);
    assert_eq!(coverage[0].severity, Severity::Info);
    assert!(coverage[0].rationale.contains("Meta") && coverage[0].rationale.contains("TikTok"));
    assert!(coverage[0].rationale.contains("store revenue") || coverage[0].rationale.contains("No store"));
    assert!(of_kind(&out, "revenue-lag").is_empty());
    assert_eq!(out.proposals.len(), 2);

    let empty = review(&Dataset::default(), &Options::default());
    assert_eq!(empty.insights.len(), 1);
    assert_eq!(empty.insights[0].kind, "data-coverage");
    assert!(empty.proposals.is_empty());
}

#[test]
fn guardrails_from_the_host_shape_the_moves() {
    let input = json!({"guardrails": {"max_change_percent": 5.0, "low_impact_percent": 5.0,
        "max_change_absolute": null, "proposal_ttl_hours": 72}});
    let out = review(
        &world(4, true, &[0, 1, 2]),
        &Options::from_input(&input).expect("options"),
    );
    for p in &out.proposals {
        assert!(
            p.expected_impact.percent.abs() <= 5.0 + 1e-9,
            "{:?}",
            p.expected_impact
        );
    }
    let input = json!({"guardrails": {"max_budget_change_percent": 10.0, "max_change_absolute": 3.0}});
    let out = review(
        &world(4, true, &[0, 1, 2]),
        &Options::from_input(&input).expect("options"),
    );
    assert!(
        out.proposals
            .iter()
            .all(|p| p.expected_impact.absolute.abs() <= 3.0 + 1e-9)
    );
    assert!(Options::from_input(&json!({"holdout_days": -1})).is_err());
    assert!(Options::from_input(&json!({"horizon_days": [0]})).is_err());
    assert_eq!(
        Options::from_input(&json!({"horizon_days": [30, 7, 7]})).map(|o| o.horizons),
        Ok(vec![7, 30])
    );
}
