//! The "agents at work" page (runs with their progress, the latest audit
//! entries, a cancel button), its live feed over server-sent events with
//! the session's cookie, and the usage page against the quotas.

use super::browser::{Browser, SESSION};
use omnify_api::ApiConfig;
use omnify_api::console::ConsoleConfig;
use omnify_tests::host::{TestHost, host_with_paged_source};
use omnify_tests::platforms::TENANT;
use omnify_tests::source::Source;
use reqwest::Method;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ACTIVITY: &str = "/console/tenants/acme/activity";
const EVENTS: &str = "/console/tenants/acme/activity/events";

/// A host with the paged source enabled for [`TENANT`] against a source
/// of `items`.
struct Setup {
    host: TestHost,
    admin: String,
    source: Source,
    _dir: tempfile::TempDir,
}

async fn setup(items: u64, tenants: &[&str]) -> Setup {
    let source = Source::start(items).await;
    let (host, admin, dir) = host_with_paged_source(tenants, &source).await;
    Setup {
        host,
        admin,
        source,
        _dir: dir,
    }
}

impl Setup {
    /// Start a sync of the paged source as `token`; returns the run's id.
    async fn start_sync(&self, token: &str) -> String {
        let started = self
            .host
            .call(
                Method::POST,
                &format!("/v1/tenants/{TENANT}/plugins/paged-source/sync"),
                Some(token),
                Some(&json!({})),
            )
            .await;
        assert_eq!(started.status, 202, "{}", started.text);
        started.json["id"].as_str().expect("a run id").to_string()
    }

    async fn run(&self, id: &str) -> Value {
        let path = format!("/v1/tenants/{TENANT}/runs/{id}");
        self.host
            .call(Method::GET, &path, Some(&self.admin), None)
            .await
            .json
    }

    async fn audit(&self) -> Vec<Value> {
        let path = format!("/v1/tenants/{TENANT}/audit?limit=1000");
        let reply = self.host.call(Method::GET, &path, Some(&self.admin), None).await;
        reply.json.as_array().cloned().unwrap_or_default()
    }
}

/// A browser signed in to [`TENANT`]'s console with a new key of `role`;
/// the key's id too.
async fn signed_in(setup: &Setup, url: &str, role: &str) -> (Browser, String) {
    let (key, id) = setup.host.create_key(&setup.admin, TENANT, role).await;
    let mut browser = Browser::new(url);
    let page = browser.sign_in(&key).await;
    assert_eq!(page.status, 303, "{}", page.text);
    (browser, id)
}

/// An open event stream, read as raw text.
struct Stream {
    response: reqwest::Response,
    text: String,
}

impl Stream {
    /// Open the console's stream of `browser`'s session at `url`.
    async fn open(browser: &Browser, url: &str) -> Self {
        let session = browser.session.as_deref().expect("signed in");
        let response = reqwest::Client::new()
            .get(format!("{url}{EVENTS}"))
            .header(COOKIE, format!("{SESSION}={session}"))
            .send()
            .await
            .expect("the host answers");
        assert_eq!(response.status().as_u16(), 200);
        let kind = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        assert_eq!(kind, Some("text/event-stream"));
        Self {
            response,
            text: String::new(),
        }
    }

    /// Read until `found` holds for what was read (true), or the stream
    /// ends (false); 30 s at most.
    async fn until(&mut self, found: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !found(&self.text) {
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("nothing came within 30 s; read so far:\n{}", self.text))
                .expect("the stream reads");
            match chunk {
                Some(bytes) => self.text.push_str(&String::from_utf8_lossy(&bytes)),
                None => return false,
            }
        }
        true
    }

    /// Read to the stream's end (30 s at most).
    async fn until_closed(&mut self) {
        assert!(!self.until(|_| false).await);
    }
}

