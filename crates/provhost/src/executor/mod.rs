//! Carrying out committed actions. An executor claims actions under leases that fence (`running`,
//! one more attempt and a new fencing token, recorded), has the tenant's backend carry each out
//! while a keeper renews the leases, and records how each ended — with the notifications of the
//! tenant's webhooks — in one transaction that names each claim's token. A process killed mid-run
//! leaves its claims to lapse: once a lease passes, the action is taken up again and the new
//! attempt is recorded, and the platform sees the same idempotency key, so nothing stays stranded,
//! nothing runs twice and no attempt goes unrecorded. An action a platform still works on ends
//! `waiting` and is followed up until it ends there. Exclusions are checked again just before the
//! backend is called: an action whose person or system was excluded since its commit ends `error`
//! with the exclusion, on record, and the platform never hears of it. The carry-outs of a batch
//! share the directory records they read until its ends are recorded, for at most `FLUSH`
//! ([`BatchReads`]).
//!
//! `provhost run`, `provhost test` and approvals carry their own actions out at once
//! ([`Executor::run_now`]), each with an owner of its own; `provhost serve` answers at commit and
//! a worker ([`Executor::work`], in [`worker`]) carries out whatever is due, tenant by tenant.

mod lease;
mod worker;

pub use worker::Tenants;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::backend::{BackendError, BatchReads, Job};
use crate::gate::TenantContext;
use crate::model::{Action, ActionState};
use crate::store::{Claim, Due, Effect, Finish, LeaseKey, StoreError};
use crate::webhook::{Outbox, Tracking};
use lease::Keeper;

/// How long a claim holds unless configured otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

/// How long ends wait to be recorded together: a batch records what ended every this often, so
/// that one slow action does not hold back the record of those before it.
const FLUSH: Duration = Duration::from_millis(200);

/// How often a worker looks for due work when nothing wakes it, unless configured otherwise.
pub const DEFAULT_POLL: Duration = Duration::from_millis(250);

/// One executor: a name its claims carry, how long they hold, and how often its worker looks for
/// due work that nothing woke it for.
#[derive(Debug, Clone)]
pub struct Executor {
    owner: String,
    lease: Duration,
    poll: Duration,
}

impl Executor {
    /// An executor of this process whose claims hold for `lease`.
    pub fn new(lease: Duration) -> Self {
        let mut nonce = [0u8; 4];
        getrandom::fill(&mut nonce).unwrap_or_default();
        let owner = format!("{}-{}", std::process::id(), hex::encode(nonce));
        Self { owner, lease, poll: DEFAULT_POLL }
    }

    /// The same executor, its worker looking for due work every `poll` when nothing wakes it
    /// (leases that passed, follow-ups due, and another host's commits where the store cannot
    /// tell of them).
    pub fn with_poll(self, poll: Duration) -> Self {
        Self { poll, ..self }
    }

    /// Another executor with the same lease and poll and an owner of its own (an approval's,
    /// beside the worker's).
    pub fn another(&self) -> Self {
        Self::new(self.lease).with_poll(self.poll)
    }

    /// The name its claims carry.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Claims those of `actions` that are still runnable and carries them out now; the webhooks
    /// hear of the ones that ended as `tracking` says. Returns `actions` as they stand afterwards.
    pub fn run_now(
        &self,
        context: &TenantContext,
        tracking: Tracking<'_>,
        actions: &[Action],
    ) -> Result<Vec<Action>, BackendError> {
        let ids: Vec<String> = actions.iter().map(|a| a.id.clone()).collect();
        let claimed_at = Instant::now();
        let claims =
            context.parts.store.claim_actions(&self.owner, self.lease, Due::These(&context.parts.tenant, &ids))?;
        let ended = self.carry_out(context, &claims, claimed_at, tracking, None)?;
        let now = ended.iter().chain(claims.iter().map(|c| &c.action));
        let now: Vec<&Action> = now.collect();
        Ok(actions.iter().map(|a| now.iter().find(|e| e.id == a.id).map_or(a, |e| *e).clone()).collect())
    }

