//! The test harness, used as a partner would: a connector and an agent
//! written here, their exports called natively inside `Harness::run`.

// The harness is native only: inside a component the host serves the calls.
#![cfg(not(target_arch = "wasm32"))]

use omnify_sdk::agent::{Agent, AgentInfo, Insight, RunOutput, Severity, Task};
use omnify_sdk::connector::{Batch, Connector, ReadRequest, Stream};
use omnify_sdk::log::Level;
use omnify_sdk::testing::{Harness, Reply};
use omnify_sdk::{Error, http, json, kv};
use serde::Deserialize;
use std::time::Duration;

const BASE: &str = "https://api.example.test";

#[derive(Deserialize)]
struct Config {
    base_url: String,
}

#[derive(Deserialize)]
struct Page {
    items: Vec<serde_json::Value>,
    next_page: Option<u32>,
}

/// Reads `items` one page per batch, resuming from the stream state, and
/// keeps the last page read in KV.
struct Items;

impl Connector for Items {
    fn spec() -> serde_json::Value {
        json!({"type": "object", "required": ["base_url"]})
    }

    fn check() -> Result<(), Error> {
        let config: Config = omnify_sdk::config::get()?;
        http::get(format!("{}/ping", config.base_url))
            .send()?
            .error_for_status()?;
        Ok(())
    }

    fn discover() -> Result<Vec<Stream>, Error> {
        Ok(vec![Stream::new("items", &["id"], json!({"type": "object"}))])
    }

    fn read(request: ReadRequest) -> Result<Batch, Error> {
        let config: Config = omnify_sdk::config::get()?;
        let page_number: u32 = request.state_as()?.unwrap_or(1);
        let page: Page = http::get(format!("{}/items", config.base_url))
            .query("page", page_number)
            .bearer_auth(&omnify_sdk::secrets::get("api_token")?)
            .send()?
            .error_for_status()?
            .json()?;
        kv::set("cursor", page_number.to_string().as_bytes())?;
        omnify_sdk::info!("page {page_number}: {} items", page.items.len());
        let batch = Batch::from_records(&page.items)?;
        match page.next_page {
            Some(next) => Ok(batch.with_state(&next)?.with_more(true)),
            None => Ok(batch),
        }
    }
}

fn page_url(page: u32) -> String {
    format!("{BASE}/items?page={page}")
}

fn connector_harness() -> Harness {
    Harness::new()
        .config(json!({"base_url": BASE}))
        .secret("api_token", "t0k")
}

#[test]
fn a_connector_pages_retries_a_429_after_its_retry_after_and_writes_kv() {
    let harness = connector_harness()
        .kv_entry("cursor", b"0")
        .reply(
            "GET",
            &page_url(1),
            Reply::json(200, json!({"items": [{"id": 1}, {"id": 2}], "next_page": 2})),
        )
        .reply("GET", &page_url(2), Reply::status(429).header("retry-after", "1"))
        .reply(
            "GET",
            &page_url(2),
            Reply::json(200, json!({"items": [{"id": 3}], "next_page": null})),
        );

    let first = harness
        .run(|| Items::read(ReadRequest::new("items")))
        .expect("first page");
    assert_eq!(first.records, vec![json!({"id": 1}), json!({"id": 2})]);
    assert!(first.has_more);
    assert_eq!(harness.kv("cursor"), Some(b"1".to_vec()));

    let state = first.state.expect("a state to resume after");
    let second = harness
        .run(|| Items::read(ReadRequest::new("items").with_state(state)))
        .expect("second page, after a 429");
    assert_eq!(second.records, vec![json!({"id": 3})]);
    assert!(!second.has_more);
    assert_eq!(second.state, None);
    assert_eq!(harness.kv("cursor"), Some(b"2".to_vec()));

    let requests = harness.requests();
    let urls: Vec<&str> = requests.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(urls, [page_url(1), page_url(2), page_url(2)]);
    assert!(requests.iter().all(|r| r.method == "GET" && r.answered));
    assert_eq!(requests[0].header("Authorization"), Some("Bearer t0k"));
    // The 429's `retry-after: 1` was waited out once, without sleeping.
    assert_eq!(harness.sleeps(), vec![Duration::from_secs(1)]);
    assert_eq!(
        harness.logs(),
        vec![
            (Level::Info, "page 1: 2 items".to_string()),
            (Level::Info, "page 2: 1 items".to_string()),
        ]
    );
}

