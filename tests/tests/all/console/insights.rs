//! The insights page against a host whose connectors synced the sandbox's
//! planted world and whose analytics and creative agents ran on it: a
//! viewer sees the agents' stored insights, each platform's charts hold
//! exactly the synced daily figures, the forecast's band and the flagged
//! anomaly are drawn, each fatigued ad has its CTR series; a tenant
//! without data sees empty states, and never another tenant's insights.

use super::browser::{Browser, key};
use omnify_tests::platforms::{CONNECTORS, PlatformHost, TENANT};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Days of history the page draws per platform.
const SHOWN_DAYS: i64 = 42;

/// The insights page of `tenant`.
fn insights_path(tenant: &str) -> String {
    format!("/console/tenants/{tenant}/insights")
}

/// Page text with its entities decoded: the named ones the chart writes
/// and the numeric ones askama writes.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let entity = rest.find(';').filter(|end| *end <= 10).map(|end| &rest[1..end]);
        let decoded = match entity {
            Some("amp") => Some('&'),
            Some("lt") => Some('<'),
            Some("gt") => Some('>'),
            Some("quot") => Some('"'),
            Some(numeric) => numeric
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| numeric.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
            None => None,
        };
        match (decoded, entity) {
            (Some(c), Some(entity)) => {
                out.push(c);
                rest = &rest[entity.len() + 2..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `<svg>` of the chart `id` on `page`.
fn chart<'a>(page: &'a str, id: &str) -> &'a str {
    let marker = format!("data-chart=\"{id}\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no chart `{id}` on the page"));
    let end = page[start..].find("</svg>").expect("the chart ends") + start;
    &page[start..end]
}

/// The value of attribute `name` of the tag that starts `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')? + start;
    Some(&tag[start..end])
}

/// A drawn point: its day, value and interval.
#[derive(Debug, Clone, PartialEq)]
struct Drawn {
    day: String,
    value: f64,
    interval: Option<(f64, f64)>,
}

fn number(text: Option<&str>) -> f64 {
    text.and_then(|t| t.parse().ok()).expect("a number")
}

/// The points of series `key` in `svg`.
fn points(svg: &str, key: &str) -> Vec<Drawn> {
    let marker = format!("data-series=\"{key}\"><polyline");
    let Some(start) = svg.find(&marker) else {
        return Vec::new();
    };
    let end = svg[start..].find("</g>").expect("the series ends") + start;
    svg[start..end]
        .split("<circle class=\"point\"")
        .skip(1)
        .map(|tag| Drawn {
            day: attr(tag, "data-day").expect("a day").to_string(),
            value: number(attr(tag, "data-value")),
            interval: attr(tag, "data-lower").map(|l| (number(Some(l)), number(attr(tag, "data-upper")))),
        })
        .collect()
}

/// The days of the markers on series `key` in `svg`.
fn markers(svg: &str, key: &str) -> Vec<String> {
    svg.split("<g class=\"marker\"")
        .skip(1)
        .filter(|tag| attr(tag, "data-series") == Some(key))
        .map(|tag| attr(tag, "data-day").expect("a day").to_string())
        .collect()
}

fn insights<'a>(run: &'a Value, kind: &str) -> Vec<&'a Value> {
    run["output"]["insights"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| kind.is_empty() || i["kind"] == kind)
        .collect()
}