    /// Has the tenant's backend carry out (or follow up) each claim while a keeper renews the
    /// leases, and records the ends with their notifications. A claim that no longer holds is not
    /// carried out; one whose person or system is excluded now ends `error` with the exclusion
    /// and never reaches the backend; an action the backend could not reach stays under its lease, to be taken up
    /// again once it passes; after `stop` turns true, the claims not started lapse at once.
    fn carry_out(
        &self,
        context: &TenantContext,
        claims: &[Claim],
        claimed_at: Instant,
        tracking: Tracking<'_>,
        stop: Option<&AtomicBool>,
    ) -> Result<Vec<Action>, StoreError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let keys = claims.iter().map(|c| c.key.clone()).collect();
        let keeper = Keeper::start(context.parts.store.clone(), &self.owner, self.lease, keys, claimed_at);
        let mut ended = Vec::with_capacity(claims.len());
        let mut results: Vec<(&Claim, Finish)> = Vec::new();
        let mut unrecorded: Option<Instant> = None;
        let reads = BatchReads::new(FLUSH);
        for (n, claim) in claims.iter().enumerate() {
            if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                // Stopping: the claims not started lapse now, for the next executor to take up.
                let rest: Vec<LeaseKey> = claims[n..].iter().map(|c| c.key.clone()).collect();
                if let Err(e) = context.parts.store.renew_leases(&self.owner, Duration::ZERO, &rest) {
                    tracing::warn!("{} claims not started are left to lapse with their leases: {e}", rest.len());
                }
                keeper.ended(&rest);
                break;
            }
            if !keeper.holds(&claim.key) {
                tracing::warn!(tenant = %context.parts.tenant, action = %claim.action.id, "not carried out: the claim no longer holds");
                continue;
            }
            // Only a claim that no longer holds stops the backend: a reference the store could
            // not record is found again by the action's idempotency key.
            let noted = |reference: &str| {
                keeper.holds(&claim.key)
                    && context.parts.store.note_follow(&self.owner, &claim.key, reference).unwrap_or_else(|e| {
                        tracing::warn!(action = %claim.action.id, "could not record the platform's reference {reference}: {e}");
                        true
                    })
            };
            let job = Job {
                action: &claim.action,
                attempt: claim.attempt,
                follow: claim.follow.as_ref(),
                noted: &noted,
                reads: &reads,
            };
            let carried = match excluded_now(context, claim) {
                Ok(Some(why)) => Ok(Finish::Error(why)),
                Ok(None) => context.parts.backend.carry_out(&context.parts.tenant, &job),
                Err(e) => Err(e),
            };
            match carried {
                Ok(finish) => {
                    results.push((claim, finish));
                    unrecorded.get_or_insert_with(Instant::now);
                }
                Err(e) => tracing::warn!(
                    tenant = %context.parts.tenant,
                    action = %claim.action.id,
                    "action left to be taken up again when its lease passes: {e}"
                ),
            }
            if unrecorded.is_some_and(|since| since.elapsed() >= FLUSH) {
                ended.extend(self.record(context, &keeper, std::mem::take(&mut results), tracking)?);
                unrecorded = None;
                reads.forget();
            }
        }
        ended.extend(self.record(context, &keeper, results, tracking)?);
        Ok(ended)
    }

    /// Records the ends of `results` in one transaction with their notifications.
    fn record(
        &self,
        context: &TenantContext,
        keeper: &Keeper,
        results: Vec<(&Claim, Finish)>,
        tracking: Tracking<'_>,
    ) -> Result<Vec<Action>, StoreError> {
        if results.is_empty() {
            return Ok(Vec::new());
        }
        // An action still waiting after a follow-up moves nowhere: nothing to tell of it.
        let moving: Vec<(&Action, Option<&Effect>)> = results
            .iter()
            .filter(|(c, f)| !(c.action.state == ActionState::Waiting && matches!(f, Finish::Waiting(..))))
            .map(|(c, f)| (&c.action, if let Finish::Success(effect, _) = f { Some(effect) } else { None }))
            .collect();
        let outbox = Outbox::prepare(context, tracking, &moving)?;
        let ends: Vec<(LeaseKey, Finish)> = results.into_iter().map(|(c, f)| (c.key.clone(), f)).collect();
        let ended = context
            .parts
            .store
            .finish_actions(&context.parts.tenant, &self.owner, &ends, &|ended| outbox.deliveries(ended))?;
        keeper.ended(ends.iter().map(|(k, _)| k));
        Ok(ended)
    }
}

/// Why a claim may not be carried out because of an exclusion that applies now (the tenant's
/// configuration changed since the action was committed): the message it ends `error` with. A
/// follow-up is not refused: the platform already works on it.
fn excluded_now(context: &TenantContext, claim: &Claim) -> Result<Option<String>, BackendError> {
    if claim.follow.is_some() || claim.action.state == ActionState::Waiting {
        return Ok(None);
    }
    let why = context.parts.exclusion(&claim.action)?;
    Ok(why.map(|why| format!("not carried out: {why} since the action was committed; what they have stays as it is")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::audit::InvocationRecord;
    use crate::config::TenantConfig;
    use crate::model::{ActionFilter, new_id};
    use crate::policy::Exclusions;
    use crate::store::{AuditFilter, DEMO_TENANT, SqliteStore, Store, seed_demo};
    use crate::tenant::Tenant;

    #[test]
    fn an_action_whose_person_was_excluded_after_its_commit_is_not_carried_out() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
        seed_demo(&*store).unwrap();
        let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
        let action = Action { id: new_id(), state: ActionState::Pending, retry_of: None, ..failed };
        let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "committed before the exclusion");
        store.commit_invocation(&record, std::slice::from_ref(&action)).unwrap();
        let before =
            (store.entitlements_of(DEMO_TENANT, &action.person), store.accounts_of(DEMO_TENANT, &action.person));

        // The tenant's configuration changes: the host comes back with the person excluded.
        let exclusions = Exclusions { persons: vec![action.person.clone()], ..Default::default() };
        let config = TenantConfig { exclusions, ..Default::default() };
        let tenant = Tenant::configured(DEMO_TENANT, &config, &store).unwrap();
        let executor = Executor::new(Duration::from_secs(60));
        let ended = executor.run_now(
            &tenant.executor_context(executor.owner()),
            Tracking::Fixed("t", "test"),
            std::slice::from_ref(&action),
        );

        let ended = ended.unwrap().remove(0);
        assert_eq!(ended.state, ActionState::Error, "{}", ended.message);
        assert!(ended.message.contains("is excluded by id"), "the message names the exclusion: {}", ended.message);
        let after =
            (store.entitlements_of(DEMO_TENANT, &action.person), store.accounts_of(DEMO_TENANT, &action.person));
        assert_eq!(format!("{before:?}"), format!("{after:?}"), "the directory was not touched");
        let filter =
            AuditFilter { tenant: Some(DEMO_TENANT.into()), action: Some(action.id.clone()), ..Default::default() };
        let records = store.audit(&filter, 10, 0).unwrap();
        let said: Vec<String> = records.iter().map(|r| serde_json::to_string(&r.entry).unwrap()).collect();
        assert!(said.iter().any(|r| r.contains("is excluded by id")), "the executor's record names it: {said:?}");
        assert!(store.verify_audit(DEMO_TENANT).unwrap().is_whole(), "the chain verifies");
    }
}
