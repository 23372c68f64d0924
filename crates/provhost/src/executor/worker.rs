//! The worker of `provhost serve`: it carries out due actions tenant by tenant, fairly and failing
//! closed. Each round visits the served tenants in turn from where the last round stopped, and
//! gives each tenant with due work a lane of its own, up to [`LANES`] lanes at once; a tenant's
//! lane ends before that tenant is claimed for again. A lane holds at most a tenant's batch of
//! claims: [`BATCH_MIN`] at first, doubled after a lane that carried its whole batch out quickly
//! and halved after a slow one, between [`BATCH_MIN`] and [`BATCH_MAX`] — so a fast backend is
//! carried out in large batches, while a slow platform holds few leases at a time. One tenant's
//! backlog or slow platform holds only its own lane, and one tenant's failure ends only its own
//! lane. A tenant the configuration does not name is never served: its actions wait, and the log
//! says why.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Executor;
use crate::store::{Batch, Claim, Due, OpenActions, Store, StoreError};
use crate::tenant::Tenant;
use crate::webhook::Tracking;

/// The most tenants whose actions one worker carries out at once, each in a lane of its own.
pub const LANES: usize = 8;

/// The fewest actions of one tenant a lane claims at once (a tenant's first batch).
pub const BATCH_MIN: usize = 16;

/// The most actions of one tenant a lane claims at once.
pub const BATCH_MAX: usize = 256;

/// A lane that carried its whole batch out within this doubles the tenant's batch.
const QUICK: Duration = Duration::from_millis(250);

/// A lane that took longer than this halves the tenant's batch.
const SLOW: Duration = Duration::from_secs(2);

/// How often the worker looks for actions of tenants it does not serve, to say why they wait.
const HELD_CHECK: Duration = Duration::from_secs(60);

/// The tenants a worker carries out actions for, and how each is wired.
#[derive(Clone)]
pub struct Tenants {
    /// The tenants it serves, in a stable order: those of the configuration file; without one,
    /// every tenant of the store.
    pub roster: Arc<dyn Fn() -> Result<Vec<String>, StoreError> + Send + Sync>,
    /// A served tenant's wiring; for any other, why its actions are not carried out.
    pub wire: Arc<Wire>,
}

/// Gives a served tenant's wiring, or why a tenant is not served.
pub type Wire = dyn Fn(&str) -> Result<Arc<Tenant>, String> + Send + Sync;

/// One round of claims: the lanes it filled, and where in the roster the next round starts.
struct Round {
    lanes: Vec<Lane>,
    next: usize,
}

/// What a lane did: how many claims it held and how long carrying them out took.
struct Ran {
    claimed: usize,
    took: Duration,
}

/// One tenant's claims, carried out in a lane of their own.
struct Lane {
    tenant: String,
    claims: Vec<Claim>,
    claimed_at: Instant,
}

/// The next batch of a tenant whose lane carried `claimed` of a `batch` out in `took`.
fn next_batch(batch: usize, claimed: usize, took: Duration) -> usize {
    if took > SLOW {
        (batch / 2).max(BATCH_MIN)
    } else if claimed == batch && took <= QUICK {
        (batch * 2).min(BATCH_MAX)
    } else {
        batch
    }
}

