//! `provhost store copy`: a one-shot copy of an embedded SQLite store into an empty PostgreSQL
//! database, table by table and row by row as stored, so that every audit record keeps its hash
//! and every chain verifies in the copy as it did in the file. Leases (of actions and of
//! deliveries) and follow-ups, timed by the file's own clock, are moved onto the database's clock by the same offset.

use std::path::Path;

use postgres::types::ToSql;
use rusqlite::types::ValueRef;

use super::postgres::TABLES;
use super::{AuditStore, PostgresStore, StoreError, Verification};

/// What a copy moved: rows per table, and each tenant's chain as verified in the copy.
#[derive(Debug, serde::Serialize)]
pub struct Copied {
    /// Rows copied, by table.
    pub rows: Vec<(String, u64)>,
    /// Each tenant's audit chain, verified in the copy.
    pub chains: Vec<Verification>,
}

/// Copies the SQLite store at `from` into the PostgreSQL database at `to`, which must hold no
/// tenant yet; then verifies every tenant's audit chain in the copy. Stop every provhost using
/// `from` first: the copy reads it in one transaction, and changes made after are not copied.
pub fn sqlite_to_postgres(from: &Path, to: &str) -> Result<Copied, StoreError> {
    if !from.exists() {
        return Err(StoreError::open(from.display(), "no such file"));
    }
    // Opening migrates the file to this build's schema first, and the database to its own.
    drop(super::SqliteStore::open(from)?);
    let target = PostgresStore::open(to)?;
    let mut source = rusqlite::Connection::open(from).map_err(|e| StoreError::open(from.display(), e))?;
    let mut client = postgres::Client::connect(to, postgres::NoTls)
        .map_err(|e| StoreError::open(target.shown_url(), super::postgres::described(&e)))?;
    let read = source.transaction()?;
    let mut tx = client.transaction()?;
    let tenants: i64 = tx.query_one("SELECT COUNT(*) FROM tenants", &[])?.get(0);
    if tenants > 0 {
        return Err(StoreError::Conflict(format!(
            "{} already holds {tenants} tenants; a copy goes into an empty database",
            target.shown_url()
        )));
    }
    let mut rows = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        rows.push((table.to_string(), copy_table(&read, &mut tx, table)?));
    }
    let file_clock: i64 = read.query_row("SELECT ms FROM store_clock WHERE id = 1", [], |r| r.get(0))?;
    let timed = [
        ("actions", "lease_until_ms = lease_until_ms + offset_ms, follow_since_ms = follow_since_ms + offset_ms"),
        ("deliveries", "lease_until_ms = lease_until_ms + offset_ms"),
    ];
    for (table, moved) in timed {
        tx.execute(
            &format!(
                "UPDATE {table} SET {moved}
                 FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1 AS offset_ms) AS o"
            ),
            &[&file_clock],
        )?;
    }
    // Kept events keep their places; new ones are kept after them.
    tx.execute("SELECT setval(pg_get_serial_sequence('kept_events', 'seq'), COALESCE(MAX(seq), 0) + 1, false) FROM kept_events", &[])?;
    tx.execute(
        "INSERT INTO audit_heads (tenant, seq, hash)
         SELECT DISTINCT ON (tenant) tenant, seq, hash FROM audit ORDER BY tenant, seq DESC",
        &[],
    )?;
    tx.commit()?;
    if let Err(e) = target.analyze() {
        // The copy is kept; autovacuum brings the statistics up to date in its own time.
        tracing::warn!("the copy is complete, but refreshing the database's statistics failed: {e}");
    }
    let chains =
        target.audit_tenants()?.iter().map(|tenant| target.verify_audit(tenant)).collect::<Result<Vec<_>, _>>()?;
    Ok(Copied { rows, chains })
}

/// Copies one table's rows, each value cast to the target column's type.
fn copy_table(from: &rusqlite::Connection, to: &mut postgres::Transaction<'_>, table: &str) -> Result<u64, StoreError> {
    let target: Vec<(String, String)> = to
        .query(
            "SELECT column_name, data_type FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let present: Vec<String> = from
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let columns: Vec<&(String, String)> = target.iter().filter(|(name, _)| present.contains(name)).collect();
    let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    let casts: Vec<String> =
        columns.iter().enumerate().map(|(i, (_, kind))| format!("${}::text::{kind}", i + 1)).collect();
    let insert = to.prepare(&format!("INSERT INTO {table} ({}) VALUES ({})", names.join(", "), casts.join(", ")))?;
    // Actions keep the order they were committed in (the order of their rowids), which lists
    // and claims follow.
    let order = if table == "actions" { " ORDER BY rowid" } else { "" };
    let mut select = from.prepare(&format!("SELECT {} FROM {table}{order}", names.join(", ")))?;
    let mut found = select.query([])?;
    let mut copied = 0;
    while let Some(row) = found.next()? {
        let values: Vec<Option<String>> =
            (0..names.len()).map(|i| row.get_ref(i).map(as_text)).collect::<Result<_, _>>()?;
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        to.execute(&insert, &params)?;
        copied += 1;
    }
    Ok(copied)
}

/// A SQLite value as the text PostgreSQL casts to the column's type (`bytea` as hex).
fn as_text(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Null => None,
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(x) => Some(x.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(format!("\\x{}", hex::encode(b))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DEMO_TENANT, DirectoryStore, InvocationStore, KeyStore, SqliteStore, seed_demo};
    use provhost_core::audit::InvocationRecord;
    use provhost_core::model::new_id;

    #[test]
    fn a_copy_keeps_every_row_and_every_chain_verifies_with_the_same_head() {
        let Some(url) = crate::postgres::testing::fresh_database() else { return };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("provhost.db");
        let crate::IssuedKey { record: key, secret } = {
            let store = SqliteStore::open(&file).unwrap();
            seed_demo(&store).unwrap();
            for n in 0..5 {
                let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", &format!("unit {n}"));
                store.commit_invocation(&record, &[]).unwrap();
            }
            store.create_key(DEMO_TENANT, &provhost_core::policy::Grants::everything(), "copied", None).unwrap()
        };
        let head = SqliteStore::open(&file).unwrap().audit_head(DEMO_TENANT).unwrap().unwrap();

        let copied = sqlite_to_postgres(&file, &url).unwrap();
        assert!(copied.rows.iter().any(|(t, n)| t == "audit" && *n == head.seq), "{:?}", copied.rows);
        let chain = copied.chains.iter().find(|c| c.tenant == DEMO_TENANT).expect("the demo tenant's chain");
        assert_eq!((chain.verified, chain.is_whole(), chain.broken.is_none()), (head.seq, true, true), "{chain:?}");

        let copy = PostgresStore::open(&url).unwrap();
        assert_eq!(copy.audit_head(DEMO_TENANT).unwrap(), Some(head.clone()), "the same last record, hash for hash");
        let credentials = provhost_core::auth::Credentials { id: key.id.clone(), secret };
        assert_eq!(copy.verify_key(&credentials).unwrap().id, key.id, "a key's salted hash is copied byte for byte");
        assert_eq!(copy.persons(DEMO_TENANT).unwrap().len(), 6);
        // The copy goes on where the file stopped: its next record continues the copied chain.
        copy.commit_invocation(&InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "after"), &[]).unwrap();
        let after = copy.verify_audit(DEMO_TENANT).unwrap();
        assert_eq!((after.verified, after.broken), (head.seq + 1, None));

        let again = sqlite_to_postgres(&file, &url).unwrap_err();
        assert!(again.to_string().contains("a copy goes into an empty database"), "{again}");
    }
}
