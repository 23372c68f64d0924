//! What one invocation or request read from the directory, kept for its life: a plugin that reads
//! a person and then calls on them, and the gate checking each call, read the person, their
//! entitlements and their accounts from the backend once instead of once per look. The answers
//! are as they stood at the first read, as a snapshot's would be. Nothing final rests on them:
//! the commit checks again, in its transaction, that the entitlements the store holds are still
//! managed, the retries and the window budgets; an approval and the executor's carry-out read the
//! person again for the exclusions as they stand then.
//!
//! A `Reads` serves the one tenant of its gate. Only successful reads are kept, at most [`KEPT`]
//! of each kind and [`KEPT_BYTES`] in all, so a plugin naming thousands of ids or the persons
//! with the longest lists costs the host no more memory than one naming a few; past that, reads
//! go to the backend. Actions are never kept: their states move while the invocation runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use provhost_core::model::{Account, Action, ActionFilter, ActionKind, Entitlement, Person};
use provhost_platforms::{Backend, BackendError, Job};
use provhost_store::Finish;

/// The most records of each kind one invocation keeps.
pub const KEPT: usize = 64;

/// The most bytes (as JSON) of records one invocation keeps.
pub const KEPT_BYTES: usize = 1 << 20;

/// A backend with what one invocation has read from it so far.
pub struct Reads {
    backend: Arc<dyn Backend>,
    kept: Mutex<Kept>,
}

/// Records by id, and each person's lists, as read.
#[derive(Default)]
struct Kept {
    /// What they take, as JSON.
    bytes: usize,
    persons: HashMap<String, Person>,
    entitlements: HashMap<String, Entitlement>,
    accounts: HashMap<String, Account>,
    entitlements_of: HashMap<String, Vec<Entitlement>>,
    accounts_of: HashMap<String, Vec<Account>>,
}

/// One of the maps of [`Kept`].
type Pick<T> = fn(&mut Kept) -> &mut HashMap<String, T>;

/// Keeps `value` under `key` in the map `pick` chooses, unless it holds the key already or the
/// map or the byte budget is full.
fn keep<T: Clone + serde::Serialize>(kept: &mut Kept, pick: Pick<T>, key: &str, value: &T) {
    if pick(kept).contains_key(key) {
        return;
    }
    let bytes = serde_json::to_vec(value).map_or(usize::MAX, |json| json.len());
    if pick(kept).len() >= KEPT || kept.bytes.saturating_add(bytes) > KEPT_BYTES {
        return;
    }
    kept.bytes += bytes;
    pick(kept).insert(key.to_owned(), value.clone());
}

impl Reads {
    /// Nothing read yet from `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend, kept: Mutex::default() }
    }

    /// Forgets everything read so far.
    pub fn forget(&self) {
        *self.kept() = Kept::default();
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The record kept under `key` in the map `pick` chooses, or the backend's answer from
    /// `read`, kept there.
    fn through<T: Clone + serde::Serialize>(
        &self,
        pick: Pick<T>,
        key: &str,
        read: impl FnOnce(&dyn Backend) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        self.through_filling(pick, key, read, |_, _| {})
    }

    /// A person's list kept in the map `lists` chooses, or the backend's answer from `read`, kept
    /// there with each of its records under its id in the map `each` chooses.
    fn list_through<T: Clone + serde::Serialize>(
        &self,
        (lists, each): (Pick<Vec<T>>, Pick<T>),
        (person, id): (&str, fn(&T) -> &str),
        read: impl FnOnce(&dyn Backend) -> Result<Vec<T>, BackendError>,
    ) -> Result<Vec<T>, BackendError> {
        self.through_filling(lists, person, read, |k, all| all.iter().for_each(|r| keep(k, each, id(r), r)))
    }

    /// [`Reads::through`], with `fill` also keeping what the backend's answer holds.
    fn through_filling<T: Clone + serde::Serialize>(
        &self,
        pick: Pick<T>,
        key: &str,
        read: impl FnOnce(&dyn Backend) -> Result<T, BackendError>,
        fill: impl FnOnce(&mut Kept, &T),
    ) -> Result<T, BackendError> {
        if let Some(found) = pick(&mut self.kept()).get(key).cloned() {
            return Ok(found);
        }
        let read = read(self.backend.as_ref())?;
        let mut kept = self.kept();
        keep(&mut kept, pick, key, &read);
        fill(&mut kept, &read);
        Ok(read)
    }
}

