//! Databases made for one measurement on a PostgreSQL server and dropped after it, and the
//! database's own count of the transactions it committed.

use postgres::NoTls;

use super::{PostgresStore, StoreError, described, without_password};

/// The URL of database `name` on the server `server` names (keeping its parameters).
pub(super) fn beside(server: &str, name: &str) -> Result<String, StoreError> {
    let (base, query) = server.split_once('?').map_or((server, ""), |(b, q)| (b, q));
    let authority = base.find("//").map_or(0, |i| i + 2);
    let at = base[authority..].rfind('/').map(|i| authority + i).ok_or_else(|| {
        StoreError::open(without_password(server), "the URL names no database to create others beside")
    })?;
    Ok(format!("{}/{name}{}", &base[..at], if query.is_empty() { String::new() } else { format!("?{query}") }))
}

/// A database created on a server for one measurement, dropped (with whatever is still connected
/// to it) when this is dropped.
pub struct ScratchDatabase {
    server: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates an empty database beside the one `server` names; its user must be allowed to
    /// create databases.
    pub fn create(server: &str) -> Result<Self, StoreError> {
        let name = format!("provhost_scratch_{}", provhost_core::model::new_id().replace('-', "_"));
        let url = beside(server, &name)?;
        let mut admin = postgres::Client::connect(server, NoTls)
            .map_err(|e| StoreError::open(without_password(server), described(&e)))?;
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        Ok(Self { server: server.to_owned(), name, url })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let dropped = postgres::Client::connect(&self.server, NoTls)
            .and_then(|mut admin| admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)));
        if let Err(e) = dropped {
            tracing::warn!("could not drop the scratch database {}: {}; drop it by hand", self.name, described(&e));
        }
    }
}

impl PostgresStore {
    /// How many transactions the database has committed so far, as PostgreSQL counts them (every
    /// statement outside a transaction is one).
    pub fn transactions_committed(&self) -> Result<i64, StoreError> {
        let sql = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()";
        self.read(|c| Ok(c.query_one(sql, &[])?.get(0)))
    }
}
