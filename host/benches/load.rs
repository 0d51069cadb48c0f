//! Making a plugin ready after a host restart: compiling the component
//! versus loading it from the precompiled cache, for every first-party
//! plugin (and the partner example), in the same run.
//!
//! Each measurement uses a fresh runtime (an empty in-memory cache), so the
//! first load compiles or reads the disk cache exactly as a restarted host
//! would.
//!
//! Run with `cargo bench -p omnify --bench load`.

use omnify_registry::Builder;
use omnify_runtime::{Runtime, RuntimeConfig};
use std::path::Path;
use std::time::{Duration, Instant};

/// The plugins a host ships with, as workspace packages.
const PLUGINS: [&str; 1] = ["hello-connector"];
const ROUNDS: usize = 5;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time_load(config: &RuntimeConfig, bytes: &[u8]) -> Duration {
    let (runtime, _store) = Runtime::in_memory(config.clone()).expect("runtime");
    let start = Instant::now();
    runtime.load(bytes).expect("load");
    start.elapsed()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let built = Builder::new(root.join("target/wasm"))
        .build_packages(&root.join("Cargo.toml"), &PLUGINS)
        .expect("build the plugins");
    let cache = tempfile::tempdir().expect("temp dir");
    let cold = RuntimeConfig::default();
    let warm = RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    println!("\nmedian of {ROUNDS} fresh runtimes per figure:");
    println!(
        "  {:<20} {:>12} {:>14} {:>8}",
        "plugin", "compile", "precompiled", "ratio"
    );
    for component in built {
        let bytes = std::fs::read(&component.path).expect("component");
        time_load(&warm, &bytes); // fills the disk cache
        let compile = median((0..ROUNDS).map(|_| time_load(&cold, &bytes)).collect());
        let precompiled = median((0..ROUNDS).map(|_| time_load(&warm, &bytes)).collect());
        println!(
            "  {:<20} {:>9.1} ms {:>11.2} ms {:>7.0}x",
            component.package,
            compile.as_secs_f64() * 1e3,
            precompiled.as_secs_f64() * 1e3,
            compile.as_secs_f64() / precompiled.as_secs_f64()
        );
    }
}
