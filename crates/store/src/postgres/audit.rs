//! The audit table: appending to a tenant's chain with its head row locked, reading with
//! filters, exporting, importing and verifying. The records and their hashes are the embedded
//! store's, so an export from either store verifies and imports into the other.

use std::ops::{ControlFlow, RangeInclusive};

use postgres::Row;
use postgres::types::ToSql;

use super::{PostgresStore, StoreError, from_json};
use crate::audit::not_held;
use crate::postgres::statements::Tx;
use crate::{Anchored, AuditFilter, AuditStore};
use provhost_core::api::Paging;
use provhost_core::audit::{
    AuditEntry, AuditRecord, ChainHead, ChainStart, Checkpoint, FORMAT, GENESIS, entries, record_hash, verify_chain,
};
use provhost_core::model::{new_id, now_rfc3339};

const COLUMNS: &str = "tenant, seq, id, at, kind, invocation, key_id, plugin, person, action, system, decision, \
                       audit_action, message, details, prev_hash, hash, format";

/// [`COLUMNS`] with `null` for the details, which are then never read.
const HEADLINE_COLUMNS: &str = "tenant, seq, id, at, kind, invocation, key_id, plugin, person, action, system, \
                                decision, audit_action, message, 'null', prev_hash, hash, format";

fn read(row: &Row) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        tenant: row.get(0),
        seq: row.get::<_, i64>(1) as u64,
        id: row.get(2),
        at: row.get(3),
        entry: AuditEntry {
            kind: row.get(4),
            invocation: row.get(5),
            key_id: row.get(6),
            plugin: row.get(7),
            person: row.get(8),
            action: row.get(9),
            system: row.get(10),
            decision: row.get(11),
            audit_action: row.get(12),
            message: row.get(13),
            details: from_json("audit.details", row.get(14))?,
        },
        prev_hash: row.get(15),
        hash: row.get(16),
        format: row.get::<_, i64>(17) as u32,
    })
}

/// Inserts a record with its index under every person and action its `details.refs` names, in
/// one statement.
fn insert(tx: &mut Tx<'_, '_>, r: &AuditRecord) -> Result<(), StoreError> {
    let e = &r.entry;
    let (seq, format, details) = (r.seq as i64, i64::from(r.format), e.details.to_string());
    let refs = refs_of(r);
    tx.execute(
        &format!(
            "WITH indexed AS (INSERT INTO audit_refs (tenant, ref, seq)
                              SELECT $1, r, $2 FROM UNNEST($19::text[]) AS r ON CONFLICT DO NOTHING)
             INSERT INTO audit ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        ),
        &[
            &r.tenant,
            &seq,
            &r.id,
            &r.at,
            &e.kind,
            &e.invocation,
            &e.key_id,
            &e.plugin,
            &e.person,
            &e.action,
            &e.system,
            &e.decision,
            &e.audit_action,
            &e.message,
            &details,
            &r.prev_hash,
            &r.hash,
            &format,
            &refs,
        ],
    )?;
    Ok(())
}

/// What a record is indexed under: `person:<id>` and `action:<id>` for each its `details.refs`
/// names.
fn refs_of(r: &AuditRecord) -> Vec<String> {
    let refs = &r.entry.details["refs"];
    let named = |kind: &str| -> Vec<String> {
        refs[kind].as_array().into_iter().flatten().filter_map(|v| v.as_str()).map(str::to_owned).collect()
    };
    let mut all: Vec<String> = named("persons").into_iter().map(|p| format!("person:{p}")).collect();
    all.extend(named("actions").into_iter().map(|a| format!("action:{a}")));
    all
}

/// Locks the heads of these tenants' chains, in sorted order, creating the ones that have none:
/// the first thing every transaction that appends to a chain does, so that transactions on
/// different hosts append to one tenant's chain (and re-check its budgets) one after another.
pub(super) fn lock_heads(tx: &mut Tx<'_, '_>, tenants: &[&str]) -> Result<(), StoreError> {
    let mut sorted: Vec<&str> = tenants.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    for tenant in sorted {
        lock_head(tx, tenant)?;
    }
    Ok(())
}

