//! In process: the per-event cost of one invocation (instantiate, handle, plan; no store writes),
//! against the native baseline on the same in-memory backend, measured alternately.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::median_us;
use crate::backend::MemoryBackend;
use crate::event::Event;
use crate::gate::{Bounds, Gate, TenantContext};
use crate::limits::Limits;
use crate::policy::Grants;
use crate::runtime::Runtime;
use crate::store::{DEMO_TENANT, Store, seed_demo};
use crate::tenant::{Requester, Tenant};

/// The figures for one plugin.
pub struct InvokeFigures {
    /// Median per event, sandboxed, µs.
    pub sandboxed_us: f64,
    /// Median per event of the native baseline, measured alternately with the sandboxed events
    /// (so that both see the same machine), µs.
    pub native_us: f64,
    /// Of the sandboxed median, the median time spent instantiating, µs (0 on warm instances).
    pub instantiate_us: f64,
    /// The contract version the component targets.
    pub api_version: String,
}

/// The demo tenant with its directory in memory, shared by every invocation measured; calls are
/// bounded by nothing but recorded as `plugin`'s.
pub fn context(plugin: &str) -> anyhow::Result<Arc<TenantContext>> {
    let store: Arc<dyn Store> = Arc::new(crate::store::SqliteStore::in_memory()?);
    seed_demo(&*store)?;
    let backend = Arc::new(MemoryBackend::snapshot(&*store, DEMO_TENANT)?);
    let caller = Requester { key_id: "bench", grants: &Grants::everything() };
    Ok(Tenant::with_backend(DEMO_TENANT, &store, backend).request_context(caller, plugin))
}

/// The median per-event time of `plugin` on `event` over `iterations`, after a warm-up, each
/// instance serving `events_per_instance` events (1: a fresh instance per event); each sandboxed
/// event alternates with one of the native baseline.
pub fn sandboxed(
    runtime: &Runtime,
    label: &str,
    plugin: &Path,
    event: &Event,
    iterations: usize,
    events_per_instance: NonZeroU32,
) -> anyhow::Result<InvokeFigures> {
    let Event::AttributeChanged(change) = event else { anyhow::bail!("the baseline handles attribute changes") };
    let loaded = runtime.load(plugin, None)?.with_warm_instances(events_per_instance);
    let context = context(label)?;
    let settings = BTreeMap::new();
    let (mut sandboxed, mut native) = (Vec::with_capacity(iterations), Vec::with_capacity(iterations));
    let mut instantiating = Vec::with_capacity(iterations);
    for i in 0..iterations + iterations / 10 + 5 {
        let started = Instant::now();
        let invocation = runtime.invoke(&loaded, context.clone(), Limits::default(), event)?;
        let took = started.elapsed();
        anyhow::ensure!(invocation.completed(), "{label} did not complete: {}", invocation.outcome.detail());
        let started = Instant::now();
        let mut gate = Gate::new("bench", context.clone(), Bounds::from(&Limits::default()));
        let summary = super::native::propagate_mail(&mut gate, change, &settings).map_err(anyhow::Error::msg)?;
        std::hint::black_box((summary, gate.take()));
        let native_took = started.elapsed();
        if i >= iterations / 10 + 5 {
            sandboxed.push(took);
            native.push(native_took);
            instantiating.push(std::time::Duration::from_micros(invocation.usage.instantiate_us));
        }
    }
    Ok(InvokeFigures {
        sandboxed_us: median_us(&mut sandboxed),
        native_us: median_us(&mut native),
        instantiate_us: median_us(&mut instantiating),
        api_version: loaded.api_version.clone(),
    })
}
