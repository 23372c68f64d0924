//! The wasmtime engine provhost runs every plugin on: async support, pooling allocator, fuel, an
//! epoch ticker that makes guest code yield so wall-clock deadlines can cut it off, and the
//! executor that drives invocations as futures.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use super::footprint::Footprint;

/// How often the epoch advances. Guest code is checked against its deadline, and yields to the
/// executor, every [`YIELD_TICKS`] ticks; the deadline itself is wall-clock time, not a count of
/// ticks, so it does not stretch when the machine is busy.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// How many epoch ticks guest code runs between deadline checks and yields.
pub const YIELD_TICKS: u64 = 5;

/// How much of each linear memory and table a pool slot keeps resident between instances. Only
/// with `PAGEMAP_SCAN` (Linux 6.7+), which resets just the pages an instance dirtied; without it
/// wasmtime would `memset` this whole prefix on every reuse, so the slots are then released with
/// `madvise` instead.
const KEEP_RESIDENT: usize = 4 << 20;

/// What the engine's instance pool holds: every live instance of every tenant takes its slots
/// from these.
pub const POOL: Footprint = Footprint { instances: 256, core_instances: 2048, memories: 512, tables: 1024 };

/// The most one instance of one component may hold of the pool; a component needing more is
/// refused when it is loaded. Generous for real plugins: a Rust or JavaScript component holds 3
/// or 4 core instances, a Python one 14, and each one memory and two tables.
pub const PER_COMPONENT: Footprint = Footprint { instances: 1, core_instances: 32, memories: 4, tables: 8 };

/// Builds the engine: component model, fuel metering, epoch interruption, pooling allocation.
/// Where the kernel can scan page maps, pool slots stay resident and an instance's dirtied pages
/// are reset in place, so a fresh instance per event takes no page faults and no `madvise`.
pub fn build_engine() -> wasmtime::Result<Engine> {
    Engine::new(&config(true)).or_else(|_| Engine::new(&config(false)))
}

fn config(keep_resident: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(true);
    config.epoch_interruption(true);
    config.cranelift_opt_level(OptLevel::Speed);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL.instances)
        .total_core_instances(POOL.core_instances)
        .total_memories(POOL.memories)
        .total_tables(POOL.tables)
        .max_core_instances_per_component(PER_COMPONENT.core_instances)
        .max_memories_per_component(PER_COMPONENT.memories)
        .max_tables_per_component(PER_COMPONENT.tables)
        .max_memory_size(1 << 30)
        .table_elements(100_000);
    if keep_resident {
        pool.pagemap_scan(Enabled::Yes).linear_memory_keep_resident(KEEP_RESIDENT).table_keep_resident(KEEP_RESIDENT);
    }
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// The executor invocations run on: a small multi-threaded tokio runtime of provhost's own, so the
/// synchronous callers (the CLI, the server's blocking pool, the test runner) can drive an
/// invocation's future to its end or its deadline, and a guest blocked in WASI (a sleep, a poll
/// on a pollable that never resolves) is cut off with its future rather than pinning a thread.
pub struct SandboxExecutor {
    runtime: Option<tokio::runtime::Runtime>,
}

impl SandboxExecutor {
    /// Starts the executor's one worker thread (timers and WASI I/O are driven there).
    pub fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("provhost-sandbox")
            .enable_all()
            .build()?;
        Ok(Self { runtime: Some(runtime) })
    }

    /// Drives `future` on the calling thread until it completes or `deadline` passes; `None`
    /// when the deadline passed first (the future is then dropped, with the guest in it).
    pub fn run_until<F: std::future::Future>(&self, deadline: std::time::Instant, future: F) -> Option<F::Output> {
        let runtime = self.runtime.as_ref().expect("the executor lives as long as the runtime");
        // The timer is made inside the executor, whose clock it needs.
        runtime.block_on(async { tokio::time::timeout_at(deadline.into(), future).await }).ok()
    }
}

impl Drop for SandboxExecutor {
    fn drop(&mut self) {
        // Never block here: the runtime may be dropped from inside another executor.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine`.
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("provhost-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        Self { stop, thread: Some(thread) }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
