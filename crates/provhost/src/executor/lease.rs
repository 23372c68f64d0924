//! Keeping claims while their actions are carried out: a thread renews the leases of the claims
//! still open every third of a lease, so that a batch carried out one action after another, or a
//! platform followed for a minute, never outlives its lease. Before each carry-out the executor asks
//! whether the claim still holds: a claim another executor took up again, or whose renewal is
//! overdue (the process stalled, the store did not answer), is not carried out.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::store::{LeaseKey, Store};

/// The claims of one batch, renewed until they end or the keeper is dropped.
pub(super) struct Keeper {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    store: Arc<dyn Store>,
    owner: String,
    lease: Duration,
    state: Mutex<State>,
    stop: Condvar,
}

struct State {
    /// Claims not ended yet.
    open: Vec<LeaseKey>,
    /// Claims found lost: taken up by another executor, or ended.
    lost: HashSet<LeaseKey>,
    /// When the last renewal that reached the store began (or the claim was made).
    renewed: Instant,
    stopped: bool,
}

impl Keeper {
    /// Keeps `claims`, made by executor `owner` for `lease` at `claimed` (taken before the claim).
    pub(super) fn start(
        store: Arc<dyn Store>,
        owner: &str,
        lease: Duration,
        claims: Vec<LeaseKey>,
        claimed: Instant,
    ) -> Self {
        let state = State { open: claims, lost: HashSet::new(), renewed: claimed, stopped: false };
        let shared =
            Arc::new(Shared { store, owner: owner.to_owned(), lease, state: Mutex::new(state), stop: Condvar::new() });
        let keeping = shared.clone();
        let thread = std::thread::Builder::new()
            .name("provhost-lease".into())
            .spawn(move || keeping.run())
            .map_err(|e| tracing::error!("cannot start the thread renewing leases: {e}"))
            .ok();
        Keeper { shared, thread }
    }

    /// Whether `claim` still holds: not lost, and renewed recently enough that its lease cannot
    /// have passed (half a lease; past that, it is renewed now).
    pub(super) fn holds(&self, claim: &LeaseKey) -> bool {
        let overdue = {
            let state = self.shared.lock();
            if state.lost.contains(claim) {
                return false;
            }
            state.renewed.elapsed() >= self.shared.lease / 2
        };
        if overdue {
            self.shared.renew();
            let state = self.shared.lock();
            return !state.lost.contains(claim) && state.renewed.elapsed() < self.shared.lease / 2;
        }
        true
    }

    /// Stops renewing claims that ended.
    pub(super) fn ended<'a>(&self, claims: impl IntoIterator<Item = &'a LeaseKey>) {
        let ended: HashSet<&LeaseKey> = claims.into_iter().collect();
        self.shared.lock().open.retain(|c| !ended.contains(c));
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.shared.stop.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Renews every third of a lease until stopped.
    fn run(&self) {
        let every = (self.lease / 3).max(Duration::from_millis(1));
        let mut state = self.lock();
        loop {
            if state.stopped {
                return;
            }
            let (next, _) = self.stop.wait_timeout(state, every).unwrap_or_else(|p| p.into_inner());
            if next.stopped {
                return;
            }
            drop(next);
            self.renew();
            state = self.lock();
        }
    }

    /// Renews the open claims once; marks those that no longer hold.
    fn renew(&self) {
        let started = Instant::now();
        let open: Vec<LeaseKey> = self.lock().open.clone();
        if open.is_empty() {
            self.lock().renewed = started;
            return;
        }
        match self.store.renew_leases(&self.owner, self.lease, &open) {
            Ok(held) => {
                let mut state = self.lock();
                for (claim, held) in open.into_iter().zip(held) {
                    if !held {
                        tracing::warn!(tenant = %claim.tenant, action = %claim.id, "the claim was lost: its lease passed and another executor took the action up");
                        state.open.retain(|c| c != &claim);
                        state.lost.insert(claim);
                    }
                }
                state.renewed = started;
            }
            Err(e) => tracing::warn!("renewing {} leases failed; they are renewed again shortly: {e}", open.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::InvocationRecord;
    use crate::model::{Action, ActionFilter, ActionState, new_id};
    use crate::store::{DEMO_TENANT, Due, seed_demo};

    fn pending(store: &dyn Store) -> String {
        let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
        let action = Action { id: new_id(), state: ActionState::Pending, retry_of: None, ..failed };
        let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "one pending");
        store.commit_invocation(&record, std::slice::from_ref(&action)).unwrap();
        action.id
    }

    #[test]
    fn a_kept_claim_outlives_many_leases_and_no_one_else_can_take_it() {
        let store: Arc<dyn Store> = Arc::new(crate::store::SqliteStore::in_memory().unwrap());
        seed_demo(&*store).unwrap();
        let id = pending(&*store);
        let lease = Duration::from_millis(500);
        let claimed = Instant::now();
        let claim = store.claim_actions("a", lease, Due::These(DEMO_TENANT, std::slice::from_ref(&id))).unwrap();
        let keeper = Keeper::start(store.clone(), "a", lease, vec![claim[0].key.clone()], claimed);
        let ids = [id.clone()];
        for _ in 0..10 {
            std::thread::sleep(lease / 2);
            assert!(store.claim_actions("b", lease, Due::These(DEMO_TENANT, &ids)).unwrap().is_empty());
            assert!(keeper.holds(&claim[0].key));
        }
        drop(keeper);
        std::thread::sleep(lease * 2);
        let taken = store.claim_actions("b", lease, Due::These(DEMO_TENANT, &ids)).unwrap();
        assert_eq!(taken.len(), 1, "once no longer renewed, the lease passes and the action is taken up");
        let old = Keeper::start(store.clone(), "a", lease, vec![claim[0].key.clone()], Instant::now() - lease);
        assert!(!old.holds(&claim[0].key), "the old claim does not hold once another executor took it up");
    }
}
