//! Group commit of plans, per tenant and host. Every commit of a tenant's plan locks the tenant's
//! chain head, so the tenant's commits run one after another whatever the host: alone, each would
//! hold the head for its own transaction's round trips and its own synced commit. Instead, the
//! plans that arrive on one host while a commit of the tenant is under way wait in the tenant's
//! lane, and the next of them to run commits all that are waiting (up to [`MAX_UNITS`]) in one
//! transaction: the head locked once, each plan checked again against the ones before it in the
//! same transaction, one synced commit. A plan alone commits at once.
//!
//! A refused plan writes nothing ([`commit_in`] refuses before it writes), so the others go on
//! without it. A store failure rolls the whole group back; each of its plans is then committed
//! again on its own, with its own retries, so one plan's failure is its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::invocations::commit_in;
use super::statements::Cached;
use super::{PostgresStore, pool};
use crate::{Commit, Declined, StoreError};
use provhost_core::audit::{AuditEntry, InvocationRecord};
use provhost_core::event::AttributeChanged;
use provhost_core::model::Action;
use provhost_core::policy::WindowBudget;
use provhost_core::refusal::Refusal;

/// The most plans one group transaction holds, so that a steady stream cannot keep a group (and
/// the plans in it) waiting.
pub(super) const MAX_UNITS: usize = 64;

/// Each tenant's lane on this host.
#[derive(Default)]
pub(super) struct Lanes(Mutex<HashMap<String, Arc<Lane>>>);

/// One tenant's plans waiting for a group, and who is committing one.
#[derive(Default)]
struct Lane {
    waiting: Mutex<Vec<Arc<Slot>>>,
    /// Held while a group of the tenant's plans is committed from this host.
    committing: Mutex<()>,
}

/// A plan waiting in a lane, and how its commit ended once it has.
struct Slot {
    plan: Plan,
    ended: Mutex<Option<Result<(), Declined>>>,
}

/// A [`Commit`] the lane holds until a group commits it.
struct Plan {
    record: InvocationRecord,
    actions: Vec<Action>,
    observed: Option<AttributeChanged>,
    windows: Vec<WindowBudget>,
    audit: Vec<AuditEntry>,
}

impl Plan {
    fn of(c: &Commit<'_>) -> Self {
        Self {
            record: c.record.clone(),
            actions: c.actions.to_vec(),
            observed: c.observed.cloned(),
            windows: c.windows.to_vec(),
            audit: c.audit.to_vec(),
        }
    }

    fn commit(&self) -> Commit<'_> {
        Commit {
            record: &self.record,
            actions: &self.actions,
            observed: self.observed.as_ref(),
            windows: &self.windows,
            audit: &self.audit,
        }
    }
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A group that panicked rolled its transaction back as it unwound; its plans commit again.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Lanes {
    fn lane(&self, tenant: &str) -> Arc<Lane> {
        locked(&self.0).entry(tenant.to_owned()).or_default().clone()
    }
}

impl PostgresStore {
    /// Commits `commit` in a group with the tenant's other plans waiting on this host, on this
    /// thread; answered once the group that held it committed (or refused it).
    pub(super) fn commit_grouped(&self, commit: &Commit<'_>) -> Result<(), Declined> {
        let lane = self.lanes.lane(&commit.record.tenant);
        let slot = Arc::new(Slot { plan: Plan::of(commit), ended: Mutex::new(None) });
        locked(&lane.waiting).push(slot.clone());
        let _committing = locked(&lane.committing);
        loop {
            if let Some(ended) = locked(&slot.ended).take() {
                return ended;
            }
            let group: Vec<Arc<Slot>> = {
                let mut waiting = locked(&lane.waiting);
                let n = waiting.len().min(MAX_UNITS);
                waiting.drain(..n).collect()
            };
            if group.is_empty() {
                // The group that held this plan ended in a panic: the plan commits on its own.
                return self.governed_here(|tx| commit_in(tx, commit));
            }
            let plans: Vec<Commit<'_>> = group.iter().map(|s| s.plan.commit()).collect();
            for (slot, ended) in group.iter().zip(self.commit_group(&plans)) {
                *locked(&slot.ended) = Some(ended);
            }
        }
    }

    /// Commits `plans` in one transaction; each alone, with its own retries, when the group's
    /// transaction failed.
    fn commit_group(&self, plans: &[Commit<'_>]) -> Vec<Result<(), Declined>> {
        if plans.len() > 1 {
            match self.group_transaction(plans) {
                Ok(ended) => return ended.into_iter().map(|e| e.map_err(Declined::Refused)).collect(),
                Err(e) => tracing::debug!(
                    "a group of {} plans could not be committed together ({e}); each is committed on its own",
                    plans.len()
                ),
            }
        }
        plans.iter().map(|plan| self.governed_here(|tx| commit_in(tx, plan))).collect()
    }

    /// One transaction committing every plan of `plans` that no rule refuses.
    fn group_transaction(&self, plans: &[Commit<'_>]) -> Result<Vec<Result<(), Refusal>>, StoreError> {
        let mut pooled = self.pool.take()?;
        let pool::Connection { client, statements } = &mut *pooled;
        let mut tx = client.transaction()?;
        let mut ended = Vec::with_capacity(plans.len());
        {
            let mut cached = Cached::new(&mut tx, statements);
            for plan in plans {
                match commit_in(&mut cached, plan) {
                    Ok(()) => ended.push(Ok(())),
                    Err(Declined::Refused(refusal)) => ended.push(Err(refusal)),
                    Err(Declined::Store(e)) => return Err(e),
                }
            }
        }
        tx.commit()?;
        self.stats.count_group(ended.iter().filter(|e| e.is_ok()).count() as u64);
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{ActionStore, AuditStore, DEMO_TENANT, InvocationStore, UpkeepStore, seed_demo};
    use provhost_core::model::{ActionFilter, ActionState, new_id};

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
    /// own while the tenant's lane is held, so that all of them wait, then lets them commit.
    fn held_group(
        store: &Arc<PostgresStore>,
        plans: &[(&str, bool)],
        windows: &[WindowBudget],
    ) -> Vec<Result<(), Declined>> {
        let lane = store.lanes.lane(DEMO_TENANT);
        let holding = locked(&lane.committing);
        let running: Vec<_> = plans
            .iter()
            .map(|&(id, with_action)| {
                let (store, id, windows) = (store.clone(), id.to_owned(), windows.to_vec());
                std::thread::spawn(move || plan(&store, &id, with_action, &windows))
            })
            .collect();
        while locked(&lane.waiting).len() < plans.len() {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(holding);
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
            (before.0 + 1, before.1 + 3),
            "one transaction kept the three plans no rule refused"
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
}
