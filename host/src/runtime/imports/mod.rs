//! The host side of the WIT imports: one file per interface, all implemented on [`HostState`],
//! the data of each invocation's `Store`.

mod actions;
mod convert;
mod events;
mod log;
mod queries;
mod types;

pub(crate) use events::wit_event;

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::CallError;
use crate::gate::{Gate, TenantContext};
use crate::limits::{LimitHit, Limits};
use crate::refusal::Refusal;
use crate::runtime::CapturedOutput;
use crate::runtime::memory::MemoryLimiter;

/// The data of one invocation's `Store`: sandbox state, limits, and what the plugin planned.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Enforces the memory cap and remembers the peak.
    pub limiter: MemoryLimiter,
    /// Checks and plans the plugin's calls.
    pub gate: Gate,
    limits: Limits,
    deadline: Instant,
    /// Host calls made so far.
    pub host_calls: u32,
    /// Bytes of log lines and audit notes kept so far.
    kept: KeptBytes,
    /// The limit that ended (or will end) the invocation.
    pub limit_hit: Option<LimitHit>,
}

impl HostState {
    /// Fresh state for one invocation: WASI with nothing granted and output going to `output`.
    pub fn new(invocation: &str, context: Arc<TenantContext>, limits: Limits, output: &CapturedOutput) -> Self {
        let wasi = WasiCtx::builder().stdout(output.clone()).stderr(output.clone()).build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(limits.memory_bytes),
            gate: Gate::new(invocation, context, limits.max_actions),
            limits,
            deadline: Instant::now() + limits.timeout(),
            host_calls: 0,
            kept: KeptBytes::default(),
            limit_hit: None,
        }
    }

    /// Readies the state of a warm instance for its next invocation: a new plan, fresh limits and
    /// counters. The memory the instance holds stays counted against the cap.
    pub fn renew(&mut self, invocation: &str, context: Arc<TenantContext>, limits: Limits) {
        self.limiter.renew(limits.memory_bytes);
        self.gate = Gate::new(invocation, context, limits.max_actions);
        self.limits = limits;
        self.deadline = Instant::now() + limits.timeout();
        self.host_calls = 0;
        self.kept = KeptBytes::default();
        self.limit_hit = None;
    }

    /// When the invocation's wall-clock deadline passes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Counts a host call against the budget and checks the deadline. Past the budget the call is
    /// refused with `budget-exhausted` and the invocation can no longer commit; any call after
    /// that, or past the deadline, traps.
    fn begin_call(&mut self) -> Result<(), CallError> {
        if let Some(hit) = self.limit_hit {
            return Err(CallError::Trap(wasmtime::Error::new(hit)));
        }
        if Instant::now() >= self.deadline {
            let hit = LimitHit::Timeout(self.limits.timeout_ms);
            self.limit_hit = Some(hit);
            return Err(CallError::Trap(wasmtime::Error::new(hit)));
        }
        self.host_calls += 1;
        if self.host_calls > self.limits.max_host_calls {
            let hit = LimitHit::HostCalls(self.limits.max_host_calls);
            self.limit_hit = Some(hit);
            return Err(Refusal::BudgetExhausted(format!("{hit}; the plan is abandoned")).into());
        }
        Ok(())
    }

    /// Begins a call that names `ids` (and gives `reason`): counted and deadline-checked, then
    /// its arguments bounded.
    fn enter(&mut self, function: &'static str, ids: &[&str], reason: Option<&str>) -> Result<(), CallError> {
        self.begin_call()?;
        self.admit_arguments(function, ids, reason)
    }

    /// Refuses, as `invalid` and recorded, a call naming an id or giving a reason longer than the
    /// invocation's limits allow, before anything else about the call is looked at.
    fn admit_arguments(&mut self, function: &'static str, ids: &[&str], reason: Option<&str>) -> Result<(), CallError> {
        let too_long = |what: &str, len: usize, max: u32| {
            (len > max as usize).then(|| format!("{what} is {len} bytes long; provhost takes at most {max} bytes"))
        };
        let refusal = ids
            .iter()
            .find_map(|id| too_long("an id", id.len(), self.limits.max_id_bytes))
            .or_else(|| reason.and_then(|r| too_long("the reason", r.len(), self.limits.max_reason_bytes)));
        let Some(message) = refusal else { return Ok(()) };
        let refused: Result<(), Refusal> = Err(Refusal::Invalid(message));
        self.gate.journal.record(function, ids, &refused, |_| Vec::new());
        refused.map_err(CallError::from)
    }
}

/// Bytes of what a guest asked the host to keep, counted against the invocation's limits.
#[derive(Debug, Default)]
struct KeptBytes {
    logs: usize,
    logs_cut: bool,
    notes: usize,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Host state over the demo tenant, for calling the import traits directly, without wasm.

    use super::*;
    use crate::policy::{Grants, TenantPolicy};
    use crate::store::Store;
    use crate::tenant::testing::governed_context;

    /// A demo store and host state whose plugin setting `systems` is `exchange-online,topdesk`,
    /// with every scope granted and no policy.
    pub fn demo_state(limits: Limits) -> (Arc<Store>, HostState) {
        governed_state(limits, Grants::everything(), TenantPolicy::default())
    }

    /// A demo store and host state under the given key grants and tenant policy.
    pub fn governed_state(limits: Limits, key: Grants, policy: TenantPolicy) -> (Arc<Store>, HostState) {
        let (store, context) = governed_context(key, policy);
        (store, HostState::new("inv-test", context, limits, &CapturedOutput::new(1024)))
    }
}
