//! One invocation: a fresh `Store` and instance per event (or a warm one, opt-in), limits
//! applied, the plan and journal collected. Nothing here writes to the store; committing is the
//! caller's decision.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use wasmtime::component::ResourceTableError;
use wasmtime::{PoolConcurrencyLimitError, Store, Trap, UpdateDeadline};

use super::engine::YIELD_TICKS;
use super::imports::HostState;
use super::share::Slots;
use super::versions::Plugin;
use super::warm::{Instance, WarmKey};
use super::{CapturedOutput, InvokeError, LoadedPlugin, Runtime};
use provhost_core::audit::Outcome;
use provhost_core::event::Event;
use provhost_core::limits::{LimitHit, Limits, cut_to};
use provhost_core::model::{Action, new_id};
use provhost_gate::{Journal, TenantContext};

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum InvocationOutcome {
    /// `handle` returned `ok`: the plan may commit.
    Completed {
        /// The plugin's summary.
        summary: String,
    },
    /// `handle` returned `err`.
    PluginError {
        /// The plugin's message.
        message: String,
    },
    /// The plugin trapped (a panic, an invalid operation).
    Trap {
        /// What happened.
        message: String,
    },
    /// A limit ended the invocation.
    Limit {
        /// Which limit and its value.
        hit: LimitHit,
        /// The limit in words.
        message: String,
    },
}

impl InvocationOutcome {
    /// The outcome's name in records: `completed`, `plugin-error`, `trap` or `limit`.
    pub fn code(&self) -> &'static str {
        self.outcome().as_str()
    }

    /// The outcome as the invocation's record names it.
    pub fn outcome(&self) -> Outcome {
        match self {
            InvocationOutcome::Completed { .. } => Outcome::Completed,
            InvocationOutcome::PluginError { .. } => Outcome::PluginError,
            InvocationOutcome::Trap { .. } => Outcome::Trap,
            InvocationOutcome::Limit { .. } => Outcome::Limit,
        }
    }

    /// One line: the plugin's summary or why it failed.
    pub fn detail(&self) -> &str {
        match self {
            InvocationOutcome::Completed { summary } => summary,
            InvocationOutcome::PluginError { message }
            | InvocationOutcome::Trap { message }
            | InvocationOutcome::Limit { message, .. } => message,
        }
    }

    fn limit(hit: LimitHit) -> Self {
        InvocationOutcome::Limit { hit, message: hit.to_string() }
    }
}

/// What an invocation used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Fuel consumed.
    pub fuel: u64,
    /// Wall time from instantiation to return, in microseconds.
    pub wall_time_us: u64,
    /// Of that, the time taken to instantiate, in microseconds; 0 on a warm instance.
    pub instantiate_us: u64,
    /// Peak linear memory, in bytes.
    pub peak_memory: u64,
    /// Host calls made.
    pub host_calls: u32,
}

/// The result of running one event through one plugin.
#[derive(Debug)]
pub struct Invocation {
    /// The invocation's id; planned actions carry it.
    pub id: String,
    /// How it ended.
    pub outcome: InvocationOutcome,
    /// The actions planned; committed only if the outcome is `Completed`.
    pub plan: Vec<Action>,
    /// Every host call, audit note and log line.
    pub journal: Journal,
    /// Resources used.
    pub usage: Usage,
    /// What the plugin printed, capped.
    pub guest_output: String,
}

impl Invocation {
    /// Whether the plan may be committed.
    pub fn completed(&self) -> bool {
        matches!(self.outcome, InvocationOutcome::Completed { .. })
    }
}

/// A store ready to run an event: its output sink, and the instance, unless instantiating failed
/// (the failure is the plugin's, and is reported as its outcome).
type Ready = (Store<HostState>, CapturedOutput, wasmtime::Result<Plugin>);

/// Sets a store's fuel and makes its guest code yield to the executor, and stop once `deadline`
/// passes; a plugin being profiled is sampled at every tick instead of yielding.
fn arm(store: &mut Store<HostState>, plugin: &LoadedPlugin, fuel: u64, deadline: Instant) {
    store.set_fuel(fuel).expect("fuel is enabled on the engine");
    #[cfg(feature = "guest-profile")]
    if let Some(profile) = plugin.profile.clone() {
        return crate::profile::arm(store, profile, deadline);
    }
    #[cfg(not(feature = "guest-profile"))]
    let _ = plugin;
    store.epoch_deadline_callback(move |_| {
        Ok(if Instant::now() >= deadline { UpdateDeadline::Interrupt } else { UpdateDeadline::Yield(YIELD_TICKS) })
    });
    store.set_epoch_deadline(YIELD_TICKS);
}

fn pool_full(error: &wasmtime::Error) -> bool {
    error.downcast_ref::<PoolConcurrencyLimitError>().is_some()
}

