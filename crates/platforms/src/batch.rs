//! The directory records one batch of carry-outs shares. An executor carries a batch of one
//! tenant's claims out one after another, and the embedded backend reads the same systems,
//! entitlements, persons and accounts for many of them: each is read once, at its first use in
//! the batch, and then answered as it stood then, until the executor records the ends it has and
//! forgets them ([`BatchReads::forget`]). An action's own effect is recorded only with its end, so
//! an action of the batch sees no more of the effects of those before it than it would reading
//! every record again; a change made elsewhere (a commit, another host, an operator failing a
//! system) is seen from the next record of ends on, at most one flush of the executor later.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use provhost_core::model::{Account, Entitlement, Person, System};

/// What the carry-outs of one batch of one tenant's claims have read so far. A batch holds at
/// most the executor's largest batch of claims, so it keeps at most that many records of each
/// kind.
#[derive(Default)]
pub struct BatchReads(Mutex<Records>);

/// Records by id, as read.
#[derive(Default)]
struct Records {
    systems: HashMap<String, System>,
    entitlements: HashMap<String, Entitlement>,
    persons: HashMap<String, Person>,
    accounts: HashMap<String, Account>,
}

/// One of the maps of [`Records`].
type Pick<T> = fn(&mut Records) -> &mut HashMap<String, T>;

impl BatchReads {
    /// Forgets everything read so far: the next carry-out reads each record again.
    pub fn forget(&self) {
        *self.records() = Records::default();
    }

    /// The system `id` as first read in the batch, or `read`'s answer, kept.
    pub fn system<E>(&self, id: &str, read: impl FnOnce() -> Result<System, E>) -> Result<System, E> {
        self.through(|r| &mut r.systems, id, read)
    }

    /// The entitlement `id` as first read in the batch, or `read`'s answer, kept.
    pub fn entitlement<E>(&self, id: &str, read: impl FnOnce() -> Result<Entitlement, E>) -> Result<Entitlement, E> {
        self.through(|r| &mut r.entitlements, id, read)
    }

    /// The person `id` as first read in the batch, or `read`'s answer, kept.
    pub fn person<E>(&self, id: &str, read: impl FnOnce() -> Result<Person, E>) -> Result<Person, E> {
        self.through(|r| &mut r.persons, id, read)
    }

    /// The account `id` as first read in the batch, or `read`'s answer, kept.
    pub fn account<E>(&self, id: &str, read: impl FnOnce() -> Result<Account, E>) -> Result<Account, E> {
        self.through(|r| &mut r.accounts, id, read)
    }

    fn records(&self) -> MutexGuard<'_, Records> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The record kept under `id` in the map `pick` chooses, or `read`'s answer, kept there. A
    /// failed read is not kept: the next carry-out that needs the record tries again.
    fn through<T: Clone, E>(&self, pick: Pick<T>, id: &str, read: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        if let Some(found) = pick(&mut self.records()).get(id) {
            return Ok(found.clone());
        }
        let record = read()?;
        pick(&mut self.records()).insert(id.to_owned(), record.clone());
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
        let reads = BatchReads::default();
        let calls = Cell::new(0);
        let read = |failure: Option<&str>| {
            calls.set(calls.get() + 1);
            Ok::<_, String>(system(failure))
        };
        assert_eq!(reads.system("ad", || read(None)).unwrap().failure, None);
        assert_eq!(reads.system("ad", || read(Some("down"))).unwrap().failure, None);
        assert_eq!(calls.get(), 1);
        reads.forget();
        assert_eq!(reads.system("ad", || read(Some("down"))).unwrap().failure.as_deref(), Some("down"));
        assert_eq!(calls.get(), 2);

        assert!(reads.person("jan", || Err::<Person, _>("unreachable".to_owned())).is_err());
        let jan = Person { id: "jan".into(), display_name: "Jan".into(), attributes: vec![] };
        assert_eq!(reads.person("jan", || Ok::<_, String>(jan.clone())).unwrap().id, "jan");
    }
}
