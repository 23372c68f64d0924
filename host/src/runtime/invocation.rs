//! One invocation: a fresh `Store` and instance per event (or a warm one, opt-in), limits
//! applied, the plan and journal collected. Nothing here writes to the store; committing is the
//! caller's decision.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use wasmtime::{Store, Trap, UpdateDeadline};

use super::engine::YIELD_TICKS;
use super::imports::HostState;
use super::warm::{Instance, WarmPool};
use super::{CapturedOutput, InvokeError, LoadedPlugin, Runtime};
use crate::event::Event;
use crate::gate::{Journal, TenantContext};
use crate::limits::{LimitHit, Limits, cut_to};
use crate::model::{Action, new_id};

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
        match self {
            InvocationOutcome::Completed { .. } => "completed",
            InvocationOutcome::PluginError { .. } => "plugin-error",
            InvocationOutcome::Trap { .. } => "trap",
            InvocationOutcome::Limit { .. } => "limit",
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

impl Runtime {
    /// Runs `event` through `plugin`: in a fresh sandbox, or in one of the plugin's warm
    /// instances when its tenant opted into reuse. An `action-failed` event is resolved to the
    /// failed action through the tenant's backend first.
    pub fn invoke(
        &self,
        plugin: &LoadedPlugin,
        context: Arc<TenantContext>,
        limits: Limits,
        event: &Event,
    ) -> Result<Invocation, InvokeError> {
        let wit_event =
            crate::runtime::imports::wit_event(event.clone(), |id| context.backend.action(&context.tenant, id))?;
        let id = new_id();
        let started = Instant::now();
        let warm = plugin.warm.as_ref().and_then(WarmPool::take);
        let (mut store, output, bindings, served) = match warm {
            Some(mut instance) => {
                instance.store.data_mut().renew(&id, context, limits);
                (instance.store, instance.output, Some(instance.bindings), instance.served)
            }
            None => {
                let output = CapturedOutput::new(limits.max_output_bytes as usize);
                let mut store = Store::new(&self.engine, HostState::new(&id, context, limits, &output));
                store.limiter(|state| &mut state.limiter);
                (store, output, None, 0)
            }
        };
        store.set_fuel(limits.fuel).expect("fuel is enabled on the engine");
        let deadline = store.data().deadline();
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline { UpdateDeadline::Interrupt } else { UpdateDeadline::Yield(YIELD_TICKS) })
        });
        store.set_epoch_deadline(YIELD_TICKS);
        let run = async {
            let bindings = match bindings {
                Some(bindings) => bindings,
                None => plugin.pre.instantiate_async(&mut store).await?,
            };
            let returned = bindings.provhost_plugin_handler().call_handle(&mut store, &wit_event).await?;
            Ok((bindings, returned))
        };
        // Past the deadline the future is dropped wherever the guest is: in wasm, in a host call,
        // or blocked in WASI.
        let _deadline = crate::deadline::scope(deadline);
        let result = self
            .sandbox
            .run_until(deadline, run)
            .unwrap_or_else(|| Err(wasmtime::Error::new(LimitHit::Timeout(limits.timeout_ms))));
        if let Err(error) = &result
            && let Some(full) = error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        {
            return Err(InvokeError::Busy(full.to_string()));
        }
        let wall_time_us = started.elapsed().as_micros() as u64;
        let fuel = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let guest_output = output.take_text();
        let state = store.data_mut();
        let kept = limits.max_summary_bytes as usize;
        let (outcome, bindings) = match (state.limit_hit, result) {
            (Some(hit), _) => (InvocationOutcome::limit(hit), None),
            (None, Ok((bindings, Ok(outcome)))) => {
                (InvocationOutcome::Completed { summary: cut_to(outcome.summary, kept) }, Some(bindings))
            }
            (None, Ok((bindings, Err(message)))) => {
                (InvocationOutcome::PluginError { message: cut_to(message, kept) }, Some(bindings))
            }
            (None, Err(error)) => (classify_trap(&error, state, &limits, &guest_output), None),
        };
        let usage = Usage { fuel, wall_time_us, peak_memory: state.limiter.peak, host_calls: state.host_calls };
        let (plan, journal) = state.gate.take();
        if let (Some(pool), Some(bindings)) = (&plugin.warm, bindings) {
            pool.give_back(Instance { store, bindings, output, served: served + 1 });
        }
        Ok(Invocation { id, outcome, usage, plan, journal, guest_output })
    }
}

/// Names the limit behind a trap, or describes the trap with the guest's panic message if it
/// printed one.
fn classify_trap(error: &wasmtime::Error, state: &HostState, limits: &Limits, output: &str) -> InvocationOutcome {
    if let Some(hit) = error.downcast_ref::<LimitHit>() {
        return InvocationOutcome::limit(*hit);
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