/// Locks the head of the tenant's chain and reads where the chain ends, in one statement while
/// the head exists (a transaction that locked it already keeps the lock and reads it again).
pub(super) fn lock_head(tx: &mut Tx<'_, '_>, tenant: &str) -> Result<ChainHead, StoreError> {
    const LOCK: &str = "SELECT seq, hash FROM audit_heads WHERE tenant = $1 FOR UPDATE";
    let head = |r: Row| ChainHead { seq: r.get::<_, i64>(0) as u64, hash: r.get(1) };
    if let Some(row) = tx.query_opt(LOCK, &[&tenant])? {
        return Ok(head(row));
    }
    tx.execute(
        "INSERT INTO audit_heads (tenant, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (tenant) DO NOTHING",
        &[&tenant, &GENESIS],
    )?;
    Ok(head(tx.query_one(LOCK, &[&tenant])?))
}

fn set_head(tx: &mut Tx<'_, '_>, tenant: &str, seq: u64, hash: &str) -> Result<(), StoreError> {
    tx.execute("UPDATE audit_heads SET seq = $2, hash = $3 WHERE tenant = $1", &[&tenant, &(seq as i64), &hash])?;
    Ok(())
}

/// Appends entries to the tenant's chain inside `tx`, locking its head first (a transaction that
/// locked it already keeps the lock).
pub(super) fn append<'e>(
    tx: &mut Tx<'_, '_>,
    tenant: &str,
    entries: impl IntoIterator<Item = &'e AuditEntry>,
) -> Result<(), StoreError> {
    let mut entries = entries.into_iter().peekable();
    if entries.peek().is_none() {
        return Ok(());
    }
    let head = lock_head(tx, tenant)?;
    append_at(tx, tenant, head, entries)
}

/// Appends entries to the tenant's chain after `head`, which this transaction locked and read
/// with [`lock_head`].
fn append_at<'e>(
    tx: &mut Tx<'_, '_>,
    tenant: &str,
    ChainHead { mut seq, hash: mut prev }: ChainHead,
    entries: impl Iterator<Item = &'e AuditEntry>,
) -> Result<(), StoreError> {
    for entry in entries {
        seq += 1;
        let mut record = AuditRecord {
            tenant: tenant.to_owned(),
            seq,
            id: new_id(),
            at: now_rfc3339(),
            entry: entry.clone(),
            prev_hash: prev,
            hash: String::new(),
            format: FORMAT,
        };
        record.hash = record_hash(&record);
        insert(tx, &record)?;
        prev = record.hash;
    }
    set_head(tx, tenant, seq, &prev)
}

/// Streams the rows of `sql` to `each` in portions, so that a reader holds one portion at a time.
fn each_row(
    client: &mut postgres::Client,
    (sql, values): (&str, &[&(dyn ToSql + Sync)]),
    each: &mut dyn FnMut(AuditRecord) -> Result<ControlFlow<()>, StoreError>,
) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    let portal = tx.bind(sql, values)?;
    loop {
        let rows = tx.query_portal(&portal, 256)?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in &rows {
            if each(read(row)?)?.is_break() {
                return Ok(());
            }
        }
    }
}