impl Runtime {
    /// Runs `event` through `plugin`: in a fresh sandbox, or in one of the plugin's warm
    /// instances when its tenant opted into reuse and one is waiting for this tenant and these
    /// key grants. An `action-failed` event is resolved to the failed action through the tenant's
    /// backend first. A fresh instance first takes its slots from the tenant's share of the pool.
    pub fn invoke(
        &self,
        plugin: &LoadedPlugin,
        context: Arc<TenantContext>,
        limits: Limits,
        event: &Event,
    ) -> Result<Invocation, InvokeError> {
        let wit_event =
            crate::imports::wit_event(event.clone(), |id| context.parts.backend.action(&context.parts.tenant, id))?;
        let id = new_id();
        let started = Instant::now();
        let deadline = started + limits.timeout();
        // Past the deadline the future is dropped wherever the guest is: in wasm, in a host call,
        // or blocked in WASI; and a blocking call made for it (a platform's REST API) waits no
        // longer than what is left, from instantiation on.
        let _deadline = provhost_core::deadline::scope(deadline);
        let key = WarmKey::of(&context);
        let warm = plugin.warm.as_ref().and_then(|pool| pool.take(&key));
        let (mut store, output, instantiated, served, slots) = match warm {
            Some(mut instance) => {
                instance.store.data_mut().renew(&id, context, limits, deadline);
                arm(&mut instance.store, plugin, limits.fuel, deadline);
                (instance.store, instance.output, Ok(instance.bindings), instance.served, instance.slots)
            }
            None => {
                let slots = self.slots_for(&key.tenant, plugin)?;
                let (store, output, instantiated) = self.instantiate(plugin, &id, &context, limits, deadline)?;
                (store, output, instantiated, 0, slots)
            }
        };
        let instantiate_us = if served == 0 { started.elapsed().as_micros() as u64 } else { 0 };
        let run = async {
            let bindings = instantiated?;
            let returned = bindings.handle(&mut store, &wit_event).await?;
            Ok((bindings, returned))
        };
        let result = self
            .sandbox
            .run_until(deadline, run)
            .unwrap_or_else(|| Err(wasmtime::Error::new(LimitHit::Timeout(limits.timeout_ms))));
        let wall_time_us = started.elapsed().as_micros() as u64;
        let fuel = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let guest_output = output.take_text();
        let state = store.data_mut();
        let kept = limits.max_summary_bytes as usize;
        let (outcome, bindings) = match (state.limit_passed(), result) {
            (Some(hit), _) => (InvocationOutcome::limit(hit), None),
            (None, Ok((bindings, Ok(summary)))) => {
                (InvocationOutcome::Completed { summary: cut_to(summary, kept) }, Some(bindings))
            }
            (None, Ok((bindings, Err(message)))) => {
                (InvocationOutcome::PluginError { message: cut_to(message, kept) }, Some(bindings))
            }
            (None, Err(error)) => (classify_trap(&error, state, &limits, &guest_output), None),
        };
        let usage =
            Usage { fuel, wall_time_us, instantiate_us, peak_memory: state.limiter.peak, host_calls: state.host_calls };
        let (plan, journal) = state.gate.take();
        if let (Some(pool), Some(bindings)) = (&plugin.warm, bindings) {
            pool.give_back(key, Instance { store, bindings, output, served: served + 1, slots });
        }
        Ok(Invocation { id, outcome, usage, plan, journal, guest_output })
    }

    /// The slots one more instance of `plugin` needs, from `tenant`'s share of the pool. When the
    /// share is used up, the tenant's idle warm instances give theirs back first; when they do not
    /// free enough, the tenant is busy.
    fn slots_for(&self, tenant: &str, plugin: &LoadedPlugin) -> Result<Slots, InvokeError> {
        self.share.take(tenant, plugin.footprint).or_else(|_| {
            self.idle.evict(|_, key| key.tenant == tenant);
            self.share.take(tenant, plugin.footprint).map_err(|held| {
                InvokeError::Busy(format!(
                    "tenant '{tenant}' holds its share of the instance pool: {held} of {}",
                    self.share.share()
                ))
            })
        })
    }

    /// A fresh store and instance of `plugin`, armed with the limits and the deadline. When the
    /// engine's pool has no slot left, every idle warm instance gives its slots back and the
    /// instantiation is tried once more, in a fresh store; when that fails too, provhost is busy.
    fn instantiate(
        &self,
        plugin: &LoadedPlugin,
        id: &str,
        context: &Arc<TenantContext>,
        limits: Limits,
        deadline: Instant,
    ) -> Result<Ready, InvokeError> {
        let attempt = || {
            let output = CapturedOutput::new(limits.max_output_bytes as usize);
            let mut store = Store::new(&self.engine, HostState::new(id, context.clone(), limits, deadline, &output));
            store.limiter(|state| &mut state.limiter);
            arm(&mut store, plugin, limits.fuel, deadline);
            let instantiated = self
                .sandbox
                .run_until(deadline, plugin.code.pre.instantiate_async(&mut store))
                .unwrap_or_else(|| Err(wasmtime::Error::new(LimitHit::Timeout(limits.timeout_ms))));
            (store, output, instantiated)
        };
        let mut ready = attempt();
        if matches!(&ready.2, Err(e) if pool_full(e)) && self.idle.evict(|_, _| true) > 0 {
            // The failed attempt may hold slots of its own until its store is gone.
            drop(ready);
            ready = attempt();
        }
        match &ready.2 {
            Err(full) if pool_full(full) => Err(InvokeError::Busy(full.to_string())),
            _ => Ok(ready),
        }
    }
}

