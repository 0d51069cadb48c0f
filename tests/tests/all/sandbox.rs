//! Hostile plugins: each misbehaviour ends in a clear, typed error while the
//! host keeps serving: a well-behaved call runs concurrently with the hostile
//! one, and another right after it.

use omnify_runtime::invoke::{InvocationContext, InvokeErrorKind, Limits, PluginError, Secret};
use omnify_runtime::storage::{KvStore, Scope};
use omnify_runtime::{LoadedPlugin, Runtime};
use omnify_tests::server::TestServer;
use omnify_tests::{act, act_result, context, guests, load, runtime};
use serde_json::{Value, json};
use std::time::Duration;

/// Run the hostile action next to a well-behaved call, then another
/// well-behaved call, and return the hostile call's error.
async fn misbehave(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    ctx: &InvocationContext,
    action: &str,
    input: Value,
) -> omnify_runtime::InvokeError {
    let neighbour = context("neighbour", "hostile");
    let (hostile, concurrent) = tokio::join!(
        act(runtime, plugin, ctx, action, input),
        act(runtime, plugin, &neighbour, "ok", json!(null)),
    );
    let concurrent = concurrent.expect("a well-behaved call next to the hostile one succeeds");
    assert_eq!(act_result(&concurrent), json!({"ok": true}));
    let after = act(runtime, plugin, &neighbour, "ok", json!(null))
        .await
        .expect("a well-behaved call after the hostile one succeeds");
    assert_eq!(act_result(&after), json!({"ok": true}));
    match hostile {
        Ok(output) => panic!("`{action}` should have failed, returned {:?}", output.value),
        Err(error) => error,
    }
}

