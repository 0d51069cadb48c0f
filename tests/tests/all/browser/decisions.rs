//! An operator decides the inbox: approves one proposal (the platform
//! sandbox applies the write and the audit chain names the key), rejects
//! one with a reason, cannot decide an expert-only one, and signs out.

use super::{browser, click, page_text, reject, screenshot, wait_for_text};
use fantoccini::Locator;
use omnify_tests::platforms::{PlatformHost, TENANT};
use omnify_tests::proposing::{budget_change, budget_writes, propose, set_level, start};
use serde_json::Value;
use std::time::{Duration, Instant};

async fn proposal(env: &PlatformHost, id: &str) -> Value {
    env.proposal(id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_decides_the_inbox_in_a_real_browser() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let env = start().await;
    let proposals = propose(
        &env,
        vec![
            budget_change(&env, 0, 10.0, 0.9),
            budget_change(&env, 1, -5.0, 0.8),
        ],
        vec![],
    )
    .await;
    let ids: Vec<String> = proposals
        .iter()
        .map(|p| p["id"].as_str().expect("an id").to_string())
        .collect();
    let (operator, key_id) = env.host.create_key(&env.admin, TENANT, "operator").await;
    let base = &env.host.url;

    // Sign in with the key.
    client
        .goto(&format!("{base}/console"))
        .await
        .expect("the console");
    screenshot(&client, "sign-in").await;
    let field = client.find(Locator::Id("key")).await.expect("the key field");
    field.send_keys(&operator).await.expect("typed");
    click(&client, "form[action='/console/sign-in'] button").await;
    let inbox = wait_for_text(&client, "Before → after").await;
    for id in &ids {
        assert!(inbox.contains(&format!("proposal-{id}")), "{id} is in the inbox");
    }
    screenshot(&client, "inbox").await;

    // Approve the first as proposed: the platform applies the write.
    let writes = budget_writes(&env);
    let approve = format!("#proposal-{} form[action$='/approve'] button.approve", ids[0]);
    click(&client, &approve).await;
    let by = Instant::now() + Duration::from_secs(20);
    while proposal(&env, &ids[0]).await["status"] != "executed" {
        assert!(Instant::now() < by, "{}", proposal(&env, &ids[0]).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(budget_writes(&env), writes + 1, "one write on the platform");
    let audit = env.audit().await;
    assert!(
        audit
            .iter()
            .any(|e| e["actor"] == format!("key:{key_id}") && e["details"]["proposal"] == ids[0].as_str()),
        "the audit chain names the key"
    );

    // Reject the second with a reason.
    reject(&client, &ids[1], "the season is over").await;
    let by = Instant::now() + Duration::from_secs(20);
    while proposal(&env, &ids[1]).await["status"] != "rejected" {
        assert!(Instant::now() < by, "{}", proposal(&env, &ids[1]).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(budget_writes(&env), writes + 1, "a rejection writes nothing");

    // An expert-only proposal is marked, and the operator's approval refused.
    set_level(&env, "expert-required").await;
    let expert_only = propose(&env, vec![budget_change(&env, 2, 5.0, 0.9)], vec![]).await;
    let expert_id = expert_only[0]["id"].as_str().expect("an id").to_string();
    client
        .goto(&format!("{base}/console/tenants/{TENANT}/inbox"))
        .await
        .expect("the inbox");
    wait_for_text(&client, "expert only").await;
    screenshot(&client, "inbox-expert-only").await;
    let approve = format!("#proposal-{expert_id} form[action$='/approve'] button.approve");
    if let Ok(button) = client.find(Locator::Css(&approve)).await {
        button.click().await.expect("clicked");
        wait_for_text(&client, "expert").await;
    }
    assert_eq!(proposal(&env, &expert_id).await["status"], "pending");

    // Every other page of the tenant opens, for the screenshots.
    for page in ["connections", "audit", "activity", "insights", "usage", "reports"] {
        let url = format!("{base}/console/tenants/{TENANT}/{page}");
        client.goto(&url).await.expect("the page");
        let text = page_text(&client).await;
        assert!(!text.contains("Not found"), "{page} exists");
        screenshot(&client, page).await;
    }

    // Sign out: back to the sign-in page, and the inbox is closed.
    click(&client, "form[action='/console/sign-out'] button").await;
    wait_for_text(&client, "Sign in").await;
    client
        .goto(&format!("{base}/console/tenants/{TENANT}/inbox"))
        .await
        .expect("the inbox");
    let text = wait_for_text(&client, "Sign in").await;
    assert!(
        !text.contains(&format!("proposal-{}", ids[0])),
        "nothing shown signed out"
    );
    client.close().await.expect("the session closes");
}