/// A second server on `host`'s control plane whose console sessions last
/// `ttl`.
async fn console_with_ttl(host: &TestHost, ttl: Duration) -> (String, tokio::sync::oneshot::Sender<()>) {
    let config = ApiConfig {
        console: ConsoleConfig {
            session_ttl: ttl,
            ..ConsoleConfig::default()
        },
        ..ApiConfig::default()
    };
    let app = omnify_api::app(host.control.clone(), &config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = omnify_api::serve(listener, app, async {
            let _ = stopped.await;
        })
        .await;
    });
    (url, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_started_from_the_console_shows_with_its_runs_progress() {
    let setup = setup(120, &[TENANT]).await;
    let url = setup.host.url.clone();
    let (operator, _) = signed_in(&setup, &url, "operator").await;
    let connections = operator.get("/console/tenants/acme/connections").await;
    assert_eq!(connections.status, 200, "{}", connections.text);
    let started = operator
        .post(
            "/console/tenants/acme/connections/paged-source/sync",
            &[("csrf", &connections.csrf())],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.text);
    let runs = setup
        .host
        .call(Method::GET, "/v1/tenants/acme/runs", Some(&setup.admin), None)
        .await;
    let id = runs.json[0]["id"].as_str().expect("the run").to_string();
    let run = setup.host.wait_for_run(&setup.admin, TENANT, &id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let batches = run["streams"][0]["batches"].as_u64().expect("batches");
    assert!(batches >= 3, "120 items in batches of 50: {run}");

    let (viewer, _) = signed_in(&setup, &url, "viewer").await;
    let page = viewer.get(ACTIVITY).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains(&format!("data-run=\"{id}\"")), "{}", page.text);
    assert!(
        page.text.contains(&format!(
            "<code>items</code>: 120 records in {batches} batches, done"
        )),
        "{}",
        page.text
    );
    assert!(page.text.contains("status-succeeded"), "{}", page.text);
    assert!(page.text.contains("<code>sync.start</code>"), "{}", page.text);
    assert!(
        page.text.contains("/console/tenants/acme/connections"),
        "sync now is there"
    );
    assert!(
        !page.text.contains("/cancel\""),
        "nothing to cancel, and not for a viewer"
    );
    assert!(
        page.text
            .contains("data-events=\"/console/tenants/acme/activity/events?since=")
    );
    // The script is the console's own file; nothing inline runs.
    assert!(
        page.text
            .contains("<script src=\"/console/assets/activity.js\" defer></script>")
    );
    assert_eq!(page.text.matches("<script").count(), 1, "{}", page.text);
    let csp = page.headers[CONTENT_SECURITY_POLICY].to_str().expect("text");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let script = viewer.get("/console/assets/activity.js").await;
    assert_eq!(script.status, 200);
    assert!(
        script.headers[CONTENT_TYPE]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/javascript"))
    );
    assert!(script.text.contains("new EventSource"));

    let signed_out = Browser::new(&url).get(ACTIVITY).await;
    assert_eq!(signed_out.status, 401, "{}", signed_out.text);
    assert!(signed_out.text.contains("Sign in to the console"));
    setup.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_streams_what_happens_and_ends_with_the_session() {
    let setup = setup(60, &[TENANT]).await;
    let url = setup.host.url.clone();
    let (operator_key, _) = setup.host.create_key(&setup.admin, TENANT, "operator").await;
    let (browser, _) = signed_in(&setup, &url, "viewer").await;
    let mut stream = Stream::open(&browser, &url).await;
    let id = setup.start_sync(&operator_key).await;
    let started = "\"action\":\"sync.start\"";
    assert!(
        stream
            .until(|text| text.contains("event: audit") && text.contains(started))
            .await,
        "{}",
        stream.text
    );
    assert!(
        stream
            .until(|text| text.contains("event: run") && text.contains(&format!("\"id\":\"{id}\"")))
            .await,
        "{}",
        stream.text
    );

    // Without a session, or with a made-up one, there is no stream.
    let client = reqwest::Client::new();
    let anonymous = client.get(format!("{url}{EVENTS}")).send().await.expect("answer");
    assert_eq!(anonymous.status().as_u16(), 401);
    let forged = client
        .get(format!("{url}{EVENTS}"))
        .header(COOKIE, format!("{SESSION}={}", "0".repeat(64)))
        .send()
        .await
        .expect("answer");
    assert_eq!(forged.status().as_u16(), 401);
    let rival = client
        .get(format!("{url}/console/tenants/rival/activity/events"))
        .header(
            COOKIE,
            format!("{SESSION}={}", browser.session.as_deref().unwrap_or_default()),
        )
        .send()
        .await
        .expect("answer");
    assert_eq!(rival.status().as_u16(), 403, "another tenant's feed");

    // Signing out ends the open stream, and the cookie opens no other.
    let page = browser.get(ACTIVITY).await;
    let out = browser.post("/console/sign-out", &[("csrf", &page.csrf())]).await;
    assert_eq!(out.status, 303);
    stream.until_closed().await;
    assert!(stream.text.contains("event: end"), "{}", stream.text);
    assert!(stream.text.contains("sign in"), "{}", stream.text);
    let after = browser.get(EVENTS).await;
    assert_eq!(after.status, 401, "{}", after.text);

    // A session that expires ends its stream too.
    let (short, stop) = console_with_ttl(&setup.host, Duration::from_secs(4)).await;
    let (expiring, _) = signed_in(&setup, &short, "viewer").await;
    let mut stream = Stream::open(&expiring, &short).await;
    let opened = Instant::now();
    stream.until_closed().await;
    assert!(
        opened.elapsed() < Duration::from_secs(10),
        "ended with the session"
    );
    assert!(stream.text.contains("expired"), "{}", stream.text);
    let refused = expiring.get(EVENTS).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    let _ = stop.send(());
    setup.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_refuses_a_viewer_and_a_forged_form_and_cancels_for_an_operator() {
    let setup = setup(1000, &[TENANT]).await;
    setup.source.set_delay(Duration::from_millis(150));
    let url = setup.host.url.clone();
    let (operator, operator_id) = signed_in(&setup, &url, "operator").await;
    let (viewer, _) = signed_in(&setup, &url, "viewer").await;
    let id = setup.start_sync(&setup.admin).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while setup.run(&id).await["streams"][0]["records_written"]
        .as_u64()
        .unwrap_or(0)
        == 0
    {
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cancel = format!("/console/tenants/acme/runs/{id}/cancel");

    let seen = viewer.get(ACTIVITY).await;
    assert!(seen.text.contains("status-running"), "{}", seen.text);
    assert!(!seen.text.contains(&cancel), "no button for a viewer");
    let refused = viewer.post(&cancel, &[("csrf", &seen.csrf())]).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let page = operator.get(ACTIVITY).await;
    assert!(
        page.text.contains(&format!("action=\"{cancel}\"")),
        "{}",
        page.text
    );
    let wrong = format!("{}0", &page.csrf()[1..]);
    for fields in [vec![], vec![("csrf", wrong.as_str())]] {
        let forged = operator.post(&cancel, &fields).await;
        assert_eq!(forged.status, 403, "{}", forged.text);
        assert!(forged.text.contains("nothing was changed"), "{}", forged.text);
    }
    let run = setup.run(&id).await;
    assert_eq!(run["status"], "running", "{run}");
    assert!(run["cancelled_by"].is_null(), "{run}");
    assert!(!setup.audit().await.iter().any(|e| e["action"] == "run.cancel"));

    let cancelled = operator.post(&cancel, &[("csrf", &page.csrf())]).await;
    assert_eq!(cancelled.status, 303, "{}", cancelled.text);
    assert_eq!(cancelled.location(), ACTIVITY);
    let after = operator.get(ACTIVITY).await;
    assert!(
        after.text.contains(&format!("run {id}")),
        "the notice: {}",
        after.text
    );
    let run = setup.host.wait_for_run(&setup.admin, TENANT, &id).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    assert_eq!(run["cancelled_by"], format!("key:{operator_id}"));
    assert!(
        setup
            .audit()
            .await
            .iter()
            .any(|e| e["action"] == "run.cancel" && e["actor"] == format!("key:{operator_id}"))
    );
    let ended = operator.get(ACTIVITY).await;
    assert!(ended.text.contains("status-cancelled"), "{}", ended.text);
    assert!(
        !ended.text.contains(&format!("action=\"{cancel}\"")),
        "no button once ended"
    );
    let again = operator.post(&cancel, &[("csrf", &page.csrf())]).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert!(again.text.contains("already ended"), "{}", again.text);
    setup.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_page_shows_a_plugins_calls_against_the_quotas() {
    let setup = setup(120, &[TENANT, "rival"]).await;
    let url = setup.host.url.clone();
    let quotas = json!({ "fuel_per_day": 9_000_000_000_u64, "calls_per_minute": 600, "concurrent_calls": 4 });
    let set = setup
        .host
        .call(
            Method::PUT,
            "/v1/tenants/acme/quotas",
            Some(&setup.admin),
            Some(&quotas),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let id = setup.start_sync(&setup.admin).await;
    let run = setup.host.wait_for_run(&setup.admin, TENANT, &id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let usage = setup
        .host
        .call(Method::GET, "/v1/tenants/acme/usage", Some(&setup.admin), None)
        .await;
    let row = usage
        .json
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["plugin"] == "paged-source"))
        .cloned()
        .unwrap_or_else(|| panic!("no usage of the source: {}", usage.text));
    let calls = row["calls"].as_u64().expect("calls");
    let fuel = row["fuel"].as_u64().expect("fuel");
    assert!(calls >= 3 && fuel > 0, "{row}");

    let (viewer, _) = signed_in(&setup, &url, "viewer").await;
    let page = viewer.get("/console/tenants/acme/usage").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let day = row["day"].as_str().expect("a day");
    let expected =
        format!("<td class=\"nowrap\">{day}</td>\n    <td>paged-source</td>\n    <td>{calls}</td>");
    assert!(page.text.contains(&expected), "{}", page.text);
    assert!(page.text.contains(&format!("<td>{fuel}</td>")), "{}", page.text);
    for quota in ["fuel_per_day", "calls_per_minute", "concurrent_calls"] {
        assert!(page.text.contains(&format!("<code>{quota}</code>")), "{quota}");
    }
    assert!(page.text.contains("<td>9000000000</td>"), "{}", page.text);
    assert!(page.text.contains("<td>600</td>") && page.text.contains("<td>4</td>"));
    // The chart: a bar for today with its fuel, under the quota's line.
    assert!(page.text.contains("<svg"), "{}", page.text);
    assert!(
        page.text.contains(&format!("<title>{day}: {fuel} fuel</title>")),
        "{}",
        page.text
    );
    assert!(page.text.contains("class=\"quota\""));
    assert!(page.text.contains("fuel_per_day 9000000000"));
    assert!(page.text.contains("0 days reached it"), "{}", page.text);

    // Another tenant's key sees none of it.
    let (rival_key, _) = setup.host.create_key(&setup.admin, "rival", "expert").await;
    let mut rival = Browser::new(&url);
    assert_eq!(rival.sign_in(&rival_key).await.status, 303);
    let refused = rival.get("/console/tenants/acme/usage").await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(!refused.text.contains("paged-source"));
    let own = rival.get("/console/tenants/rival/usage").await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert!(own.text.contains("No call was made"), "{}", own.text);
    assert!(own.text.contains("no daily fuel quota"), "{}", own.text);
    setup.host.stop().await;
}
