//! The `linkedin-ads` connector against the LinkedIn Marketing API sandbox:
//! what it syncs is exactly the sandbox's account in major units, the
//! finders page by LinkedIn's cursor, incremental analytics re-read only
//! from the last day synced, LinkedIn's throttling, token and version
//! errors map to the right kinds, a token LinkedIn's OAuth issued works
//! until it expires, and the analytics agent reads LinkedIn like the other
//! platforms. The writes and their previews are in `linkedin/actions.rs`.

use super::support::{assert_failed, assert_insight, assert_succeeded, major, plugin_error};
use omnify_sandbox::linkedin::{ACCESS_TOKEN, API_VERSION};
use omnify_sandbox::world::Platform;
use omnify_tests::platforms::PlatformHost;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod actions;

const CONNECTOR: &str = "linkedin-ads";

async fn env() -> PlatformHost {
    PlatformHost::start(&[CONNECTOR]).await
}

fn date(record: &Value) -> String {
    record["date"].as_str().expect("date").to_string()
}

fn text<'a>(record: &'a Value, field: &str) -> &'a str {
    record[field]
        .as_str()
        .unwrap_or_else(|| panic!("no `{field}` in {record}"))
}

/// Every campaign insight is the world's totals of that campaign and day,
/// and every campaign day with delivery has its record.
fn assert_campaign_insights_match(env: &PlatformHost, records: &[Value]) {
    let world = env.sandbox.world();
    let account = world.account(Platform::LinkedIn);
    let records: BTreeMap<(String, String), &Value> = records
        .iter()
        .map(|r| ((text(r, "campaign_id").to_string(), date(r)), r))
        .collect();
    let mut expected = 0;
    for day in world.dates() {
        for campaign in &account.campaigns {
            let totals = account.campaign_day(&campaign.id, day);
            if totals.impressions == 0 {
                continue;
            }
            expected += 1;
            assert_insight(records[&(campaign.id.clone(), day.to_string())], &totals);
        }
    }
    assert_eq!(
        records.len(),
        expected,
        "one record per campaign and day with delivery"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_returns_exactly_the_sandboxs_account_and_metrics() {
    let env = env().await;
    let streams = [
        "ad_accounts",
        "campaign_groups",
        "campaigns",
        "ads",
        "campaign_insights",
        "ad_insights",
    ];
    assert_succeeded(&env.sync(CONNECTOR, &streams, "full-refresh").await);
    let world = env.sandbox.world().clone();
    let account = world.account(Platform::LinkedIn);

    let accounts = env.records(CONNECTOR, "ad_accounts").await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        (text(&accounts[0], "id"), text(&accounts[0], "currency")),
        (account.account_id.as_str(), "USD")
    );

    let groups = env.records(CONNECTOR, "campaign_groups").await;
    assert_eq!(groups.len(), account.campaign_groups.len());
    for (record, group) in groups.iter().zip(&account.campaign_groups) {
        assert_eq!(
            (text(record, "id"), text(record, "name")),
            (group.id.as_str(), group.name.as_str())
        );
        assert_eq!(record["status"], "active");
    }

    let campaigns = env.records(CONNECTOR, "campaigns").await;
    assert_eq!(campaigns.len(), account.campaigns.len());
    for (record, campaign) in campaigns.iter().zip(&account.campaigns) {
        assert_eq!(text(record, "id"), campaign.id);
        assert_eq!(text(record, "name"), campaign.name);
        assert_eq!(record["status"], "active");
        assert_eq!(
            record["daily_budget"],
            json!(major(campaign.daily_budget_cents)),
            "{record}"
        );
        assert_eq!(record["currency"], "USD");
        assert_eq!(record["objective"], campaign.objective.to_lowercase());
        let group = account
            .campaign_groups
            .iter()
            .find(|g| g.campaign_ids.contains(&campaign.id))
            .expect("the campaign's group");
        assert_eq!(text(record, "campaign_group_id"), group.id);
    }

    let ads = env.records(CONNECTOR, "ads").await;
    assert_eq!(ads.len(), account.ads.len());
    for (record, ad) in ads.iter().zip(&account.ads) {
        assert_eq!(text(record, "id"), ad.id);
        // Creatives compete inside their campaign: it is their ad group.
        assert_eq!(text(record, "ad_group_id"), ad.campaign_id);
        assert_eq!(text(record, "campaign_id"), ad.campaign_id);
        assert_eq!(record["status"], "active");
        assert_eq!(record["creative"]["headline"], ad.creative.headline.as_str());
        assert_eq!(record["creative"]["body"], ad.creative.body.as_str());
    }

    assert_campaign_insights_match(&env, &env.records(CONNECTOR, "campaign_insights").await);

    let ad_insights = env.records(CONNECTOR, "ad_insights").await;
    assert_eq!(
        ad_insights.len(),
        account.days.len(),
        "one record per creative and day"
    );
    let by_ad_day: BTreeMap<(String, String), &Value> = ad_insights
        .iter()
        .map(|r| ((text(r, "ad_id").to_string(), date(r)), r))
        .collect();
    for day in &account.days {
        let record = by_ad_day[&(day.ad_id.clone(), day.date.to_string())];
        let ad = account.ad(&day.ad_id).expect("the ad");
        assert_eq!(text(record, "campaign_id"), ad.campaign_id);
        assert_eq!(text(record, "ad_group_id"), ad.campaign_id);
        assert_eq!(record["spend"], json!(major(day.spend_cents)), "{record}");
        assert_eq!(record["impressions"], day.impressions);
        assert_eq!(record["clicks"], day.clicks);
        assert_eq!(record["conversions"], json!(day.conversions as f64));
        assert_eq!(
            record["conversion_value"],
            json!(major(day.conversion_value_cents))
        );
        assert_eq!(
            record["reach"],
            Value::Null,
            "LinkedIn's daily report has no reach"
        );
    }

    let requests = env.sandbox.linkedin.requests();
    assert!(
        requests.iter().all(|r| !r.contains(ACCESS_TOKEN)),
        "the token is a header"
    );
    let analytics: Vec<&String> = requests
        .iter()
        .filter(|r| r.contains("/rest/adAnalytics?"))
        .collect();
    let account_facet = format!(
        "accounts=List(urn%3Ali%3AsponsoredAccount%3A{})",
        account.account_id
    );
    assert!(
        analytics
            .iter()
            .all(|r| r.contains(&account_facet) && r.contains("timeGranularity=DAILY")),
        "{analytics:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_finders_page_with_linkedins_cursor() {
    let env = env().await;
    let read = |stream: &str, state: Option<Value>, limit: u32| {
        let mut input = json!({"stream": stream, "limit": limit});
        if let Some(state) = state {
            input["state"] = state;
        }
        env.invoke(CONNECTOR, "read", input)
    };
    let mut ids = Vec::new();
    let mut state = None;
    let mut pages = 0;
    loop {
        let reply = read("ads", state.take(), 4).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let batch = &reply.json["output"]["result"];
        let records = batch["records"].as_array().expect("records");
        assert!(records.len() <= 4, "{batch}");
        ids.extend(records.iter().map(|r| text(r, "id").to_string()));
        pages += 1;
        if batch["has_more"] != true {
            break;
        }
        state = Some(batch["state"].clone());
        assert!(
            state.as_ref().is_some_and(|s| s["page_token"].is_string()),
            "{batch}"
        );
    }
    let expected: Vec<String> = env
        .sandbox
        .world()
        .account(Platform::LinkedIn)
        .ads
        .iter()
        .map(|a| a.id.clone())
        .collect();
    assert_eq!(ids, expected, "every creative once, in id order");
    assert_eq!(pages, expected.len().div_ceil(4));
    let requests = env.sandbox.linkedin.requests();
    let finder: Vec<&String> = requests
        .iter()
        .filter(|r| r.contains("/creatives?q=criteria"))
        .collect();
    assert_eq!(finder.len(), pages);
    assert!(finder.iter().all(|r| r.contains("pageSize=4")), "{finder:#?}");
    assert!(
        finder[1..].iter().all(|r| r.contains("&pageToken=")),
        "{finder:#?}"
    );

    // A page larger than the finder serves is asked as its largest.
    let reply = read("ads", None, 5_000).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json["output"]["result"]["records"].as_array().map(Vec::len),
        Some(expected.len())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_reads_only_from_the_last_day_synced() {
    let env = env().await;
    assert_succeeded(&env.sync(CONNECTOR, &["campaign_insights"], "incremental").await);
    let campaigns = env.sandbox.world().account(Platform::LinkedIn).campaigns.len();
    assert_eq!(
        env.records(CONNECTOR, "campaign_insights").await.len(),
        campaigns * 90
    );

    env.sandbox.world().extend_days(3);
    env.sandbox.linkedin.clear_requests();
    let second = env.sync(CONNECTOR, &["campaign_insights"], "incremental").await;
    assert_succeeded(&second);
    // The last day synced again (it may have been partial), then three new days.
    assert_eq!(
        second["streams"][0]["records_written"],
        json!(campaigns * 4),
        "{second}"
    );
    let requests = env.sandbox.linkedin.requests();
    let analytics: Vec<&String> = requests.iter().filter(|r| r.contains("/adAnalytics?")).collect();
    assert!(
        analytics[0].contains("dateRange=(start:(year:2026,month:6,day:30),end:"),
        "{analytics:#?}"
    );
    let after = env.records(CONNECTOR, "campaign_insights").await;
    assert_eq!(after.len(), campaigns * 93);
    assert_campaign_insights_match(&env, &after);
    assert_eq!(after.iter().map(date).max().as_deref(), Some("2026-07-03"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_mid_sync_is_waited_out_for_linkedins_retry_after() {
    let env = env().await;
    env.sandbox.linkedin.rate_limit_after(2);
    let started = Instant::now();
    let run = env.sync(CONNECTOR, &["campaign_insights"], "full-refresh").await;
    assert_succeeded(&run);
    assert_eq!(env.sandbox.linkedin.rate_limited(), 1);
    let error = run["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("TOO_MANY_REQUESTS") && error.contains("1000 ms"),
        "{run:#}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_campaign_insights_match(&env, &env.records(CONNECTOR, "campaign_insights").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_or_a_retired_version_fails_with_linkedins_error() {
    let env = env().await;
    let mut body = env.enablement(CONNECTOR);
    body["secrets"]["access_token"] = json!("AQVexpired");
    assert_eq!(env.enable(CONNECTOR, &body).await.status, 200);
    let run = env.sync(CONNECTOR, &["campaigns"], "full-refresh").await;
    assert_failed(&run, &["authentication failed", "INVALID_ACCESS_TOKEN", "65600"]);
    assert_eq!(run["attempts"], 1, "auth is not retried: {run}");
    let campaign = env.sandbox.world().account(Platform::LinkedIn).campaigns[0]
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
    assert!(env.sandbox.linkedin.writes().is_empty());

    let mut body = env.enablement(CONNECTOR);
    body["config"]["api_version"] = json!("202401");
    assert_ne!(API_VERSION, "202401");
    assert_eq!(env.enable(CONNECTOR, &body).await.status, 200);
    let (kind, message) = plugin_error(&env.invoke(CONNECTOR, "check", Value::Null).await);
    assert_eq!(kind, "config", "{message}");
    assert!(
        message.contains("NONEXISTENT_VERSION") && message.contains("api_version"),
        "{message}"
    );
}

/// Sign in at the sandbox's LinkedIn authorization server as the host
/// does (authorization code with PKCE), returning the access token issued.
async fn issued_token(env: &PlatformHost) -> String {
    const REDIRECT: &str = "https://app.omnify.test/v1/oauth/callback";
    // RFC 7636 appendix B's verifier and its S256 challenge.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let server = &env.sandbox.linkedin;
    let oauth = server.oauth().clone();
    let encode = |pairs: &[(&str, &str)]| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let authorize = format!(
        "{}{}?{}",
        server.url,
        oauth.authorize_path(),
        encode(&[
            ("response_type", "code"),
            ("client_id", oauth.client_id()),
            ("redirect_uri", REDIRECT),
            ("scope", "r_ads rw_ads r_ads_reporting"),
            ("state", "st-1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    );
    let approved = client
        .get(&authorize)
        .send()
        .await
        .expect("the authorize endpoint answers");
    let location = approved
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no redirect: {}", approved.status()))
        .to_string();
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let code = form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .expect("a code");
    let body = encode(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", oauth.client_id()),
        ("client_secret", oauth.client_secret()),
    ]);
    let answer = client
        .post(format!("{}{}", server.url, oauth.token_path()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("the token endpoint answers")
        .text()
        .await
        .expect("a body");
    let tokens: Value = serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"));
    text(&tokens, "access_token").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_linkedins_oauth_issued_works_until_it_expires() {
    let env = env().await;
    let token = issued_token(&env).await;
    assert_ne!(token, ACCESS_TOKEN);
    let mut body = env.enablement(CONNECTOR);
    body["secrets"]["access_token"] = json!(token);
    assert_eq!(env.enable(CONNECTOR, &body).await.status, 200);
    assert_succeeded(&env.sync(CONNECTOR, &["campaigns"], "full-refresh").await);

    env.sandbox.linkedin.oauth().expire_access_tokens();
    let run = env.sync(CONNECTOR, &["campaigns"], "full-refresh").await;
    assert_failed(&run, &["authentication failed", "EXPIRED_ACCESS_TOKEN", "65601"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analytics_agent_reads_linkedin_like_the_other_platforms() {
    let env = PlatformHost::start(&[CONNECTOR, "analytics"]).await;
    assert_succeeded(
        &env.sync(CONNECTOR, &["campaigns", "campaign_insights"], "full-refresh")
            .await,
    );
    let run = env
        .run_agent("analytics", json!({"kind": "daily-review", "input": {}}))
        .await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    let insights = run["output"]["insights"].as_array().expect("insights");
    let blended = insights
        .iter()
        .find(|i| i["kind"] == "blended-metrics")
        .expect("blended metrics");
    let week = &blended["data"]["windows"]["7"];
    let world = env.sandbox.world();
    let account = world.account(Platform::LinkedIn);
    let dates: Vec<_> = world.dates().collect();
    let cents: i64 = dates[dates.len() - 7..]
        .iter()
        .map(|&d| account.spend_on(d))
        .sum();
    let spend = week["platforms"][CONNECTOR]["spend"]
        .as_f64()
        .expect("LinkedIn's spend");
    assert!(
        (spend - major(cents)).abs() < 0.01,
        "{spend} vs {}: {week:#}",
        major(cents)
    );
    assert!(
        blended["rationale"]
            .as_str()
            .is_some_and(|r| r.contains("LinkedIn")),
        "{blended:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_not_accepted() {
    let env = env().await;
    let reply = env
        .invoke(CONNECTOR, "verify-webhook", json!({"headers": [], "body": "{}"}))
        .await;
    assert!(
        reply.status >= 400 && reply.text.contains("does not accept webhooks"),
        "{}",
        reply.text
    );
}
