//! The `google-ads` connector against the Google Ads sandbox: the records
//! and metrics it syncs, incremental windows, Google's quota signal, bad
//! credentials, campaign actions, refused inputs and previews.

use super::support::{
    assert_acted, assert_ad_previews_match_the_platform, assert_bad_ad_previews_are_refused_like_actions,
    assert_failed, assert_insight, assert_refused, assert_succeeded, major as cents, plugin_error,
};
use omnify_sandbox::google::{ACCESS_TOKEN, PAGE_SIZE, TEST_ACCESS_DEVELOPER_TOKEN};
use omnify_sandbox::world::{Platform, Status};
use omnify_tests::host::Reply;
use omnify_tests::platforms::PlatformHost;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const CONNECTOR: &str = "google-ads";

async fn start() -> PlatformHost {
    PlatformHost::start(&[CONNECTOR]).await
}

/// The enablement body, changed by `edit`.
fn enablement(env: &PlatformHost, edit: impl FnOnce(&mut Value)) -> Value {
    let mut body = env.enablement(CONNECTOR);
    edit(&mut body);
    body
}

/// `googleAds:search` calls the sandbox received.
fn searches(env: &PlatformHost) -> usize {
    env.sandbox
        .google
        .requests()
        .iter()
        .filter(|r| r.ends_with("googleAds:search"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_returns_the_accounts_objects_and_daily_metrics() {
    let env = start().await;
    let streams = [
        "campaigns",
        "ad_groups",
        "ads",
        "campaign_insights",
        "ad_insights",
    ];
    let run = env.sync(CONNECTOR, &streams, "full-refresh").await;
    assert_succeeded(&run);

    let account = env.sandbox.world().account(Platform::Google).clone();
    let campaigns = env.records(CONNECTOR, "campaigns").await;
    assert_eq!(campaigns.len(), account.campaigns.len());
    for (record, campaign) in campaigns.iter().zip(&account.campaigns) {
        assert_eq!(record["id"], json!(campaign.id));
        assert_eq!(record["name"], json!(campaign.name));
        assert_eq!(record["status"], "active");
        assert_eq!(record["daily_budget"], json!(cents(campaign.daily_budget_cents)));
        assert_eq!(record["currency"], "USD");
    }
    let ad_groups = env.records(CONNECTOR, "ad_groups").await;
    assert_eq!(ad_groups.len(), account.ad_groups.len());
    assert_eq!(
        ad_groups[0]["campaign_id"],
        json!(account.ad_groups[0].campaign_id)
    );
    let ads = env.records(CONNECTOR, "ads").await;
    assert_eq!(ads.len(), account.ads.len());
    let ad = &account.ads[0];
    assert_eq!(ads[0]["id"], json!(ad.id));
    assert_eq!(ads[0]["ad_group_id"], json!(ad.ad_group_id));
    assert_eq!(ads[0]["creative"]["headline"], json!(ad.creative.headline));
    assert_eq!(ads[0]["creative"]["body"], json!(ad.creative.body));

    let insights = env.records(CONNECTOR, "campaign_insights").await;
    assert_eq!(
        insights.len(),
        account.campaigns.len() * account.days.len() / account.ads.len()
    );
    for record in &insights {
        let date = record["date"].as_str().expect("date").parse().expect("a date");
        let campaign = record["campaign_id"].as_str().expect("campaign id");
        assert_insight(record, &account.campaign_day(campaign, date));
    }

    let ad_insights = env.records(CONNECTOR, "ad_insights").await;
    assert_eq!(ad_insights.len(), account.days.len());
    let spend: i64 = account.days.iter().map(|d| d.spend_cents).sum();
    let synced: f64 = ad_insights
        .iter()
        .map(|r| r["spend"].as_f64().expect("spend"))
        .sum();
    assert!(
        (synced - cents(spend)).abs() < 0.005,
        "{synced} vs {}",
        cents(spend)
    );
    let day = &account.days[17];
    let record = ad_insights
        .iter()
        .find(|r| r["ad_id"] == json!(day.ad_id) && r["date"] == json!(day.date.to_string()))
        .expect("the ad's day");
    assert_eq!(record["spend"], json!(cents(day.spend_cents)));
    assert_eq!(record["clicks"], json!(day.clicks));
    assert_eq!(
        record["campaign_id"],
        json!(account.ad(&day.ad_id).expect("ad").campaign_id)
    );
    assert_eq!(record["reach"], Value::Null);
    // Google's pages: one search per page of each stream.
    let pages = |rows: usize| rows.div_ceil(PAGE_SIZE);
    assert_eq!(
        searches(&env),
        3 + pages(insights.len()) + pages(ad_insights.len())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_reads_from_the_last_synced_day() {
    let env = start().await;
    let first = env.sync(CONNECTOR, &["campaign_insights"], "incremental").await;
    assert_succeeded(&first);
    let campaigns = env.sandbox.world().account(Platform::Google).campaigns.len();
    let days = env.sandbox.world().dates().count();
    assert_eq!(first["streams"][0]["records_written"], json!(campaigns * days));

    env.sandbox.google.clear_requests();
    env.sandbox.world().extend_days(3);
    let second = env.sync(CONNECTOR, &["campaign_insights"], "incremental").await;
    assert_succeeded(&second);
    // The last synced day again (it may have been partial) and the 3 new ones.
    assert_eq!(second["streams"][0]["records_written"], json!(campaigns * 4));
    assert_eq!(searches(&env), 1);

    let records = env.records(CONNECTOR, "campaign_insights").await;
    assert_eq!(records.len(), campaigns * (days + 3));
    let world = env.sandbox.world();
    let account = world.account(Platform::Google);
    let last = world.last_day;
    let campaign = &account.campaigns[0].id;
    let record = records
        .iter()
        .find(|r| r["campaign_id"] == json!(campaign) && r["date"] == json!(last.to_string()))
        .expect("the new last day");
    assert_eq!(
        record["spend"],
        json!(cents(account.campaign_day(campaign, last).spend_cents))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_error_mid_sync_is_waited_out_for_googles_retry_delay() {
    let env = start().await;
    env.sandbox.google.rate_limit_after(2);
    let started = Instant::now();
    let run = env.sync(CONNECTOR, &["ad_insights"], "full-refresh").await;
    assert_succeeded(&run);
    assert_eq!(env.sandbox.google.rate_limited(), 1);
    // The sandbox's RetryInfo says 1s; the SDK's own backoff would be 200 ms.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let last_error = run["last_error"].as_str().unwrap_or_default();
    assert!(
        last_error.contains("RESOURCE_EXHAUSTED") && last_error.contains("1000 ms"),
        "{run:#}"
    );
    let records = env.records(CONNECTOR, "ad_insights").await;
    assert_eq!(
        records.len(),
        env.sandbox.world().account(Platform::Google).days.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_fail_with_googles_auth_error() {
    let env = start().await;
    let wrong_token = enablement(&env, |body| {
        body["secrets"]["access_token"] = json!("ya29.expired")
    });
    assert_eq!(env.enable(CONNECTOR, &wrong_token).await.status, 200);
    let run = env.sync(CONNECTOR, &["campaigns"], "full-refresh").await;
    assert_failed(&run, &["auth", "OAUTH_TOKEN_INVALID", "Oauth token is invalid."]);
    // Auth is not retried.
    assert_eq!(searches(&env), 1);

    let test_token = enablement(&env, |body| {
        body["secrets"]["developer_token"] = json!(TEST_ACCESS_DEVELOPER_TOKEN);
    });
    assert_ne!(test_token["secrets"]["access_token"], json!("ya29.expired"));
    assert_eq!(test_token["secrets"]["access_token"], json!(ACCESS_TOKEN));
    assert_eq!(env.enable(CONNECTOR, &test_token).await.status, 200);
    let campaign = env.sandbox.world().account(Platform::Google).campaigns[0]
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
    assert!(message.contains("DEVELOPER_TOKEN_NOT_APPROVED"), "{message}");
    assert!(env.sandbox.google.writes().is_empty());
    assert_eq!(
        env.sandbox.world().account(Platform::Google).campaigns[0].status,
        Status::Active
    );
}

async fn act(env: &PlatformHost, name: &str, input: Value) -> Reply {
    env.act(CONNECTOR, name, input, &format!("{name}-1")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_pause_resume_and_rebudget_campaigns_and_are_audited() {
    let env = start().await;
    let (customer, campaign) = {
        let world = env.sandbox.world();
        let account = world.account(Platform::Google);
        (account.account_id.clone(), account.campaigns[1].id.clone())
    };
    let status = |env: &PlatformHost| {
        let world = env.sandbox.world();
        world
            .account(Platform::Google)
            .campaign(&campaign)
            .expect("campaign")
            .status
    };

    let paused = act(&env, "pause-campaign", json!({"campaign_id": campaign})).await;
    assert_eq!(paused.status, 200, "{}", paused.text);
    let resource = format!("customers/{customer}/campaigns/{campaign}");
    assert!(paused.text.contains(&resource), "{}", paused.text);
    assert_eq!(status(&env), Status::Paused);
    let resumed = act(&env, "resume-campaign", json!({"campaign_id": campaign})).await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(status(&env), Status::Active);

    let budget = act(
        &env,
        "set-daily-budget",
        json!({"campaign_id": campaign, "daily_budget": 123.45}),
    )
    .await;
    assert_eq!(budget.status, 200, "{}", budget.text);
    let cents = env
        .sandbox
        .world()
        .account(Platform::Google)
        .campaign(&campaign)
        .expect("campaign")
        .daily_budget_cents;
    assert_eq!(cents, 12_345);

    let writes = env.sandbox.google.writes();
    assert_eq!(writes.len(), 3);
    assert!(writes.iter().all(|w| w.applied));
    assert!(writes[0].path.ends_with("/campaigns:mutate"));
    assert_eq!(writes[0].body["operations"][0]["update"]["status"], "PAUSED");
    assert_eq!(writes[0].body["operations"][0]["updateMask"], "status");
    assert_eq!(writes[1].body["operations"][0]["update"]["status"], "ENABLED");
    assert!(writes[2].path.ends_with("/campaignBudgets:mutate"));
    assert_eq!(
        writes[2].body["operations"][0]["update"]["amountMicros"],
        "123450000"
    );

    let synced = env.sync(CONNECTOR, &["campaigns"], "full-refresh").await;
    assert_succeeded(&synced);
    let records = env.records(CONNECTOR, "campaigns").await;
    let record = records
        .iter()
        .find(|r| r["id"] == json!(campaign))
        .expect("campaign");
    assert_eq!(record["daily_budget"], json!(123.45));

    assert_acted(
        &env.act_entries(CONNECTOR).await,
        &["pause-campaign", "resume-campaign", "set-daily-budget"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_actions_pause_and_resume_an_ad_and_refuse_an_unknown_one() {
    let env = start().await;
    let (customer, ad) = {
        let world = env.sandbox.world();
        let account = world.account(Platform::Google);
        (account.account_id.clone(), account.ads[2].clone())
    };
    let status = |env: &PlatformHost| {
        let world = env.sandbox.world();
        world.account(Platform::Google).ad(&ad.id).expect("ad").status
    };
    let resource = format!("customers/{customer}/adGroupAds/{}~{}", ad.ad_group_id, ad.id);

    let paused = act(&env, "pause-ad", json!({"ad_id": ad.id})).await;
    assert_eq!(paused.status, 200, "{}", paused.text);
    assert_eq!(
        paused.json["output"]["result"],
        json!({"results": [{"resourceName": resource}]})
    );
    assert_eq!(status(&env), Status::Paused);

    // A re-sync reads the ad back as paused.
    assert_succeeded(&env.sync(CONNECTOR, &["ads"], "full-refresh").await);
    let records = env.records(CONNECTOR, "ads").await;
    let record = records.iter().find(|r| r["id"] == json!(ad.id)).expect("ad");
    assert_eq!(record["status"], "paused", "{record}");

    let resumed = act(&env, "resume-ad", json!({"ad_id": ad.id})).await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(status(&env), Status::Active);

    let writes = env.sandbox.google.writes();
    let sent: Vec<(&str, &str, &Value, bool)> = writes
        .iter()
        .map(|w| (w.method.as_str(), w.path.as_str(), &w.body, w.applied))
        .collect();
    let path = format!("/v21/customers/{customer}/adGroupAds:mutate");
    let body = |status: &str| json!({"operations": [{"update": {"resourceName": resource, "status": status}, "updateMask": "status"}]});
    assert_eq!(
        sent,
        [
            ("POST", path.as_str(), &body("PAUSED"), true),
            ("POST", path.as_str(), &body("ENABLED"), true),
        ]
    );

    assert_acted(&env.act_entries(CONNECTOR).await, &["pause-ad", "resume-ad"]);

    // An unknown ad is not found by the lookup, and nothing is sent.
    let before = env.sandbox.world().account(Platform::Google).ads.clone();
    for (input, kind) in [
        (json!({"ad_id": "2199999999"}), "not-found"),
        (json!({"ad_id": "summer sale"}), "invalid-input"),
    ] {
        let (got, message) = plugin_error(&act(&env, "pause-ad", input.clone()).await);
        assert_eq!(got, kind, "{input}: {message}");
    }
    assert_eq!(env.sandbox.world().account(Platform::Google).ads, before);
    assert_eq!(env.sandbox.google.writes().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_action_input_is_refused_and_changes_nothing() {
    let env = start().await;
    let campaign = env.sandbox.world().account(Platform::Google).campaigns[0].clone();

    let negative = act(
        &env,
        "set-daily-budget",
        json!({"campaign_id": campaign.id, "daily_budget": -5}),
    )
    .await;
    assert!(
        negative.status >= 400 && negative.text.contains("daily_budget"),
        "{}",
        negative.text
    );
    let not_an_id = act(&env, "pause-campaign", json!({"campaign_id": "summer sale"})).await;
    assert!(
        not_an_id.status >= 400 && not_an_id.text.contains("campaign_id"),
        "{}",
        not_an_id.text
    );
    assert!(
        env.sandbox.google.writes().is_empty(),
        "refused before calling Google"
    );

    // After reading the campaign: an amount that is not whole cents, which
    // Google would refuse, and a campaign the account does not have.
    let fraction = act(
        &env,
        "set-daily-budget",
        json!({"campaign_id": campaign.id, "daily_budget": 12.345}),
    )
    .await;
    assert_refused(
        &fraction,
        "invalid-input",
        "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT",
    );
    let unknown = act(&env, "pause-campaign", json!({"campaign_id": "2199999999"})).await;
    assert_refused(
        &unknown,
        "not-found",
        "campaign 2199999999 is not in this account",
    );
    assert!(
        env.sandbox.google.writes().is_empty(),
        "refused before any mutate: {:?}",
        env.sandbox.google.writes()
    );
    let world = env.sandbox.world();
    assert_eq!(
        world.account(Platform::Google).campaign(&campaign.id),
        Some(&campaign)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_read_the_campaigns_and_ads_and_change_nothing() {
    let env = start().await;
    assert_ad_previews_match_the_platform(&env, Platform::Google).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_preview_is_refused_like_the_action_and_writes_nothing() {
    let env = start().await;
    assert_bad_ad_previews_are_refused_like_actions(&env, Platform::Google).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_not_accepted() {
    let env = start().await;
    let reply = env
        .invoke(CONNECTOR, "verify-webhook", json!({"headers": [], "body": "{}"}))
        .await;
    assert!(
        reply.status >= 400 && reply.text.contains("does not accept webhooks"),
        "{}",
        reply.text
    );
}
