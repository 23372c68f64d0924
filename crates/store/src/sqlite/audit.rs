//! The audit table: appending to a tenant's chain inside a write transaction, reading with
//! filters, exporting, importing and verifying.

use std::ops::{ControlFlow, RangeInclusive};

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, StoreError, from_json};
use crate::audit::not_held;
use crate::{Anchored, AuditFilter, AuditStore};
use provhost_core::api::Paging;
use provhost_core::audit::{
    AuditEntry, AuditRecord, ChainHead, ChainStart, Checkpoint, FORMAT, entries, record_hash, verify_chain,
};
use provhost_core::model::{new_id, now_rfc3339};

const COLUMNS: &str = "tenant, seq, id, at, kind, invocation, key_id, plugin, person, action, system, decision, \
                       audit_action, message, details, prev_hash, hash, format";

/// [`COLUMNS`] with `null` for the details, which are then never read from the file.
const HEADLINE_COLUMNS: &str = "tenant, seq, id, at, kind, invocation, key_id, plugin, person, action, system, \
                                decision, audit_action, message, 'null', prev_hash, hash, format";

fn read(row: &Row<'_>) -> rusqlite::Result<(AuditRecord, String)> {
    let details: String = row.get(14)?;
    let record = AuditRecord {
        tenant: row.get(0)?,
        seq: row.get::<_, i64>(1)? as u64,
        id: row.get(2)?,
        at: row.get(3)?,
        entry: AuditEntry {
            kind: row.get(4)?,
            invocation: row.get(5)?,
            key_id: row.get(6)?,
            plugin: row.get(7)?,
            person: row.get(8)?,
            action: row.get(9)?,
            system: row.get(10)?,
            decision: row.get(11)?,
            audit_action: row.get(12)?,
            message: row.get(13)?,
            details: serde_json::Value::Null,
        },
        prev_hash: row.get(15)?,
        hash: row.get(16)?,
        format: row.get(17)?,
    };
    Ok((record, details))
}

fn decode((mut record, details): (AuditRecord, String)) -> Result<AuditRecord, StoreError> {
    record.entry.details = from_json("audit.details", &details)?;
    Ok(record)
}

fn insert(tx: &Connection, r: &AuditRecord) -> Result<(), StoreError> {
    let e = &r.entry;
    tx.prepare_cached(&format!(
        "INSERT INTO audit ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
    ))?
    .execute(params![
        r.tenant,
        r.seq as i64,
        r.id,
        r.at,
        e.kind,
        e.invocation,
        e.key_id,
        e.plugin,
        e.person,
        e.action,
        e.system,
        e.decision,
        e.audit_action,
        e.message,
        e.details.to_string(),
        r.prev_hash,
        r.hash,
        r.format
    ])?;
    index(tx, r)
}

/// Indexes a record under every person and action its `details.refs` names, so that listing a
/// person's or an action's records finds a record of a whole unit of work that concerns it.
fn index(tx: &Connection, r: &AuditRecord) -> Result<(), StoreError> {
    let refs = &r.entry.details["refs"];
    let named = |kind: &str| refs[kind].as_array().into_iter().flatten().filter_map(|v| v.as_str());
    let mut insert = tx.prepare_cached("INSERT OR IGNORE INTO audit_refs (tenant, ref, seq) VALUES (?1, ?2, ?3)")?;
    for person in named("persons") {
        insert.execute(params![r.tenant, format!("person:{person}"), r.seq as i64])?;
    }
    for action in named("actions") {
        insert.execute(params![r.tenant, format!("action:{action}"), r.seq as i64])?;
    }
    Ok(())
}

/// Where the tenant's chain ends (seq 0 when it has no record).
fn chain_end(tx: &Connection, tenant: &str) -> Result<ChainHead, StoreError> {
    Ok(head(tx, tenant)?.unwrap_or_else(ChainHead::empty))
}

/// The tenant's last record, if it has one.
fn head(conn: &Connection, tenant: &str) -> Result<Option<ChainHead>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT seq, hash FROM audit WHERE tenant = ?1 ORDER BY seq DESC LIMIT 1")?
        .query_row([tenant], |r| Ok(ChainHead { seq: r.get::<_, i64>(0)? as u64, hash: r.get(1)? }))
        .optional()?)
}

/// Appends entries to the tenant's chain inside `tx` (a unit of [`SqliteStore::write`], so that
/// concurrent writers take turns).
pub(super) fn append(tx: &Connection, tenant: &str, entries: &[AuditEntry]) -> Result<(), StoreError> {
    let ChainHead { mut seq, hash: mut prev } = chain_end(tx, tenant)?;
    for entry in entries {
        seq += 1;
        let (id, at) = (new_id(), now_rfc3339());
        let mut record = AuditRecord {
            tenant: tenant.to_owned(),
            seq,
            id,
            at,
            entry: entry.clone(),
            prev_hash: prev,
            hash: String::new(),
            format: FORMAT,
        };
        record.hash = record_hash(&record);
        insert(tx, &record)?;
        prev = record.hash;
    }
    Ok(())
}