/// A number field of a record, also as a numeric string.
fn figure(record: &Value, field: &str) -> f64 {
    match &record[field] {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// `field` of `records` summed per day (`date`).
fn per_day(records: &[Value], field: &str) -> BTreeMap<String, f64> {
    let mut days = BTreeMap::new();
    for record in records {
        if let Some(day) = record["date"].as_str().and_then(|d| d.get(..10)) {
            *days.entry(day.to_string()).or_default() += figure(record, field);
        }
    }
    days
}

fn assert_same(drawn: &[Drawn], expected: &BTreeMap<String, f64>, what: &str) {
    let got: Vec<(&str, f64)> = drawn.iter().map(|d| (d.day.as_str(), d.value)).collect();
    assert_eq!(got.len(), expected.len(), "{what}: {got:?} vs {expected:?}");
    for ((day, value), (want_day, want)) in got.iter().zip(expected) {
        assert_eq!(day, want_day, "{what}");
        assert!((value - want).abs() < 1e-6, "{what} on {day}: {value} vs {want}");
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (the civil calendar).
fn day_number(date: &str) -> i64 {
    let part = |range: std::ops::Range<usize>| -> i64 { date[range].parse().expect("a date") };
    let (y, m, d) = (part(0..4), part(5..7), part(8..10));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The last `SHOWN_DAYS` days up to `last` of `days`.
fn window(days: &BTreeMap<String, f64>, last: &str) -> BTreeMap<String, f64> {
    let last = day_number(last);
    days.iter()
        .filter(|(d, _)| (0..SHOWN_DAYS).contains(&(last - day_number(d))))
        .map(|(d, v)| (d.clone(), *v))
        .collect()
}

#[test]
fn entities_decode() {
    assert_eq!(
        unescape("p &#60; 1 &amp; &#x27;a&#39; &quot;b&quot; &x"),
        "p < 1 & 'a' \"b\" &x"
    );
}

#[test]
fn day_numbers_follow_the_calendar() {
    assert_eq!(day_number("1970-01-01"), 0);
    assert_eq!(day_number("2026-03-01") - day_number("2026-02-28"), 1);
    assert_eq!(day_number("2024-03-01") - day_number("2024-02-28"), 2);
    assert_eq!(day_number("2026-06-30") - day_number("2026-05-20"), 41);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_the_agents_insights_over_the_synced_series() {
    let plugins: Vec<&str> = CONNECTORS
        .iter()
        .chain(["analytics", "creative"].iter())
        .copied()
        .collect();
    let env = PlatformHost::start(&plugins).await;
    env.sync_all().await;
    let mut runs = Vec::new();
    for (agent, task) in [("analytics", "daily-review"), ("creative", "creative-review")] {
        let run = env.run_agent(agent, json!({"kind": task, "input": {}})).await;
        assert_eq!(run["status"], "succeeded", "{agent}: {run}");
        runs.push(run);
    }
    let (analytics, creative) = (&runs[0], &runs[1]);

    let (viewer, _) = key(&env, "viewer").await;
    let mut browser = Browser::new(&env.host.url);
    assert_eq!(browser.sign_in(&viewer).await.status, 303);
    let page = browser.get(&insights_path(TENANT)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let text = unescape(&page.text);
    assert!(text.contains("aria-current=\"page\">Insights</a>"));

    // Every insight of both runs, as stored.
    for insight in insights(analytics, "").into_iter().chain(insights(creative, "")) {
        let title = insight["title"].as_str().expect("a title");
        let rationale = insight["rationale"].as_str().expect("a rationale");
        assert!(text.contains(title), "missing insight title {title}");
        assert!(text.contains(rationale), "missing rationale of {title}");
    }
    for run in &runs {
        assert!(text.contains(run["id"].as_str().expect("a run id")));
    }

    // Per platform: spend and revenue equal the synced records summed per
    // day, over the same days ending on the last day any platform delivered.
    let mut spend = BTreeMap::new();
    let mut value = BTreeMap::new();
    for connector in ["meta-ads", "google-ads", "tiktok-ads"] {
        let records = env.records(connector, "campaign_insights").await;
        assert!(!records.is_empty(), "{connector} synced its campaign days");
        spend.insert(connector, per_day(&records, "spend"));
        value.insert(connector, per_day(&records, "conversion_value"));
    }
    let last = spend
        .values()
        .filter_map(|d| d.keys().next_back())
        .max()
        .expect("a last day")
        .clone();
    let mut total: BTreeMap<String, f64> = BTreeMap::new();
    for (connector, days) in &spend {
        let svg = chart(&page.text, &format!("{connector}-spend"));
        let shown = window(days, &last);
        assert_same(&points(svg, "spend"), &shown, &format!("{connector} spend"));
        let revenue = window(&value[connector], &last);
        assert_same(&points(svg, "revenue"), &revenue, &format!("{connector} revenue"));
        let roas: BTreeMap<String, f64> = shown
            .iter()
            .filter(|(_, s)| **s > 0.0)
            .map(|(d, s)| (d.clone(), revenue[d] / s))
            .collect();
        let roas_svg = chart(&page.text, &format!("{connector}-roas"));
        assert_same(&points(roas_svg, "roas"), &roas, &format!("{connector} ROAS"));
        for (day, s) in shown {
            *total.entry(day).or_default() += s;
        }
    }

    // The anomaly the analytics agent flagged is marked on its platform's
    // spend, on its day, and nowhere else.
    let anomalies = insights(analytics, "spend-anomaly");
    assert!(!anomalies.is_empty(), "the planted world has an anomaly");
    for connector in ["meta-ads", "google-ads", "tiktok-ads"] {
        let mut flagged: Vec<String> = anomalies
            .iter()
            .filter(|a| a["data"]["connector"] == connector)
            .map(|a| a["data"]["date"].as_str().expect("a date").to_string())
            .collect();
        flagged.sort();
        let mut marked = markers(chart(&page.text, &format!("{connector}-spend")), "spend");
        marked.sort();
        assert_eq!(marked, flagged, "{connector}");
    }
    let facts = env.sandbox.world().facts.clone();
    let (_, _, planted_day) = facts.spend_anomaly.expect("a planted anomaly");
    assert!(page.text.contains(&format!(
        "<g class=\"marker\" data-series=\"spend\" data-day=\"{planted_day}\""
    )));

    // The forecast of total spend: the platforms' sum, then the forecast's
    // points with their interval, drawn as a band.
    let forecast = insights(analytics, "forecast");
    let forecast = forecast.first().expect("a forecast insight");
    let total_svg = chart(&page.text, "total-spend");
    assert_same(&points(total_svg, "spend"), &total, "total spend");
    let ahead: Vec<Drawn> = forecast["data"]["spend"]["days"]
        .as_array()
        .expect("forecast days")
        .iter()
        .map(|d| Drawn {
            day: d["date"].as_str().expect("a date").to_string(),
            value: d["point"].as_f64().expect("a point"),
            interval: Some((
                d["lower"].as_f64().expect("lower"),
                d["upper"].as_f64().expect("upper"),
            )),
        })
        .collect();
    assert!(!ahead.is_empty());
    assert_eq!(points(total_svg, "forecast"), ahead);
    assert!(total_svg.contains("<path class=\"band forecast\""));
    if !forecast["data"]["revenue"].is_null() {
        let revenue_svg = chart(&page.text, "store-revenue");
        assert!(revenue_svg.contains("<path class=\"band forecast\""));
        assert!(!points(revenue_svg, "revenue").is_empty());
    }

    // Each fatigued ad with its daily CTR from the synced ad records.
    let fatigued = insights(creative, "creative-fatigue");
    assert!(!fatigued.is_empty(), "the planted world has a fatigued ad");
    for insight in fatigued {
        let connector = insight["data"]["connector"].as_str().expect("a connector");
        let ad = &insight["data"]["ad_id"];
        let ad_text = ad.as_str().map_or_else(|| ad.to_string(), str::to_string);
        let records: Vec<Value> = env
            .records(connector, "ad_insights")
            .await
            .into_iter()
            .filter(|r| &r["ad_id"] == ad)
            .collect();
        let (clicks, impressions) = (per_day(&records, "clicks"), per_day(&records, "impressions"));
        let ctr: BTreeMap<String, f64> = impressions
            .iter()
            .filter(|(_, i)| **i > 0.0)
            .map(|(d, i)| (d.clone(), clicks[d] / i))
            .collect();
        let svg = chart(&page.text, &format!("fatigue-{connector}-{ad_text}"));
        assert_same(&points(svg, "ctr"), &ctr, &format!("CTR of {ad_text}"));
        let recent_from = insight["data"]["recent"]["from"].as_str().expect("recent");
        assert!(svg.contains(&format!("<rect class=\"span\" data-from=\"{recent_from}\"")));
    }

    // Another tenant: empty states for its own page, a refusal for this
    // one's, with none of its insights.
    assert_eq!(env.host.create_tenant(&env.admin, "rival").await.status, 201);
    let (rival_key, _) = env.host.create_key(&env.admin, "rival", "viewer").await;
    let mut rival = Browser::new(&env.host.url);
    assert_eq!(rival.sign_in(&rival_key).await.status, 303);
    let own = rival.get(&insights_path("rival")).await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert!(
        own.text
            .contains("No agent has finished a run for this tenant yet")
    );
    assert!(own.text.contains("No daily campaign figures are synced yet"));
    assert!(!own.text.contains("<svg"));
    let theirs = rival.get(&insights_path(TENANT)).await;
    assert_eq!(theirs.status, 403, "{}", theirs.text);
    let theirs = unescape(&theirs.text);
    for insight in insights(analytics, "").into_iter().chain(insights(creative, "")) {
        let title = insight["title"].as_str().expect("a title");
        assert!(!theirs.contains(title) && !unescape(&own.text).contains(title));
    }
    assert!(!theirs.contains("<svg"));
}
