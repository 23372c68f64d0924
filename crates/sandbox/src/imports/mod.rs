//! The host side of the WIT imports: one file per interface, all implemented on [`HostState`],
//! the data of each invocation's `Store`.

mod actions;
mod convert;
mod log;
mod queries;
mod types;
mod wit_event;

pub(crate) use wit_event::wit_event;

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::CallError;
use crate::CapturedOutput;
use crate::memory::MemoryLimiter;
use provhost_core::limits::{LimitHit, Limits};
use provhost_core::refusal::Refusal;
use provhost_gate::{Bounds, Gate, Import, TenantContext};

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

/// The most WASI resources a warm instance may still hold when its event ends and be kept for
/// the next one: the handles a guest's libc keeps for its standard streams. One holding more is
/// dropped, so resources a guest took during one event never reach the next.
pub const WARM_RESOURCES: usize = 16;

impl HostState {
    /// Fresh state for one invocation ending at `deadline`: WASI with nothing granted, output
    /// going to `output`, and a resource table bounded by the limits.
    pub fn new(
        invocation: &str,
        context: Arc<TenantContext>,
        limits: Limits,
        deadline: Instant,
        output: &CapturedOutput,
    ) -> Self {
        let wasi = WasiCtx::builder().stdout(output.clone()).stderr(output.clone()).build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_wasi_resources as usize);
        Self {
            wasi,
            table,
            limiter: MemoryLimiter::new(limits.memory_bytes),
            gate: Gate::new(invocation, context, Bounds::from(&limits)),
            limits,
            deadline,
            host_calls: 0,
            kept: KeptBytes::default(),
            limit_hit: None,
        }
    }

    /// Readies the state of a warm instance for its next invocation, ending at `deadline`: a new
    /// plan, fresh limits and counters. The memory and the (few) resources the instance holds stay
    /// counted against their limits.
    pub fn renew(&mut self, invocation: &str, context: Arc<TenantContext>, limits: Limits, deadline: Instant) {
        self.limiter.renew(limits.memory_bytes);
        self.table.set_max_capacity(limits.max_wasi_resources as usize);
        self.gate = Gate::new(invocation, context, Bounds::from(&limits));
        self.limits = limits;
        self.deadline = deadline;
        self.host_calls = 0;
        self.kept = KeptBytes::default();
        self.limit_hit = None;
    }

    /// How many WASI resources the instance holds.
    pub fn resources_held(&mut self) -> usize {
        self.table.iter_mut().count()
    }

    /// The limit the invocation has passed, if it has: one a call hit, the plan's action budget or
    /// the journal's ceiling. The invocation then ends and commits nothing.
    pub fn limit_passed(&self) -> Option<LimitHit> {
        let max = self.limits.max_journal_bytes;
        self.limit_hit
            .or_else(|| self.gate.plan.exhausted().then_some(LimitHit::Actions(self.limits.max_actions)))
            .or_else(|| (self.gate.journal.bytes() > max as usize).then_some(LimitHit::JournalBytes(max)))
    }

    /// The first thing every import does, before it looks at its arguments: the call is counted
    /// against the host-call budget, and the deadline and the journal's ceiling are checked. Past
    /// the budget the call is refused `budget-exhausted` (and recorded) and the invocation can no
    /// longer commit; any call after that, past the deadline or past the journal's ceiling traps.
    fn begin_call(&mut self, function: Import) -> Result<(), CallError> {
        let passed = self
            .limit_passed()
            .or_else(|| (Instant::now() >= self.deadline).then_some(LimitHit::Timeout(self.limits.timeout_ms)));
        if let Some(hit) = passed {
            self.limit_hit = Some(hit);
            return Err(CallError::Trap(wasmtime::Error::new(hit)));
        }
        self.host_calls += 1;
        if self.host_calls > self.limits.max_host_calls {
            let hit = LimitHit::HostCalls(self.limits.max_host_calls);
            self.limit_hit = Some(hit);
            let refused: Result<(), Refusal> = Err(Refusal::BudgetExhausted(format!("{hit}; the plan is abandoned")));
            self.gate.journal.record(function, &[], &refused, |_| Vec::new());
            return refused.map_err(CallError::from);
        }
        Ok(())
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
mod tests {
    //! The counting rules, on the imports themselves: every call is counted and checked before
    //! anything else about it is looked at.

    use super::testing::demo_state;
    use super::*;
    use crate::bindings::actions::Host as _;
    use crate::bindings::log::{Host as _, Level};
    use crate::bindings::queries::Host as _;
    use crate::bindings::types::{ActionFilter, Host as _};

    const JAN: &str = "3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e7b01";

    fn oversized() -> ActionFilter {
        ActionFilter { person: Some("P".repeat(300)), state: None, system: None }
    }

    /// Whether the call's error is a trap (rather than a refusal the guest receives).
    fn traps(state: &mut HostState, err: CallError) -> bool {
        state.convert_error(err).is_err()
    }

    #[test]
    fn every_import_counts_refused_or_not() {
        let (_store, mut state) = demo_state(Limits::default());
        let _ = state.get_person("nobody".into());
        let _ = state.list_entitlements(JAN.into());
        let _ = state.list_accounts("x".repeat(300));
        let _ = state.list_actions(oversized());
        let _ = state.re_enforce_entitlement(JAN.into(), "nope".into(), "r".into());
        let _ = state.update_account(JAN.into(), "nope".into(), "r".repeat(5000));
        let _ = state.update_all_accounts(JAN.into(), "r".into());
        let _ = state.unmanage_entitlement("nobody".into(), "nope".into(), "r".into());
        let _ = state.retry_action("nope".into(), "r".into());
        state.log(Level::Info, "a line".into()).unwrap();
        state.audit_note(None, "a note".into(), false).unwrap();
        state.config("systems".into()).unwrap();
        assert_eq!(state.host_calls, 12, "reads, refusals, argument checks, logs, notes and config reads alike");
    }

    #[test]
    fn a_flood_of_refused_calls_ends_at_the_host_call_budget() {
        let (_store, mut state) = demo_state(Limits { max_host_calls: 3, ..Limits::default() });
        for _ in 0..3 {
            let err = state.list_actions(oversized()).unwrap_err();
            let refusal = format!("{:?}", state.convert_error(err).unwrap());
            assert!(refusal.contains("Invalid(\"an id is 300 bytes"), "{refusal}");
        }
        let err = state.list_actions(oversized()).unwrap_err();
        let refusal = format!("{:?}", state.convert_error(err).unwrap());
        assert!(refusal.contains("BudgetExhausted(\"host-call limit of 3 calls exceeded"), "{refusal}");
        assert_eq!(state.limit_hit, Some(LimitHit::HostCalls(3)));
        let err = state.list_actions(oversized()).unwrap_err();
        assert!(traps(&mut state, err), "the next call traps");
        assert_eq!(state.host_calls, 4);
        let decisions: Vec<&str> = state.gate.journal.calls.iter().map(|c| c.decision).collect();
        assert_eq!(decisions, ["invalid", "invalid", "invalid", "budget-exhausted"], "each refusal is recorded once");
    }

    #[test]
    fn the_deadline_is_checked_before_the_arguments() {
        let (_store, mut state) = demo_state(Limits { timeout_ms: 0, ..Limits::default() });
        let err = state.list_actions(oversized()).unwrap_err();
        let trap = state.convert_error(err).unwrap_err();
        assert_eq!(trap.to_string(), "wall-clock deadline of 0 ms passed");
        assert!(state.gate.journal.calls.is_empty(), "nothing about the call was looked at");
        assert!(state.log(Level::Info, "late".into()).is_err());
        assert!(state.config("systems".into()).is_err());
    }

    #[test]
    fn past_the_journal_ceiling_every_call_traps_and_the_journal_stays_bounded() {
        let limits = Limits { max_host_calls: 100_000, max_journal_bytes: 10_000, ..Limits::default() };
        let (_store, mut state) = demo_state(limits);
        let mut refused = 0;
        loop {
            let err = state.list_actions(oversized()).unwrap_err();
            if traps(&mut state, err) {
                break;
            }
            refused += 1;
            assert!(refused < 1000, "the journal must fill");
        }
        assert_eq!(state.limit_hit, Some(LimitHit::JournalBytes(10_000)));
        let bytes = state.gate.journal.bytes();
        assert!(bytes > 10_000 && bytes < 11_000, "at most one record past the ceiling: {bytes}");
        assert!(state.log(Level::Info, "more".into()).is_err(), "every later import traps");
        assert!(state.audit_note(None, "more".into(), false).is_err());
    }

    #[test]
    fn the_journal_counts_notes_and_log_lines_too() {
        let (_store, mut state) = demo_state(Limits { max_journal_bytes: 5_000, ..Limits::default() });
        state.log(Level::Info, "l".repeat(3_000)).unwrap();
        state.audit_note(None, "n".repeat(3_000), false).unwrap();
        assert_eq!(state.limit_passed(), Some(LimitHit::JournalBytes(5_000)));
        assert!(state.config("systems".into()).is_err(), "the next call traps");
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Host state over the demo tenant, for calling the import traits directly, without wasm.

    use super::*;
    use provhost_core::policy::{Grants, TenantPolicy};
    use provhost_gate::testing::governed_context;
    use provhost_store::Store;

    /// A demo store and host state whose plugin setting `systems` is `exchange-online,topdesk`,
    /// with every scope granted and no policy.
    pub fn demo_state(limits: Limits) -> (Arc<dyn Store>, HostState) {
        governed_state(limits, Grants::everything(), TenantPolicy::default())
    }

    /// A demo store and host state under the given key grants and tenant policy.
    pub fn governed_state(limits: Limits, key: Grants, policy: TenantPolicy) -> (Arc<dyn Store>, HostState) {
        let (store, context) = governed_context(key, policy);
        let deadline = Instant::now() + limits.timeout();
        (store, HostState::new("inv-test", context, limits, deadline, &CapturedOutput::new(1024)))
    }
}
