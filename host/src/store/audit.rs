//! The audit table: appending to a tenant's chain inside a write transaction, reading with
//! filters, exporting, importing and verifying.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Store, StoreError, from_json};
use crate::audit::{AuditEntry, AuditRecord, ChainBreak, FORMAT, GENESIS, record_hash, verify_chain};
use crate::model::{new_id, now_rfc3339};

const COLUMNS: &str = "tenant, seq, id, at, kind, invocation, key_id, plugin, person, action, system, decision, \
                       audit_action, message, details, prev_hash, hash, format";

/// Which records `audit list` returns; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this tenant's.
    pub tenant: Option<String>,
    /// Only about this person.
    pub person: Option<String>,
    /// Only of this plugin.
    pub plugin: Option<String>,
    /// Only about this entitlement action.
    pub action: Option<String>,
    /// Only with this decision or outcome (`allowed`, `forbidden`, `completed`, `trap`, `success`…).
    pub decision: Option<String>,
    /// Only caused by this API key.
    pub key_id: Option<String>,
    /// Only of this kind (`invocation`, `host-call`, …).
    pub kind: Option<String>,
    /// Only at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only before this time (RFC 3339).
    pub until: Option<String>,
}

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

fn chain_end(tx: &Connection, tenant: &str) -> Result<(u64, String), StoreError> {
    let end = tx
        .prepare_cached("SELECT seq, hash FROM audit WHERE tenant = ?1 ORDER BY seq DESC LIMIT 1")?
        .query_row([tenant], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)))
        .optional()?;
    Ok(end.unwrap_or((0, GENESIS.to_owned())))
}

/// Appends entries to the tenant's chain inside `tx` (a unit of [`Store::write`], so that
/// concurrent writers take turns).
pub(super) fn append(tx: &Connection, tenant: &str, entries: &[AuditEntry]) -> Result<(), StoreError> {
    let (mut seq, mut prev) = chain_end(tx, tenant)?;
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

/// What `audit verify` found for one tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    /// The tenant.
    pub tenant: String,
    /// Records that verified.
    pub verified: u64,
    /// The first break, if any.
    pub broken: Option<ChainBreak>,
}

impl Store {
    /// Records matching the filter, in chain order, at most `limit`, skipping the first `offset`.
    pub fn audit(&self, filter: &AuditFilter, limit: usize, offset: usize) -> Result<Vec<AuditRecord>, StoreError> {
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
        let rows = stmt
            .query_map(
                params![
                    f.tenant,
                    f.person,
                    f.plugin,
                    f.action,
                    f.decision,
                    f.key_id,
                    f.kind,
                    f.since,
                    f.until,
                    limit as i64,
                    offset as i64
                ],
                read,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(decode).collect()
    }

    /// The record with this id.
    pub fn audit_record(&self, id: &str) -> Result<AuditRecord, StoreError> {
        let row = self
            .read()?
            .prepare_cached(&format!("SELECT {COLUMNS} FROM audit WHERE id = ?1"))?
            .query_row([id], read)
            .optional()?;
        decode(row.ok_or_else(|| StoreError::NotFound { kind: "audit record", id: id.into(), tenant: "any".into() })?)
    }

    /// Calls `each` with the tenant's records from `from_seq` on, in chain order, one at a time.
    pub fn audit_chain(
        &self,
        tenant: &str,
        from_seq: u64,
        mut each: impl FnMut(AuditRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.read()?;
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM audit WHERE tenant = ?1 AND seq >= ?2 ORDER BY seq"))?;
        let mut rows = stmt.query(params![tenant, from_seq as i64])?;
        while let Some(row) = rows.next()? {
            each(decode(read(row)?)?)?;
        }
        Ok(())
    }

    /// The tenant's last record: its sequence number and hash.
    pub fn audit_head(&self, tenant: &str) -> Result<Option<(u64, String)>, StoreError> {
        Ok(self
            .read()?
            .prepare_cached("SELECT seq, hash FROM audit WHERE tenant = ?1 ORDER BY seq DESC LIMIT 1")?
            .query_row([tenant], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
            .optional()?)
    }

    /// The hash of the tenant's record at `seq`, if there is one.
    pub fn audit_hash_at(&self, tenant: &str, seq: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .read()?
            .prepare_cached("SELECT hash FROM audit WHERE tenant = ?1 AND seq = ?2")?
            .query_row(params![tenant, seq as i64], |r| r.get(0))
            .optional()?)
    }

    /// The tenants that have audit records.
    pub fn audit_tenants(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached("SELECT DISTINCT tenant FROM audit ORDER BY tenant")?;
        let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(rows)
    }

    /// Recomputes the tenant's chain from its first record and reports the first break.
    pub fn verify_audit(&self, tenant: &str) -> Result<Verification, StoreError> {
        let mut records = Vec::new();
        self.audit_chain(tenant, 0, |r| {
            records.push(r);
            Ok(())
        })?;
        let anchor = self
            .read()?
            .prepare_cached("SELECT seq, prev_hash FROM audit_anchor WHERE tenant = ?1")?
            .query_row([tenant], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)))
            .optional()?
            .unwrap_or((1, GENESIS.to_owned()));
        let (verified, broken) = match verify_chain(&records, Some((anchor.0, &anchor.1))) {
            Ok(n) => (n, None),
            Err(b) => (b.seq.saturating_sub(anchor.0), Some(b)),
        };
        Ok(Verification { tenant: tenant.to_owned(), verified, broken })
    }

    /// Imports exported records into an archive store: they must continue the tenant's chain
    /// here (or start it) and verify; otherwise nothing is imported.
    pub fn import_audit(&self, records: &[AuditRecord]) -> Result<u64, StoreError> {
        let Some(first) = records.first() else { return Ok(0) };
        if let Some(other) = records.iter().find(|r| r.tenant != first.tenant) {
            return Err(StoreError::Conflict(format!(
                "an import holds one tenant's chain; found '{}' and '{}'",
                first.tenant, other.tenant
            )));
        }
        self.write(|tx| {
            let (end_seq, end_hash) = chain_end(tx, &first.tenant)?;
            let anchor = if end_seq == 0 { (first.seq, first.prev_hash.clone()) } else { (end_seq + 1, end_hash) };
            verify_chain(records, Some((anchor.0, &anchor.1))).map_err(|b| {
                StoreError::Conflict(format!(
                    "the import does not continue tenant '{}''s chain at record {} ({}): {}",
                    first.tenant, b.seq, b.id, b.reason
                ))
            })?;
            if end_seq == 0 && first.seq > 1 {
                tx.prepare_cached("INSERT INTO audit_anchor (tenant, seq, prev_hash) VALUES (?1, ?2, ?3)")?
                    .execute(params![first.tenant, first.seq as i64, first.prev_hash])?;
            }
            records.iter().try_for_each(|r| insert(tx, r))
        })?;
        Ok(records.len() as u64)
    }
}
