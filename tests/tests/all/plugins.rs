//! Loading components, the precompiled cache, and real plugins doing real
//! work: the partner example connector and an agent reading synced data.

use omnify_registry::PluginKind;
use omnify_runtime::invoke::{Call, InvokeErrorKind, PluginError, ReadRequest, SyncMode, Task};
use omnify_runtime::plugin::CodeSource;
use omnify_runtime::{CallOutput, LoadError, RuntimeConfig};
use omnify_tests::server::{GOOD_TOKEN, QUOTES, TestServer};
use omnify_tests::{act, act_result, context, guests, load, runtime, runtime_with};
use serde_json::{Value, json};
use std::path::Path;

fn read(stream: &str, mode: SyncMode, state: Option<Value>, limit: u32) -> Call {
    Call::Read(ReadRequest {
        stream: stream.into(),
        mode,
        state,
        limit,
    })
}

fn records(output: &CallOutput) -> (Vec<Value>, Option<Value>, bool) {
    match output {
        CallOutput::Read(batch) => (
            batch
                .records
                .iter()
                .map(|r| serde_json::from_str(r.get()).expect("record is JSON"))
                .collect(),
            batch
                .state
                .as_ref()
                .map(|s| serde_json::from_str(s.get()).expect("state is JSON")),
            batch.has_more,
        ),
        other => panic!("expected a batch, got {other:?}"),
    }
}