#[test]
fn the_last_reply_repeats_and_a_persistent_long_429_is_rate_limited() {
    let harness = connector_harness()
        .reply("GET", &page_url(1), Reply::status(503))
        .reply(
            "GET",
            &page_url(1),
            Reply::status(429).header("retry-after", "30"),
        );

    let error = harness
        .run(|| Items::read(ReadRequest::new("items")))
        .expect_err("a 30 s retry-after is left to the host's scheduler");
    match error {
        Error::RateLimited { retry_after_ms, .. } => assert_eq!(retry_after_ms, 30_000),
        other => panic!("expected RateLimited, got {other:?}"),
    }
    // The 503 was retried after the policy's first backoff; the 429 that
    // followed was too long to wait inside the call.
    assert_eq!(harness.requests().len(), 2);
    assert_eq!(harness.sleeps(), vec![Duration::from_millis(200)]);

    let again = harness.run(|| Items::read(ReadRequest::new("items")));
    assert!(matches!(again, Err(Error::RateLimited { .. })), "{again:?}");
    assert_eq!(harness.requests().len(), 3, "the 429 repeats as the last reply");
}

#[test]
fn a_request_without_a_scripted_reply_gets_a_transport_error_not_a_panic() {
    let harness = connector_harness();

    let error = harness.run(Items::check).expect_err("nothing answers /ping");
    match &error {
        Error::Transient(message) => {
            assert!(
                message.contains("no reply scripted for GET https://api.example.test/ping"),
                "{message}"
            );
        }
        other => panic!("expected Transient, got {other:?}"),
    }
    let unanswered = harness.unanswered();
    assert!(!unanswered.is_empty());
    assert!(
        unanswered
            .iter()
            .all(|r| r.url == format!("{BASE}/ping") && !r.answered)
    );
    assert_eq!(harness.requests(), unanswered);
}

#[test]
fn a_missing_secret_is_the_configuration_error_the_host_gives() {
    let harness = Harness::new().config(json!({"base_url": BASE}));
    let error = harness
        .run(|| Items::read(ReadRequest::new("items")))
        .expect_err("no api_token");
    match &error {
        Error::Config(message) => assert!(message.contains("`api_token` is not declared"), "{message}"),
        other => panic!("expected Config, got {other:?}"),
    }
    assert!(
        harness.requests().is_empty(),
        "no request before the secret is read"
    );

    let declared = Harness::new().declared_secret("api_token");
    let error = declared.run(|| omnify_sdk::secrets::get("api_token"));
    match &error {
        Err(Error::Config(message)) => assert!(message.contains("has not set it"), "{message}"),
        other => panic!("expected Config, got {other:?}"),
    }
}

#[test]
fn configuration_reads_match_the_host() {
    let harness = Harness::new()
        .config(json!({"base_url": BASE}))
        .setting("page_size", json!(50));
    harness.run(|| {
        assert_eq!(
            omnify_sdk::config::get_value(),
            json!({"base_url": BASE, "page_size": 50})
        );
        let raw: serde_json::Value = serde_json::from_str(&omnify_sdk::config::get_raw()).expect("JSON");
        assert_eq!(raw["page_size"], json!(50));
        assert_eq!(omnify_sdk::config::setting::<u32>("page_size"), Ok(Some(50)));
        assert_eq!(omnify_sdk::config::setting::<u32>("absent"), Ok(None));
    });

    let empty = Harness::new();
    let error = empty.run(|| Items::read(ReadRequest::new("items")));
    assert!(matches!(error, Err(Error::Config(_))), "{error:?}");
}