impl Backend for Reads {
    fn persons(&self, tenant: &str) -> Result<Vec<Person>, BackendError> {
        self.backend.persons(tenant)
    }

    fn person(&self, tenant: &str, id: &str) -> Result<Person, BackendError> {
        self.through(|k| &mut k.persons, id, |b| b.person(tenant, id))
    }

    fn entitlements(&self, tenant: &str, person: &str) -> Result<Vec<Entitlement>, BackendError> {
        let maps: (Pick<_>, Pick<_>) = (|k| &mut k.entitlements_of, |k| &mut k.entitlements);
        self.list_through(maps, (person, |e| &e.id), |b| b.entitlements(tenant, person))
    }

    fn accounts(&self, tenant: &str, person: &str) -> Result<Vec<Account>, BackendError> {
        let maps: (Pick<_>, Pick<_>) = (|k| &mut k.accounts_of, |k| &mut k.accounts);
        self.list_through(maps, (person, |a| &a.id), |b| b.accounts(tenant, person))
    }

    fn entitlement(&self, tenant: &str, id: &str) -> Result<Entitlement, BackendError> {
        self.through(|k| &mut k.entitlements, id, |b| b.entitlement(tenant, id))
    }

    fn account(&self, tenant: &str, id: &str) -> Result<Account, BackendError> {
        self.through(|k| &mut k.accounts, id, |b| b.account(tenant, id))
    }

    fn action(&self, tenant: &str, id: &str) -> Result<Action, BackendError> {
        self.backend.action(tenant, id)
    }

    fn actions(&self, tenant: &str, filter: &ActionFilter, limit: usize) -> Result<Vec<Action>, BackendError> {
        self.backend.actions(tenant, filter, limit)
    }

    fn entitlement_count(&self, tenant: &str, system: &str) -> Result<u32, BackendError> {
        self.backend.entitlement_count(tenant, system)
    }

    fn carry_out(&self, tenant: &str, job: &Job<'_>) -> Result<Finish, BackendError> {
        self.backend.carry_out(tenant, job)
    }