fn limited(configure: impl FnOnce(&mut Limits)) -> InvocationContext {
    let mut ctx = context("tenant-a", "hostile");
    configure(&mut ctx.limits);
    ctx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_runs_out_of_fuel() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = limited(|l| l.fuel = 300_000_000);
    let error = misbehave(&runtime, &plugin, &ctx, "spin", json!(null)).await;
    assert_eq!(error.kind, InvokeErrorKind::OutOfFuel { limit: 300_000_000 });
    assert!(
        error.usage.fuel >= 299_000_000,
        "usage reports the fuel burnt: {}",
        error.usage.fuel
    );
    assert!(error.to_string().contains("fuel limit"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_calling_the_host_hits_the_deadline() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = limited(|l| {
        l.timeout = Duration::from_millis(300);
        l.fuel = u64::MAX;
    });
    let error = misbehave(&runtime, &plugin, &ctx, "host-loop", json!(null)).await;
    assert_eq!(
        error.kind,
        InvokeErrorKind::Deadline {
            limit: Duration::from_millis(300)
        }
    );
    assert!(
        error.usage.host_calls > 1000,
        "it did call the host: {:?}",
        error.usage
    );
    assert!(
        error.usage.wall_time < Duration::from_secs(2),
        "stopped promptly: {:?}",
        error.usage.wall_time
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_the_host_with_calls_hits_the_host_call_limit() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = limited(|l| l.host_calls = 5_000);
    let error = misbehave(&runtime, &plugin, &ctx, "host-loop", json!(null)).await;
    assert_eq!(error.kind, InvokeErrorKind::HostCallLimit { limit: 5_000 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_sleeping_in_a_host_call_hits_the_deadline() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = limited(|l| l.timeout = Duration::from_millis(300));
    let error = misbehave(&runtime, &plugin, &ctx, "sleep", json!({"ms": 60_000})).await;
    assert_eq!(
        error.kind,
        InvokeErrorKind::Deadline {
            limit: Duration::from_millis(300)
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_memory_growth_hits_the_memory_limit() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = limited(|l| l.memory_bytes = 32 << 20);
    let error = misbehave(&runtime, &plugin, &ctx, "grow", json!(null)).await;
    match error.kind {
        InvokeErrorKind::Memory { requested, limit } => {
            assert_eq!(limit, 32 << 20);
            assert!(requested > limit);
        }
        other => panic!("expected the memory limit, got {other:?}"),
    }
    assert!(error.usage.peak_memory_bytes <= 32 << 20);
    assert!(
        error.usage.peak_memory_bytes > 16 << 20,
        "it did grow: {:?}",
        error.usage
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_recursion_overflows_the_stack() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = context("tenant-a", "hostile");
    let error = misbehave(&runtime, &plugin, &ctx, "recurse", json!(null)).await;
    assert_eq!(error.kind, InvokeErrorKind::StackOverflow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_result_is_refused() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = limited(|l| l.output_bytes = 1 << 20);
    let error = misbehave(&runtime, &plugin, &ctx, "huge-output", json!({"bytes": 4 << 20})).await;
    match error.kind {
        InvokeErrorKind::OutputTooLarge { size, limit } => {
            assert_eq!(limit, 1 << 20);
            assert!(size > 4 << 20);
        }
        other => panic!("expected the output limit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_reaches_the_error_with_its_message() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = context("tenant-a", "hostile");
    let error = misbehave(&runtime, &plugin, &ctx, "panic", json!(null)).await;
    match &error.kind {
        InvokeErrorKind::Panic { message } => {
            assert!(
                message.contains("boom: the plugin gave up at step 7"),
                "{message}"
            );
            assert!(message.contains("src/lib.rs"), "the location is kept: {message}");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kv_flood_stops_at_the_quota() {
    let (runtime, store) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = limited(|l| l.kv_total_bytes = 64 << 10);
    let error = misbehave(&runtime, &plugin, &ctx, "kv-flood", json!(null)).await;
    match &error.kind {
        InvokeErrorKind::Plugin(PluginError::Internal { message }) => {
            assert!(message.contains("65536"), "the guest saw the quota: {message}");
        }
        other => panic!("expected the guest's quota error, got {other:?}"),
    }
    assert_eq!(error.usage.denied_calls, 1);
    let scope = Scope {
        tenant: "tenant-a".into(),
        plugin: "hostile".into(),
    };
    let used = store.used_bytes(&scope).expect("usage");
    assert!(
        used <= 64 << 10 && used > 60 << 10,
        "the store holds at most the quota: {used}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_to_a_host_off_the_allowlist_is_refused() {
    let server = TestServer::start().await;
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let mut ctx = context("tenant-a", "hostile");
    server.allow(&mut ctx);

    let allowed = act(
        &runtime,
        &plugin,
        &ctx,
        "http-get",
        json!({"url": server.url("/landing")}),
    )
    .await
    .expect("an allowed host is reachable");
    assert_eq!(act_result(&allowed), json!({"status": 200, "body": "landed"}));

    let off_list = format!("http://localhost:{}/landing", server.port);
    let error = misbehave(&runtime, &plugin, &ctx, "http-get", json!({"url": off_list})).await;
    assert_eq!(error.kind, server.refused_as_localhost());
    assert_eq!(error.usage.http_requests, 0);
    assert_eq!(
        server.hits("/landing"),
        1,
        "only the allowed request reached the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_off_the_allowlist_is_refused() {
    let server = TestServer::start().await;
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let mut ctx = context("tenant-a", "hostile");
    server.allow(&mut ctx);

    let followed = act(
        &runtime,
        &plugin,
        &ctx,
        "http-get",
        json!({"url": server.url("/redirect-home")}),
    )
    .await
    .expect("a redirect to the same host is followed");
    assert_eq!(act_result(&followed)["body"], "landed");
    assert_eq!(followed.usage.http_requests, 2);

    let error = misbehave(
        &runtime,
        &plugin,
        &ctx,
        "http-get",
        json!({"url": server.url("/redirect-away")}),
    )
    .await;
    assert_eq!(error.kind, server.refused_as_localhost());
    assert_eq!(server.hits("/redirect-away"), 1);
    assert_eq!(
        server.hits("/landing"),
        1,
        "the redirect's target was never requested"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_http_response_is_refused() {
    let server = TestServer::start().await;
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let mut ctx = limited(|l| l.http_body_bytes = 1 << 20);
    server.allow(&mut ctx);
    let error = misbehave(
        &runtime,
        &plugin,
        &ctx,
        "http-get",
        json!({"url": server.url("/big")}),
    )
    .await;
    assert_eq!(
        error.kind,
        InvokeErrorKind::Plugin(PluginError::Internal {
            message: "HTTP response larger than 1048576 bytes".into()
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_not_declared_in_the_manifest_is_refused() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let mut ctx = context("tenant-a", "hostile");
    ctx.secrets.insert("api_token".into(), Secret::new("s3cr3t"));
    ctx.secrets.insert("other_token".into(), Secret::new("n0t-yours"));
    ctx.grants.secrets.insert("api_token".into());

    let declared = act(&runtime, &plugin, &ctx, "secret", json!({"name": "api_token"}))
        .await
        .expect("a declared secret is readable");
    assert_eq!(act_result(&declared), json!({"length": 6}));

    let error = misbehave(&runtime, &plugin, &ctx, "secret", json!({"name": "other_token"})).await;
    assert_eq!(
        error.kind,
        InvokeErrorKind::Plugin(PluginError::Config {
            message: "secret `other_token` is not declared in the plugin's manifest".into()
        })
    );
    assert_eq!(error.usage.denied_calls, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_a_call_leaves_in_memory_reaches_the_next_call() {
    // The pool reuses an instance's memory slot, resetting in place the
    // pages a call wrote (up to a size) and giving back the rest: a guest
    // that marks 3 MiB of its memory must find none of it marked again,
    // one call after another and many at once.
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let fresh = json!({"calls_before": 0, "marked_pages_before": 0});
    for ctx in [context("tenant-a", "hostile"), context("tenant-b", "hostile")] {
        for round in 0..3 {
            let output = act(&runtime, &plugin, &ctx, "remember", json!(null))
                .await
                .expect("remember");
            assert_eq!(act_result(&output), fresh, "call {round} of {}", ctx.tenant);
        }
    }
    let ctx = context("tenant-a", "hostile");
    let calls = (0..8).map(|_| act(&runtime, &plugin, &ctx, "remember", json!(null)));
    for output in futures::future::join_all(calls).await {
        assert_eq!(act_result(&output.expect("remember")), fresh, "concurrent calls");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_cannot_read_another_tenants_kv_entries() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let tenant_a = context("tenant-a", "hostile");
    let tenant_b = context("tenant-b", "hostile");
    let other_plugin = context("tenant-a", "other-plugin");

    act(
        &runtime,
        &plugin,
        &tenant_a,
        "kv-set",
        json!({"key": "campaign-token", "value": "alpha"}),
    )
    .await
    .expect("tenant A stores a value");
    for (ctx, who) in [
        (&tenant_b, "tenant B"),
        (&other_plugin, "another plugin of tenant A"),
    ] {
        let read = act(&runtime, &plugin, ctx, "kv-get", json!({"key": "campaign-token"}))
            .await
            .expect("reading a missing key succeeds");
        assert_eq!(act_result(&read), json!({"value": null}), "{who} sees nothing");
        let listed = act(&runtime, &plugin, ctx, "kv-list", json!({"prefix": ""}))
            .await
            .expect("listing succeeds");
        assert_eq!(act_result(&listed), json!([]), "{who} lists nothing");
    }
    act(
        &runtime,
        &plugin,
        &tenant_b,
        "kv-set",
        json!({"key": "campaign-token", "value": "beta"}),
    )
    .await
    .expect("tenant B stores its own value");
    let read = act(
        &runtime,
        &plugin,
        &tenant_a,
        "kv-get",
        json!({"key": "campaign-token"}),
    )
    .await
    .expect("tenant A reads");
    assert_eq!(
        act_result(&read),
        json!({"value": "alpha"}),
        "tenant B's write did not touch A"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_is_refused_when_not_granted() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let mut ctx = context("tenant-a", "hostile");
    ctx.grants.kv = false;
    let error = act(
        &runtime,
        &plugin,
        &ctx,
        "kv-set",
        json!({"key": "k", "value": "v"}),
    )
    .await
    .expect_err("kv is not granted");
    assert_eq!(
        error.kind,
        InvokeErrorKind::Plugin(PluginError::Config {
            message: "key-value storage is not granted to this plugin".into()
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chatty_output_is_capped_without_failing_the_call() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = limited(|l| l.log_bytes = 4096);
    let output = act(&runtime, &plugin, &ctx, "print", json!({"lines": 10_000}))
        .await
        .expect("printing a lot still succeeds");
    let kept: usize = output.logs.iter().map(|l| l.message.len()).sum();
    assert!(kept <= 4096, "kept {kept} bytes");
    assert!(output.logs[0].message.starts_with("line 0 of chatter"));
    assert!(output.usage.log_bytes_dropped > 300_000, "{:?}", output.usage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_gets_no_ambient_authority_through_wasi() {
    let server = TestServer::start().await;
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = context("tenant-a", "hostile");
    let output = act(&runtime, &plugin, &ctx, "ambient", json!({"port": server.port}))
        .await
        .expect("the probe runs");
    assert_eq!(
        act_result(&output),
        json!({"env": 0, "args": 0, "read_file": false, "list_root": false, "tcp_connect": false})
    );
    assert_eq!(server.hits("/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calls_kv_writes_are_its_own_until_it_returns_and_gone_if_it_traps() {
    let (runtime, store) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = context("tenant-a", "hostile");
    let scope = Scope {
        tenant: "tenant-a".into(),
        plugin: "hostile".into(),
    };

    let error = misbehave(&runtime, &plugin, &ctx, "kv-set-then-panic", json!({"key": "k"})).await;
    assert!(
        matches!(error.kind, InvokeErrorKind::Panic { .. }),
        "{:?}",
        error.kind
    );
    assert_eq!(
        store.get(&scope, "k").expect("get"),
        None,
        "a trapped call leaves nothing"
    );
    assert_eq!(store.used_bytes(&scope).expect("usage"), 0);

    let output = act(&runtime, &plugin, &ctx, "kv-roundtrip", json!({"key": "k"}))
        .await
        .expect("the round trip");
    assert_eq!(
        act_result(&output),
        json!({"seen": "second", "listed": ["k"], "removed": true, "after_delete": false}),
        "the call sees its own writes"
    );
    assert_eq!(store.get(&scope, "k").expect("get"), Some(b"kept".to_vec()));
    assert_eq!(store.used_bytes(&scope).expect("usage"), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_error_message_is_cut_before_the_host_keeps_it() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = context("tenant-a", "hostile");
    let error = misbehave(&runtime, &plugin, &ctx, "huge-error", json!({"bytes": 1 << 20})).await;
    match &error.kind {
        InvokeErrorKind::Plugin(PluginError::Internal { message }) => {
            assert!(message.len() < 4096, "{} bytes kept", message.len());
            assert!(
                message.contains("more bytes cut by the host"),
                "{}",
                &message[message.len() - 60..]
            );
        }
        other => panic!("expected the guest's error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pure_wasm_loop_with_unlimited_fuel_stops_at_its_deadline() {
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = limited(|l| {
        l.fuel = u64::MAX;
        l.timeout = std::time::Duration::from_millis(300);
    });
    let started = std::time::Instant::now();
    let error = misbehave(&runtime, &plugin, &ctx, "spin", json!(null)).await;
    assert!(
        matches!(error.kind, InvokeErrorKind::Deadline { .. }),
        "{:?}",
        error.kind
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "stopped near its deadline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_keys_and_values_over_their_limits_are_refused_and_nothing_is_stored() {
    let (runtime, store) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = limited(|l| {
        l.kv_key_bytes = 8;
        l.kv_value_bytes = 16;
    });
    let scope = Scope {
        tenant: "tenant-a".into(),
        plugin: "hostile".into(),
    };
    for (input, expected) in [
        (json!({"key": "a-key-too-long", "value": "v"}), "8"),
        (json!({"key": "k", "value": "a value that is too long"}), "16"),
    ] {
        let error = act(&runtime, &plugin, &ctx, "kv-set", input)
            .await
            .expect_err("refused");
        let text = error.to_string();
        assert!(text.contains(expected), "{text}");
    }
    assert_eq!(store.used_bytes(&scope).expect("usage"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_writes_no_more_kv_bytes_than_its_limit_and_the_next_call_may_write_again() {
    let (runtime, store) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = limited(|l| l.kv_call_bytes = 10 << 10);
    let scope = Scope {
        tenant: "tenant-a".into(),
        plugin: "hostile".into(),
    };
    // Sets 1 KiB values until refused: the per-call limit stops it long
    // before the plugin's 1 MiB total.
    let error = act(&runtime, &plugin, &ctx, "kv-flood", json!({}))
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("10240"), "{error}");
    let kept = store.used_bytes(&scope).expect("usage");
    assert!(kept > 0 && kept <= 10 << 10, "kept {kept} bytes");
    act(
        &runtime,
        &plugin,
        &ctx,
        "kv-set",
        json!({"key": "later", "value": "v"}),
    )
    .await
    .expect("a new call has a budget of its own");
    assert_eq!(store.used_bytes(&scope).expect("usage"), kept + 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_makes_no_more_http_requests_than_its_limit() {
    let server = TestServer::start().await;
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let mut ctx = limited(|l| l.http_requests = 3);
    server.allow(&mut ctx);
    let output = act(
        &runtime,
        &plugin,
        &ctx,
        "http-many",
        json!({"url": server.url("/landing"), "times": 10}),
    )
    .await
    .expect("the guest sees the refusal");
    let result = act_result(&output);
    assert_eq!(result["done"], 3, "{result}");
    assert!(
        result["error"].as_str().unwrap_or_default().contains('3'),
        "{result}"
    );
    assert_eq!(
        server.hits("/landing"),
        3,
        "the fourth request never left the host"
    );
    assert_eq!(output.usage.http_requests, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_slower_than_the_http_timeout_is_given_up() {
    let server = TestServer::start().await;
    let (runtime, _) = runtime();
    let plugin = load(&runtime, guests::HOSTILE);
    let mut ctx = limited(|l| l.http_timeout = std::time::Duration::from_millis(300));
    server.allow(&mut ctx);
    let started = std::time::Instant::now();
    let error = misbehave(
        &runtime,
        &plugin,
        &ctx,
        "http-get",
        json!({"url": server.url("/hang")}),
    )
    .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let text = error.to_string();
    assert!(text.contains("time"), "{text}");
    assert!(
        matches!(error.kind, InvokeErrorKind::Plugin(_)),
        "{:?}",
        error.kind
    );
}
