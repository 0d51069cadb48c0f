//! The host's cores are shared between tenants, not between calls: a tenant
//! running more calls than its share waits on each epoch tick while another
//! tenant is busy, and the other tenant never waits for it.

use omnify_runtime::engine::EngineConfig;
use omnify_runtime::invoke::{InvocationContext, InvokeError};
use omnify_runtime::{Runtime, RuntimeConfig};
use omnify_tests::{act, context, guests, load, loopback_egress, runtime_with};
use serde_json::json;
use std::time::Duration;

/// How long each spinning call runs before its deadline stops it.
const SPIN: Duration = Duration::from_millis(600);

/// Each call's fuel: more than a loop burns before its deadline.
const FUEL: u64 = 10_000_000_000;

fn two_core_runtime() -> Runtime {
    runtime_with(RuntimeConfig {
        engine: EngineConfig {
            max_instances: 8,
            cores: 2,
            ..EngineConfig::default()
        },
        egress: loopback_egress(),
        ..RuntimeConfig::default()
    })
    .0
}

fn spinning(tenant: &str) -> InvocationContext {
    let mut ctx = context(tenant, "hostile");
    ctx.limits.fuel = FUEL;
    ctx.limits.timeout = SPIN;
    ctx
}

async fn spin(runtime: &Runtime, ctx: &InvocationContext) -> InvokeError {
    let plugin = load(runtime, guests::HOSTILE);
    act(runtime, &plugin, ctx, "spin", json!(null))
        .await
        .expect_err("an endless loop ends at its deadline")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_alone_runs_as_many_calls_as_there_are_cores() {
    let runtime = two_core_runtime();
    let a = spinning("tenant-a");
    let (first, second) = tokio::join!(spin(&runtime, &a), spin(&runtime, &a));
    assert_eq!(first.usage.cpu_wait, Duration::ZERO, "{:?}", first.usage);
    assert_eq!(second.usage.cpu_wait, Duration::ZERO, "{:?}", second.usage);
    // Stopped in a loop by the epoch, whose count of the fuel burnt is lost,
    // a call is charged its whole budget.
    assert_eq!(first.usage.fuel, FUEL, "{:?}", first.usage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_tenant_over_its_share_waits_and_its_neighbour_does_not() {
    let runtime = two_core_runtime();
    let (a, b) = (spinning("tenant-a"), spinning("tenant-b"));
    // Tenant A runs two endless loops, tenant B one: on two cores, A's share
    // is one core, so one of A's calls is parked at any moment.
    let (first, second, neighbour) = tokio::join!(spin(&runtime, &a), spin(&runtime, &a), spin(&runtime, &b));
    assert_eq!(
        neighbour.usage.cpu_wait,
        Duration::ZERO,
        "the tenant within its share never waits: {:?}",
        neighbour.usage
    );
    let a_waited = first.usage.cpu_wait + second.usage.cpu_wait;
    assert!(
        a_waited >= SPIN / 3,
        "A's calls waited {a_waited:?} of {SPIN:?} while B was busy"
    );
}
