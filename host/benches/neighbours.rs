//! Noisy neighbours: how much one tenant's hostile plugin slows another
//! tenant's calls. Tenant B calls a trivial export of its own plugin (the
//! hello connector's `spec`, metered and audited like every call) for a few
//! seconds, first alone, then while tenant A's hostile plugin runs, in two
//! concurrent callers, one misbehaviour at a time and then all at once: an
//! endless loop, a KV flood, a log flood, memory churn, a flood of forged
//! webhook deliveries to A's connector, and syncs of a connector that makes
//! no progress.
//!
//! B is measured two ways: saturating (four clients calling back to back,
//! so B wants every core and the row shows how the cores are shared; with
//! a fair share and A busy, B gets half of them) and steady (calls started
//! on a clock at a quarter of B's saturating rate alone, so B stays within
//! its share and the row shows whether a neighbour delays it). Each row
//! prints B's p50, p99 and calls per second, and B's p99 against B alone
//! (goal: at most 1.5×).
//!
//! Run with `cargo bench --profile dev -p omnify --bench neighbours`, or
//! `… --bench neighbours -- 'KV flood'` for B alone and one row.

use omnify_control::control::{ControlConfig, ControlPlane};
use omnify_control::enablement::EnableRequest;
use omnify_control::sync::{RunStatus, SyncRequest};
use omnify_control::tenant::{NewTenant, Principal};
use omnify_registry::{Builder, Package};
use omnify_runtime::invoke::{Call, HostPattern};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long each measurement lasts.
const WINDOW: Duration = Duration::from_secs(4);

/// B's concurrent clients.
const B_CLIENTS: usize = 4;

/// The hostile plugin's manifest: what it needs for its misbehaviours.
const HOSTILE_MANIFEST: &str = r#"
[plugin]
name = "hostile"
version = "1.0.0"
kind = "connector"
contract = "1.1.0"
publisher = "bench"

[capabilities]
http_hosts = ["127.0.0.1"]
secrets = ["api_token"]
kv = true

[limits]
timeout_ms = 2000
"#;

