//! The scale-out store: one PostgreSQL database shared by every provhost host that serves it.
//! It keeps what the embedded store keeps, in the same shapes, and holds the same rules exactly
//! across hosts:
//! - every transaction that appends to a tenant's audit chain first locks that tenant's chain
//!   head row (`audit_heads`, `SELECT … FOR UPDATE`), tenants in a fixed (sorted) order, so the
//!   chain never forks and stays gap-free, and the window budgets and retries it re-checks are
//!   counted with every other commit of the tenant settled: two hosts can never both pass the
//!   last slot;
//! - executors claim runnable actions with `FOR UPDATE SKIP LOCKED`, under leases timed by the
//!   database's clock and fenced by tokens, so one host carries each action out at a time;
//! - a serialisation failure or deadlock is retried a bounded number of times;
//! - the plans of one tenant that arrive on one host while another commits share its next
//!   transaction ([`group`]), so the head is locked, and the commit synced, once per group.
//!
//! The interface is synchronous, as the embedded store's is: callers run it on blocking threads.
//! A call made from inside an asynchronous context (a plugin's query read through while its
//! invocation runs) blocks only after its worker has handed its other tasks on, or runs on a
//! thread of its own (see [`off_runtime`]).

mod actions;
mod audit;
mod budget;
mod deliveries;
mod directory;
mod events;
mod group;
#[cfg(test)]
mod hosts;
mod invocations;
mod keys;
mod pool;
mod requests;
mod schema;
mod scratch;
mod sessions;
mod statements;
#[cfg(test)]
pub(crate) mod testing;
mod tls;
mod wakeups;

pub use schema::SCHEMA_VERSION;
pub(crate) use schema::TABLES;
pub use scratch::ScratchDatabase;

use std::time::Duration;

use postgres::Client;

use statements::{Cached, Tx};

use super::{Declined, GroupStats, StoreError, Upkeep, UpkeepStore};
use crate::declined::Settled;

/// How many times a transaction that met a serialisation failure or a deadlock is tried in all.
const TRIES: u32 = 8;

/// The most connections one host opens to the database.
const CONNECTIONS: usize = 32;

