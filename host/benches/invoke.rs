//! The cost of `Runtime::invoke` against raw wasmtime on the same component.
//!
//! (a) raw wasmtime: `InstancePre` + a fresh `Store` + a call of the
//!     connector's `spec` export, on the same pooling engine with the same
//!     fuel, epoch deadline and memory limit;
//! (b) `Runtime::invoke` of the same call.
//!
//! Criterion measures each; a closing summary measures both again,
//! interleaved so that machine noise hits both alike, and prints the ratio
//! b/a and the throughput with two concurrent callers.
//!
//! Run with `cargo bench -p omnify --bench invoke`.

use criterion::Criterion;
use omnify_registry::Builder;
use omnify_runtime::engine::{self, EngineConfig};
use omnify_runtime::invoke::{Call, InvocationContext, Limits};
use omnify_runtime::{LoadedPlugin, Runtime, RuntimeConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker, ResourceTable};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

struct RawState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for RawState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Raw wasmtime, set up as the runtime sets itself up.
struct Raw {
    engine: wasmtime::Engine,
    pre: InstancePre<RawState>,
    spec: ComponentExportIndex,
    limits: Limits,
}

impl Raw {
    fn new(bytes: &[u8], limits: Limits) -> Self {
        let config = EngineConfig::default();
        let engine = engine::build(&config).expect("engine");
        engine::start_epoch_ticker(&engine, config.epoch_tick).expect("ticker");
        let component = Component::new(&engine, bytes).expect("compile");
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("wasi");
        linker
            .define_unknown_imports_as_traps(&component)
            .expect("stub the omnify imports");
        let pre = linker.instantiate_pre(&component).expect("instantiate_pre");
        let (_, api) = component
            .get_export(None, "omnify:plugin/connector-api@1.1.0")
            .expect("connector export");
        let (_, spec) = component.get_export(Some(&api), "spec").expect("spec export");
        Self {
            engine,
            pre,
            spec,
            limits,
        }
    }

    async fn call(&self) -> String {
        let state = RawState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_bytes)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_fuel(self.limits.fuel).expect("fuel");
        let deadline = Instant::now() + self.limits.timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        let instance = self.pre.instantiate_async(&mut store).await.expect("instantiate");
        let spec = instance
            .get_typed_func::<(), (String,)>(&mut store, &self.spec)
            .expect("typed spec");
        let (schema,) = spec.call_async(&mut store, ()).await.expect("call spec");
        schema
    }
}

struct Subject {
    runtime: Runtime,
    plugin: Arc<LoadedPlugin>,
    ctx: Arc<InvocationContext>,
}

impl Subject {
    async fn call(&self) {
        self.runtime
            .invoke(&self.plugin, self.ctx.clone(), Call::Spec)
            .await
            .expect("invoke spec");
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let component = Builder::new(root.join("target/wasm"))
        .build_packages(&root.join("Cargo.toml"), &["hello-connector"])
        .expect("build the hello connector")
        .remove(0);
    let bytes = std::fs::read(&component.path).expect("read the component");

    let async_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let (runtime, _store) = Runtime::in_memory(RuntimeConfig::default()).expect("runtime");
    let plugin = runtime.load(&bytes).expect("load");
    let ctx = Arc::new(InvocationContext::new("bench", "hello-connector"));
    let raw = Raw::new(&bytes, ctx.limits);
    let subject = Arc::new(Subject { runtime, plugin, ctx });

    let mut criterion = Criterion::default().configure_from_args();
    criterion.bench_function("a_raw_wasmtime_spec", |b| {
        b.to_async(&async_runtime).iter(|| raw.call())
    });
    criterion.bench_function("b_runtime_invoke_spec", |b| {
        b.to_async(&async_runtime).iter(|| subject.call())
    });
    criterion.final_summary();

    // Interleaved rounds: each sample is the mean of a small batch.
    let (mut raw_samples, mut invoke_samples) = (Vec::new(), Vec::new());
    async_runtime.block_on(async {
        for _ in 0..200 {
            let start = Instant::now();
            for _ in 0..20 {
                raw.call().await;
            }
            raw_samples.push(start.elapsed() / 20);
            let start = Instant::now();
            for _ in 0..20 {
                subject.call().await;
            }
            invoke_samples.push(start.elapsed() / 20);
        }
    });
    let (a, b) = (median(raw_samples), median(invoke_samples));
    println!("\nsummary (medians of 200 interleaved batches of 20 calls):");
    println!(
        "  (a) raw wasmtime:     {:>8.1} µs per call",
        a.as_secs_f64() * 1e6
    );
    println!(
        "  (b) Runtime::invoke:  {:>8.1} µs per call",
        b.as_secs_f64() * 1e6
    );
    println!(
        "  ratio b/a:            {:>8.2}  (goal: at most 1.1)",
        b.as_secs_f64() / a.as_secs_f64()
    );

    let peak = async_runtime.block_on(async {
        let output = subject
            .runtime
            .invoke(&subject.plugin, subject.ctx.clone(), Call::Spec)
            .await
            .expect("invoke spec");
        output.usage.peak_memory_bytes
    });
    println!("  peak linear memory:   {:>8} KiB per call", peak >> 10);

    let window = Duration::from_secs(3);
    let calls = async_runtime.block_on(async {
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let subject = subject.clone();
                tokio::spawn(async move {
                    let start = Instant::now();
                    let mut calls = 0u64;
                    while start.elapsed() < window {
                        subject.call().await;
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        let mut total = 0;
        for caller in callers {
            total += caller.await.expect("caller");
        }
        total
    });
    println!(
        "  2 concurrent callers: {:>8.0} invocations per second",
        calls as f64 / window.as_secs_f64()
    );
}
