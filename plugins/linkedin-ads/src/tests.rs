//! The connector's calls as LinkedIn receives them, under the SDK's test
//! harness: the versioned headers, the Rest.li 2.0 query strings, cursor
//! paging, partial updates and the rate-limit signal.

use super::*;
use chrono::Utc;
use omnify_sdk::connector::SyncMode;
use omnify_sdk::testing::{Harness, Reply};

const BASE: &str = "https://api.linkedin.test";
const TOKEN: &str = "AQV-test-token";

fn harness() -> Harness {
    Harness::new()
        .config(json!({"base_url": BASE, "api_version": "202510", "account_id": "507404993"}))
        .secret("access_token", TOKEN)
}

fn account() -> Reply {
    Reply::json(
        200,
        json!({"id": 507404993, "name": "B2B", "currency": "USD", "status": "ACTIVE"}),
    )
}

const CAMPAIGNS: &str = "https://api.linkedin.test/rest/adAccounts/507404993/adCampaigns?q=search\
    &search=(status:(values:List(ACTIVE,PAUSED,ARCHIVED,COMPLETED,CANCELED,DRAFT,PENDING_DELETION)))\
    &sortOrder=ASCENDING&pageSize=2";

#[test]
fn campaigns_page_with_linkedins_cursor_and_versioned_headers() {
    let campaign = |id: u64, budget: &str| {
        json!({"id": id, "name": format!("C{id}"), "status": "ACTIVE",
            "dailyBudget": {"amount": budget, "currencyCode": "USD"}})
    };
    let harness = harness()
        .reply("GET", &format!("{BASE}/rest/adAccounts/507404993"), account())
        .reply(
            "GET",
            CAMPAIGNS,
            Reply::json(
                200,
                json!({"elements": [campaign(1, "150.00"), campaign(2, "80.50")],
                    "metadata": {"nextPageToken": "dGVzdA=="}}),
            ),
        )
        .reply(
            "GET",
            &format!("{CAMPAIGNS}&pageToken=dGVzdA%3D%3D"),
            Reply::json(200, json!({"elements": [campaign(3, "50.00")], "metadata": {}})),
        );
    let request = ReadRequest::new("campaigns").with_limit(2);
    let first = harness
        .run(|| LinkedInAds::read(request.clone()))
        .expect("a batch");
    assert_eq!(first.records.len(), 2);
    assert_eq!(first.records[1]["daily_budget"], 80.5);
    assert!(first.has_more);
    let state = first.state.clone().expect("a state");
    let second = harness
        .run(|| LinkedInAds::read(request.with_state(state)))
        .expect("a batch");
    assert_eq!(second.records[0]["id"], "3");
    assert!(!second.has_more);
    assert_eq!(harness.unanswered(), Vec::new());
    for sent in harness.requests() {
        assert_eq!(sent.header("linkedin-version"), Some("202510"), "{}", sent.url);
        assert_eq!(sent.header("x-restli-protocol-version"), Some("2.0.0"));
        assert_eq!(sent.header("authorization"), Some("Bearer AQV-test-token"));
    }
    // The account's currency is read once per pass.
    assert_eq!(harness.requests().len(), 3);
}

#[test]
fn daily_analytics_are_read_by_window_with_restli_dates_and_facets() {
    let today = Utc::now().date_naive();
    let start = today - chrono::Duration::days(3);
    let harness = harness().setting("start_date", json!(start.to_string()));
    let range = restli::date_range(start, today);
    let url = format!(
        "{BASE}/rest/adAnalytics?q=analytics&pivot=CREATIVE&timeGranularity=DAILY&dateRange={range}\
         &accounts=List(urn%3Ali%3AsponsoredAccount%3A507404993)&fields=dateRange,pivotValues,impressions,\
         clicks,costInLocalCurrency,externalWebsiteConversions,conversionValueInLocalCurrency"
    );
    let element = |day: NaiveDate, creative: u64| {
        use chrono::Datelike;
        json!({"dateRange": {"start": {"year": day.year(), "month": day.month(), "day": day.day()}},
            "pivotValues": [format!("urn:li:sponsoredCreative:{creative}")], "impressions": 100, "clicks": 3,
            "costInLocalCurrency": "12.34", "externalWebsiteConversions": 1,
            "conversionValueInLocalCurrency": "56.00"})
    };
    let lookup = format!(
        "{BASE}/rest/adAccounts/507404993/creatives?q=criteria\
         &creatives=List(urn%3Ali%3AsponsoredCreative%3A71,urn%3Ali%3AsponsoredCreative%3A72)&pageSize=100"
    );
    let harness = harness
        .reply("GET", &format!("{BASE}/rest/adAccounts/507404993"), account())
        .reply(
            "GET",
            &url,
            Reply::json(
                200,
                json!({"paging": {"start": 0, "count": 10, "links": []},
                "elements": [element(start, 71), element(today, 72)]}),
            ),
        )
        .reply(
            "GET",
            &lookup,
            Reply::json(
                200,
                json!({"elements": [
                {"id": "urn:li:sponsoredCreative:71", "campaign": "urn:li:sponsoredCampaign:5"},
                {"id": "urn:li:sponsoredCreative:72", "campaign": "urn:li:sponsoredCampaign:6"}]}),
            ),
        );
    let request = ReadRequest::new("ad_insights").with_mode(SyncMode::Incremental);
    let batch = harness.run(|| LinkedInAds::read(request)).expect("a batch");
    assert_eq!(harness.unanswered(), Vec::new());
    assert_eq!(batch.records.len(), 2);
    assert_eq!(batch.records[1]["campaign_id"], "6");
    assert_eq!(batch.records[1]["spend"], 12.34);
    assert_eq!(batch.records[1]["currency"], "USD");
    assert!(!batch.has_more);
    assert_eq!(batch.state, Some(json!({"cursor": today.to_string()})));
}