impl Executor {
    /// Carries out due actions until `stop` turns true: a round whenever `wake` is notified (a
    /// commit, on this host or, where the store tells of them, on another) or a lane ends, and
    /// otherwise every poll (250 ms unless configured) for leases that passed and follow-ups that
    /// are due. Each lane that ended bumps `progress`, which callers waiting for their
    /// actions watch. On stop, lanes end after the action they are carrying out; the claims they
    /// did not start lapse at once, for the next executor to take up.
    pub async fn work(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        tenants: Tenants,
        wake: Arc<tokio::sync::Notify>,
        progress: tokio::sync::watch::Sender<u64>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let stopping = Arc::new(AtomicBool::new(false));
        let mut lanes = tokio::task::JoinSet::new();
        let mut busy: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut batches: HashMap<String, usize> = HashMap::new();
        let mut start = 0;
        let mut held = Held::default();
        while !*stop.borrow() {
            if held.due() {
                let (store, tenants) = (store.clone(), tenants.clone());
                if let Ok(found) = tokio::task::spawn_blocking(move || held_tenants(&*store, &tenants)).await {
                    held.report(found);
                }
            }
            let free = LANES.saturating_sub(busy.len());
            if free > 0 {
                let (executor, store, roster, sizes) = (self.clone(), store.clone(), tenants.clone(), batches.clone());
                let taken: HashSet<String> = busy.values().cloned().collect();
                let round = move || executor.claim_round(&*store, &roster, &sizes, &taken, start, free);
                match tokio::task::spawn_blocking(round).await {
                    Ok(Ok(Round { lanes: round, next })) => {
                        start = next;
                        for lane in round {
                            let (executor, tenants, stopping) = (self.clone(), tenants.clone(), stopping.clone());
                            let tenant = lane.tenant.clone();
                            let task = lanes.spawn_blocking(move || executor.run_lane(&tenants, lane, &stopping));
                            busy.insert(task.id(), tenant);
                        }
                    }
                    Ok(Err(e)) => tracing::error!("claiming due actions failed: {e}"),
                    Err(e) => tracing::error!("claiming due actions panicked: {e}"),
                }
            }
            tokio::select! {
                Some(done) = lanes.join_next_with_id(), if !lanes.is_empty() => {
                    let id = match done {
                        Ok((id, Ran { claimed, took })) => {
                            if let Some(tenant) = busy.get(&id) {
                                let batch = batches.entry(tenant.clone()).or_insert(BATCH_MIN);
                                *batch = next_batch(*batch, claimed, took);
                            }
                            id
                        }
                        Err(e) => {
                            tracing::error!(tenant = busy.get(&e.id()).map_or("", String::as_str), "a lane panicked: {e}");
                            e.id()
                        }
                    };
                    busy.remove(&id);
                    progress.send_modify(|n| *n += 1);
                }
                _ = wake.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
                _ = stop.changed() => {}
            }
        }
        stopping.store(true, Ordering::SeqCst);
        while lanes.join_next().await.is_some() {}
    }

    /// One round of claims: the served tenants from `start` on, skipping those `busy` in a lane,
    /// each with due work claimed for (at most its batch in `batches`, [`BATCH_MIN`] when it has
    /// none yet), up to `free` tenants. Returns their lanes and where the next round starts: after
    /// the last tenant claimed for.
    fn claim_round(
        &self,
        store: &dyn Store,
        tenants: &Tenants,
        batches: &HashMap<String, usize>,
        busy: &HashSet<String>,
        start: usize,
        free: usize,
    ) -> Result<Round, StoreError> {
        let roster = (tenants.roster)()?;
        if roster.is_empty() {
            return Ok(Round { lanes: Vec::new(), next: 0 });
        }
        let start = start % roster.len();
        let order: Vec<String> =
            roster[start..].iter().chain(&roster[..start]).filter(|t| !busy.contains(*t)).cloned().collect();
        let chosen: Vec<String> = store.due_tenants(&order)?.into_iter().take(free).collect();
        let Some(last) = chosen.last() else { return Ok(Round { lanes: Vec::new(), next: start }) };
        let next = roster.iter().position(|t| t == last).map_or(start, |at| (at + 1) % roster.len());
        let claimed_at = Instant::now();
        let bounded: Vec<Batch> = chosen
            .iter()
            .map(|t| Batch { tenant: t.clone(), most: batches.get(t).copied().unwrap_or(BATCH_MIN) })
            .collect();
        let mut claims = store.claim_actions(&self.owner, self.lease, Due::Tenants(&bounded))?;
        let lanes = chosen
            .into_iter()
            .filter_map(|tenant| {
                let (mine, rest) = claims.drain(..).partition(|c: &Claim| c.key.tenant == tenant);
                claims = rest;
                (!mine.is_empty()).then_some(Lane { tenant, claims: mine, claimed_at })
            })
            .collect();
        Ok(Round { lanes, next })
    }

    /// Carries out one tenant's lane.
    fn run_lane(&self, tenants: &Tenants, lane: Lane, stop: &AtomicBool) -> Ran {
        let (claimed, started) = (lane.claims.len(), Instant::now());
        let tenant = match (tenants.wire)(&lane.tenant) {
            Ok(tenant) => tenant,
            Err(why) => {
                tracing::warn!(tenant = %lane.tenant, "claimed actions left to lapse: {why}");
                return Ran { claimed, took: started.elapsed() };
            }
        };
        let context = tenant.executor_context(&self.owner);
        if let Err(e) = self.carry_out(&context, &lane.claims, lane.claimed_at, Tracking::ByInvocation, Some(stop)) {
            tracing::error!(
                tenant = %lane.tenant,
                "recording how the tenant's actions ended failed; its claims lapse and are taken up again: {e}"
            );
        }
        Ran { claimed, took: started.elapsed() }
    }
}

