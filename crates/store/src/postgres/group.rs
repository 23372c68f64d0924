//! Group commit of plans, per tenant and host. Every commit of a tenant's plan takes the tenant's
//! budget lock ([`super::budget`]), so the tenant's commits run one after another whatever the
//! host: alone, each would hold it for its own transaction's round trips and its own synced
//! commit. Instead, the plans that arrive on one host while a commit of the tenant is under way
//! wait in the tenant's lane, and the next of them to run commits all that are waiting (up to
//! [`MAX_UNITS`]) in one transaction: each plan checked again against the ones before it in the
//! same transaction, the audit entries of those committed appended to the chain at the end (its
//! head locked once, for the append alone), one synced commit. A plan alone commits at once. A plan whose group has
//! committed is answered at once, without waiting for the lane.
//!
//! A refused plan writes nothing ([`commit_unchained`] refuses before it writes), so the others go on
//! without it. A statement of one plan that fails rolls the whole group back; each of its plans
//! is then committed again on its own, with its own retries, so one plan's failure is its own.
//! A failure that is no plan's own (no connection, a connection lost, a `COMMIT` that failed,
//! which may have committed) is every member's answer, as the embedded store's group commit
//! answers it: nothing is committed twice.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::audit::append;
use super::budget::lock_budget;
use super::events::keep_in;
use super::invocations::commit_unchained;
use super::statements::{Cached, Tx};
use super::{PostgresStore, pool};
use crate::{Commit, Declined, EventBounds, Kept, KeptEvent, StoreError};
use provhost_core::audit::{AuditEntry, InvocationRecord};
use provhost_core::event::AttributeChanged;
use provhost_core::model::Action;
use provhost_core::policy::WindowBudget;

/// The most plans one group transaction holds, so that a steady stream cannot keep a group (and
/// the plans in it) waiting.
pub(super) const MAX_UNITS: usize = 64;

/// Each tenant's lane on this host.
#[derive(Default)]
pub(super) struct Lanes(Mutex<HashMap<String, Arc<Lane>>>);

/// One tenant's plans waiting for a group, and whether one is being committed from this host.
#[derive(Default)]
struct Lane {
    state: Mutex<LaneState>,
    /// Told when a group ends: its members have their answers, and the lane is free.
    ended: Condvar,
}

#[derive(Default)]
struct LaneState {
    waiting: Vec<Arc<Slot>>,
    committing: bool,
}

/// How a plan's commit ended: with what keeping its event did, if it kept one.
type Ended = Result<Option<Kept>, Declined>;

/// A plan waiting in a lane, and how its commit ended once it has.
struct Slot {
    plan: Plan,
    ended: Mutex<Option<Ended>>,
}

/// A [`Commit`] the lane holds until a group commits it, with the event to keep beside it.
struct Plan {
    record: InvocationRecord,
    actions: Vec<Action>,
    observed: Option<AttributeChanged>,
    windows: Vec<WindowBudget>,
    audit: Vec<AuditEntry>,
    keeping: Option<(KeptEvent, EventBounds)>,
}

impl Plan {
    fn of(c: &Commit<'_>, keeping: Option<(&KeptEvent, EventBounds)>) -> Self {
        Self {
            record: c.record.clone(),
            actions: c.actions.to_vec(),
            observed: c.observed.cloned(),
            windows: c.windows.to_vec(),
            audit: c.audit.to_vec(),
            keeping: keeping.map(|(event, bounds)| (event.clone(), bounds)),
        }
    }

    /// Commits the plan, and keeps its event, inside `tx`, the tenant's budget lock taken first.
    fn commit_in(&self, tx: &mut Tx<'_, '_>) -> Ended {
        lock_budget(tx, &self.record.tenant)?;
        let kept = self.commit_unchained(tx)?;
        append(tx, &self.record.tenant, &self.audit)?;
        Ok(kept)
    }

    /// [`Plan::commit_in`] but for the budget lock, which the group takes once before its first
    /// plan, and for its audit entries, which the group appends at its end.
    fn commit_unchained(&self, tx: &mut Tx<'_, '_>) -> Ended {
        let commit = Commit {
            record: &self.record,
            actions: &self.actions,
            observed: self.observed.as_ref(),
            windows: &self.windows,
            audit: &self.audit,
        };
        commit_unchained(tx, &commit)?;
        match &self.keeping {
            Some((event, bounds)) => Ok(Some(keep_in(tx, event, *bounds)?)),
            None => Ok(None),
        }
    }
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A group that panicked rolled its transaction back as it unwound; its plans commit again.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Lanes {
    fn lane(&self, tenant: &str) -> Arc<Lane> {
        let mut lanes = locked(&self.0);
        match lanes.get(tenant) {
            Some(lane) => lane.clone(),
            None => lanes.entry(tenant.to_owned()).or_default().clone(),
        }
    }
}

/// Frees the lane when its committer is done, or unwound, and wakes its waiting members.
struct Committing<'a>(&'a Lane);

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        locked(&self.0.state).committing = false;
        self.0.ended.notify_all();
    }
}

