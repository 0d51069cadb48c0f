//! The meta-ads connector against the Graph API sandbox: what it syncs is
//! exactly the sandbox's data in major units, incremental insights re-read
//! only from the last day synced, Meta's throttling and token errors map to
//! the right kinds, the campaign writes change the platform and are audited,
//! their previews read it and change nothing, and webhook deliveries are
//! verified over the raw body.

use super::support::{
    assert_acted, assert_ad_previews_match_the_platform, assert_bad_ad_previews_are_refused_like_actions,
    assert_failed, assert_insight, assert_succeeded, plugin_error,
};
use omnify_sandbox::meta::{self, ACCESS_TOKEN};
use omnify_sandbox::world::{Platform, Status};
use omnify_tests::platforms::PlatformHost;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const CONNECTOR: &str = "meta-ads";

async fn env() -> PlatformHost {
    PlatformHost::start(&[CONNECTOR]).await
}

fn cents(amount: &Value) -> i64 {
    (amount.as_f64().expect("an amount") * 100.0).round() as i64
}

fn date(record: &Value) -> String {
    record["date"].as_str().expect("date").to_string()
}

/// `(campaign id, date)` → the insight record of that campaign and day.
fn by_campaign_day(records: &[Value]) -> BTreeMap<(String, String), Value> {
    records
        .iter()
        .map(|r| {
            (
                (r["campaign_id"].as_str().expect("id").to_string(), date(r)),
                r.clone(),
            )
        })
        .collect()
}