    fn unsupported(&self, kind: ActionKind) -> Option<String> {
        self.backend.unsupported(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provhost_platforms::MemoryBackend;

    /// Counts the reads that reach the backend beneath.
    struct Counting {
        inner: MemoryBackend,
        reads: Mutex<u32>,
    }

    impl Counting {
        fn count(&self) {
            *self.reads.lock().unwrap() += 1;
        }
    }

    impl Backend for Counting {
        fn persons(&self, tenant: &str) -> Result<Vec<Person>, BackendError> {
            self.count();
            self.inner.persons(tenant)
        }
        fn person(&self, tenant: &str, id: &str) -> Result<Person, BackendError> {
            self.count();
            self.inner.person(tenant, id)
        }
        fn entitlements(&self, tenant: &str, person: &str) -> Result<Vec<Entitlement>, BackendError> {
            self.count();
            self.inner.entitlements(tenant, person)
        }
        fn accounts(&self, tenant: &str, person: &str) -> Result<Vec<Account>, BackendError> {
            self.count();
            self.inner.accounts(tenant, person)
        }
        fn entitlement(&self, tenant: &str, id: &str) -> Result<Entitlement, BackendError> {
            self.count();
            self.inner.entitlement(tenant, id)
        }
        fn account(&self, tenant: &str, id: &str) -> Result<Account, BackendError> {
            self.count();
            self.inner.account(tenant, id)
        }
        fn action(&self, tenant: &str, id: &str) -> Result<Action, BackendError> {
            self.count();
            self.inner.action(tenant, id)
        }
        fn actions(&self, tenant: &str, filter: &ActionFilter, limit: usize) -> Result<Vec<Action>, BackendError> {
            self.count();
            self.inner.actions(tenant, filter, limit)
        }
        fn entitlement_count(&self, tenant: &str, system: &str) -> Result<u32, BackendError> {
            self.inner.entitlement_count(tenant, system)
        }
        fn carry_out(&self, tenant: &str, job: &Job<'_>) -> Result<Finish, BackendError> {
            self.inner.carry_out(tenant, job)
        }
    }

    const PERSON: &str = "3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e7b01";

    /// The demo tenant's directory, counting reads.
    fn counting() -> Arc<Counting> {
        let store = provhost_store::SqliteStore::in_memory().unwrap();
        provhost_store::seed_demo(&store).unwrap();
        let inner = MemoryBackend::snapshot(&store, "demo").unwrap();
        Arc::new(Counting { inner, reads: Mutex::new(0) })
    }

    #[test]
    fn a_record_read_once_is_not_read_again_and_lists_fill_the_records() {
        let backend = counting();
        let reads = Reads::new(backend.clone());
        let person = reads.person("t", PERSON).unwrap();
        assert_eq!(reads.person("t", PERSON).unwrap().id, person.id);
        let accounts = reads.accounts("t", PERSON).unwrap();
        let entitlements = reads.entitlements("t", PERSON).unwrap();
        assert!(!accounts.is_empty() && !entitlements.is_empty());
        assert_eq!(reads.account("t", &accounts[0].id).unwrap().id, accounts[0].id);
        assert_eq!(reads.entitlement("t", &entitlements[0].id).unwrap().id, entitlements[0].id);
        assert_eq!(reads.accounts("t", PERSON).unwrap().len(), accounts.len());
        assert_eq!(*backend.reads.lock().unwrap(), 3, "one read each of the person and their two lists");
    }

    #[test]
    fn refusals_and_actions_are_read_every_time() {
        let backend = counting();
        let reads = Reads::new(backend.clone());
        assert!(reads.person("t", "nobody").is_err());
        assert!(reads.person("t", "nobody").is_err());
        let filter = ActionFilter::default();
        reads.actions("t", &filter, 10).unwrap();
        reads.actions("t", &filter, 10).unwrap();
        assert_eq!(*backend.reads.lock().unwrap(), 4);
    }

    #[test]
    fn records_past_the_byte_budget_are_not_kept() {
        let backend = counting();
        let reads = Reads::new(backend.clone());
        reads.kept().bytes = KEPT_BYTES - 10;
        reads.person("t", PERSON).unwrap();
        reads.person("t", PERSON).unwrap();
        assert_eq!(*backend.reads.lock().unwrap(), 2, "a person larger than what is left is read each time");
        reads.forget();
        reads.person("t", PERSON).unwrap();
        reads.person("t", PERSON).unwrap();
        assert_eq!(*backend.reads.lock().unwrap(), 3, "once forgotten, the budget is whole again");
    }

    #[test]
    fn past_the_bound_reads_go_to_the_backend_and_keep_nothing_more() {
        let backend = counting();
        let reads = Reads::new(backend.clone());
        for n in 0..KEPT + 10 {
            let _ = reads.entitlements("t", &format!("p-{n}"));
        }
        let kept = reads.kept().entitlements_of.len();
        assert_eq!(kept, KEPT);
        let before = *backend.reads.lock().unwrap();
        let _ = reads.entitlements("t", &format!("p-{}", KEPT + 5));
        assert_eq!(*backend.reads.lock().unwrap(), before + 1);
    }
}
