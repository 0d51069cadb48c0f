//! The console in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`) against real hosts on loopback: `omnify serve --demo`
//! as a newcomer starts it, signed in to with the key it prints
//! ([`demo`]), and a test host for what the demo has no data for: an
//! expert-only proposal ([`decisions`]), the live feed and the guardrail
//! simulation ([`feed`]). A screenshot of every page is written to `target/console-screenshots/`.
//!
//! The browser comes from the system (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs). Without one the test says
//! so and passes, unless `OMNIFY_REQUIRE_BROWSER` is set (as `.ci/run`
//! does), in which case a missing browser fails it.

mod decisions;
mod demo;
mod feed;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A running chromedriver, stopped when dropped.
pub(super) struct Driver {
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
pub(super) async fn browser() -> Option<(Driver, Client)> {
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

pub(super) async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("written");
}

/// Click the element `css` selects.
pub(super) async fn click(client: &Client, css: &str) {
    let element = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"));
    element.click().await.expect("clicked");
}

/// The text of the page now.
pub(super) async fn page_text(client: &Client) -> String {
    client.source().await.expect("the page")
}

/// Wait until the page's source contains `text`.
pub(super) async fn wait_for_text(client: &Client, text: &str) -> String {
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

/// Sign `client` in at `base` with `token`.
pub(super) async fn sign_in(client: &Client, base: &str, token: &str) {
    client
        .goto(&format!("{base}/console/sign-in"))
        .await
        .expect("the sign-in page");
    let field = client.find(Locator::Id("key")).await.expect("the key field");
    field.send_keys(token).await.expect("typed");
    click(client, "form[action='/console/sign-in'] button").await;
    wait_for_text(client, "Sign out").await;
}

/// Fill in the reason of `id`'s reject form and send it.
pub(super) async fn reject(client: &Client, id: &str, reason: &str) {
    let form = client
        .find(Locator::Css(&format!("#proposal-{id} form.reject")))
        .await
        .expect("the reject form");
    form.find(Locator::Css("input[name='reason']"))
        .await
        .expect("the reason")
        .send_keys(reason)
        .await
        .expect("typed");
    form.find(Locator::Css("button"))
        .await
        .expect("the reject button")
        .click()
        .await
        .expect("clicked");
}
