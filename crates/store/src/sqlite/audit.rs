//! The audit table: appending to a tenant's chain inside a write transaction, reading with
//! filters, exporting, importing and verifying.

use std::ops::ControlFlow;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, StoreError, from_json};
use crate::{AuditFilter, AuditStore};
use provhost_core::api::Paging;
use provhost_core::audit::{AuditEntry, AuditRecord, ChainHead, ChainStart, FORMAT, record_hash, verify_chain};
use provhost_core::model::{new_id, now_rfc3339};

const COLUMNS: &str = "tenant, seq, id, at, kind, invocation, key_id, plugin, person, action, system, decision, \
                       audit_action, message, details, prev_hash, hash, format";

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

impl AuditStore for SqliteStore {
    fn audit_each(
        &self,
        filter: &AuditFilter,
        Paging { limit, offset }: Paging,
        each: &mut dyn FnMut(AuditRecord) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM audit
             WHERE (?1 IS NULL OR tenant = ?1)
               AND (?2 IS NULL OR person = ?2 OR seq IN
                    (SELECT seq FROM audit_refs r WHERE r.tenant = audit.tenant AND r.ref = 'person:' || ?2))
               AND (?3 IS NULL OR plugin = ?3)
               AND (?4 IS NULL OR action = ?4 OR seq IN
                    (SELECT seq FROM audit_refs r WHERE r.tenant = audit.tenant AND r.ref = 'action:' || ?4))
               AND (?5 IS NULL OR decision = ?5) AND (?6 IS NULL OR key_id = ?6)
               AND (?7 IS NULL OR kind = ?7) AND (?8 IS NULL OR at >= ?8) AND (?9 IS NULL OR at < ?9)
             ORDER BY tenant, seq LIMIT ?10 OFFSET ?11"
        ))?;
        let f = filter;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![
            f.tenant, f.person, f.plugin, f.action, f.decision, f.key_id, f.kind, f.since, f.until, limit, offset
        ])?;
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
