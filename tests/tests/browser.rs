//! The console in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`) against a real host on loopback. An operator signs in
//! with a key, sees the pending proposals, approves one (the platform
//! sandbox applies the write and the audit chain names the key), rejects
//! one with a reason, cannot decide an expert-only one, and signs out.
//! A screenshot of every page is written to `target/console-screenshots/`.
//!
//! The browser comes from the system (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs). Without one the test says
//! so and passes, unless `OMNIFY_REQUIRE_BROWSER` is set (as `.ci/run`
//! does), in which case a missing browser fails it.

use fantoccini::{Client, ClientBuilder, Locator};
use omnify_tests::platforms::{PlatformHost, TENANT};
use omnify_tests::proposing::{budget_change, budget_writes, propose, set_level, start};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A running chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start chromedriver and a headless Chromium session, or `None` when the
/// machine has no browser and none is required.
async fn browser() -> Option<(Driver, Client)> {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var_os("OMNIFY_REQUIRE_BROWSER").is_none(),
            "OMNIFY_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing"
        );
        eprintln!("no Chromium here ({CHROMIUM}, {CHROMEDRIVER}): the browser test did not run");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().expect("a profile directory");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: profile,
    };
    let status = format!("{}/status", driver.url);
    let ready_by = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = reqwest::get(&status).await.ok().map(|r| r.status().is_success());
        if ready == Some(true) {
            break;
        }
        assert!(Instant::now() < ready_by, "chromedriver never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let args = json!([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1000",
        format!("--user-data-dir={}", driver._profile.path().display()),
    ]);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"binary": CHROMIUM, "args": args}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session");
    Some((driver, client))
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("written");
}

/// Click the element `css` selects.
async fn click(client: &Client, css: &str) {
    let element = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"));
    element.click().await.expect("clicked");
}

/// The text of the page now.
async fn page_text(client: &Client) -> String {
    client.source().await.expect("the page")
}

/// Wait until the page's source contains `text`.
async fn wait_for_text(client: &Client, text: &str) -> String {
    let by = Instant::now() + Duration::from_secs(15);
    loop {
        let page = page_text(client).await;
        if page.contains(text) {
            return page;
        }
        assert!(Instant::now() < by, "`{text}` never appeared in:\n{page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

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
    let reject = format!("#proposal-{} form.reject", ids[1]);
    let form = client.find(Locator::Css(&reject)).await.expect("the reject form");
    form.find(Locator::Css("input[name='reason']"))
        .await
        .expect("the reason")
        .send_keys("the season is over")
        .await
        .expect("typed");
    form.find(Locator::Css("button"))
        .await
        .expect("the reject button")
        .click()
        .await
        .expect("clicked");
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

/// Sign `client` in at `base` with `token`.
async fn sign_in(client: &Client, base: &str, token: &str) {
    client
        .goto(&format!("{base}/console/sign-in"))
        .await
        .expect("the sign-in page");
    let field = client.find(Locator::Id("key")).await.expect("the key field");
    field.send_keys(token).await.expect("typed");
    click(client, "form[action='/console/sign-in'] button").await;
    wait_for_text(client, "Sign out").await;
}

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