/// The query for [`SqliteStore::audit_each`] and its values, with only the filters given in it.
/// Within a tenant, the records about a person or an action are those `audit_refs` names and
/// those whose own column names them, each found on an index, then read on the chain's key;
/// a filter written as `(? IS NULL OR …)` would have SQLite read every record to test each.
fn filtered(f: &AuditFilter, (limit, offset): (i64, i64)) -> (String, Vec<Value>) {
    let mut values: Vec<Value> = Vec::new();
    let mut bind = |value: Value| {
        values.push(value);
        format!("?{}", values.len())
    };
    let mut sql = format!("SELECT {COLUMNS} FROM audit WHERE 1 = 1");
    let tenant = f.tenant.as_ref().map(|t| bind(t.clone().into()));
    if let Some(t) = &tenant {
        sql.push_str(&format!(" AND tenant = {t}"));
    }
    for (column, value) in [("person", &f.person), ("action", &f.action)] {
        let Some(value) = value else { continue };
        let (id, named) = (bind(value.clone().into()), bind(format!("{column}:{value}").into()));
        sql.push_str(&match &tenant {
            Some(t) => format!(
                " AND seq IN (SELECT seq FROM audit_refs WHERE tenant = {t} AND ref = {named} \
                 UNION SELECT seq FROM audit WHERE tenant = {t} AND {column} = {id})"
            ),
            None => format!(
                " AND ({column} = {id} OR seq IN \
                 (SELECT seq FROM audit_refs r WHERE r.tenant = audit.tenant AND r.ref = {named}))"
            ),
        });
    }
    let rest = [
        ("plugin =", &f.plugin),
        ("decision =", &f.decision),
        ("key_id =", &f.key_id),
        ("kind =", &f.kind),
        ("at >=", &f.since),
        ("at <", &f.until),
    ];
    for (condition, value) in rest {
        if let Some(value) = value {
            let at = bind(value.clone().into());
            sql.push_str(&format!(" AND {condition} {at}"));
        }
    }
    let (limit, offset) = (bind(limit.into()), bind(offset.into()));
    sql.push_str(&format!(" ORDER BY tenant, seq LIMIT {limit} OFFSET {offset}"));
    (sql, values)
}

