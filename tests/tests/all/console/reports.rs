//! Reports from the console: the page, and the same CSV the API gives,
//! allowed as the API's route is.

use super::browser::{Browser, key};
use omnify_tests::platforms::TENANT;
use omnify_tests::proposing::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_downloads_the_reports_the_api_gives() {
    let env = start().await;
    env.sync("meta-ads", &["campaign_insights"], "full-refresh").await;
    let (viewer, _) = key(&env, "viewer").await;
    let mut browser = Browser::new(&env.host.url);
    browser.sign_in_to_inbox(&viewer).await;

    let page = browser.get(&format!("/console/tenants/{TENANT}/reports")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("Download") && page.text.contains("meta-ads/"),
        "{}",
        page.text
    );

    let download =
        format!("/console/tenants/{TENANT}/reports/download?dataset=usage&format=csv&from=&to=&stream=");
    let file = browser.get(&download).await;
    assert_eq!(file.status, 200, "{}", file.text);
    let api = env.get(&format!("/v1/tenants/{TENANT}/reports/usage")).await;
    assert_eq!(file.text, api.text, "the same file as the API's");
    assert!(
        file.text
            .lines()
            .next()
            .is_some_and(|header| header.contains("calls"))
    );

    let backwards = format!(
        "/console/tenants/{TENANT}/reports/download?dataset=usage&format=csv&from=2026-03-02&to=2026-03-01&stream="
    );
    let refused = browser.get(&backwards).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(refused.text.contains("is after"), "{}", refused.text);

    let elsewhere = browser.get("/console/tenants/rival/reports").await;
    assert_eq!(elsewhere.status, 403, "another tenant's reports");
}
