//! Carrying out committed actions. An executor claims actions with a lease (`running`, one more
//! attempt, recorded), has the tenant's backend carry each out, and records how each ended in one
//! transaction that also releases the leases; then the tenant's webhooks hear of the actions that
//! ended. A process killed mid-run leaves its claims to lapse: once a lease passes, the action is
//! taken up again and the new attempt is recorded, so nothing stays stranded and no attempt goes
//! unrecorded.
//!
//! `provhost run`, `provhost test` and approvals carry their own actions out at once
//! ([`Executor::run_now`]); `provhost serve` answers at commit and a worker
//! ([`Executor::work`]) carries out whatever is due.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::BackendError;
use crate::gate::TenantContext;
use crate::model::Action;
use crate::policy::Grants;
use crate::store::{Due, Store};
use crate::tenant::{Caller, Tenant};

/// How long a claim holds unless configured otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

/// How many due actions one pass of the worker claims at most.
const BATCH: usize = 256;

/// How often the worker looks for actions whose lease passed when nothing wakes it.
const IDLE_PASS: Duration = Duration::from_millis(250);

/// Gives each tenant its wiring, by id (the server's configured tenants).
pub type Wire = Arc<dyn Fn(&str) -> Arc<Tenant> + Send + Sync>;

/// One executor: a name its claims carry and how long they hold.
#[derive(Debug, Clone)]
pub struct Executor {
    owner: String,
    lease: Duration,
}

impl Executor {
    /// An executor of this process whose claims hold for `lease`.
    pub fn new(lease: Duration) -> Self {
        let mut nonce = [0u8; 4];
        getrandom::fill(&mut nonce).unwrap_or_default();
        let owner = format!("{}-{}", std::process::id(), hex::encode(nonce));
        Self { owner, lease }
    }

    /// The name its claims carry.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Claims those of `actions` that are still runnable and carries them out now, then queues
    /// the webhooks for the ones that ended (`invocation` and `origin` name what planned them).
    /// Returns `actions` as they stand afterwards.
    pub fn run_now(
        &self,
        context: &TenantContext,
        (invocation, origin): (&str, &str),
        actions: &[Action],
    ) -> Result<Vec<Action>, BackendError> {
        let ids: Vec<String> = actions.iter().map(|a| a.id.clone()).collect();
        let claimed: Vec<Action> = context
            .store
            .claim_actions(&self.owner, self.lease, Due::These(&context.tenant, &ids))?
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        let ended = self.carry_out(context, &claimed)?;
        crate::webhook::queue(context, invocation, origin, &ended)?;
        Ok(actions.iter().map(|a| ended.iter().chain(&claimed).find(|e| e.id == a.id).unwrap_or(a).clone()).collect())
    }

    /// Claims up to one batch of due actions of any tenant (`wire` gives each tenant) and carries
    /// them out; returns how many it claimed.
    pub fn run_due(&self, store: &Store, wire: &dyn Fn(&str) -> Arc<Tenant>) -> Result<usize, BackendError> {
        let claimed = store.claim_actions(&self.owner, self.lease, Due::Any(BATCH))?;
        let count = claimed.len();
        let mut by_tenant: BTreeMap<String, Vec<Action>> = BTreeMap::new();
        for (tenant, action) in claimed {
            by_tenant.entry(tenant).or_default().push(action);
        }
        for (tenant, actions) in by_tenant {
            let context =
                wire(&tenant).request_context(Caller { key_id: &self.owner, grants: &Grants::default() }, "executor");
            let ended = self.carry_out(&context, &actions)?;
            let mut by_invocation: BTreeMap<&str, Vec<Action>> = BTreeMap::new();
            for action in &ended {
                by_invocation.entry(action.invocation.as_deref().unwrap_or_default()).or_default().push(action.clone());
            }
            for (invocation, ended) in by_invocation {
                let origin = store.invocation_plugin(&tenant, invocation)?.unwrap_or_else(|| "executor".into());
                crate::webhook::queue(&context, invocation, &origin, &ended)?;
            }
        }
        Ok(count)
    }

    /// Has the tenant's backend carry out each claimed action and records the ends. An action the
    /// backend could not reach stays `running` under its lease, to be taken up again.
    fn carry_out(&self, context: &TenantContext, claimed: &[Action]) -> Result<Vec<Action>, BackendError> {
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let mut results = Vec::with_capacity(claimed.len());
        for action in claimed {
            match context.backend.carry_out(&context.tenant, action) {
                Ok(finish) => results.push((action.id.clone(), finish)),
                Err(e) => tracing::warn!(
                    tenant = %context.tenant,
                    action = %action.id,
                    "action left to be taken up again when its lease passes: {e}"
                ),
            }
        }
        Ok(context.store.finish_actions(&context.tenant, &results, &self.owner)?)
    }

    /// Carries out due actions until `stop` turns true: a pass whenever `wake` is notified (a
    /// commit), and otherwise every 250 ms for leases that passed. Each pass that ended something
    /// bumps `progress`, which callers waiting for their actions watch.
    pub async fn work(
        self: Arc<Self>,
        store: Arc<Store>,
        wire: Wire,
        wake: Arc<tokio::sync::Notify>,
        progress: tokio::sync::watch::Sender<u64>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        while !*stop.borrow() {
            let (executor, store, wire) = (self.clone(), store.clone(), wire.clone());
            let pass = tokio::task::spawn_blocking(move || executor.run_due(&store, wire.as_ref())).await;
            let claimed = match pass {
                Ok(Ok(claimed)) => claimed,
                Ok(Err(e)) => {
                    tracing::error!("executor pass failed: {e}");
                    0
                }
                Err(e) => {
                    tracing::error!("executor pass panicked: {e}");
                    0
                }
            };
            if claimed > 0 {
                progress.send_modify(|n| *n += 1);
                continue;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(IDLE_PASS) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