/// A tenant with open actions that the worker does not serve.
struct Unserved {
    /// Its open actions.
    open: OpenActions,
    /// Why the worker does not serve it.
    why: String,
}

/// The tenants with open actions that the worker does not serve: each with how many and why.
fn held_tenants(store: &dyn Store, tenants: &Tenants) -> Result<Vec<Unserved>, StoreError> {
    let served: HashSet<String> = (tenants.roster)()?.into_iter().collect();
    Ok(store
        .open_actions()?
        .into_iter()
        .filter(|open| !served.contains(&open.tenant))
        .map(|open| {
            let why = (tenants.wire)(&open.tenant).err().unwrap_or_else(|| "the worker does not serve it".into());
            Unserved { open, why }
        })
        .collect())
}

/// What the worker last said about tenants it does not serve, so that each is logged when first
/// seen and again when its count changes.
#[derive(Default)]
struct Held {
    checked: Option<Instant>,
    said: HashMap<String, u64>,
}

impl Held {
    fn due(&self) -> bool {
        self.checked.is_none_or(|at| at.elapsed() >= HELD_CHECK)
    }

    fn report(&mut self, found: Result<Vec<Unserved>, StoreError>) {
        self.checked = Some(Instant::now());
        let found = match found {
            Ok(found) => found,
            Err(e) => return tracing::warn!("could not look for actions of tenants that are not served: {e}"),
        };
        let mut said = HashMap::new();
        for Unserved { open: OpenActions { tenant, count }, why } in found {
            if self.said.get(&tenant) != Some(&count) {
                tracing::warn!(tenant = %tenant, open = count, "{count} actions wait and are not carried out: {why}");
            }
            said.insert(tenant, count);
        }
        self.said = said;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::InvocationRecord;
    use crate::model::{Action, ActionFilter, ActionState, new_id};
    use crate::store::{DEMO_TENANT, seed_demo, seed_demo_as};

    /// A store with `backlog` pending actions for each of the tenants named.
    fn backlog(tenants: &[(&str, usize)]) -> Arc<dyn Store> {
        let store: Arc<dyn Store> = Arc::new(crate::store::SqliteStore::in_memory().unwrap());
        for (tenant, count) in tenants {
            if *tenant == DEMO_TENANT {
                seed_demo(&*store).unwrap();
            } else {
                seed_demo_as(&*store, tenant, tenant).unwrap();
            }
            let failed = store.actions(tenant, &ActionFilter::default(), 10).unwrap().remove(0);
            let pending: Vec<Action> = (0..*count)
                .map(|_| Action { id: new_id(), state: ActionState::Pending, retry_of: None, ..failed.clone() })
                .collect();
            let record = InvocationRecord::history(&new_id(), tenant, "test", "a backlog");
            store.commit_invocation(&record, &pending).unwrap();
        }
        store
    }

    fn served(store: &Arc<dyn Store>, names: &[&str]) -> Tenants {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let (store, known) = (store.clone(), names.clone());
        Tenants {
            roster: Arc::new(move || Ok(names.clone())),
            wire: Arc::new(move |id: &str| {
                if known.iter().any(|k| k == id) {
                    Ok(Arc::new(Tenant::unconfigured(id, &store)))
                } else {
                    Err(format!("tenant '{id}' is not configured"))
                }
            }),
        }
    }

    #[test]
    fn rounds_take_each_tenant_in_turn_bounded_and_never_one_that_is_not_served() {
        let store = backlog(&[(DEMO_TENANT, 200), ("quiet", 2), ("removed", 5)]);
        let tenants = served(&store, &[DEMO_TENANT, "quiet"]);
        let executor = Executor::new(Duration::from_secs(60));
        let (none, first) = (HashSet::new(), HashMap::new());
        let Round { lanes, next } = executor.claim_round(&*store, &tenants, &first, &none, 0, LANES).unwrap();
        let sizes: Vec<(&str, usize)> = lanes.iter().map(|l| (l.tenant.as_str(), l.claims.len())).collect();
        assert_eq!(sizes, [(DEMO_TENANT, BATCH_MIN), ("quiet", 2)], "a backlog takes one bounded lane");
        assert_eq!(next, 0, "the next round starts after the last tenant claimed for");
        assert!(lanes.iter().all(|l| l.claims.iter().all(|c| c.key.tenant == l.tenant)));

        // One lane at a time: the busy tenant is skipped; with one lane free the turn moves on.
        let busy: HashSet<String> = [DEMO_TENANT.to_string()].into();
        let Round { lanes, .. } = executor.claim_round(&*store, &tenants, &first, &busy, 0, 1).unwrap();
        assert!(lanes.is_empty(), "quiet has nothing left and demo is busy");
        let larger = HashMap::from([(DEMO_TENANT.to_string(), 64)]);
        let Round { lanes: round, next } = executor.claim_round(&*store, &tenants, &larger, &none, 1, 1).unwrap();
        assert_eq!((round[0].tenant.as_str(), next), (DEMO_TENANT, 1), "from quiet's turn on, demo is next");
        assert_eq!(round[0].claims.len(), 64, "a tenant's batch bounds its lane");

        let held = held_tenants(&*store, &tenants).unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].open, OpenActions { tenant: "removed".into(), count: 5 });
        assert!(held[0].why.contains("not configured"), "{}", held[0].why);
        let removed = store.actions("removed", &ActionFilter::default(), 100).unwrap();
        assert_eq!(removed.iter().filter(|a| a.state == ActionState::Pending).count(), 5, "never claimed");
    }

    #[test]
    fn the_worker_names_the_key_that_requested_an_action_in_its_notification() {
        let store: Arc<dyn Store> = Arc::new(crate::store::SqliteStore::in_memory().unwrap());
        seed_demo(&*store).unwrap();
        let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
        let invocation = new_id();
        let action = Action {
            id: new_id(),
            state: ActionState::Pending,
            retry_of: None,
            invocation: Some(invocation.clone()),
            ..failed
        };
        let mut record = InvocationRecord::history(&invocation, DEMO_TENANT, "api", "an update requested by a key");
        record.key_id = Some("phk_requester".into());
        store.commit_invocation(&record, std::slice::from_ref(&action)).unwrap();
        let hook = crate::config::Webhook {
            url: "http://127.0.0.1:1/".into(),
            secret: "0123456789abcdef".into(),
            filter: None,
            max_attempts: 1,
            retry_base_ms: 1,
        };
        let config = crate::config::TenantConfig { webhooks: vec![hook], ..Default::default() };
        let wired = store.clone();
        let tenants = Tenants {
            roster: Arc::new(|| Ok(vec![DEMO_TENANT.to_string()])),
            wire: Arc::new(move |id: &str| {
                Tenant::configured(id, &config, &wired).map(Arc::new).map_err(|e| e.to_string())
            }),
        };
        let executor = Executor::new(Duration::from_secs(60));
        let (none, sizes) = (HashSet::new(), HashMap::new());
        let Round { lanes, .. } = executor.claim_round(&*store, &tenants, &sizes, &none, 0, LANES).unwrap();
        assert_eq!(lanes.len(), 1);
        for lane in lanes {
            executor.run_lane(&tenants, lane, &AtomicBool::new(false));
        }
        assert_eq!(store.action(DEMO_TENANT, &action.id).unwrap().state, ActionState::Success);
        let queued = store.deliveries(DEMO_TENANT, None, 10, 0).unwrap();
        assert_eq!(queued.len(), 1, "one notification for the one person");
        let payload: serde_json::Value = serde_json::from_str(&queued[0].payload).unwrap();
        assert_eq!(payload["requester"]["id"], "phk_requester", "the requesting key, not the executor: {payload}");
        assert_eq!(payload["action"], "provhost:api", "{payload}");
        assert_ne!(executor.owner(), "phk_requester");
    }

    #[test]
    fn a_tenants_batch_grows_while_its_lanes_are_quick_and_shrinks_when_they_are_slow() {
        let quick = Duration::from_millis(10);
        assert_eq!(next_batch(BATCH_MIN, BATCH_MIN, quick), 2 * BATCH_MIN, "a whole batch carried out quickly");
        assert_eq!(next_batch(BATCH_MAX, BATCH_MAX, quick), BATCH_MAX, "never past the most");
        assert_eq!(next_batch(64, 3, quick), 64, "a batch not filled says nothing of speed");
        assert_eq!(next_batch(64, 64, Duration::from_secs(3)), 32, "a slow platform holds fewer leases");
        assert_eq!(next_batch(BATCH_MIN, 1, Duration::from_secs(60)), BATCH_MIN, "never below the fewest");
    }
}