#[test]
fn actions_are_partial_updates_of_what_was_read() {
    let campaign = format!("{BASE}/rest/adAccounts/507404993/adCampaigns/510000001");
    let harness = harness()
        .reply(
            "GET",
            &campaign,
            Reply::json(
                200,
                json!({"id": 510000001, "status": "ACTIVE",
                "dailyBudget": {"amount": "150.00", "currencyCode": "USD"}}),
            ),
        )
        .reply("POST", &campaign, Reply::status(204));
    let input = json!({"campaign_id": "510000001", "daily_budget": 123.4});
    let result = harness
        .run(|| LinkedInAds::act("set-daily-budget", input.clone(), "key"))
        .expect("set");
    assert_eq!(result["previous_daily_budget"], 150.0);
    let preview = harness
        .run(|| LinkedInAds::preview("pause-campaign", json!({"campaign_id": 510000001})))
        .expect("a preview");
    assert_eq!(
        (preview.current, preview.after, preview.unit.as_str()),
        (150.0, 0.0, "USD")
    );
    let writes: Vec<_> = harness
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(writes.len(), 1, "a preview writes nothing");
    assert_eq!(writes[0].header("x-restli-method"), Some("PARTIAL_UPDATE"));
    assert_eq!(
        writes[0].body_json(),
        Some(json!({"patch": {"$set": {"dailyBudget": {"amount": "123.40", "currencyCode": "USD"}}}}))
    );

    let creative = format!("{BASE}/rest/adAccounts/507404993/creatives/urn%3Ali%3AsponsoredCreative%3A9");
    let harness = harness
        .reply(
            "GET",
            &creative,
            Reply::json(
                200,
                json!({"id": "urn:li:sponsoredCreative:9", "intendedStatus": "ACTIVE",
                "account": "urn:li:sponsoredAccount:507404993"}),
            ),
        )
        .reply("POST", &creative, Reply::status(204));
    let paused = harness
        .run(|| LinkedInAds::act("pause-ad", json!({"ad_id": "9"}), "key"))
        .expect("paused");
    assert_eq!(
        paused,
        json!({"ad_id": "9", "status": "paused", "previous_status": "active"})
    );
}

#[test]
fn a_throttled_call_is_rate_limited_and_a_bad_input_sends_nothing() {
    let harness = harness().reply(
        "GET",
        &format!("{BASE}/rest/adAccounts/507404993"),
        Reply::json(
            429,
            json!({"status": 429, "code": "TOO_MANY_REQUESTS", "message": "Too many requests"}),
        )
        .header("Retry-After", "3"),
    );
    let error = harness.run(LinkedInAds::check).expect_err("throttled");
    assert!(
        matches!(&error, Error::RateLimited { retry_after_ms: 3000, message } if message.contains("TOO_MANY_REQUESTS")),
        "{error:?}"
    );
    assert_eq!(harness.requests().len(), 1, "a 429 is left to the host");
    let before = harness.requests().len();
    let refused = harness.run(|| LinkedInAds::act("set-daily-budget", json!({"campaign_id": "1"}), "k"));
    assert!(matches!(refused, Err(Error::InvalidInput(m)) if m.contains("daily_budget")));
    let refused = harness.run(|| LinkedInAds::act("pause-campaign", json!({"campaign_id": "x"}), "k"));
    assert!(matches!(refused, Err(Error::InvalidInput(m)) if m.contains("campaign_id")));
    assert_eq!(harness.requests().len(), before);
    let config = harness
        .clone()
        .setting("account_id", json!("act_1"))
        .run(LinkedInAds::check);
    assert!(matches!(config, Err(Error::Config(m)) if m.contains("account_id")));
}