/// Names the limit behind a trap, or describes the trap with the guest's panic message if it
/// printed one.
fn classify_trap(error: &wasmtime::Error, state: &HostState, limits: &Limits, output: &str) -> InvocationOutcome {
    if let Some(hit) = error.downcast_ref::<LimitHit>() {
        return InvocationOutcome::limit(*hit);
    }
    if let Some(ResourceTableError::Full) = error.chain().find_map(|e| e.downcast_ref::<ResourceTableError>()) {
        return InvocationOutcome::limit(LimitHit::WasiResources(limits.max_wasi_resources));
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => return InvocationOutcome::limit(LimitHit::Fuel(limits.fuel)),
        Some(Trap::Interrupt) => return InvocationOutcome::limit(LimitHit::Timeout(limits.timeout_ms)),
        _ if state.limiter.refused => return InvocationOutcome::limit(LimitHit::Memory(limits.memory_bytes)),
        _ => {}
    }
    let mut message = format!("plugin trapped: {}", error.root_cause());
    if let Some(panic) = output.lines().find(|l| l.contains("panicked at")) {
        let detail = output.lines().skip_while(|l| !l.contains("panicked at")).nth(1).unwrap_or("");
        message.push_str(&format!(" ({} {})", panic.trim(), detail.trim()));
    }
    InvocationOutcome::Trap { message }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::time::Duration;

    use wasmtime::component::{Component, Linker};

    use super::*;
    use provhost_core::policy::{Grants, TenantPolicy};
    use provhost_gate::testing::governed_context;

    /// A component of `memories` core instances, each defining one empty memory.
    fn filler(runtime: &Runtime, memories: usize) -> Component {
        let instances = "(core instance (instantiate $m))".repeat(memories);
        let wat = format!("(component (core module $m (memory 0 0)) {instances})");
        Component::new(&runtime.engine, wat::parse_str(wat).unwrap()).unwrap()
    }

    /// Holds instances of `component` until the pool has no slot left for one more.
    fn fill(runtime: &Runtime, component: &Component, held: &mut Vec<Store<()>>) {
        let linker = Linker::<()>::new(&runtime.engine);
        loop {
            let mut store = Store::new(&runtime.engine, ());
            let far = Instant::now() + Duration::from_secs(60);
            match runtime.sandbox.run_until(far, linker.instantiate_async(&mut store, component)).unwrap() {
                Ok(_) => held.push(store),
                Err(e) if pool_full(&e) => return,
                Err(e) => panic!("{e:#}"),
            }
        }
    }

    fn run(runtime: &Runtime, plugin: &LoadedPlugin, key: &[&str]) -> Result<Invocation, InvokeError> {
        let (_store, context) = governed_context(Grants::parse(key).unwrap(), TenantPolicy::default());
        let event = Event::from_json(include_str!("../../../examples/events/mail-changed.json")).unwrap();
        runtime.invoke(plugin, context, Limits::default(), &event)
    }

    #[test]
    fn idle_warm_instances_give_their_slots_back_when_the_pool_is_full() {
        let cache = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(cache.path().to_owned()).unwrap().with_tenant_pool_share(100);
        let noop = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins/target/wasm32-wasip2/release/noop.wasm");
        let plugin = runtime
            .load(std::path::Path::new(noop), None)
            .expect("the test plugins are built (scripts/build-plugins.sh)")
            .with_warm_instances(NonZeroU32::new(10).unwrap());
        assert!(run(&runtime, &plugin, &["events:submit", "persons:read"]).unwrap().completed());
        assert_eq!(runtime.idle.len(), 1, "warm and idle, holding its slots");

        let mut held = Vec::new();
        fill(&runtime, &filler(&runtime, 4), &mut held);
        fill(&runtime, &filler(&runtime, 1), &mut held);
        let other = run(&runtime, &plugin, &["events:submit"]).expect("the idle instance made room");
        assert!(other.completed(), "{:?}", other.outcome);
        assert_eq!(runtime.idle.len(), 1, "the idle instance of the other key was dropped; this one is idle now");

        runtime.idle.evict(|_, _| true);
        fill(&runtime, &filler(&runtime, 1), &mut held);
        let busy = run(&runtime, &plugin, &["events:submit"]).map(|_| ()).unwrap_err();
        assert!(matches!(&busy, InvokeError::Busy(why) if why.contains("memor")), "{busy}");
        held.pop();
        assert!(run(&runtime, &plugin, &["events:submit"]).unwrap().completed(), "a freed slot is used at once");
    }
}
