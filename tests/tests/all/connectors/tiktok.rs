//! The `tiktok-ads` connector against the TikTok Marketing API sandbox:
//! full and incremental syncs in 30-day report windows, the 40100 rate
//! limit, a revoked token, the campaign actions and their previews.

use super::support::{
    assert_acted, assert_ad_previews_match_the_platform, assert_bad_ad_previews_are_refused_like_actions,
    assert_failed, assert_insight, assert_refused, assert_succeeded, major as cents, plugin_error,
};
use omnify_sandbox::world::{AdDay, Platform, Status};
use omnify_tests::host::Reply;
use omnify_tests::platforms::PlatformHost;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::time::{Duration, Instant};

const CONNECTOR: &str = "tiktok-ads";

/// The path of the report endpoint, as the sandbox logs it.
const REPORT: &str = "/open_api/v1.3/report/integrated/get/";

/// The frequency TikTok reports: impressions per person, two decimals.
fn frequency(day: &AdDay) -> f64 {
    format!("{:.2}", day.impressions as f64 / day.reach as f64)
        .parse()
        .expect("a number")
}

/// The records written per stream by a run.
fn written(run: &Value) -> HashMap<String, u64> {
    run["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| {
            let name = s["stream"].as_str().expect("stream name").to_string();
            (name, s["records_written"].as_u64().expect("count"))
        })
        .collect()
}

/// The `start_date`/`end_date` of every report request the sandbox got.
fn report_ranges(requests: &[String]) -> Vec<(String, String)> {
    requests
        .iter()
        .filter_map(|line| line.strip_prefix("GET ")?.strip_prefix(REPORT))
        .map(|query| {
            let params: HashMap<String, String> =
                form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
                    .into_owned()
                    .collect();
            (params["start_date"].clone(), params["end_date"].clone())
        })
        .collect()
}

/// `text` parsed as the type of `example` (the world's dates), so that
/// the tests need no date crate of their own.
fn parse_like<T: FromStr>(_example: &T, text: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text.parse().expect("a date")
}

