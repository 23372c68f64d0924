//! Fresh PostgreSQL stores for tests: one new database per case on the server named by
//! `PROVHOST_TEST_POSTGRES`, which `scripts/test.sh` starts and sets.

use postgres::NoTls;

use super::PostgresStore;

/// The variable naming the test server.
pub(crate) const VARIABLE: &str = "PROVHOST_TEST_POSTGRES";

/// A URL of a new, empty database on the test server, or `None` (said loudly) when no server is
/// named.
pub(crate) fn fresh_database() -> Option<String> {
    let Ok(server) = std::env::var(VARIABLE) else {
        eprintln!(
            "SKIPPED: {VARIABLE} is not set, so this PostgreSQL case did not run; scripts/test.sh starts a \
             throwaway server and sets it"
        );
        return None;
    };
    let name = format!("provhost_{}", provhost_core::model::new_id().replace('-', "_"));
    let mut admin = postgres::Client::connect(&server, NoTls)
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {}: {e}", super::without_password(&server)));
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    Some(super::scratch::beside(&server, &name).expect("the test server's URL names a database"))
}

/// A fresh store on a new database, or `None` when no test server is named.
pub(crate) fn fresh_store() -> Option<PostgresStore> {
    fresh_database().map(|url| PostgresStore::open(&url).unwrap())
}
