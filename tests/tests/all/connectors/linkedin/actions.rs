//! The `linkedin-ads` writes: campaign and creative actions are Rest.li
//! partial updates that change the sandbox's world and are audited, bad
//! inputs change nothing, and previews read the platform and write nothing.

use super::super::support::{
    assert_acted, assert_ad_previews_match_the_platform, assert_bad_ad_previews_are_refused_like_actions,
    assert_succeeded, major, plugin_error,
};
use super::{CONNECTOR, env};
use omnify_sandbox::world::{Platform, Status};
use omnify_tests::platforms::PlatformHost;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_actions_are_partial_updates_and_are_audited() {
    let env = env().await;
    let (account_id, campaign) = {
        let world = env.sandbox.world();
        let account = world.account(Platform::LinkedIn);
        (account.account_id.clone(), account.campaigns[1].id.clone())
    };
    let now = |env: &PlatformHost| {
        let world = env.sandbox.world();
        let c = world
            .account(Platform::LinkedIn)
            .campaign(&campaign)
            .cloned()
            .expect("campaign");
        (c.status, c.daily_budget_cents)
    };
    let before = now(&env).1;

    let paused = env
        .act(
            CONNECTOR,
            "pause-campaign",
            json!({"campaign_id": campaign}),
            "p1",
        )
        .await;
    assert_eq!(paused.status, 200, "{}", paused.text);
    let result = &paused.json["output"]["result"];
    assert_eq!(
        (&result["status"], &result["previous_status"]),
        (&json!("paused"), &json!("active"))
    );
    assert_eq!(now(&env), (Status::Paused, before));
    let resumed = env
        .act(
            CONNECTOR,
            "resume-campaign",
            json!({"campaign_id": campaign}),
            "r1",
        )
        .await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(now(&env).0, Status::Active);
    let budget = json!({"campaign_id": campaign, "daily_budget": 123.45});
    let set = env.act(CONNECTOR, "set-daily-budget", budget, "b1").await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(
        set.json["output"]["result"]["previous_daily_budget"],
        json!(major(before))
    );
    assert_eq!(now(&env), (Status::Active, 12_345));

    let writes = env.sandbox.linkedin.writes();
    let path = format!("/rest/adAccounts/{account_id}/adCampaigns/{campaign}");
    let sent: Vec<(&str, &str, &Value, bool)> = writes
        .iter()
        .map(|w| (w.method.as_str(), w.path.as_str(), &w.body, w.applied))
        .collect();
    let set = |value: Value| json!({"patch": {"$set": value}});
    assert_eq!(
        sent,
        [
            ("POST", path.as_str(), &set(json!({"status": "PAUSED"})), true),
            ("POST", path.as_str(), &set(json!({"status": "ACTIVE"})), true),
            (
                "POST",
                path.as_str(),
                &set(json!({"dailyBudget": {"amount": "123.45", "currencyCode": "USD"}})),
                true
            ),
        ]
    );
    assert_acted(
        &env.act_entries(CONNECTOR).await,
        &["pause-campaign", "resume-campaign", "set-daily-budget"],
    );

    // The change shows in the next sync.
    assert_succeeded(&env.sync(CONNECTOR, &["campaigns"], "full-refresh").await);
    let records = env.records(CONNECTOR, "campaigns").await;
    let record = records
        .iter()
        .find(|r| r["id"] == campaign.as_str())
        .expect("the campaign");
    assert_eq!(record["daily_budget"], json!(123.45));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creative_actions_pause_and_resume_a_creative_and_refuse_an_unknown_one() {
    let env = env().await;
    let (account_id, ad) = {
        let world = env.sandbox.world();
        let account = world.account(Platform::LinkedIn);
        (account.account_id.clone(), account.ads[2].id.clone())
    };
    let status = |env: &PlatformHost| {
        env.sandbox
            .world()
            .account(Platform::LinkedIn)
            .ad(&ad)
            .map(|a| a.status)
    };

    let paused = env.act(CONNECTOR, "pause-ad", json!({"ad_id": ad}), "p1").await;
    assert_eq!(paused.status, 200, "{}", paused.text);
    assert_eq!(
        paused.json["output"]["result"],
        json!({"ad_id": ad, "status": "paused", "previous_status": "active"})
    );
    assert_eq!(status(&env), Some(Status::Paused));
    assert_succeeded(&env.sync(CONNECTOR, &["ads"], "full-refresh").await);
    let records = env.records(CONNECTOR, "ads").await;
    let record = records
        .iter()
        .find(|r| r["id"] == ad.as_str())
        .expect("the creative");
    assert_eq!(record["status"], "paused", "{record}");
    let resumed = env.act(CONNECTOR, "resume-ad", json!({"ad_id": ad}), "r1").await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(status(&env), Some(Status::Active));

    // The creative's URN is one percent-encoded path segment.
    let path = format!("/rest/adAccounts/{account_id}/creatives/urn%3Ali%3AsponsoredCreative%3A{ad}");
    let writes = env.sandbox.linkedin.writes();
    let sent: Vec<(&str, &Value, bool)> = writes
        .iter()
        .map(|w| (w.path.as_str(), &w.body, w.applied))
        .collect();
    let set = |status: &str| json!({"patch": {"$set": {"intendedStatus": status}}});
    assert_eq!(
        sent,
        [
            (path.as_str(), &set("PAUSED"), true),
            (path.as_str(), &set("ACTIVE"), true)
        ]
    );
    assert_acted(&env.act_entries(CONNECTOR).await, &["pause-ad", "resume-ad"]);

    let before = env.sandbox.world().account(Platform::LinkedIn).ads.clone();
    for (input, kind) in [
        (json!({"ad_id": "539999999"}), "not-found"),
        (json!({"ad_id": "not-an-id"}), "invalid-input"),
        (json!({}), "invalid-input"),
    ] {
        let (got, message) = plugin_error(&env.act(CONNECTOR, "pause-ad", input.clone(), "x").await);
        assert_eq!(got, kind, "{input}: {message}");
    }
    assert_eq!(env.sandbox.world().account(Platform::LinkedIn).ads, before);
    assert_eq!(env.sandbox.linkedin.writes().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_action_input_is_refused_and_changes_nothing() {
    let env = env().await;
    let before = env.sandbox.world().account(Platform::LinkedIn).campaigns.clone();
    let campaign = before[0].id.clone();
    let cases = [
        (
            "set-daily-budget",
            json!({"campaign_id": campaign, "daily_budget": -5}),
            "invalid-input",
            "daily_budget",
        ),
        (
            "set-daily-budget",
            json!({"campaign_id": campaign, "daily_budget": 10.005}),
            "invalid-input",
            "10.005",
        ),
        (
            "set-daily-budget",
            json!({"campaign_id": campaign}),
            "invalid-input",
            "daily_budget",
        ),
        (
            "pause-campaign",
            json!({"campaign_id": "not-an-id"}),
            "invalid-input",
            "campaign_id",
        ),
        (
            "pause-campaign",
            json!({"campaign_id": "519999999"}),
            "not-found",
            "519999999",
        ),
        (
            "delete-campaign",
            json!({"campaign_id": campaign}),
            "not-found",
            "delete-campaign",
        ),
    ];
    for (name, input, kind, needle) in cases {
        let (got, message) = plugin_error(&env.act(CONNECTOR, name, input.clone(), "k").await);
        assert_eq!(got, kind, "{name} {input}: {message}");
        assert!(
            message.contains(needle),
            "{name} {input}: no `{needle}` in {message}"
        );
    }
    assert!(
        env.sandbox.linkedin.writes().is_empty(),
        "{:?}",
        env.sandbox.linkedin.writes()
    );

    // Below LinkedIn's minimum daily budget: only LinkedIn knows, and says so.
    let low = json!({"campaign_id": campaign, "daily_budget": 5});
    let (kind, message) = plugin_error(&env.act(CONNECTOR, "set-daily-budget", low, "k").await);
    assert_eq!(kind, "invalid-input", "{message}");
    assert!(
        message.contains("ILLEGAL_ARGUMENT") && message.contains("minimum daily budget"),
        "{message}"
    );
    let writes = env.sandbox.linkedin.writes();
    assert_eq!(writes.len(), 1);
    assert!(!writes[0].applied);
    assert_eq!(env.sandbox.world().account(Platform::LinkedIn).campaigns, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_read_the_campaigns_and_creatives_and_change_nothing() {
    let env = env().await;
    assert_ad_previews_match_the_platform(&env, Platform::LinkedIn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_preview_is_refused_like_the_action_and_writes_nothing() {
    let env = env().await;
    assert_bad_ad_previews_are_refused_like_actions(&env, Platform::LinkedIn).await;
}
