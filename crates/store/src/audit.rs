//! The audit trail as stored: each tenant's hash chain, read with filters, exported, imported,
//! verified, and the checkpoints taken of it.

use std::ops::{ControlFlow, RangeInclusive};

use super::StoreError;
use provhost_core::api::Paging;
use provhost_core::audit::{AuditRecord, ChainBreak, ChainHead, ChainStart, ChainVerifier, Checkpoint};

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

/// What `audit verify` found for one tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    /// The tenant.
    pub tenant: String,
    /// Where the chain starts, as its first record says; `None` when the tenant has no records.
    pub start: Option<ChainStart>,
    /// Records that verified, from the start on.
    pub verified: u64,
    /// The first break, if any.
    pub broken: Option<ChainBreak>,
}

impl Verification {
    /// The first record checked.
    pub fn first(&self) -> Option<u64> {
        self.start.as_ref().map(|s| s.seq)
    }

    /// Whether the chain starts with the tenant's first record. One that does not holds no proof
    /// of the records before its start: only a checkpoint taken of it can vouch that it started
    /// there (an archive imported from a later record).
    pub fn is_whole(&self) -> bool {
        self.start.as_ref().is_none_or(ChainStart::is_genesis)
    }
}

/// A checkpoint as the tenant's chain records it: who took it, and the record that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchored {
    /// The checkpoint, signature included.
    pub checkpoint: Checkpoint,
    /// Who took it.
    pub by: String,
    /// The sequence number of the record of its taking (after the record it names).
    pub recorded_at: u64,
}

impl Anchored {
    /// The checkpoint a record of kind `checkpoint` holds.
    pub(crate) fn from_record(record: AuditRecord) -> Result<Self, StoreError> {
        let details = record.entry.details;
        let corrupt = |reason: String| StoreError::Corrupt { column: "audit.details", reason };
        let checkpoint = serde_json::from_value(details["checkpoint"].clone())
            .map_err(|e| corrupt(format!("record {} holds no readable checkpoint: {e}", record.seq)))?;
        let by = details["by"].as_str().unwrap_or_default().to_owned();
        Ok(Anchored { checkpoint, by, recorded_at: record.seq })
    }
}

/// The refusal to record `checkpoint`, whose record the chain no longer holds as it says.
pub(crate) fn not_held(checkpoint: &Checkpoint, found: Option<&str>) -> StoreError {
    let now = match found {
        Some(hash) => format!("has hash {hash}"),
        None => "is not in the chain".to_owned(),
    };
    StoreError::Conflict(format!(
        "the checkpoint of tenant '{}' names record {} with hash {}, but that record {now}; take it again",
        checkpoint.tenant, checkpoint.seq, checkpoint.hash
    ))
}

/// Each tenant's audit chain.
pub trait AuditStore {
    /// Records matching the filter, in chain order, at most `limit`, skipping the first `offset`.
    fn audit(&self, filter: &AuditFilter, limit: usize, offset: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let mut records = Vec::new();
        self.audit_each(filter, Paging { limit, offset }, &mut |record| {
            records.push(record);
            ControlFlow::Continue(())
        })?;
        Ok(records)
    }

    /// Calls `each` with the records matching the filter, in chain order, on the page `paging`
    /// asks for, one at a time until it breaks off: a reader holds one record
    /// at a time, however large the records are.
    fn audit_each(
        &self,
        filter: &AuditFilter,
        paging: Paging,
        each: &mut dyn FnMut(AuditRecord) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// The record with this id.
    fn audit_record(&self, id: &str) -> Result<AuditRecord, StoreError>;

    /// The tenant's record of the invocation `invocation` (of kind `invocation`: every host call
    /// with its decision, the notes, the limits used and the captured output), if there is one.
    fn invocation_audit(&self, tenant: &str, invocation: &str) -> Result<Option<AuditRecord>, StoreError>;

    /// Calls `each` with the tenant's records from `from_seq` on, in chain order, one at a time,
    /// until it breaks off.
    fn audit_chain(
        &self,
        tenant: &str,
        from_seq: u64,
        each: &mut dyn FnMut(AuditRecord) -> Result<ControlFlow<()>, StoreError>,
    ) -> Result<(), StoreError>;

    /// The tenant's records at the sequence numbers `seqs`, in chain order, without their details
    /// (`null`), which can be large and which a list of records does not show.
    fn audit_headlines(&self, tenant: &str, seqs: RangeInclusive<u64>) -> Result<Vec<AuditRecord>, StoreError>;

    /// Where the tenant's chain starts: its first record's sequence number and `prev_hash`.
    fn audit_start(&self, tenant: &str) -> Result<Option<ChainStart>, StoreError>;

    /// Where the tenant's chain ends, if it has a record.
    fn audit_head(&self, tenant: &str) -> Result<Option<ChainHead>, StoreError>;

    /// The hash of the tenant's record at `seq`, if there is one.
    fn audit_hash_at(&self, tenant: &str, seq: u64) -> Result<Option<String>, StoreError>;

    /// The tenants that have audit records.
    fn audit_tenants(&self) -> Result<Vec<String>, StoreError>;

    /// Recomputes the tenant's chain from its first record, one record at a time, and reports
    /// where it starts and the first break. The start is what the first record says; nothing else
    /// in the store is trusted for it (see [`Verification::is_whole`]).
    fn verify_audit(&self, tenant: &str) -> Result<Verification, StoreError> {
        let mut start = None;
        let mut verifier = None;
        let mut broken = None;
        self.audit_chain(tenant, 0, &mut |r| {
            let verifier = verifier.get_or_insert_with(|| {
                // Record 1 continues the genesis hash, whatever it claims to continue.
                let first = if r.seq == 1 {
                    ChainStart::genesis()
                } else {
                    ChainStart { seq: r.seq, prev_hash: r.prev_hash.clone() }
                };
                let verifier = ChainVerifier::from(&first);
                start = Some(first);
                verifier
            });
            Ok(match verifier.check(&r) {
                Ok(()) => ControlFlow::Continue(()),
                Err(b) => {
                    broken = Some(b);
                    ControlFlow::Break(())
                }
            })
        })?;
        let verified = verifier.map_or(0, |v| v.verified());
        Ok(Verification { tenant: tenant.to_owned(), start, verified, broken })
    }

    /// Records `checkpoint`, taken by `by`, in its tenant's chain: one record of kind
    /// `checkpoint`, appended in a transaction that finds the record the checkpoint names still
    /// there with the hash it signed (otherwise nothing is recorded).
    fn record_checkpoint(&self, checkpoint: &Checkpoint, by: &str) -> Result<(), StoreError>;

    /// The last checkpoint recorded in the tenant's chain, read on an index of the checkpoints.
    fn last_checkpoint(&self, tenant: &str) -> Result<Option<Anchored>, StoreError>;

    /// Imports exported records into an archive store: they must continue the tenant's chain
    /// here (or start it) and verify; otherwise nothing is imported.
    fn import_audit(&self, records: &[AuditRecord]) -> Result<u64, StoreError>;
}
