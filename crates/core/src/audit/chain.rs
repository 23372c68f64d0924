//! Hash chaining: each record's hash covers its canonical content and its predecessor's hash, so
//! an edited, deleted, inserted or reordered record breaks the chain at that record.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{AuditEntry, AuditRecord, ChainStart};

/// The fields a hash covers, in a fixed order; `details` maps serialise with sorted keys.
#[derive(Serialize)]
struct Canonical<'a> {
    tenant: &'a str,
    seq: u64,
    id: &'a str,
    at: &'a str,
    entry: &'a AuditEntry,
    prev_hash: &'a str,
}

/// The format this build writes (see [`AuditRecord::format`]).
pub const FORMAT: u32 = 2;

/// The hash of a record as its format computes it: for format 2 and later, SHA-256 over the RFC
/// 8785 (JCS) form of the record as exported, without its `hash` field.
pub fn record_hash(r: &AuditRecord) -> String {
    if r.format < 2 {
        return content_hash(&r.tenant, r.seq, &r.id, &r.at, &r.entry, &r.prev_hash);
    }
    let mut value = serde_json::to_value(r).expect("audit records serialise");
    if let Some(fields) = value.as_object_mut() {
        fields.remove("hash");
    }
    let mut bytes = Vec::new();
    let mut canonical = serde_json::Serializer::with_formatter(&mut bytes, canon_json::CanonicalFormatter::new());
    value.serialize(&mut canonical).expect("audit records canonicalise");
    hex::encode(Sha256::digest(bytes))
}

/// The hash of a format-1 record's content.
pub fn content_hash(tenant: &str, seq: u64, id: &str, at: &str, entry: &AuditEntry, prev_hash: &str) -> String {
    let canonical = Canonical { tenant, seq, id, at, entry, prev_hash };
    let bytes = serde_json::to_vec(&canonical).expect("audit content serialises");
    hex::encode(Sha256::digest(bytes))
}

/// Where and why a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The first record that does not verify (for a gap: the record after it).
    pub id: String,
    /// Its position.
    pub seq: u64,
    /// What is wrong.
    pub reason: String,
}

/// Checks a chain's records one at a time, in chain order, without holding them.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: u64,
    expected_prev: String,
    verified: u64,
}

impl ChainVerifier {
    /// A verifier for records that start at `start`: the first must have its sequence number
    /// and continue its hash.
    pub fn from(start: &ChainStart) -> Self {
        Self { expected_seq: start.seq, expected_prev: start.prev_hash.clone(), verified: 0 }
    }

    /// Checks the next record: its place, its link to the one before, and its own hash.
    pub fn check(&mut self, r: &AuditRecord) -> Result<(), ChainBreak> {
        let broken = |reason: String| ChainBreak { id: r.id.clone(), seq: r.seq, reason };
        if r.seq != self.expected_seq {
            return Err(broken(format!(
                "expected record {} here, found {}: a record is missing or out of place",
                self.expected_seq, r.seq
            )));
        }
        if r.prev_hash != self.expected_prev {
            return Err(broken("its prev_hash does not match the hash of the record before it".into()));
        }
        if record_hash(r) != r.hash {
            return Err(broken("its content does not match its hash: the record was changed".into()));
        }
        self.expected_seq += 1;
        self.expected_prev.clone_from(&r.hash);
        self.verified += 1;
        Ok(())
    }

    /// How many records verified so far.
    pub fn verified(&self) -> u64 {
        self.verified
    }
}

/// Verifies records in chain order from `start`, where the first must be and the hash it must
/// continue ([`ChainStart::genesis`] for a tenant's whole chain). Returns how many verified, or
/// the first break.
pub fn verify_chain<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    start: &ChainStart,
) -> Result<u64, ChainBreak> {
    let mut verifier = ChainVerifier::from(start);
    for r in records {
        verifier.check(r)?;
    }
    Ok(verifier.verified())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut prev = crate::audit::GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let entry = AuditEntry {
                    kind: "note".into(),
                    decision: "allowed".into(),
                    message: format!("record {seq}"),
                    details: serde_json::json!({"b": 1, "a": [seq]}),
                    ..Default::default()
                };
                let (id, at) = (format!("r{seq}"), "2026-01-01T00:00:00.000Z".to_string());
                let hash = content_hash("t", seq, &id, &at, &entry, &prev);
                let record = AuditRecord {
                    tenant: "t".into(),
                    seq,
                    id,
                    at,
                    entry,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                    format: 1,
                };
                prev = hash;
                record
            })
            .collect()
    }

    #[test]
    fn a_chain_written_in_the_first_format_goes_on_in_the_second_and_both_verify() {
        let mut records = chain(2);
        let mut next = AuditRecord {
            seq: 3,
            id: "r3".into(),
            prev_hash: records[1].hash.clone(),
            hash: String::new(),
            format: FORMAT,
            ..records[1].clone()
        };
        next.hash = record_hash(&next);
        assert_ne!(next.hash, content_hash("t", 3, "r3", &next.at, &next.entry, &next.prev_hash), "a new hash");
        records.push(next);
        assert_eq!(verify_chain(&records, &ChainStart::genesis()), Ok(3));
        records[2].entry.details["a"] = serde_json::json!([4]);
        assert_eq!(
            verify_chain(&records, &ChainStart::genesis()).unwrap_err().id,
            "r3",
            "a format-2 record shows an edit too"
        );
        records[2].entry.details["a"] = serde_json::json!([2]);
        records[2].format = 1;
        assert_eq!(
            verify_chain(&records, &ChainStart::genesis()).unwrap_err().id,
            "r3",
            "its format is part of what it says"
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(&chain(5), &ChainStart::genesis()), Ok(5));
        let records = chain(5);
        assert_eq!(
            verify_chain(&records[2..], &ChainStart { seq: 3, prev_hash: records[1].hash.clone() }),
            Ok(3),
            "a range continues its anchor"
        );
    }

    #[test]
    fn edits_deletions_and_swaps_break_at_the_right_record() {
        let mut edited = chain(5);
        edited[2].entry.message = "rewritten".into();
        assert_eq!(verify_chain(&edited, &ChainStart::genesis()).unwrap_err().id, "r3");

        let mut deleted = chain(5);
        deleted.remove(1);
        let err = verify_chain(&deleted, &ChainStart::genesis()).unwrap_err();
        assert_eq!((err.id.as_str(), err.seq), ("r3", 3));
        assert!(err.reason.contains("missing"), "{}", err.reason);

        let mut swapped = chain(5);
        swapped.swap(1, 3);
        assert_eq!(verify_chain(&swapped, &ChainStart::genesis()).unwrap_err().id, "r4");

        let mut renumbered = chain(5);
        renumbered.swap(1, 3);
        renumbered[1].seq = 2;
        renumbered[3].seq = 4;
        assert_eq!(
            verify_chain(&renumbered, &ChainStart::genesis()).unwrap_err().id,
            "r4",
            "renumbering does not hide a swap"
        );
    }
}