/// What tenant A's plugin does in a loop: the action and its input; a
/// webhook flood posts forged deliveries instead.
const MISBEHAVIOURS: [(&str, &str, &str); 6] = [
    ("an endless loop", "spin", "{}"),
    ("a KV flood", "kv-flood", "{}"),
    ("a log flood", "print", r#"{"lines": 50000}"#),
    ("memory churn", "grow", "{}"),
    ("a webhook flood", WEBHOOK_FLOOD, ""),
    ("a no-progress sync", STUCK_SYNC, ""),
];

/// The misbehaviour that syncs a connector whose source never moves on.
const STUCK_SYNC: &str = "stuck-sync";

/// The misbehaviour that posts to A's webhook endpoint.
const WEBHOOK_FLOOD: &str = "webhook-flood";

/// B's latencies over one window.
struct Measured {
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

/// How B calls: as fast as its clients can, or at a steady rate.
#[derive(Clone, Copy)]
enum Load {
    /// `B_CLIENTS` clients, each calling again as soon as a call returns:
    /// B wants every core, so this row shows how the cores are shared.
    Saturating,
    /// Calls started at this many per second whatever their latency (an
    /// open loop): B uses less than its share, so this row shows whether a
    /// neighbour delays a tenant that stays within it.
    Steady(f64),
}

/// One call of B's trivial export.
async fn call_b(control: &ControlPlane, client: usize) -> Duration {
    let started = Instant::now();
    control
        .invoke_enabled(
            &Principal::admin(),
            "b",
            "hello-connector",
            Call::Spec,
            &format!("b-{client}"),
        )
        .await
        .expect("B's call succeeds");
    started.elapsed()
}

async fn measure_b(control: &Arc<ControlPlane>, load: Load) -> Measured {
    let tasks: Vec<_> = match load {
        Load::Saturating => (0..B_CLIENTS)
            .map(|client| {
                let control = control.clone();
                tokio::spawn(async move {
                    let (start, mut latencies) = (Instant::now(), Vec::new());
                    while start.elapsed() < WINDOW {
                        latencies.push(call_b(&control, client).await);
                    }
                    latencies
                })
            })
            .collect(),
        Load::Steady(per_second) => {
            let every = Duration::from_secs_f64(1.0 / per_second);
            let count = (WINDOW.as_secs_f64() * per_second) as usize;
            let mut ticks = tokio::time::interval(every);
            let mut tasks = Vec::with_capacity(count);
            for client in 0..count {
                ticks.tick().await;
                let control = control.clone();
                tasks.push(tokio::spawn(async move { vec![call_b(&control, client).await] }));
            }
            tasks
        }
    };
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("B's caller"));
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Measured {
        p50: at(0.50),
        p99: at(0.99),
        per_second: latencies.len() as f64 / WINDOW.as_secs_f64(),
    }
}

/// Post unsigned 100 KB deliveries to A's webhook endpoint until `running`
/// is cleared.
async fn flood_webhooks(url: String, running: Arc<AtomicBool>) {
    let (client, body) = (reqwest::Client::new(), vec![b'x'; 100 << 10]);
    while running.load(Ordering::Relaxed) {
        let _ = client.post(&url).body(body.clone()).send().await;
    }
}

/// Sync A's paged source, whose server never moves on, until `running` is
/// cleared: each run ends when the host sees no progress.
async fn stuck_syncs(control: Arc<ControlPlane>, running: Arc<AtomicBool>) {
    let admin = Principal::admin();
    while running.load(Ordering::Relaxed) {
        let Ok(run) = control
            .start_sync(&admin, "a", "paged-source", SyncRequest::default())
            .await
        else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        while control
            .run(&admin, "a", &run.id)
            .await
            .is_ok_and(|run| run.status == RunStatus::Running)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Run `actions` of A's plugin in a loop, two callers each, until `running`
/// is cleared; `hooks` is A's webhook URL.
fn start_a(
    control: &Arc<ControlPlane>,
    actions: Vec<(&'static str, &'static str)>,
    hooks: &str,
    running: &Arc<AtomicBool>,
) {
    for (index, (name, input)) in actions.into_iter().enumerate() {
        for caller in 0..2 {
            let (control, running) = (control.clone(), running.clone());
            if name == WEBHOOK_FLOOD {
                tokio::spawn(flood_webhooks(hooks.to_string(), running));
                continue;
            }
            if name == STUCK_SYNC {
                tokio::spawn(stuck_syncs(control, running));
                continue;
            }
            tokio::spawn(async move {
                let mut round = 0u64;
                while running.load(Ordering::Relaxed) {
                    round += 1;
                    let call = Call::Act {
                        name: name.into(),
                        input: serde_json::from_str(input).expect("input"),
                        idempotency_key: format!("{index}-{caller}-{round}"),
                    };
                    // Each call ends at a limit; that is the point.
                    let _ = control
                        .invoke_enabled(&Principal::admin(), "a", "hostile", call, "a")
                        .await;
                }
            });
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let built = Builder::new(root.join("target/wasm"))
        .build_packages(
            &root.join("Cargo.toml"),
            &["hello-connector", "hostile", "paged-source"],
        )
        .expect("build the plugins");
    let component = |package: &str| {
        let path = &built.iter().find(|c| c.package == package).expect("built").path;
        std::fs::read(path).expect("read the component")
    };
    let manifest = |path: &str| std::fs::read_to_string(root.join(path)).expect("manifest");
    let (hello_manifest, paged_manifest) = (
        manifest("examples/hello-connector/plugin.toml"),
        manifest("tests/guests/paged-source/plugin.toml"),
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    runtime.block_on(async move {
        let data = tempfile::tempdir().expect("temp dir");
        let control = ControlPlane::open(ControlConfig {
            dev: true,
            grantable_hosts: vec![HostPattern::parse("127.0.0.1:*").expect("pattern")],
            credentials: Default::default(),
            ..ControlConfig::new(data.path())
        })
        .expect("control plane")
        .0;
        let control = Arc::new(control);
        let admin = Principal::admin();
        for (manifest, bytes) in [
            (hello_manifest.as_str(), component("hello-connector")),
            (HOSTILE_MANIFEST, component("hostile")),
            (paged_manifest.as_str(), component("paged-source")),
        ] {
            let package = Package::new(manifest, bytes).expect("package");
            control
                .publish(&admin, &package.to_bytes().expect("bytes"))
                .await
                .expect("publish");
        }
        for tenant in ["a", "b"] {
            let new = NewTenant {
                id: tenant.into(),
                name: tenant.into(),
                quotas: Default::default(),
            };
            control.create_tenant(&admin, new).await.expect("tenant");
        }
        let mut hello = EnableRequest::default();
        hello.config.insert("names".into(), json!(["Ada"]));
        control
            .enable(&admin, "b", "hello-connector", hello)
            .await
            .expect("enable B");
        let mut hostile = EnableRequest::default();
        hostile.secrets.insert("api_token".into(), Some("t".into()));
        control
            .enable(&admin, "a", "hostile", hostile)
            .await
            .expect("enable A");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let hooks = format!(
            "http://{}/v1/hooks/a/hostile",
            listener.local_addr().expect("address")
        );
        let app = omnify_api::app(control.clone(), &omnify_api::ApiConfig::default());
        tokio::spawn(omnify_api::serve(listener, app, std::future::pending()));

        let saturating = measure_b(&control, Load::Saturating).await;
        // A quarter of what B manages alone.
        let steady = Load::Steady(saturating.per_second / 4.0);
        let steady_alone = measure_b(&control, steady).await;
        let mut rows = vec![("B alone".to_string(), saturating, steady_alone)];
        let mut scenarios: Vec<(String, Vec<(&str, &str)>)> = MISBEHAVIOURS
            .iter()
            .map(|(label, name, input)| (format!("A: {label}"), vec![(*name, *input)]))
            .collect();
        scenarios.push((
            "A: all at once".into(),
            MISBEHAVIOURS
                .iter()
                .map(|(_, name, input)| (*name, *input))
                .collect(),
        ));
        // `cargo bench … -- <text>` runs only the rows whose label has it.
        let only = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
        for (label, actions) in scenarios {
            if only.as_ref().is_some_and(|only| !label.contains(only.as_str())) {
                continue;
            }
            let running = Arc::new(AtomicBool::new(true));
            start_a(&control, actions, &hooks, &running);
            tokio::time::sleep(Duration::from_millis(300)).await;
            let saturating = measure_b(&control, Load::Saturating).await;
            let steady = measure_b(&control, steady).await;
            running.store(false, Ordering::Relaxed);
            // Let A's calls end before the next scenario.
            tokio::time::sleep(Duration::from_secs(3)).await;
            rows.push((label, saturating, steady));
        }
        print_rows(&rows);
    });
}

/// Print B's latencies in each row, and its p99 against B alone.
fn print_rows(rows: &[(String, Measured, Measured)]) {
    let (saturating_base, steady_base) = (rows[0].1.p99.as_secs_f64(), rows[0].2.p99.as_secs_f64());
    println!(
        "\ntenant B calling `spec`, {} s per measurement; saturating: {B_CLIENTS} clients calling back to back; steady: {:.0} calls/s started on a clock (a quarter of B's saturating rate alone)",
        WINDOW.as_secs(),
        rows[0].2.per_second,
    );
    println!(
        "  {:<22} {:>9} {:>9} {:>8} {:>7}   {:>9} {:>9} {:>7}",
        "", "sat p50", "sat p99", "calls/s", "ratio", "std p50", "std p99", "ratio"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (label, saturating, steady) in rows {
        println!(
            "  {label:<22} {:>9.2} {:>9.2} {:>8.0} {:>6.2}×   {:>9.2} {:>9.2} {:>6.2}×",
            ms(saturating.p50),
            ms(saturating.p99),
            saturating.per_second,
            saturating.p99.as_secs_f64() / saturating_base,
            ms(steady.p50),
            ms(steady.p99),
            steady.p99.as_secs_f64() / steady_base,
        );
    }
    println!("  (p99 in ms; ratio = B's p99 against B alone; goal: at most 1.5×)");
}