impl AuditStore for SqliteStore {
    fn audit_each(
        &self,
        filter: &AuditFilter,
        Paging { limit, offset }: Paging,
        each: &mut dyn FnMut(AuditRecord) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let page = (i64::try_from(limit).unwrap_or(i64::MAX), i64::try_from(offset).unwrap_or(i64::MAX));
        let (sql, values) = filtered(filter, page);
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(values.iter()))?;
        while let Some(row) = rows.next()? {
            if each(decode(read(row)?)?).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn audit_record(&self, id: &str) -> Result<AuditRecord, StoreError> {
        let row = self
            .read()?
            .prepare_cached(&format!("SELECT {COLUMNS} FROM audit WHERE id = ?1"))?
            .query_row([id], read)
            .optional()?;
        decode(row.ok_or_else(|| StoreError::NotFound { kind: "audit record", id: id.into(), tenant: "any".into() })?)
    }

    fn invocation_audit(&self, tenant: &str, invocation: &str) -> Result<Option<AuditRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit INDEXED BY audit_by_invocation \
             WHERE invocation = ?1 AND tenant = ?2 AND kind = 'invocation' ORDER BY seq LIMIT 1"
        );
        let row = self.read()?.prepare_cached(&sql)?.query_row([invocation, tenant], read).optional()?;
        row.map(decode).transpose()
    }

    fn audit_chain(
        &self,
        tenant: &str,
        from_seq: u64,
        each: &mut dyn FnMut(AuditRecord) -> Result<ControlFlow<()>, StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.read()?;
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM audit WHERE tenant = ?1 AND seq >= ?2 ORDER BY seq"))?;
        let mut rows = stmt.query(params![tenant, from_seq as i64])?;
        while let Some(row) = rows.next()? {
            if each(decode(read(row)?)?)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn audit_headlines(&self, tenant: &str, seqs: RangeInclusive<u64>) -> Result<Vec<AuditRecord>, StoreError> {
        let (from, to) = (*seqs.start() as i64, *seqs.end() as i64);
        let sql =
            format!("SELECT {HEADLINE_COLUMNS} FROM audit WHERE tenant = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq");
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![tenant, from, to], read)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(decode).collect()
    }

    fn audit_start(&self, tenant: &str) -> Result<Option<ChainStart>, StoreError> {
        Ok(self
            .read()?
            .prepare_cached("SELECT seq, prev_hash FROM audit WHERE tenant = ?1 ORDER BY seq LIMIT 1")?
            .query_row([tenant], |r| Ok(ChainStart { seq: r.get::<_, i64>(0)? as u64, prev_hash: r.get(1)? }))
            .optional()?)
    }

    fn audit_head(&self, tenant: &str) -> Result<Option<ChainHead>, StoreError> {
        head(&*self.read()?, tenant)
    }

    fn audit_hash_at(&self, tenant: &str, seq: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .read()?
            .prepare_cached("SELECT hash FROM audit WHERE tenant = ?1 AND seq = ?2")?
            .query_row(params![tenant, seq as i64], |r| r.get(0))
            .optional()?)
    }

    fn audit_tenants(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached("SELECT DISTINCT tenant FROM audit ORDER BY tenant")?;
        let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(rows)
    }

    fn record_checkpoint(&self, checkpoint: &Checkpoint, by: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let found: Option<String> = tx
                .prepare_cached("SELECT hash FROM audit WHERE tenant = ?1 AND seq = ?2")?
                .query_row(params![checkpoint.tenant, checkpoint.seq as i64], |r| r.get(0))
                .optional()?;
            if found.as_deref() != Some(checkpoint.hash.as_str()) {
                return Err(not_held(checkpoint, found.as_deref()));
            }
            append(tx, &checkpoint.tenant, &[entries::checkpoint_taken(checkpoint, by)])
        })
    }

    fn last_checkpoint(&self, tenant: &str) -> Result<Option<Anchored>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit INDEXED BY audit_checkpoints \
             WHERE tenant = ?1 AND kind = 'checkpoint' ORDER BY seq DESC LIMIT 1"
        );
        let row = self.read()?.prepare_cached(&sql)?.query_row([tenant], read).optional()?;
        row.map(|row| Anchored::from_record(decode(row)?)).transpose()
    }

    fn import_audit(&self, records: &[AuditRecord]) -> Result<u64, StoreError> {
        let Some(first) = records.first() else { return Ok(0) };
        if let Some(other) = records.iter().find(|r| r.tenant != first.tenant) {
            return Err(StoreError::Conflict(format!(
                "an import holds one tenant's chain; found '{}' and '{}'",
                first.tenant, other.tenant
            )));
        }
        self.write(|tx| {
            let end = chain_end(tx, &first.tenant)?;
            let start = match end.seq {
                0 => ChainStart { seq: first.seq, prev_hash: first.prev_hash.clone() },
                _ => end.next(),
            };
            verify_chain(records, &start).map_err(|b| {
                StoreError::Conflict(format!(
                    "the import does not continue tenant '{}''s chain at record {} ({}): {}",
                    first.tenant, b.seq, b.id, b.reason
                ))
            })?;
            records.iter().try_for_each(|r| insert(tx, r))
        })?;
        Ok(records.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEMO_TENANT;
    use crate::suite::audit::with_records;

    fn store_with_records(n: usize) -> SqliteStore {
        let store = SqliteStore::in_memory().unwrap();
        with_records(&store, n);
        store
    }

    #[test]
    fn a_tenants_records_about_an_action_or_a_person_are_found_on_indexes() {
        let store = SqliteStore::in_memory().unwrap();
        for (person, action) in [(Some("p"), None), (None, Some("a")), (Some("p"), Some("a"))] {
            let filter = AuditFilter {
                tenant: Some(DEMO_TENANT.into()),
                person: person.map(str::to_owned),
                action: action.map(str::to_owned),
                ..Default::default()
            };
            let (sql, values) = filtered(&filter, (50, 0));
            let conn = store.read().unwrap();
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(values.iter()), |r| r.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(plan.contains("SEARCH audit USING INDEX sqlite_autoindex_audit_2 (tenant=? AND seq=?)"), "{plan}");
            assert!(!plan.contains("SCAN audit") && !plan.contains("SCAN audit_refs"), "{plan}");
        }
    }

    #[test]
    fn verify_names_where_the_chain_starts_and_a_chain_without_its_first_records_is_not_whole() {
        let store = store_with_records(5);
        let head = store.audit_head(DEMO_TENANT).unwrap().unwrap().seq;
        let whole = store.verify_audit(DEMO_TENANT).unwrap();
        assert_eq!((whole.first(), whole.verified, whole.is_whole()), (Some(1), head, true), "{whole:?}");
        assert!(whole.broken.is_none());

        // What someone with write access to the file can do: remove the guard, then the oldest records.
        let removed = "DROP TRIGGER audit_is_never_deleted; DELETE FROM audit WHERE tenant = 'demo' AND seq < 4;";
        store.idle_writer().conn.execute_batch(removed).unwrap();
        let cut = store.verify_audit(DEMO_TENANT).unwrap();
        assert_eq!((cut.first(), cut.verified, cut.is_whole()), (Some(4), head - 3, false), "{cut:?}");
        assert!(cut.broken.is_none(), "what is left is consistent: only the start shows the cut");
        assert_eq!(store.audit_start(DEMO_TENANT).unwrap(), cut.start);
    }

    #[test]
    fn a_first_record_that_does_not_continue_the_genesis_hash_breaks_the_chain() {
        let store = store_with_records(1);
        let forged =
            "DROP TRIGGER audit_is_never_updated; UPDATE audit SET prev_hash = hash WHERE tenant = 'demo' AND seq = 1;";
        store.idle_writer().conn.execute_batch(forged).unwrap();
        let v = store.verify_audit(DEMO_TENANT).unwrap();
        assert_eq!(v.broken.map(|b| b.seq), Some(1), "record 1 always continues the genesis hash");
        assert_eq!(v.verified, 0);
    }
}