/// Why a group transaction did not commit.
enum Failed {
    /// A statement of one of its plans failed; the connection is sound, the group rolled back.
    Plan(StoreError),
    /// No connection, a connection lost or a `COMMIT` that failed: every member's answer.
    Group(String),
}

impl PostgresStore {
    /// Commits `commit` (and keeps `keeping`'s event in the same transaction) in a group with the
    /// tenant's other plans waiting on this host, on this thread; answered once the group that
    /// held it committed (or refused it).
    pub(super) fn commit_grouped(&self, commit: &Commit<'_>, keeping: Option<(&KeptEvent, EventBounds)>) -> Ended {
        let lane = self.lanes.lane(&commit.record.tenant);
        let slot = Arc::new(Slot { plan: Plan::of(commit, keeping), ended: Mutex::new(None) });
        let mut state = locked(&lane.state);
        state.waiting.push(slot.clone());
        loop {
            if let Some(ended) = locked(&slot.ended).take() {
                return ended;
            }
            if state.committing {
                state = lane.ended.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            state.committing = true;
            let n = state.waiting.len().min(MAX_UNITS);
            let mut group: Vec<Arc<Slot>> = state.waiting.drain(..n).collect();
            if !group.iter().any(|s| Arc::ptr_eq(s, &slot)) && !state.waiting.iter().any(|s| Arc::ptr_eq(s, &slot)) {
                // The group that held this plan ended in a panic: the plan commits again.
                group.push(slot.clone());
            }
            drop(state);
            let committing = Committing(&lane);
            let plans: Vec<&Plan> = group.iter().map(|s| &s.plan).collect();
            for (member, ended) in group.iter().zip(self.commit_group(&plans)) {
                *locked(&member.ended) = Some(ended);
            }
            drop(committing);
            state = locked(&lane.state);
        }
    }

    /// Commits `plans` in one transaction; each alone, with its own retries, when a statement of
    /// one of them failed.
    fn commit_group(&self, plans: &[&Plan]) -> Vec<Ended> {
        match self.group_transaction(plans) {
            Ok(ended) => ended,
            Err(Failed::Group(why)) => plans.iter().map(|_| Err(StoreError::GroupCommit(why.clone()).into())).collect(),
            Err(Failed::Plan(e)) if plans.len() == 1 => vec![self.alone(plans[0], e)],
            Err(Failed::Plan(e)) => {
                tracing::debug!("a group of {} plans was rolled back ({e}); each is committed on its own", plans.len());
                plans.iter().map(|plan| self.governed_here(|tx| plan.commit_in(tx))).collect()
            }
        }
    }

    /// A plan alone whose transaction failed with `e`: tried again while the failure is a
    /// conflict with another host's transaction, as every store transaction is.
    fn alone(&self, plan: &Plan, e: StoreError) -> Ended {
        match e {
            StoreError::Serialization { .. } => self.governed_here(|tx| plan.commit_in(tx)),
            other => Err(other.into()),
        }
    }

    /// One transaction committing every plan of `plans` that no rule refuses.
    fn group_transaction(&self, plans: &[&Plan]) -> Result<Vec<Ended>, Failed> {
        let mut pooled = self.pool.take().map_err(|e| Failed::Group(e.to_string()))?;
        let pool::Connection { client, statements } = &mut *pooled;
        let mut tx = client.transaction().map_err(|e| Failed::Group(super::described(&e)))?;
        let mut ended = Vec::with_capacity(plans.len());
        let failed = {
            let mut cached = Cached::new(&mut tx, statements);
            let mut chained: Vec<&AuditEntry> = Vec::new();
            // A group is one tenant's (its lane's): the budget lock, taken once, holds for every plan.
            let tenant = plans.first().map(|plan| plan.record.tenant.as_str());
            let mut failed = tenant.and_then(|tenant| lock_budget(&mut cached, tenant).err());
            for plan in plans {
                if failed.is_some() {
                    break;
                }
                match plan.commit_unchained(&mut cached) {
                    Err(Declined::Store(e)) => {
                        failed = Some(e);
                        break;
                    }
                    other => {
                        if other.is_ok() {
                            chained.extend(&plan.audit);
                        }
                        ended.push(other);
                    }
                }
            }
            if failed.is_none()
                && let Some(tenant) = tenant
                && let Err(e) = append(&mut cached, tenant, chained)
            {
                failed = Some(e);
            }
            failed
        };
        if let Some(e) = failed {
            drop(tx);
            return Err(if pooled.client.is_closed() { Failed::Group(e.to_string()) } else { Failed::Plan(e) });
        }
        tx.commit().map_err(|e| Failed::Group(super::described(&e)))?;
        self.stats.count_group(plans.len() as u64);
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{ActionStore, AuditStore, DEMO_TENANT, InvocationStore, UpkeepStore, seed_demo};
    use provhost_core::model::{ActionFilter, ActionState, new_id};
    use provhost_core::refusal::Refusal;

    /// Commits a plan of one action like the demo's failed one (or of none), under `windows`.
    fn plan(store: &PostgresStore, id: &str, with_action: bool, windows: &[WindowBudget]) -> Result<(), Declined> {
        let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
        let record = InvocationRecord::history(id, DEMO_TENANT, "p", "a grouped plan");
        let actions: Vec<Action> = with_action
            .then(|| Action { id: new_id(), state: ActionState::Pending, retry_of: None, ..failed })
            .into_iter()
            .collect();
        let audit = [record.plan_entry(&actions)];
        store.commit(&Commit { record: &record, actions: &actions, observed: None, windows, audit: &audit })
    }

    /// Runs each of `plans` (an invocation id and whether it plans an action) on a thread of its
    /// own while the tenant's lane is taken, so that all of them wait, then frees the lane.
    fn held_group(
        store: &Arc<PostgresStore>,
        plans: &[(&str, bool)],
        windows: &[WindowBudget],
    ) -> Vec<Result<(), Declined>> {
        let lane = store.lanes.lane(DEMO_TENANT);
        locked(&lane.state).committing = true;
        let running: Vec<_> = plans
            .iter()
            .map(|&(id, with_action)| {
                let (store, id, windows) = (store.clone(), id.to_owned(), windows.to_vec());
                std::thread::spawn(move || plan(&store, &id, with_action, &windows))
            })
            .collect();
        while locked(&lane.state).waiting.len() < plans.len() {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(Committing(&lane));
        running.into_iter().map(|t| t.join().unwrap()).collect()
    }

    #[test]
    fn waiting_plans_commit_in_one_transaction_and_a_refused_one_leaves_the_others() {
        let Some(store) = crate::postgres::testing::fresh_store() else { return };
        let store = Arc::new(store);
        seed_demo(&*store).unwrap();
        let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
        let hour = Duration::from_secs(3600);
        let used = store.window_usage(DEMO_TENANT, &failed.system, failed.kind, hour).unwrap();
        // Room for two more actions of the failed one's system and kind.
        let windows = [WindowBudget { system: failed.system.clone(), kind: failed.kind, max: used + 2, per: hour }];
        let before = (store.group_stats().groups(), store.group_stats().units());
        let ids: Vec<String> = (0..4).map(|_| new_id()).collect();
        let plans: Vec<(&str, bool)> = vec![(&ids[0], true), (&ids[1], true), (&ids[2], true), (&ids[3], false)];
        let ended = held_group(&store, &plans, &windows);
        let refused: Vec<&Refusal> = ended
            .iter()
            .filter_map(|e| match e {
                Err(Declined::Refused(r)) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(refused.len(), 1, "one of three plans is past the window: {ended:?}");
        assert_eq!(refused[0].code(), "threshold-exceeded");
        assert_eq!(ended.iter().filter(|e| e.is_ok()).count(), 3);
        assert_eq!(
            (store.group_stats().groups(), store.group_stats().units()),
            (before.0 + 1, before.1 + 4),
            "one transaction held the four plans, the refused one writing nothing"
        );
        assert_eq!(store.window_usage(DEMO_TENANT, &failed.system, failed.kind, hour).unwrap(), used + 2);
        let verified = store.verify_audit(DEMO_TENANT).unwrap();
        assert!(verified.broken.is_none(), "the chain verifies: {:?}", verified.broken);
    }

    #[test]
    fn a_plan_that_fails_in_a_group_fails_alone() {
        let Some(store) = crate::postgres::testing::fresh_store() else { return };
        let store = Arc::new(store);
        seed_demo(&*store).unwrap();
        let taken = new_id();
        plan(&store, &taken, false, &[]).unwrap();
        let (first, second) = (new_id(), new_id());
        // The same invocation recorded twice fails on the store's key, rolling the group back.
        let ended = held_group(&store, &[(&first, true), (&taken, false), (&second, true)], &[]);
        let failures: Vec<&Declined> = ended.iter().filter_map(|e| e.as_ref().err()).collect();
        assert_eq!(failures.len(), 1, "{ended:?}");
        assert!(matches!(failures[0], Declined::Store(_)), "{:?}", failures[0]);
        for id in [&first, &second] {
            assert!(store.invocation_source(DEMO_TENANT, id).unwrap().is_some(), "{id} committed on its own");
        }
        let verified = store.verify_audit(DEMO_TENANT).unwrap();
        assert!(verified.broken.is_none(), "the chain verifies: {:?}", verified.broken);
    }

    /// Holds the demo tenant's budget lock on a connection of its own, as a commit under way on
    /// another host would, until the returned transaction ends.
    fn hold_budget(client: &mut postgres::Client) -> postgres::Transaction<'_> {
        let mut tx = client.transaction().unwrap();
        tx.execute(crate::postgres::budget::LOCK_BUDGET, &[&DEMO_TENANT]).unwrap();
        tx
    }

    /// Waits until `n` transactions wait for an advisory lock, as the database sees them; fails
    /// past ten seconds.
    fn until_waiting_for_budget(client: &mut postgres::Client, n: i64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let sql = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted";
        while client.query_one(sql, &[]).unwrap().get::<_, i64>(0) < n {
            assert!(std::time::Instant::now() < deadline, "{n} transactions never waited for the budget");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_commit_waits_for_the_budget_and_an_executor_ends_past_it_unless_it_unmanages() {
        use crate::{ClaimStore, Due, Effect, Finish};
        let Some(url) = crate::postgres::testing::fresh_database() else { return };
        let store = Arc::new(PostgresStore::open(&url).unwrap());
        seed_demo(&*store).unwrap();
        let (mut holder, mut watcher) = (
            super::pool::connect(&url.parse().unwrap(), "test").unwrap(),
            super::pool::connect(&url.parse().unwrap(), "test").unwrap(),
        );
        let (first, second) = (new_id(), new_id());
        plan(&store, &first, true, &[]).unwrap();
        plan(&store, &second, true, &[]).unwrap();
        let pending: Vec<Action> = store
            .actions(DEMO_TENANT, &ActionFilter { state: Some(ActionState::Pending), ..ActionFilter::default() }, 10)
            .unwrap();
        let ids: Vec<String> = pending.iter().map(|a| a.id.clone()).collect();
        assert_eq!(ids.len(), 2, "{pending:?}");
        let claims = store.claim_actions("host-a", Duration::from_secs(60), Due::These(DEMO_TENANT, &ids)).unwrap();
        assert_eq!(claims.len(), 2);
        let held = hold_budget(&mut holder);

        // A commit checks budgets: it waits for the one under way.
        let committing = {
            let store = store.clone();
            std::thread::spawn(move || plan(&store, &new_id(), false, &[]))
        };
        until_waiting_for_budget(&mut watcher, 1);
        // Ending an action checks none: it ends while the commit under way holds the budget.
        let done = [(claims[0].key.clone(), Finish::Success(Effect::Nothing, "done".into()))];
        let ended = store.finish_actions(DEMO_TENANT, "host-a", &done, &|_| Vec::new()).unwrap();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].state, ActionState::Success);

        // Unmanaging changes what a commit checks: that end waits for the budget too.
        let entitlement: String = watcher
            .query_one("SELECT id FROM entitlements WHERE tenant = $1 AND managed ORDER BY id LIMIT 1", &[&DEMO_TENANT])
            .unwrap()
            .get(0);
        let unmanaging = {
            let (store, key) = (store.clone(), claims[1].key.clone());
            std::thread::spawn(move || {
                let done = [(key, Finish::Success(Effect::Unmanaged { entitlement }, "unmanaged".into()))];
                store.finish_actions(DEMO_TENANT, "host-a", &done, &|_| Vec::new()).map(|ended| ended.len())
            })
        };
        until_waiting_for_budget(&mut watcher, 2);
        assert!(!committing.is_finished() && !unmanaging.is_finished());
        held.rollback().unwrap();
        committing.join().unwrap().unwrap();
        assert_eq!(unmanaging.join().unwrap().unwrap(), 1);
        let verified = store.verify_audit(DEMO_TENANT).unwrap();
        assert!(verified.broken.is_none(), "the chain verifies: {:?}", verified.broken);
    }
}
