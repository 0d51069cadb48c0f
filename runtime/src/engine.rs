//! The one wasmtime [`Engine`] of a host: pooling allocator, fuel metering,
//! epoch interruption driven by a background ticker.

use std::time::Duration;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Instances that may exist at once; calls beyond it wait for a slot.
    pub max_instances: u32,
    /// The most linear memory any one instance may have, in bytes.
    pub max_memory_bytes: usize,
    /// How often the epoch advances: the granularity of wall-clock deadlines.
    pub epoch_tick: Duration,
    /// The most stack WebAssembly may use, in bytes.
    pub max_wasm_stack: usize,
    /// The cores guests share, divided fairly between busy tenants.
    pub cores: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_instances: 128,
            max_memory_bytes: 256 << 20,
            epoch_tick: Duration::from_millis(1),
            max_wasm_stack: 512 << 10,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// Bytes of each linear memory reset in place rather than given back: a
/// Rust plugin's memory starts at a little over 1 MiB (its 1 MiB stack,
/// its data and the first heap pages), so this covers a small plugin's
/// whole memory and a call of it never needs a system call to give pages
/// back.
pub(crate) const KEEP_RESIDENT_MEMORY: usize = 2 << 20;

/// Bytes of each table reset in place rather than given back.
const KEEP_RESIDENT_TABLE: usize = 64 << 10;

/// Slots whose remaining memory is given back together, in one flush.
const DECOMMIT_BATCH: usize = 16;

/// Build the engine.
pub fn build(config: &EngineConfig) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::new();
    // A component instance of a Rust plugin holds one core instance with one
    // memory and one table (plus a few small shims), so size the pool for a
    // handful of each per component.
    pool.total_component_instances(config.max_instances)
        .total_core_instances(config.max_instances * 8)
        .total_memories(config.max_instances * 2)
        .total_tables(config.max_instances * 4)
        .total_stacks(config.max_instances)
        .max_memory_size(config.max_memory_bytes)
        .max_core_instances_per_component(32)
        // A call's instance is dropped when it returns. Giving its memory
        // back with `madvise` costs a TLB flush on every core each time,
        // which was half the host's time under load; instead the pages a
        // call touched (found with PAGEMAP_SCAN where the kernel has it) are
        // reset to their first contents, up to these sizes, and the rest
        // is given back in batches. The next instance still starts from the
        // component's initial memory, so nothing passes between calls.
        .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
        .table_keep_resident(KEEP_RESIDENT_TABLE)
        .pagemap_scan(Enabled::Auto)
        .decommit_batch_size(DECOMMIT_BATCH);

    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(config.max_wasm_stack)
        // The fiber stack must hold the wasm stack plus host frames.
        .async_stack_size(config.max_wasm_stack + (1 << 20))
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&wasm)
}

/// Advances the engine's epoch on a background thread until the engine is
/// dropped everywhere.
pub fn start_epoch_ticker(engine: &Engine, tick: Duration) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("omnify-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .map(drop)
}