/// The PostgreSQL store. Cheap to share behind an `Arc`: a bounded pool of connections.
pub struct PostgresStore {
    pool: pool::Pool,
    stats: GroupStats,
    /// Each tenant's plans waiting to commit in a group on this host.
    lanes: group::Lanes,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) and
    /// migrates it to the current schema. Errors name the URL without its password.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let shown = without_password(url);
        let config: postgres::Config = url.parse().map_err(|e| StoreError::open(&shown, e))?;
        let store = Self {
            pool: pool::Pool::new(config, shown, CONNECTIONS),
            stats: GroupStats::default(),
            lanes: group::Lanes::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The database's URL without its password.
    pub fn shown_url(&self) -> &str {
        self.pool.shown()
    }

    /// Brings the database to [`SCHEMA_VERSION`]; hosts starting together migrate one at a time.
    pub fn migrate(&self) -> Result<(), StoreError> {
        off_runtime(|| schema::migrate(&mut self.pool.take()?.client))
    }

    /// Brings the planner's statistics of provhost's tables up to date, as autovacuum does in its own
    /// time (at most once a minute): after a bulk load such as `provhost store copy`, and on a
    /// new database about to grow fast, whose tables the planner would otherwise take for as
    /// small as they were, scanning them whole where an index finds the row.
    pub fn analyze(&self) -> Result<(), StoreError> {
        let sql = format!("ANALYZE {}", TABLES.join(", "));
        off_runtime(|| Ok(self.pool.take()?.client.batch_execute(&sql)?))
    }

    /// Runs `read` on a connection of the pool.
    fn read<T: Send>(
        &self,
        read: impl FnOnce(&mut Cached<'_, Client>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        off_runtime(|| {
            let mut pooled = self.pool.take()?;
            let pool::Connection { client, statements } = &mut *pooled;
            read(&mut Cached::new(client, statements))
        })
    }

    /// Runs `unit` as one transaction, committed before this returns; rolled back when it returns
    /// `Err`. A serialisation failure or deadlock runs it again, up to [`TRIES`] times in all.
    fn write<T: Send>(
        &self,
        unit: impl FnMut(&mut Tx<'_, '_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        off_runtime(|| self.write_here(unit))
    }

    /// Runs `unit` as one transaction on this thread, like [`PostgresStore::write_here`]; a refusal
    /// commits what the unit wrote before it (its audit record) and comes back as
    /// [`Declined::Refused`].
    fn governed_here<T>(&self, mut unit: impl FnMut(&mut Tx<'_, '_>) -> Result<T, Declined>) -> Result<T, Declined> {
        self.write_here(|tx| Settled::of(unit(tx)))?.declined()
    }

    /// [`PostgresStore::write`] on this thread, for units that hold what cannot cross threads.
    fn write_here<T>(&self, mut unit: impl FnMut(&mut Tx<'_, '_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let mut pooled = self.pool.take()?;
            let pool::Connection { client, statements } = &mut *pooled;
            let attempt = (|| {
                let mut tx = client.transaction().map_err(backend)?;
                let value = unit(&mut Cached::new(&mut tx, statements))?;
                tx.commit().map_err(backend)?;
                Ok(value)
            })();
            match attempt {
                Ok(value) => {
                    self.stats.count_group(1);
                    return Ok(value);
                }
                Err(StoreError::Serialization { last, .. }) if tries < TRIES => {
                    tracing::debug!("a store transaction conflicted with another host's (try {tries}): {last}");
                    std::thread::sleep(Duration::from_millis(u64::from(tries) * 2));
                }
                Err(StoreError::Serialization { last, .. }) => {
                    return Err(StoreError::Serialization { tries, last });
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Runs `work` where the client's blocking calls may run: here on a thread outside any
/// asynchronous runtime, and on a thread of a multi-threaded runtime (on a blocking task's thread
/// at once; on a worker once it has handed its other tasks on, `block_in_place`); from a
/// single-threaded runtime, which cannot hand them on, on a scoped thread of its own.
fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    match tokio::runtime::Handle::try_current() {
        Err(_) => work(),
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        Ok(_) => std::thread::scope(|s| match s.spawn(work).join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
    }
}

/// The engine's error as the store reports it: a serialisation failure or deadlock (which the
/// store retries) told apart from every other error, which carries the engine's message.
fn backend(e: postgres::Error) -> StoreError {
    let message = match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => described(&e),
    };
    match e.code().map(|c| c.code()) {
        Some("40001" | "40P01") => StoreError::Serialization { tries: 1, last: message },
        _ => StoreError::Backend(message),
    }
}

/// The client's error with what caused it (a refused connection, a failed handshake).
pub(super) fn described(e: &postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        backend(e)
    }
}

/// `url` with its password replaced by `***`, for messages and logs.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

/// The database's clock in integer milliseconds: what leases and follow-ups are timed by, the
/// same for every host.
fn now_ms(tx: &mut Cached<'_, impl postgres::GenericClient>) -> Result<i64, StoreError> {
    Ok(tx.query_one("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint", &[])?.get(0))
}

/// Decodes a JSON column, naming the column when it is unreadable.
fn from_json<T: serde::de::DeserializeOwned>(column: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { column, reason: e.to_string() })
}

/// Decodes a wire-named enum column, naming the column when it is unreadable.
fn parse_column<T: std::str::FromStr<Err = String>>(column: &'static str, text: &str) -> Result<T, StoreError> {
    text.parse().map_err(|reason| StoreError::Corrupt { column, reason })
}

/// A record named but not found.
fn not_found(kind: &'static str, id: &str, tenant: &str) -> StoreError {
    StoreError::NotFound { kind, id: id.to_owned(), tenant: tenant.to_owned() }
}

/// [`not_found`] when a change touched no row.
fn not_found_if_zero(changed: u64, kind: &'static str, id: &str, tenant: &str) -> Result<(), StoreError> {
    if changed == 0 { Err(not_found(kind, id, tenant)) } else { Ok(()) }
}

/// A value as JSON text.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("stored records serialise to JSON")
}

impl UpkeepStore for PostgresStore {
    fn group_stats(&self) -> &GroupStats {
        &self.stats
    }

    fn upkeep_in_background(&self, _every: Duration) -> Result<Option<Upkeep>, StoreError> {
        // PostgreSQL checkpoints and vacuums itself.
        Ok(None)
    }

    fn truncate_log(&self) -> Result<bool, StoreError> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(without_password("postgres://app:s3cret@db:5432/provhost"), "postgres://app:***@db:5432/provhost");
        assert_eq!(without_password("postgres://app@db/provhost"), "postgres://app@db/provhost");
        assert_eq!(without_password("postgres://a:b@c@db/x?sslmode=require"), "postgres://a:***@db/x?sslmode=require");
    }
}

#[cfg(test)]
mod suite {
    crate::store_suite!(optional: super::testing::fresh_store());
}
