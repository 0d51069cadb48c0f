//! The activity page follows the live feed, and a guardrail change shows
//! its simulation before it is saved.

use super::{browser, click, page_text, screenshot, sign_in, wait_for_text};
use fantoccini::Locator;
use omnify_tests::platforms::TENANT;
use omnify_tests::proposing::{budget_change, propose, start};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_and_the_guardrail_simulation_in_a_real_browser() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let env = start().await;
    propose(&env, vec![budget_change(&env, 0, 10.0, 0.9)], vec![]).await;
    let base = env.host.url.clone();
    sign_in(&client, &base, &env.admin).await;

    // The activity page follows the feed: a sync started from the
    // connections page, in another tab, shows up without a reload.
    client
        .goto(&format!("{base}/console/tenants/{TENANT}/activity"))
        .await
        .expect("the activity page");
    let activity = client.window().await.expect("this tab");
    wait_for_text(&client, "· live").await;
    let before = page_text(&client).await.matches("sync.start").count();
    let tab = client.new_window(true).await.expect("a tab");
    client.switch_to_window(tab.handle).await.expect("to the tab");
    client
        .goto(&format!("{base}/console/tenants/{TENANT}/connections"))
        .await
        .expect("the connections page");
    click(&client, "form[action$='/connections/meta-ads/sync'] button").await;
    client.switch_to_window(activity).await.expect("back");
    let by = Instant::now() + Duration::from_secs(30);
    while page_text(&client).await.matches("sync.start").count() <= before {
        assert!(
            Instant::now() < by,
            "the feed never showed the sync:\n{}",
            page_text(&client).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    screenshot(&client, "activity-live").await;

    // A guardrail change shows its simulation first, and only Save applies it.
    let autonomy = format!("/v1/tenants/{TENANT}/autonomy");
    let stored = env.get(&autonomy).await.json;
    client
        .goto(&format!("{base}/console/tenants/{TENANT}/admin/autonomy"))
        .await
        .expect("the autonomy page");
    client
        .find(Locator::Css("#candidate select[name='level']"))
        .await
        .expect("the level")
        .select_by_value("guided")
        .await
        .expect("chosen");
    click(&client, "#candidate button").await;
    wait_for_text(&client, "Save these settings").await;
    assert!(
        page_text(&client).await.contains("candidate-totals"),
        "the candidate's totals"
    );
    screenshot(&client, "autonomy-simulation").await;
    assert_eq!(
        env.get(&autonomy).await.json,
        stored,
        "a simulation saves nothing"
    );
    click(&client, "#save button").await;
    let by = Instant::now() + Duration::from_secs(15);
    while env.get(&autonomy).await.json["level"] != "guided" {
        assert!(Instant::now() < by, "{}", env.get(&autonomy).await.json);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let audit = env.audit().await;
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "autonomy.set" && e["actor"] == "admin"),
        "the audit chain names the admin"
    );
    client.close().await.expect("the session closes");
}