#[test]
fn components_the_host_cannot_run_are_refused_with_the_reason() {
    let (runtime, _) = runtime();
    let cases: [(&[u8], &str); 2] = [
        (b"definitely not wasm", "not a WebAssembly binary"),
        (b"\0asm\x01\0\0\0", "core WebAssembly module, not a component"),
    ];
    for (bytes, expected) in cases {
        let error = runtime.load(bytes).expect_err(expected).to_string();
        assert!(error.contains(expected), "`{error}` should say `{expected}`");
    }

    let error = runtime
        .load_file(Path::new(guests::WRONG_MAJOR))
        .expect_err("2.0 is unsupported");
    assert!(
        matches!(error, LoadError::UnsupportedContract { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("contract version 2.0.0 is not supported"),
        "{error}"
    );

    let error = runtime
        .load_file(Path::new(guests::FOREIGN_IMPORT))
        .expect_err("unknown import");
    assert!(matches!(error, LoadError::UnsupportedImport { .. }), "{error:?}");
    assert!(error.to_string().contains("acme:tools/backdoor@1.0.0"), "{error}");

    let mut truncated = std::fs::read(guests::HELLO_CONNECTOR).expect("read the component");
    truncated.truncate(truncated.len() / 2);
    let error = runtime.load(&truncated).expect_err("truncated");
    assert!(
        matches!(error, LoadError::Invalid(_) | LoadError::Compile(_)),
        "{error:?}"
    );
}

#[test]
fn worlds_and_versions_are_detected() {
    let (runtime, _) = runtime();
    let connector = load(&runtime, guests::HELLO_CONNECTOR);
    assert_eq!(connector.kind(), PluginKind::Connector);
    assert_eq!(connector.contract().to_string(), "1.1.0");
    assert!(
        !connector
            .shape()
            .imports
            .iter()
            .any(|i| i.contains("omnify:plugin/data"))
    );
    let agent = load(&runtime, guests::DATA_AGENT);
    assert_eq!(agent.kind(), PluginKind::Agent);
    assert!(
        agent
            .shape()
            .imports
            .iter()
            .any(|i| i == "omnify:plugin/data@1.1.0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_the_other_world_is_refused() {
    let (runtime, _) = runtime();
    let agent = load(&runtime, guests::DATA_AGENT);
    let error = runtime
        .invoke(&agent, &context("t", "data-agent"), Call::Spec)
        .await
        .expect_err("agents have no spec");
    assert_eq!(
        error.kind,
        InvokeErrorKind::WrongWorld {
            export: "spec",
            kind: PluginKind::Agent
        }
    );
}

#[test]
fn a_restarted_host_loads_precompiled_code_instead_of_compiling() {
    let cache = tempfile::tempdir().expect("temp dir");
    let config = RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let (first, _) = runtime_with(config.clone());
    assert_eq!(
        load(&first, guests::HELLO_CONNECTOR).code_source(),
        CodeSource::Compiled
    );
    drop(first);

    let (second, _) = runtime_with(config.clone());
    assert_eq!(
        load(&second, guests::HELLO_CONNECTOR).code_source(),
        CodeSource::Precompiled
    );
    drop(second);

    // A damaged cache file is detected and replaced, never loaded.
    for entry in std::fs::read_dir(cache.path()).expect("list cache") {
        let path = entry.expect("entry").path();
        let mut bytes = std::fs::read(&path).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&path, bytes).expect("damage");
    }
    let (third, _) = runtime_with(config);
    assert_eq!(
        load(&third, guests::HELLO_CONNECTOR).code_source(),
        CodeSource::Compiled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hello_connector_reads_greetings_incrementally_and_keeps_names_in_kv() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HELLO_CONNECTOR);
    let mut ctx = context("acme", "hello-connector");
    ctx.config
        .insert("names".into(), json!(["Ada", "Grace", "Linus"]));
    ctx.config.insert("greeting".into(), json!("Hi"));

    let spec = runtime.invoke(&plugin, &ctx, Call::Spec).await.expect("spec");
    match &spec.value {
        CallOutput::Spec(schema) => assert!(schema.get().contains("\"names\"")),
        other => panic!("{other:?}"),
    }

    let first = runtime
        .invoke(&plugin, &ctx, read("greetings", SyncMode::Incremental, None, 2))
        .await
        .expect("first batch");
    let (batch, state, more) = records(&first.value);
    assert_eq!(
        batch,
        [
            json!({"id": 1, "name": "Ada", "text": "Hi, Ada!"}),
            json!({"id": 2, "name": "Grace", "text": "Hi, Grace!"})
        ]
    );
    assert!(more);
    assert!(
        first.usage.fuel > 0 && first.usage.host_calls >= 2,
        "{:?}",
        first.usage
    );

    let second = runtime
        .invoke(&plugin, &ctx, read("greetings", SyncMode::Incremental, state, 2))
        .await
        .expect("second batch");
    let (batch, state, more) = records(&second.value);
    assert_eq!(batch, [json!({"id": 3, "name": "Linus", "text": "Hi, Linus!"})]);
    assert!(!more);

    let added = act(&runtime, &plugin, &ctx, "add-name", json!({"name": "Margaret"}))
        .await
        .expect("add a name");
    assert_eq!(act_result(&added), json!({"extra_names": ["Margaret"]}));
    let third = runtime
        .invoke(&plugin, &ctx, read("greetings", SyncMode::Incremental, state, 10))
        .await
        .expect("the new name arrives incrementally");
    let (batch, _, _) = records(&third.value);
    assert_eq!(
        batch,
        [json!({"id": 4, "name": "Margaret", "text": "Hi, Margaret!"})]
    );

    let missing = act(&runtime, &plugin, &ctx, "add-name", json!({"name": ""}))
        .await
        .expect_err("an empty name is invalid");
    assert_eq!(
        missing.kind,
        InvokeErrorKind::Plugin(PluginError::InvalidInput {
            message: "`name` must be a non-empty string".into()
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hello_connector_pages_quotes_over_http_with_its_token() {
    let server = TestServer::start().await;
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HELLO_CONNECTOR);
    let mut ctx = context("acme", "hello-connector");
    ctx.config.insert("names".into(), json!([]));
    ctx.config
        .insert("quotes_url".into(), json!(server.url("/quotes")));
    server.allow(&mut ctx);
    ctx.grants.secrets.insert("api_token".into());
    ctx.secrets.insert(
        "api_token".into(),
        omnify_runtime::invoke::Secret::new(GOOD_TOKEN),
    );

    let mut state = None;
    let mut all = Vec::new();
    loop {
        let output = runtime
            .invoke(&plugin, &ctx, read("quotes", SyncMode::FullRefresh, state, 2))
            .await
            .expect("a page of quotes");
        assert_eq!(output.usage.http_requests, 1);
        assert!(output.usage.http_bytes_received > 0);
        let (batch, next, more) = records(&output.value);
        all.extend(batch);
        state = next;
        if !more {
            break;
        }
    }
    let ids: Vec<u64> = all.iter().filter_map(|q| q["id"].as_u64()).collect();
    assert_eq!(ids, (1..=QUOTES).collect::<Vec<_>>());

    ctx.secrets
        .insert("api_token".into(), omnify_runtime::invoke::Secret::new("expired"));
    let error = runtime
        .invoke(&plugin, &ctx, read("quotes", SyncMode::FullRefresh, None, 2))
        .await
        .expect_err("a bad token is an auth error");
    assert_eq!(
        error.kind,
        InvokeErrorKind::Plugin(PluginError::Auth {
            message: "HTTP 401: {\"error\":\"invalid token\"}".into()
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_retries_a_short_rate_limit_and_reports_a_long_one() {
    let server = TestServer::start().await;
    let (runtime, _) = runtime();
    let hello = load(&runtime, guests::HELLO_CONNECTOR);
    let mut hello_ctx = context("acme", "hello-connector");
    server.allow(&mut hello_ctx);
    hello_ctx.config.insert("names".into(), json!([]));
    // `/flaky` answers its first request with 429 and `Retry-After: 0`.
    hello_ctx
        .config
        .insert("quotes_url".into(), json!(server.url("/flaky")));
    let retried = runtime
        .invoke(&hello, &hello_ctx, Call::Check)
        .await
        .expect("the retry succeeds");
    assert_eq!(retried.usage.http_requests, 2);
    assert_eq!(server.hits("/flaky"), 2);

    hello_ctx
        .config
        .insert("quotes_url".into(), json!(server.url("/slow-down")));
    let error = runtime
        .invoke(&hello, &hello_ctx, Call::Check)
        .await
        .expect_err("a long Retry-After is returned, not waited out");
    assert_eq!(
        error.kind,
        InvokeErrorKind::Plugin(PluginError::RateLimited {
            retry_after_ms: 120_000,
            message: "HTTP 429: quota exhausted".into()
        })
    );
    assert_eq!(server.hits("/slow-down"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reads_only_the_streams_granted_to_it() {
    let (runtime, store) = runtime();
    let agent = load(&runtime, guests::DATA_AGENT);
    for day in 1..=30 {
        let record = json!({"day": day, "spend": 10.0}).to_string();
        store.put_record("acme", "meta-ads", "insights", &format!("{day:03}"), &record);
        store.put_record("rival", "meta-ads", "insights", &format!("{day:03}"), &record);
    }
    let mut ctx = context("acme", "data-agent");
    ctx.grants
        .data_streams
        .insert(("meta-ads".into(), "insights".into()));

    let task = |streams: Value| {
        Call::Run(Task {
            kind: "count".into(),
            input: json!({ "streams": streams }),
        })
    };
    let output = runtime
        .invoke(&agent, &ctx, task(json!(["meta-ads/insights"])))
        .await
        .expect("the agent runs");
    match &output.value {
        CallOutput::Run(run) => {
            assert_eq!(run.insights.len(), 1);
            assert_eq!(run.insights[0].title, "meta-ads/insights has 30 records");
            assert_eq!(run.proposals.len(), 1);
            assert_eq!(run.proposals[0].impact_percent, -10.0);
            assert!(run.proposals[0].rationale.contains("300.00"));
        }
        other => panic!("{other:?}"),
    }

    let error = runtime
        .invoke(&agent, &ctx, task(json!(["shopify/orders"])))
        .await
        .expect_err("an ungranted stream is refused");
    assert_eq!(
        error.kind,
        InvokeErrorKind::Plugin(PluginError::Config {
            message: "stream not granted: shopify/orders".into()
        })
    );
    assert_eq!(error.usage.denied_calls, 1);
}

#[test]
fn the_sdk_carries_exactly_the_newest_contract() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for file in ["types.wit", "worlds.wit"] {
        let released = std::fs::read_to_string(root.join("wit/v1.1.0").join(file)).expect("released WIT");
        let carried = std::fs::read_to_string(root.join("sdk/wit").join(file)).expect("the SDK's WIT");
        assert_eq!(carried, released, "sdk/wit/{file} differs from wit/v1.1.0/{file}");
    }
}

#[test]
fn both_contract_versions_load_and_report_their_version() {
    let (runtime, _) = runtime();
    for (path, kind, contract) in [
        (guests::V1_0_CONNECTOR, PluginKind::Connector, "1.0.0"),
        (guests::V1_0_AGENT, PluginKind::Agent, "1.0.0"),
        (guests::HELLO_CONNECTOR, PluginKind::Connector, "1.1.0"),
        (guests::DATA_AGENT, PluginKind::Agent, "1.1.0"),
    ] {
        let plugin = load(&runtime, path);
        assert_eq!(
            (plugin.kind(), plugin.contract().to_string()),
            (kind, contract.to_string()),
            "{path}"
        );
    }
}