/// Every campaign insight matches the world's totals of that campaign and
/// day, in dollars, and every day with delivery has its record.
fn assert_campaign_insights_match(env: &PlatformHost, records: &[Value]) {
    let world = env.sandbox.world();
    let account = world.account(Platform::Meta);
    let records = by_campaign_day(records);
    let mut expected = 0;
    for day in world.dates() {
        for campaign in &account.campaigns {
            let totals = account.campaign_day(&campaign.id, day);
            if totals.impressions == 0 {
                continue;
            }
            expected += 1;
            assert_insight(&records[&(campaign.id.clone(), day.to_string())], &totals);
        }
    }
    assert_eq!(
        records.len(),
        expected,
        "one record per campaign and day with delivery"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_returns_exactly_the_sandboxs_objects_and_metrics() {
    let env = env().await;
    let streams = [
        "campaigns",
        "ad_groups",
        "ads",
        "campaign_insights",
        "ad_insights",
    ];
    let run = env.sync(CONNECTOR, &streams, "full-refresh").await;
    assert_succeeded(&run);

    let campaigns = env.records(CONNECTOR, "campaigns").await;
    let ad_groups = env.records(CONNECTOR, "ad_groups").await;
    let ads = env.records(CONNECTOR, "ads").await;
    let campaign_insights = env.records(CONNECTOR, "campaign_insights").await;
    let ad_insights = env.records(CONNECTOR, "ad_insights").await;

    let world = env.sandbox.world().clone();
    let account = world.account(Platform::Meta);
    assert_eq!(campaigns.len(), account.campaigns.len());
    for (record, campaign) in campaigns.iter().zip(&account.campaigns) {
        assert_eq!(record["id"], campaign.id.as_str());
        assert_eq!(record["name"], campaign.name.as_str());
        assert_eq!(record["status"], "active");
        assert_eq!(
            cents(&record["daily_budget"]),
            campaign.daily_budget_cents,
            "{record}"
        );
        assert_eq!(record["currency"], "USD");
        assert_eq!(record["objective"], campaign.objective.to_lowercase());
    }
    assert_eq!(ad_groups.len(), account.ad_groups.len());
    for (record, group) in ad_groups.iter().zip(&account.ad_groups) {
        assert_eq!(record["id"], group.id.as_str());
        assert_eq!(record["campaign_id"], group.campaign_id.as_str());
        assert_eq!(record["status"], "active");
    }
    assert_eq!(ads.len(), account.ads.len());
    for (record, ad) in ads.iter().zip(&account.ads) {
        assert_eq!(record["id"], ad.id.as_str());
        assert_eq!(record["ad_group_id"], ad.ad_group_id.as_str());
        assert_eq!(record["campaign_id"], ad.campaign_id.as_str());
        assert_eq!(record["creative"]["headline"], ad.creative.headline.as_str());
        assert_eq!(record["creative"]["image_url"], ad.creative.image_url.as_str());
    }

    assert_campaign_insights_match(&env, &campaign_insights);

    assert_eq!(ad_insights.len(), account.days.len(), "one record per ad and day");
    let by_ad_day: BTreeMap<(String, String), &Value> = ad_insights
        .iter()
        .map(|r| ((r["ad_id"].as_str().expect("ad id").to_string(), date(r)), r))
        .collect();
    for day in &account.days {
        let record = by_ad_day[&(day.ad_id.clone(), day.date.to_string())];
        let ad = account.ad(&day.ad_id).expect("the ad");
        assert_eq!(record["campaign_id"], ad.campaign_id.as_str());
        assert_eq!(record["ad_group_id"], ad.ad_group_id.as_str());
        assert_eq!(
            record["spend"].as_f64(),
            Some(day.spend_cents as f64 / 100.0),
            "{record}"
        );
        assert_eq!(record["impressions"], day.impressions);
        assert_eq!(record["clicks"], day.clicks);
        assert_eq!(record["reach"], day.reach);
        assert_eq!(record["conversions"].as_f64(), Some(day.conversions as f64));
        assert_eq!(
            record["conversion_value"].as_f64(),
            Some(day.conversion_value_cents as f64 / 100.0)
        );
        let frequency = day.impressions as f64 / day.reach as f64;
        assert!((record["frequency"].as_f64().expect("frequency") - frequency).abs() < 1e-6);
    }
    // The token travels in a header, never in a URL the sandbox logged.
    assert!(
        env.sandbox
            .meta
            .requests()
            .iter()
            .all(|r| !r.contains(ACCESS_TOKEN))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_reads_only_from_the_last_day_synced() {
    let env = env().await;
    let first = env.sync(CONNECTOR, &["campaign_insights"], "incremental").await;
    assert_succeeded(&first);
    let before = env.records(CONNECTOR, "campaign_insights").await;
    assert_eq!(before.len(), 270, "90 days of three campaigns");

    env.sandbox.world().extend_days(3);
    env.sandbox.meta.clear_requests();
    let second = env.sync(CONNECTOR, &["campaign_insights"], "incremental").await;
    assert_succeeded(&second);
    // The last day synced is read again (it may have been partial), then
    // the three new days: four days of three campaigns.
    assert_eq!(second["streams"][0]["records_written"], 12, "{second}");
    let requests = env.sandbox.meta.requests();
    let insights: Vec<&String> = requests.iter().filter(|r| r.contains("/insights")).collect();
    assert!(!insights.is_empty(), "{requests:?}");
    let since = form_urlencoded::byte_serialize(br#"{"since":"2026-06-30""#).collect::<String>();
    assert!(insights[0].contains(&since), "{}", insights[0]);

    let after = env.records(CONNECTOR, "campaign_insights").await;
    assert_eq!(after.len(), 279);
    assert_campaign_insights_match(&env, &after);
    let newest = after.iter().map(date).max();
    assert_eq!(newest.as_deref(), Some("2026-07-03"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_mid_sync_is_waited_out_with_metas_signal() {
    let env = env().await;
    env.sandbox.meta.rate_limit_after(2);
    let started = std::time::Instant::now();
    let run = env.sync(CONNECTOR, &["campaign_insights"], "full-refresh").await;
    assert_succeeded(&run);
    assert_eq!(env.sandbox.meta.rate_limited(), 1);
    let error = run["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("(#17) User request limit reached"), "{run}");
    // `estimated_time_to_regain_access` is 0 minutes: the connector asks for a second.
    assert!(error.contains("1000 ms"), "{run}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert_campaign_insights_match(&env, &env.records(CONNECTOR, "campaign_insights").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_is_an_auth_error_with_metas_message() {
    let env = env().await;
    let mut body = env.enablement(CONNECTOR);
    body["secrets"]["access_token"] = json!("EAAexpired");
    assert_eq!(env.enable(CONNECTOR, &body).await.status, 200);

    let run = env.sync(CONNECTOR, &["campaigns"], "full-refresh").await;
    assert_failed(&run, &["authentication failed", "Error validating access token"]);
    assert_eq!(run["attempts"], 1, "auth is not retried: {run}");

    let (kind, message) = plugin_error(&env.invoke(CONNECTOR, "check", Value::Null).await);
    assert_eq!(kind, "auth", "{message}");

    let campaign = env.sandbox.world().account(Platform::Meta).campaigns[0]
        .id
        .clone();
    let reply = env
        .act(
            CONNECTOR,
            "pause-campaign",
            json!({"campaign_id": campaign}),
            "k1",
        )
        .await;
    let (kind, message) = plugin_error(&reply);
    assert_eq!(kind, "auth", "{message}");
    assert!(message.contains("code 190"), "{message}");
    assert!(env.sandbox.meta.writes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_actions_change_the_platform_and_are_audited() {
    let env = env().await;
    let campaign = env.sandbox.world().account(Platform::Meta).campaigns[1]
        .id
        .clone();

    let paused = env
        .act(
            CONNECTOR,
            "pause-campaign",
            json!({"campaign_id": campaign}),
            "p1",
        )
        .await;
    assert_eq!(paused.status, 200, "{}", paused.text);
    assert_eq!(
        paused.json["output"]["result"]["status"], "paused",
        "{}",
        paused.text
    );
    assert_eq!(paused.json["output"]["result"]["result"]["success"], true);
    assert_eq!(
        env.sandbox
            .world()
            .account(Platform::Meta)
            .campaign(&campaign)
            .map(|c| c.status),
        Some(Status::Paused)
    );

    let resumed = env
        .act(
            CONNECTOR,
            "resume-campaign",
            json!({"campaign_id": campaign}),
            "r1",
        )
        .await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(
        env.sandbox
            .world()
            .account(Platform::Meta)
            .campaign(&campaign)
            .map(|c| c.status),
        Some(Status::Active)
    );

    let budget = json!({"campaign_id": campaign, "daily_budget": 123.45});
    let set = env.act(CONNECTOR, "set-daily-budget", budget, "b1").await;
    assert_eq!(set.status, 200, "{}", set.text);
    let world_budget = env
        .sandbox
        .world()
        .account(Platform::Meta)
        .campaign(&campaign)
        .map(|c| c.daily_budget_cents);
    assert_eq!(world_budget, Some(12_345), "Meta takes budgets in cents");

    let writes = env.sandbox.meta.writes();
    let bodies: Vec<&Value> = writes.iter().map(|w| &w.body).collect();
    assert_eq!(
        bodies,
        [
            &json!({"status": "PAUSED"}),
            &json!({"status": "ACTIVE"}),
            &json!({"daily_budget": "12345"})
        ]
    );
    assert!(
        writes
            .iter()
            .all(|w| w.applied && w.path == format!("/v23.0/{campaign}"))
    );

    let acts = env.act_entries(CONNECTOR).await;
    assert_acted(&acts, &["pause-campaign", "resume-campaign", "set-daily-budget"]);
    // The API puts `direct:` before the key of an action invoked directly.
    assert_eq!(acts[2]["details"]["action"]["idempotency_key"], "direct:b1");

    // The change shows in the next sync.
    let run = env.sync(CONNECTOR, &["campaigns"], "full-refresh").await;
    assert_succeeded(&run);
    let records = env.records(CONNECTOR, "campaigns").await;
    let record = records
        .iter()
        .find(|r| r["id"] == campaign.as_str())
        .expect("the campaign");
    assert_eq!(record["daily_budget"].as_f64(), Some(123.45));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_actions_pause_and_resume_an_ad_and_refuse_an_unknown_one() {
    let env = env().await;
    let ad = env.sandbox.world().account(Platform::Meta).ads[2].id.clone();
    let ad_status = |env: &PlatformHost| {
        env.sandbox
            .world()
            .account(Platform::Meta)
            .ad(&ad)
            .map(|a| a.status)
    };

    let paused = env.act(CONNECTOR, "pause-ad", json!({"ad_id": ad}), "p1").await;
    assert_eq!(paused.status, 200, "{}", paused.text);
    let result = &paused.json["output"]["result"];
    assert_eq!(result["status"], "paused", "{}", paused.text);
    assert_eq!(result["previous_status"], "active", "{}", paused.text);
    assert_eq!(result["result"]["success"], true);
    assert_eq!(ad_status(&env), Some(Status::Paused));

    // A re-sync reads the ad back as paused.
    let run = env.sync(CONNECTOR, &["ads"], "full-refresh").await;
    assert_succeeded(&run);
    let records = env.records(CONNECTOR, "ads").await;
    let record = records.iter().find(|r| r["id"] == ad.as_str()).expect("the ad");
    assert_eq!(record["status"], "paused", "{record}");

    let resumed = env.act(CONNECTOR, "resume-ad", json!({"ad_id": ad}), "r1").await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(resumed.json["output"]["result"]["previous_status"], "paused");
    assert_eq!(ad_status(&env), Some(Status::Active));

    let writes = env.sandbox.meta.writes();
    let calls: Vec<(&str, &str, &Value, bool)> = writes
        .iter()
        .map(|w| (w.method.as_str(), w.path.as_str(), &w.body, w.applied))
        .collect();
    let path = format!("/v23.0/{ad}");
    assert_eq!(
        calls,
        [
            ("POST", path.as_str(), &json!({"status": "PAUSED"}), true),
            ("POST", path.as_str(), &json!({"status": "ACTIVE"}), true),
        ]
    );

    assert_acted(&env.act_entries(CONNECTOR).await, &["pause-ad", "resume-ad"]);

    // An unknown or malformed ad id changes nothing.
    let before = env.sandbox.world().account(Platform::Meta).ads.clone();
    let cases = [
        (json!({"ad_id": "999"}), "not-found"),
        (json!({"ad_id": "not-an-id"}), "invalid-input"),
        (json!({}), "invalid-input"),
    ];
    for (input, kind) in cases {
        let (got, message) = plugin_error(&env.act(CONNECTOR, "pause-ad", input.clone(), "x").await);
        assert_eq!(got, kind, "{input}: {message}");
    }
    assert_eq!(env.sandbox.world().account(Platform::Meta).ads, before);
    assert_eq!(env.sandbox.meta.writes().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_action_input_is_refused_and_changes_nothing() {
    let env = env().await;
    let before = env.sandbox.world().account(Platform::Meta).campaigns.clone();
    let campaign = before[0].id.clone();
    let cases = [
        (
            "set-daily-budget",
            json!({"campaign_id": campaign, "daily_budget": -5}),
            "invalid-input",
        ),
        (
            "set-daily-budget",
            json!({"campaign_id": campaign, "daily_budget": 10.005}),
            "invalid-input",
        ),
        (
            "set-daily-budget",
            json!({"campaign_id": campaign}),
            "invalid-input",
        ),
        (
            "pause-campaign",
            json!({"campaign_id": "not-an-id"}),
            "invalid-input",
        ),
        ("pause-campaign", json!({"campaign_id": "999"}), "not-found"),
        ("delete-campaign", json!({"campaign_id": campaign}), "not-found"),
    ];
    for (name, input, kind) in cases {
        let (got, message) = plugin_error(&env.act(CONNECTOR, name, input.clone(), "k").await);
        assert_eq!(got, kind, "{name} {input}: {message}");
        assert!(!message.is_empty(), "{name} {input}");
    }
    assert_eq!(env.sandbox.world().account(Platform::Meta).campaigns, before);
    assert!(
        env.sandbox.meta.writes().is_empty(),
        "{:?}",
        env.sandbox.meta.writes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_read_the_campaigns_and_ads_and_change_nothing() {
    let env = env().await;
    assert_ad_previews_match_the_platform(&env, Platform::Meta).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_preview_is_refused_like_the_action_and_writes_nothing() {
    let env = env().await;
    assert_bad_ad_previews_are_refused_like_actions(&env, Platform::Meta).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_are_verified_over_the_raw_body() {
    let env = env().await;
    let body = r#"{"object":"ad_account","entry":[{"id":"act_42","time":1782864000,"changes":[{"field":"with_issues_ad_objects","value":{"id":"120213000000001","level":"AD","error_code":1487}}]}]}"#;
    let headers = meta::signed_webhook(body.as_bytes());
    let valid = env
        .invoke(
            CONNECTOR,
            "verify-webhook",
            json!({"headers": headers, "body": body}),
        )
        .await;
    assert_eq!(valid.status, 200, "{}", valid.text);
    let events = &valid.json["output"]["result"];
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{}", valid.text);
    assert_eq!(events[0]["kind"], "ad_account.with_issues_ad_objects");
    assert_eq!(events[0]["payload"]["value"]["error_code"], 1487);

    let modified = body.replace("1487", "1488");
    let reply = env
        .invoke(
            CONNECTOR,
            "verify-webhook",
            json!({"headers": headers, "body": modified}),
        )
        .await;
    assert_eq!(plugin_error(&reply).0, "auth", "{}", reply.text);

    let wrong = vec![(
        "X-Hub-Signature-256".to_string(),
        format!("sha256={}", "ab".repeat(32)),
    )];
    let reply = env
        .invoke(
            CONNECTOR,
            "verify-webhook",
            json!({"headers": wrong, "body": body}),
        )
        .await;
    assert_eq!(plugin_error(&reply).0, "auth", "{}", reply.text);

    let reply = env
        .invoke(CONNECTOR, "verify-webhook", json!({"headers": [], "body": body}))
        .await;
    assert_eq!(plugin_error(&reply).0, "invalid-input", "{}", reply.text);
}