async fn act(env: &PlatformHost, name: &str, input: Value) -> Reply {
    env.act(CONNECTOR, name, input, &format!("key-{name}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_returns_the_accounts_objects_and_daily_metrics() {
    let env = PlatformHost::start(&[CONNECTOR]).await;
    let streams = [
        "campaigns",
        "ad_groups",
        "ads",
        "campaign_insights",
        "ad_insights",
    ];
    let run = env.sync(CONNECTOR, &streams, "full-refresh").await;
    assert_succeeded(&run);

    let account = env.sandbox.world().account(Platform::Tiktok).clone();
    let campaigns = env.records(CONNECTOR, "campaigns").await;
    assert_eq!(campaigns.len(), account.campaigns.len());
    for record in &campaigns {
        let campaign = account
            .campaign(record["id"].as_str().expect("id"))
            .expect("a world campaign");
        assert_eq!(record["name"], campaign.name.as_str());
        assert_eq!(record["status"], "active");
        assert_eq!(record["daily_budget"], cents(campaign.daily_budget_cents));
        assert_eq!(record["currency"], "USD");
        assert!(record["objective"].is_string(), "{record}");
    }

    let groups = env.records(CONNECTOR, "ad_groups").await;
    let expected: Vec<(&str, &str)> = account
        .ad_groups
        .iter()
        .map(|g| (g.id.as_str(), g.campaign_id.as_str()))
        .collect();
    let got: Vec<(&str, &str)> = groups
        .iter()
        .map(|g| {
            (
                g["id"].as_str().expect("id"),
                g["campaign_id"].as_str().expect("campaign"),
            )
        })
        .collect();
    assert_eq!(got, expected);

    let ads = env.records(CONNECTOR, "ads").await;
    assert_eq!(ads.len(), account.ads.len());
    for record in &ads {
        let ad = account
            .ad(record["id"].as_str().expect("id"))
            .expect("a world ad");
        assert_eq!(record["ad_group_id"], ad.ad_group_id.as_str());
        assert_eq!(record["campaign_id"], ad.campaign_id.as_str());
        assert_eq!(record["status"], "active");
        assert_eq!(
            record["creative"],
            json!({
                "id": ad.creative.id, "headline": null, "body": ad.creative.body,
                "image_url": ad.creative.image_url,
            })
        );
    }

    // Campaign days: the sum of the campaign's ads on that day.
    let insights = env.records(CONNECTOR, "campaign_insights").await;
    let expected_days: BTreeSet<(&str, String)> = account
        .days
        .iter()
        .map(|d| {
            (
                account.ad(&d.ad_id).expect("ad").campaign_id.as_str(),
                d.date.to_string(),
            )
        })
        .collect();
    assert_eq!(insights.len(), expected_days.len());
    for record in &insights {
        let campaign = record["campaign_id"].as_str().expect("campaign");
        let date = record["date"].as_str().expect("date").parse().expect("a date");
        assert_insight(record, &account.campaign_day(campaign, date));
    }

    // Ad days: one record per delivered ad and day, values converted exactly.
    let ad_insights = env.records(CONNECTOR, "ad_insights").await;
    assert_eq!(ad_insights.len(), account.days.len());
    let by_key: HashMap<(&str, String), &AdDay> = account
        .days
        .iter()
        .map(|d| ((d.ad_id.as_str(), d.date.to_string()), d))
        .collect();
    for record in &ad_insights {
        let key = (
            record["ad_id"].as_str().expect("ad"),
            record["date"].as_str().expect("date").to_string(),
        );
        let day = by_key[&key];
        let ad = account.ad(&day.ad_id).expect("ad");
        assert_eq!(record["campaign_id"], ad.campaign_id.as_str());
        assert_eq!(record["ad_group_id"], ad.ad_group_id.as_str());
        assert_eq!(record["spend"], cents(day.spend_cents), "{record}");
        assert_eq!(record["impressions"], day.impressions);
        assert_eq!(record["clicks"], day.clicks);
        assert_eq!(record["reach"], day.reach);
        assert_eq!(record["frequency"], frequency(day));
        assert_eq!(record["conversions"], day.conversions as f64);
        assert_eq!(record["conversion_value"], cents(day.conversion_value_cents));
    }

    // Every report asked for 30 days at most, as TikTok requires.
    let ranges = report_ranges(&env.sandbox.tiktok.requests());
    assert!(!ranges.is_empty());
    for (start, end) in &ranges {
        let days =
            (parse_like(&account.days[0].date, end) - parse_like(&account.days[0].date, start)).num_days();
        assert!((0..30).contains(&days), "{start}..{end}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_reads_from_the_last_day_synced() {
    let env = PlatformHost::start(&[CONNECTOR]).await;
    let streams = ["campaign_insights", "ad_insights"];
    assert_succeeded(&env.sync(CONNECTOR, &streams, "incremental").await);
    let before = env.records(CONNECTOR, "ad_insights").await.len();

    // The last day synced changes late (it was partial), two days follow.
    let (last_day, changed_ad, new_days) = {
        let mut world = env.sandbox.world();
        let last_day = world.last_day;
        world.extend_days(2);
        let account = world.account_mut(Platform::Tiktok);
        let day = account
            .days
            .iter_mut()
            .find(|d| d.date == last_day)
            .expect("a day of delivery");
        day.spend_cents += 1_234;
        let changed = day.clone();
        let new_days: Vec<AdDay> = account
            .days
            .iter()
            .filter(|d| d.date > last_day)
            .cloned()
            .collect();
        (last_day.to_string(), changed, new_days)
    };
    env.sandbox.tiktok.clear_requests();

    let run = env.sync(CONNECTOR, &streams, "incremental").await;
    assert_succeeded(&run);
    let ranges = report_ranges(&env.sandbox.tiktok.requests());
    assert!(!ranges.is_empty());
    assert!(
        ranges.iter().all(|(start, _)| *start >= last_day),
        "reports before {last_day} were read again: {ranges:?}"
    );
    assert!(ranges.iter().any(|(start, _)| *start == last_day), "{ranges:?}");
    // Only the last synced day and the new ones came back.
    let ads_per_day = new_days.len() / 2;
    let counts = written(&run);
    assert_eq!(counts["ad_insights"], (ads_per_day * 3) as u64, "{run:#}");
    assert_eq!(counts["campaign_insights"], 3 * 3, "{run:#}");

    let records = env.records(CONNECTOR, "ad_insights").await;
    assert_eq!(records.len(), before + new_days.len());
    let find = |ad: &str, date: &str| {
        records
            .iter()
            .find(|r| r["ad_id"] == ad && r["date"] == date)
            .unwrap_or_else(|| panic!("no record of {ad} on {date}"))
            .clone()
    };
    assert_eq!(
        find(&changed_ad.ad_id, &last_day)["spend"],
        cents(changed_ad.spend_cents)
    );
    for day in &new_days {
        let record = find(&day.ad_id, &day.date.to_string());
        assert_eq!(record["spend"], cents(day.spend_cents));
        assert_eq!(record["clicks"], day.clicks);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_mid_sync_is_waited_out_and_nothing_is_lost() {
    let env = PlatformHost::start(&[CONNECTOR]).await;
    env.sandbox.tiktok.rate_limit_after(4);
    let started = Instant::now();
    let run = env.sync(CONNECTOR, &["ad_insights"], "full-refresh").await;
    assert_succeeded(&run);
    assert_eq!(env.sandbox.tiktok.rate_limited(), 1);
    // TikTok sends no retry-after; the connector asks for one second.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    let expected = env.sandbox.world().account(Platform::Tiktok).days.len();
    let records = env.records(CONNECTOR, "ad_insights").await;
    assert_eq!(records.len(), expected);
    assert_eq!(
        written(&run)["ad_insights"],
        expected as u64,
        "no batch was read twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_fails_syncs_and_actions_with_tiktoks_message() {
    let env = PlatformHost::start(&[CONNECTOR]).await;
    let mut body = env.enablement(CONNECTOR);
    assert_ne!(body["secrets"]["access_token"], "revoked-token");
    body["secrets"]["access_token"] = json!("revoked-token");
    let reply = env.enable(CONNECTOR, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let run = env.sync(CONNECTOR, &["campaigns"], "full-refresh").await;
    assert_failed(
        &run,
        &[
            "authentication failed",
            "Access token is incorrect or has been revoked.",
        ],
    );

    let campaign = env.sandbox.world().account(Platform::Tiktok).campaigns[0].clone();
    let reply = act(&env, "pause-campaign", json!({ "campaign_id": campaign.id })).await;
    assert_refused(&reply, "auth", "40105");
    assert!(env.sandbox.tiktok.writes().is_empty());
    let world = env.sandbox.world();
    assert_eq!(
        world.account(Platform::Tiktok).campaigns[0].status,
        Status::Active
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_change_the_campaign_and_are_audited() {
    let env = PlatformHost::start(&[CONNECTOR]).await;
    let (advertiser, campaign) = {
        let world = env.sandbox.world();
        let account = world.account(Platform::Tiktok);
        (account.account_id.clone(), account.campaigns[1].id.clone())
    };
    let status = |env: &PlatformHost| {
        let world = env.sandbox.world();
        world
            .account(Platform::Tiktok)
            .campaign(&campaign)
            .expect("campaign")
            .status
    };

    let paused = act(&env, "pause-campaign", json!({ "campaign_id": campaign })).await;
    assert_eq!(paused.status, 200, "{}", paused.text);
    assert_eq!(
        paused.json["output"]["result"],
        json!({ "campaign_ids": [campaign], "status": "DISABLE" })
    );
    assert_eq!(status(&env), Status::Paused);

    let resumed = act(&env, "resume-campaign", json!({ "campaign_id": campaign })).await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(status(&env), Status::Active);

    let budget = act(
        &env,
        "set-daily-budget",
        json!({ "campaign_id": campaign, "daily_budget": 275.5 }),
    )
    .await;
    assert_eq!(budget.status, 200, "{}", budget.text);
    assert_eq!(budget.json["output"]["result"]["budget"], 275.5);
    {
        let world = env.sandbox.world();
        let changed = world
            .account(Platform::Tiktok)
            .campaign(&campaign)
            .expect("campaign");
        assert_eq!(changed.daily_budget_cents, 27_550);
    }

    let writes = env.sandbox.tiktok.writes();
    let sent: Vec<(&str, &Value, bool)> = writes
        .iter()
        .map(|w| (w.path.as_str(), &w.body, w.applied))
        .collect();
    let status_body = |operation: &str| json!({ "advertiser_id": advertiser, "campaign_ids": [campaign], "operation_status": operation });
    assert_eq!(
        sent,
        vec![
            (
                "/open_api/v1.3/campaign/status/update/",
                &status_body("DISABLE"),
                true
            ),
            (
                "/open_api/v1.3/campaign/status/update/",
                &status_body("ENABLE"),
                true
            ),
            (
                "/open_api/v1.3/campaign/update/",
                &json!({ "advertiser_id": advertiser, "campaign_id": campaign, "budget": 275.5 }),
                true
            ),
        ]
    );

    // The next sync sees the new budget.
    assert_succeeded(&env.sync(CONNECTOR, &["campaigns"], "full-refresh").await);
    let campaigns = env.records(CONNECTOR, "campaigns").await;
    let record = campaigns
        .iter()
        .find(|c| c["id"] == campaign.as_str())
        .expect("synced");
    assert_eq!(record["daily_budget"], 275.5);
    assert_eq!(record["status"], "active");

    // Each action is audited with its name and input.
    let acts = env.act_entries(CONNECTOR).await;
    assert_acted(&acts, &["pause-campaign", "resume-campaign", "set-daily-budget"]);
    assert_eq!(acts[2]["details"]["action"]["input"]["daily_budget"], 275.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_actions_pause_and_resume_an_ad_and_refuse_an_unknown_one() {
    let env = PlatformHost::start(&[CONNECTOR]).await;
    let (advertiser, ad) = {
        let world = env.sandbox.world();
        let account = world.account(Platform::Tiktok);
        (account.account_id.clone(), account.ads[2].id.clone())
    };
    let status = |env: &PlatformHost| {
        let world = env.sandbox.world();
        world.account(Platform::Tiktok).ad(&ad).expect("ad").status
    };

    let paused = act(&env, "pause-ad", json!({ "ad_id": ad })).await;
    assert_eq!(paused.status, 200, "{}", paused.text);
    assert_eq!(
        paused.json["output"]["result"],
        json!({ "ad_ids": [ad], "status": "DISABLE" })
    );
    assert_eq!(status(&env), Status::Paused);

    // A re-sync reads the ad back as paused.
    assert_succeeded(&env.sync(CONNECTOR, &["ads"], "full-refresh").await);
    let ads = env.records(CONNECTOR, "ads").await;
    let record = ads.iter().find(|a| a["id"] == ad.as_str()).expect("synced");
    assert_eq!(record["status"], "paused", "{record}");

    let resumed = act(&env, "resume-ad", json!({ "ad_id": ad })).await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(status(&env), Status::Active);

    let writes = env.sandbox.tiktok.writes();
    let sent: Vec<(&str, &str, &Value, bool)> = writes
        .iter()
        .map(|w| (w.method.as_str(), w.path.as_str(), &w.body, w.applied))
        .collect();
    let body = |operation: &str| json!({ "advertiser_id": advertiser, "ad_ids": [ad], "operation_status": operation });
    let path = "/open_api/v1.3/ad/status/update/";
    assert_eq!(
        sent,
        vec![
            ("POST", path, &body("DISABLE"), true),
            ("POST", path, &body("ENABLE"), true),
        ]
    );

    assert_acted(&env.act_entries(CONNECTOR).await, &["pause-ad", "resume-ad"]);

    // A malformed id is refused before any request; an unknown one when
    // `ad/get/` does not find it in the advertiser. Neither is sent.
    let before = env.sandbox.world().account(Platform::Tiktok).ads.clone();
    let malformed = act(&env, "pause-ad", json!({ "ad_id": "ad one" })).await;
    assert_refused(&malformed, "invalid-input", "numeric id");
    let unknown = act(&env, "pause-ad", json!({ "ad_id": "1719999999" })).await;
    assert_refused(&unknown, "not-found", "ad 1719999999 is not in advertiser");
    assert_eq!(env.sandbox.world().account(Platform::Tiktok).ads, before);
    assert_eq!(env.sandbox.tiktok.writes().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_action_input_is_refused_and_changes_nothing() {
    let env = PlatformHost::start(&[CONNECTOR]).await;
    let before = env.sandbox.world().account(Platform::Tiktok).clone();
    let campaign = before.campaigns[0].id.clone();

    // Refused by the connector before any request.
    for (name, input, needle) in [
        (
            "set-daily-budget",
            json!({ "campaign_id": campaign, "daily_budget": -5 }),
            "positive",
        ),
        (
            "set-daily-budget",
            json!({ "campaign_id": campaign, "daily_budget": 80.125 }),
            "two decimals",
        ),
        (
            "set-daily-budget",
            json!({ "campaign_id": campaign }),
            "daily_budget",
        ),
        (
            "pause-campaign",
            json!({ "campaign_id": "campaign one" }),
            "numeric id",
        ),
    ] {
        assert_refused(&act(&env, name, input).await, "invalid-input", needle);
    }
    assert!(env.sandbox.tiktok.writes().is_empty());

    // Refused by TikTok (code 40002), with its message: the connector does
    // not know TikTok's minimum budget.
    let too_small = json!({ "campaign_id": campaign, "daily_budget": 20 });
    let reply = act(&env, "set-daily-budget", too_small).await;
    assert_refused(&reply, "invalid-input", "at least 50.00 USD");
    // An unknown campaign is not found by `campaign/get/`, and not sent.
    let unknown = act(&env, "pause-campaign", json!({ "campaign_id": "1719999999" })).await;
    assert_refused(&unknown, "not-found", "campaign 1719999999 is not in advertiser");
    let writes = env.sandbox.tiktok.writes();
    assert_eq!(writes.len(), 1);
    assert!(writes.iter().all(|w| !w.applied));
    assert_eq!(
        env.sandbox.world().account(Platform::Tiktok).campaigns,
        before.campaigns
    );

    let (kind, _) = plugin_error(&act(&env, "delete-campaign", json!({ "campaign_id": campaign })).await);
    assert_eq!(kind, "not-found");
    // The refusals are audited as failed actions.
    let acts = env.act_entries(CONNECTOR).await;
    assert_eq!(acts.len(), 7, "{acts:#?}");
    assert!(
        acts.iter()
            .all(|e| e["outcome"].as_str().is_some_and(|o| o.starts_with("error"))),
        "{acts:#?}"
    );
    // TikTok webhooks are out of scope: deliveries are refused.
    let hook = json!({ "headers": [["Content-Type", "application/json"]], "body": "{}" });
    let (kind, _) = plugin_error(&env.invoke(CONNECTOR, "verify-webhook", hook).await);
    assert_eq!(kind, "invalid-input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_read_the_campaigns_and_ads_and_change_nothing() {
    let env = PlatformHost::start(&[CONNECTOR]).await;
    assert_ad_previews_match_the_platform(&env, Platform::Tiktok).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_preview_is_refused_like_the_action_and_writes_nothing() {
    let env = PlatformHost::start(&[CONNECTOR]).await;
    assert_bad_ad_previews_are_refused_like_actions(&env, Platform::Tiktok).await;
}