#[test]
fn kv_keeps_the_hosts_key_value_semantics() {
    let harness = Harness::new()
        .kv_entry("b", "2")
        .kv_entry("a/1", "x")
        .kv_entry("a/2", "y");
    harness.run(|| {
        assert_eq!(
            kv::list_keys("a/", None, 10),
            Ok(vec!["a/1".to_string(), "a/2".to_string()])
        );
        assert_eq!(kv::list_keys("a/", Some("a/1"), 10), Ok(vec!["a/2".to_string()]));
        assert_eq!(kv::list_keys("", None, 1), Ok(vec!["a/1".to_string()]));
        assert_eq!(kv::delete("b"), Ok(true));
        assert_eq!(kv::delete("b"), Ok(false));
        assert!(matches!(kv::set("", b"v"), Err(Error::InvalidInput(_))));
        assert!(matches!(kv::get(&"k".repeat(257)), Err(Error::InvalidInput(_))));
        assert!(matches!(
            kv::set("big", &vec![0; 65 * 1024]),
            Err(Error::InvalidInput(_))
        ));
        kv::set_json("state", &json!({"n": 1})).expect("set");
        assert_eq!(
            kv::get_json::<serde_json::Value>("state"),
            Ok(Some(json!({"n": 1})))
        );
    });
    assert_eq!(harness.kv("b"), None);
    assert_eq!(harness.kv_entries().len(), 3);

    let refused = Harness::new().without_kv();
    let error = refused.run(|| kv::get("cursor"));
    assert!(matches!(error, Err(Error::Config(_))), "{error:?}");
}

#[test]
fn a_run_that_panics_keeps_no_kv_writes_and_other_runs_still_work() {
    let harness = Harness::new().kv_entry("cursor", "before");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        harness.run(|| {
            kv::set("cursor", b"during").expect("set");
            panic!("the plugin traps");
        })
    }));
    assert!(outcome.is_err());
    assert_eq!(harness.kv("cursor"), Some(b"before".to_vec()));
    assert_eq!(harness.run(|| kv::get("cursor")), Ok(Some(b"before".to_vec())));
}

/// Sums the spend of the campaigns synced by `meta-ads`.
struct Spend;

impl Agent for Spend {
    fn describe() -> AgentInfo {
        AgentInfo {
            name: "spend".into(),
            description: "sums spend".into(),
            tasks: vec![],
        }
    }

    fn run(task: Task) -> Result<RunOutput, Error> {
        let connector = task.input["connector"].as_str().unwrap_or("meta-ads").to_string();
        let mut total = 0.0;
        let mut count = 0;
        for record in omnify_sdk::data::records::<serde_json::Value>(&connector, "campaigns") {
            total += record?["spend"].as_f64().unwrap_or(0.0);
            count += 1;
        }
        Ok(RunOutput {
            insights: vec![Insight {
                kind: "total-spend".into(),
                title: format!("{count} campaigns spent {total}"),
                severity: Severity::Info,
                rationale: format!("streams: {:?}", omnify_sdk::data::streams()),
                data: json!({"total": total, "campaigns": count}),
            }],
            proposals: vec![],
        })
    }
}

#[test]
fn an_agent_reads_every_page_of_its_granted_records() {
    // More than one page of the SDK's reads (500 records each).
    let records: Vec<_> = (0..1_234).map(|i| json!({"id": i, "spend": 1.5})).collect();
    let harness = Harness::new().records("meta-ads", "campaigns", records);

    let output = harness
        .run(|| Spend::run(Task::new("review", json!({}))))
        .expect("run");
    let insight = &output.insights[0];
    assert_eq!(insight.data, json!({"total": 1_851.0, "campaigns": 1_234}));
    assert!(
        insight.rationale.contains("\"meta-ads\", \"campaigns\""),
        "{}",
        insight.rationale
    );

    let error = harness.run(|| Spend::run(Task::new("review", json!({"connector": "shopify"}))));
    match error {
        Err(Error::Config(message)) => assert!(message.contains("shopify/campaigns"), "{message}"),
        other => panic!("expected Config, got {other:?}"),
    }
}

#[test]
#[should_panic(expected = "outside the Omnify host")]
fn an_export_called_without_the_harness_panics_in_its_own_test() {
    let _ = Items::read(ReadRequest::new("items"));
}

#[test]
fn the_panic_outside_the_host_names_the_call_and_the_harness() {
    let panic = std::panic::catch_unwind(|| kv::get("cursor")).expect_err("no harness");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.starts_with("omnify_sdk::kv::get called outside the Omnify host"),
        "{message}"
    );
    assert!(message.contains("omnify_sdk::testing::Harness::run"), "{message}");
    // After a run ends, capabilities are outside the host again.
    Harness::new().run(|| omnify_sdk::log::info("inside"));
    assert!(std::panic::catch_unwind(|| omnify_sdk::log::info("outside")).is_err());
}