impl AuditStore for PostgresStore {
    fn audit_each(
        &self,
        filter: &AuditFilter,
        Paging { limit, offset }: Paging,
        each: &mut dyn FnMut(AuditRecord) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit
             WHERE ($1::text IS NULL OR tenant = $1)
               AND ($2::text IS NULL OR person = $2 OR seq IN
                    (SELECT seq FROM audit_refs r WHERE r.tenant = audit.tenant AND r.ref = 'person:' || $2))
               AND ($3::text IS NULL OR plugin = $3)
               AND ($4::text IS NULL OR action = $4 OR seq IN
                    (SELECT seq FROM audit_refs r WHERE r.tenant = audit.tenant AND r.ref = 'action:' || $4))
               AND ($5::text IS NULL OR decision = $5) AND ($6::text IS NULL OR key_id = $6)
               AND ($7::text IS NULL OR kind = $7) AND ($8::text IS NULL OR at >= $8) AND ($9::text IS NULL OR at < $9)
             ORDER BY tenant, seq LIMIT $10 OFFSET $11"
        );
        let f = filter;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let values: [&(dyn ToSql + Sync); 11] = [
            &f.tenant,
            &f.person,
            &f.plugin,
            &f.action,
            &f.decision,
            &f.key_id,
            &f.kind,
            &f.since,
            &f.until,
            &limit,
            &offset,
        ];
        // The callback stays on this thread: a read made inside an async context is rare here.
        let mut pooled = self.pool.take()?;
        each_row(&mut pooled.client, (&sql, &values), &mut |r| Ok(each(r)))
    }

    fn audit_record(&self, id: &str) -> Result<AuditRecord, StoreError> {
        let row = self.read(|c| Ok(c.query_opt(&format!("SELECT {COLUMNS} FROM audit WHERE id = $1"), &[&id])?))?;
        read(&row.ok_or_else(|| StoreError::NotFound { kind: "audit record", id: id.into(), tenant: "any".into() })?)
    }

    fn audit_chain(
        &self,
        tenant: &str,
        from_seq: u64,
        each: &mut dyn FnMut(AuditRecord) -> Result<ControlFlow<()>, StoreError>,
    ) -> Result<(), StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM audit WHERE tenant = $1 AND seq >= $2 ORDER BY seq");
        let mut pooled = self.pool.take()?;
        each_row(&mut pooled.client, (&sql, &[&tenant, &(from_seq as i64)]), each)
    }

    fn audit_headlines(&self, tenant: &str, seqs: RangeInclusive<u64>) -> Result<Vec<AuditRecord>, StoreError> {
        let (from, to) = (*seqs.start() as i64, *seqs.end() as i64);
        let sql =
            format!("SELECT {HEADLINE_COLUMNS} FROM audit WHERE tenant = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq");
        let rows = self.read(|c| Ok(c.query(&sql, &[&tenant, &from, &to])?))?;
        rows.iter().map(read).collect()
    }

    fn audit_start(&self, tenant: &str) -> Result<Option<ChainStart>, StoreError> {
        let row = self.read(|c| {
            Ok(c.query_opt("SELECT seq, prev_hash FROM audit WHERE tenant = $1 ORDER BY seq LIMIT 1", &[&tenant])?)
        })?;
        Ok(row.map(|r| ChainStart { seq: r.get::<_, i64>(0) as u64, prev_hash: r.get(1) }))
    }

    fn audit_head(&self, tenant: &str) -> Result<Option<ChainHead>, StoreError> {
        let row = self.read(|c| {
            Ok(c.query_opt("SELECT seq, hash FROM audit WHERE tenant = $1 ORDER BY seq DESC LIMIT 1", &[&tenant])?)
        })?;
        Ok(row.map(|r| ChainHead { seq: r.get::<_, i64>(0) as u64, hash: r.get(1) }))
    }

    fn audit_hash_at(&self, tenant: &str, seq: u64) -> Result<Option<String>, StoreError> {
        let row = self.read(|c| {
            Ok(c.query_opt("SELECT hash FROM audit WHERE tenant = $1 AND seq = $2", &[&tenant, &(seq as i64)])?)
        })?;
        Ok(row.map(|r| r.get(0)))
    }

    fn audit_tenants(&self) -> Result<Vec<String>, StoreError> {
        let rows = self.read(|c| Ok(c.query("SELECT tenant FROM audit_heads WHERE seq > 0 ORDER BY tenant", &[])?))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn record_checkpoint(&self, checkpoint: &Checkpoint, by: &str) -> Result<(), StoreError> {
        let (tenant, seq) = (checkpoint.tenant.as_str(), checkpoint.seq as i64);
        self.write(|tx| {
            lock_heads(tx, &[tenant])?;
            let found: Option<String> = tx
                .query_opt("SELECT hash FROM audit WHERE tenant = $1 AND seq = $2", &[&tenant, &seq])?
                .map(|r| r.get(0));
            if found.as_deref() != Some(checkpoint.hash.as_str()) {
                return Err(not_held(checkpoint, found.as_deref()));
            }
            append(tx, tenant, &[entries::checkpoint_taken(checkpoint, by)])
        })
    }

    fn last_checkpoint(&self, tenant: &str) -> Result<Option<Anchored>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM audit WHERE tenant = $1 AND kind = 'checkpoint' ORDER BY seq DESC LIMIT 1");
        let row = self.read(|c| Ok(c.query_opt(&sql, &[&tenant])?))?;
        row.as_ref().map(|row| Anchored::from_record(read(row)?)).transpose()
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
            let end = lock_head(tx, &first.tenant)?;
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
            for r in records {
                insert(tx, r)?;
            }
            let last = records.last().expect("an import with records has a last one");
            set_head(tx, &first.tenant, last.seq, &last.hash)
        })?;
        Ok(records.len() as u64)
    }

    fn invocation_audit(&self, tenant: &str, invocation: &str) -> Result<Option<AuditRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit WHERE invocation = $1 AND tenant = $2 AND kind = 'invocation' ORDER BY seq LIMIT 1"
        );
        let row = self.read(|c| Ok(c.query_opt(&sql, &[&invocation, &tenant])?))?;
        row.as_ref().map(read).transpose()
    }
}
