//! The directory records one batch of carry-outs shares. An executor carries a batch of claims
//! out one after another, and the embedded backend reads the same systems, entitlements, persons
//! and accounts for many of them: each is read once, at its first use, and then answered as it
//! stood then, until the executor records the ends it has and forgets them
//! ([`BatchReads::forget`]), or until what is kept is older than the age it was made with,
//! whichever comes first. An action's own effect is recorded only with its end, so an action of
//! the batch sees no more of the effects of those before it than it would reading every record
//! again. A change made elsewhere (a commit, another host, an operator failing or restoring a
//! system) is seen by the carry-outs that start once the records read before it are forgotten: at
//! most that age later.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use provhost_core::model::{Account, Entitlement, Person, System};

/// What the carry-outs of one batch of claims have read so far, of one tenant, by id: at most one
/// record of each kind per claim of the batch. A read for another tenant forgets them first.
pub struct BatchReads {
    records: Mutex<Records>,
    /// How long a record is answered from here after the first of those kept was read.
    max_age: Duration,
}

/// Records of one tenant by id, as read, and when the first of them was.
#[derive(Default)]
struct Records {
    tenant: String,
    since: Option<Instant>,
    systems: HashMap<String, System>,
    entitlements: HashMap<String, Entitlement>,
    persons: HashMap<String, Person>,
    accounts: HashMap<String, Account>,
}

/// One of the maps of [`Records`].
type Pick<T> = fn(&mut Records) -> &mut HashMap<String, T>;

impl BatchReads {
    /// Nothing read yet; what is read is answered from here for at most `max_age`.
    pub fn new(max_age: Duration) -> Self {
        Self { records: Mutex::default(), max_age }
    }

    /// Forgets everything read so far: the next carry-out reads each record again.
    pub fn forget(&self) {
        *self.records() = Records::default();
    }

    /// The tenant's system `id` as first read in the batch, or `read`'s answer, kept.
    pub fn system<E>(&self, tenant: &str, id: &str, read: impl FnOnce() -> Result<System, E>) -> Result<System, E> {
        self.through(|r| &mut r.systems, (tenant, id), read)
    }

    /// The tenant's entitlement `id` as first read in the batch, or `read`'s answer, kept.
    pub fn entitlement<E>(
        &self,
        tenant: &str,
        id: &str,
        read: impl FnOnce() -> Result<Entitlement, E>,
    ) -> Result<Entitlement, E> {
        self.through(|r| &mut r.entitlements, (tenant, id), read)
    }

    /// The tenant's person `id` as first read in the batch, or `read`'s answer, kept.
    pub fn person<E>(&self, tenant: &str, id: &str, read: impl FnOnce() -> Result<Person, E>) -> Result<Person, E> {
        self.through(|r| &mut r.persons, (tenant, id), read)
    }

    /// The tenant's account `id` as first read in the batch, or `read`'s answer, kept.
    pub fn account<E>(&self, tenant: &str, id: &str, read: impl FnOnce() -> Result<Account, E>) -> Result<Account, E> {
        self.through(|r| &mut r.accounts, (tenant, id), read)
    }

    /// What is kept of `tenant`'s records: forgotten first once the first of it is older than the
    /// age allowed, or when it is another tenant's.
    fn records_of(&self, tenant: &str) -> MutexGuard<'_, Records> {
        let mut records = self.records();
        if records.tenant != tenant || records.since.is_some_and(|since| since.elapsed() > self.max_age) {
            *records = Records { tenant: tenant.to_owned(), ..Records::default() };
        }
        records
    }

    fn records(&self) -> MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tenant's record kept under `id` in the map `pick` chooses, or `read`'s answer, kept
    /// there. A failed read is not kept: the next carry-out that needs the record tries again.
    fn through<T: Clone, E>(
        &self,
        pick: Pick<T>,
        (tenant, id): (&str, &str),
        read: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        if let Some(found) = pick(&mut self.records_of(tenant)).get(id) {
            return Ok(found.clone());
        }
        let record = read()?;
        let mut records = self.records_of(tenant);
        records.since.get_or_insert_with(Instant::now);
        pick(&mut records).insert(id.to_owned(), record.clone());
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn system(failure: Option<&str>) -> System {
        System { id: "ad".into(), name: "AD".into(), consumes: vec![], failure: failure.map(str::to_owned) }
    }

    #[test]
    fn a_record_is_read_once_until_forgotten_and_a_failed_read_is_not_kept() {
        let reads = BatchReads::new(Duration::from_secs(60));
        let calls = Cell::new(0);
        let read = |failure: Option<&str>| {
            calls.set(calls.get() + 1);
            Ok::<_, String>(system(failure))
        };
        assert_eq!(reads.system("t", "ad", || read(None)).unwrap().failure, None);
        assert_eq!(reads.system("t", "ad", || read(Some("down"))).unwrap().failure, None);
        assert_eq!(calls.get(), 1);
        reads.forget();
        assert_eq!(reads.system("t", "ad", || read(Some("down"))).unwrap().failure.as_deref(), Some("down"));
        assert_eq!(calls.get(), 2);

        assert!(reads.person("t", "jan", || Err::<Person, _>("unreachable".to_owned())).is_err());
        let jan = Person { id: "jan".into(), display_name: "Jan".into(), attributes: vec![] };
        assert_eq!(reads.person("t", "jan", || Ok::<_, String>(jan.clone())).unwrap().id, "jan");
    }

    #[test]
    fn another_tenants_record_of_the_same_id_is_read_for_it() {
        let reads = BatchReads::new(Duration::from_secs(60));
        assert_eq!(reads.system("t", "ad", || Ok::<_, String>(system(None))).unwrap().failure, None);
        let other = reads.system("u", "ad", || Ok::<_, String>(system(Some("down")))).unwrap();
        assert_eq!(other.failure.as_deref(), Some("down"));
    }

    #[test]
    fn what_is_kept_is_read_again_once_older_than_its_age_without_a_forget() {
        let reads = BatchReads::new(Duration::from_millis(30));
        assert_eq!(reads.system("t", "ad", || Ok::<_, String>(system(None))).unwrap().failure, None);
        assert_eq!(reads.system("t", "ad", || Ok::<_, String>(system(Some("down")))).unwrap().failure, None);
        std::thread::sleep(Duration::from_millis(60));
        let now = reads.system("t", "ad", || Ok::<_, String>(system(Some("down")))).unwrap();
        assert_eq!(now.failure.as_deref(), Some("down"));
    }
}
