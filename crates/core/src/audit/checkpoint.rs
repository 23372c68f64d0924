//! Checkpoints: a signed statement of where a tenant's chain starts (its first record's sequence
//! number and the hash that record continues) and of its head (its last record's sequence number
//! and hash), which the operator keeps outside the store. The chain alone shows an edited or
//! removed record in its middle; a checkpoint also shows a truncated tail, a removed prefix, or a
//! chain rewritten from the start, since the start and the record it names must still be there.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::GENESIS;

/// Where a chain starts: its first record's position and the hash that record continues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStart {
    /// The first record's position.
    pub seq: u64,
    /// The `prev_hash` of that record: 64 zeros for a chain that starts at record 1.
    pub prev_hash: String,
}

impl ChainStart {
    /// The start of a whole chain: record 1, continuing the genesis hash.
    pub fn genesis() -> Self {
        ChainStart { seq: 1, prev_hash: GENESIS.to_owned() }
    }

    /// Whether the chain starts with its tenant's first record.
    pub fn is_genesis(&self) -> bool {
        self.seq == 1 && self.prev_hash == GENESIS
    }
}

/// Where a chain ends: its last record's position and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// The last record's position: 0 for a chain with no record.
    pub seq: u64,
    /// The last record's hash: the genesis hash for a chain with no record.
    pub hash: String,
}

impl ChainHead {
    /// The head of a chain with no record yet.
    pub fn empty() -> Self {
        ChainHead { seq: 0, hash: GENESIS.to_owned() }
    }

    /// Where records that continue this chain start: the next position, continuing this hash.
    pub fn next(&self) -> ChainStart {
        ChainStart { seq: self.seq + 1, prev_hash: self.hash.clone() }
    }
}

/// A tenant's chain at one moment, signed with HMAC-SHA256 under the operator's secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The tenant whose chain it is.
    pub tenant: String,
    /// Where the chain started. Checkpoints of provhost before this field vouch for the head alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<ChainStart>,
    /// The last record's position in the chain.
    pub seq: u64,
    /// The last record's hash.
    pub hash: String,
    /// When the checkpoint was taken, RFC 3339 UTC.
    pub at: String,
    /// Hex HMAC-SHA256 over the fields above.
    pub signature: String,
}

fn mac(secret: &[u8], c: &Checkpoint) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    let (tenant, seq, hash, at) = (&c.tenant, c.seq, &c.hash, &c.at);
    let text = match &c.first {
        None => format!("provhost-checkpoint-v1\n{tenant}\n{seq}\n{hash}\n{at}"),
        Some(first) => {
            format!("provhost-checkpoint-v2\n{tenant}\n{}\n{}\n{seq}\n{hash}\n{at}", first.seq, first.prev_hash)
        }
    };
    mac.update(text.as_bytes());
    mac
}

impl Checkpoint {
    /// Signs `tenant`'s chain as it stands `at`: it starts at `first` and ends at `head`.
    pub fn sign(secret: &[u8], tenant: &str, first: ChainStart, head: ChainHead, at: &str) -> Self {
        let mut checkpoint = Checkpoint {
            tenant: tenant.into(),
            first: Some(first),
            seq: head.seq,
            hash: head.hash,
            at: at.into(),
            signature: String::new(),
        };
        checkpoint.signature = hex::encode(mac(secret, &checkpoint).finalize().into_bytes());
        checkpoint
    }

    /// Checks the signature under `secret`: the checkpoint was made by its holder, unchanged.
    pub fn check_signature(&self, secret: &[u8]) -> Result<(), String> {
        let signature = hex::decode(&self.signature).map_err(|_| "its signature is not hex".to_string())?;
        mac(secret, self)
            .verify_slice(&signature)
            .map_err(|_| "its signature does not verify under this secret: it was changed or made with another".into())
    }

    /// Checks the chain still holds what the checkpoint says: `start` is where the chain starts
    /// now (`None`: it holds no record), `found` the hash of its record at `self.seq`, if there is
    /// one, and `last` its last sequence number.
    pub fn check_chain(&self, start: Option<&ChainStart>, found: Option<&str>, last: u64) -> Result<(), String> {
        let at = &self.at;
        if let (Some(first), Some(start)) = (&self.first, start)
            && first != start
        {
            return Err(if first.seq < start.seq {
                format!(
                    "the checkpoint of {at} says the chain starts at record {}, but it now starts at record {}: records {} to {} were removed",
                    first.seq,
                    start.seq,
                    first.seq,
                    start.seq - 1
                )
            } else {
                format!(
                    "the checkpoint of {at} says the chain starts at record {} after hash {}, but it starts at record {} after hash {}: the chain was rewritten from its start",
                    first.seq, first.prev_hash, start.seq, start.prev_hash
                )
            });
        }
        match (found, start) {
            (None, Some(start)) if self.seq < start.seq => Err(format!(
                "record {} the checkpoint of {at} names is not here: the chain starts at record {}, so the records before it were removed",
                self.seq, start.seq
            )),
            (None, _) => Err(format!(
                "the chain ends at record {last}, before record {} the checkpoint of {at} names: its tail was removed",
                self.seq
            )),
            (Some(hash), _) if hash != self.hash => Err(format!(
                "record {} has hash {hash}, but the checkpoint of {at} says {}: the chain was rewritten",
                self.seq, self.hash
            )),
            (Some(_), _) => Ok(()),
        }
    }

    /// Whether the checkpoint vouches that the chain starts at `start`: a chain that does not
    /// start at record 1 is whole only if a checkpoint taken of it says it started there.
    pub fn covers(&self, start: &ChainStart) -> bool {
        self.first.as_ref() == Some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"an operator's secret";
    const AT: &str = "2026-11-24T12:00:00.000Z";

    fn from(seq: u64) -> ChainStart {
        ChainStart { seq, prev_hash: format!("hash-{}", seq - 1) }
    }

    #[test]
    fn a_checkpoint_detects_truncation_rewriting_and_forgery() {
        let checkpoint =
            Checkpoint::sign(SECRET, "demo", ChainStart::genesis(), ChainHead { seq: 7, hash: "abc".into() }, AT);
        let whole = ChainStart::genesis();
        checkpoint.check_signature(SECRET).unwrap();
        checkpoint.check_chain(Some(&whole), Some("abc"), 9).unwrap();
        assert!(checkpoint.check_chain(Some(&whole), None, 5).unwrap_err().contains("its tail was removed"));
        assert!(checkpoint.check_chain(Some(&whole), Some("xyz"), 9).unwrap_err().contains("the chain was rewritten"));
        assert!(checkpoint.check_signature(b"another secret").is_err());
        let moved = Checkpoint { seq: 5, ..checkpoint.clone() };
        assert!(moved.check_signature(SECRET).is_err(), "a changed checkpoint does not verify");
        let restarted = Checkpoint { first: Some(from(3)), ..checkpoint };
        assert!(restarted.check_signature(SECRET).is_err(), "its start is signed too");
    }

    #[test]
    fn a_checkpoint_shows_a_removed_prefix_whether_or_not_its_head_is_still_there() {
        let checkpoint =
            Checkpoint::sign(SECRET, "demo", ChainStart::genesis(), ChainHead { seq: 7, hash: "abc".into() }, AT);
        let err = checkpoint.check_chain(Some(&from(5)), Some("abc"), 9).unwrap_err();
        assert!(err.contains("records 1 to 4 were removed"), "{err}");
        let err = checkpoint.check_chain(Some(&from(8)), None, 9).unwrap_err();
        assert!(err.contains("records 1 to 7 were removed"), "{err}");
        let other = ChainStart { seq: 1, prev_hash: "f".repeat(64) };
        assert!(checkpoint.check_chain(Some(&other), Some("abc"), 9).unwrap_err().contains("rewritten from its start"));
        assert!(checkpoint.covers(&ChainStart::genesis()) && !checkpoint.covers(&from(5)));
    }

    #[test]
    fn a_checkpoint_of_an_archive_covers_its_start_and_an_old_one_vouches_for_its_head_alone() {
        let archive = Checkpoint::sign(SECRET, "demo", from(10), ChainHead { seq: 12, hash: "abc".into() }, AT);
        archive.check_chain(Some(&from(10)), Some("abc"), 12).unwrap();
        assert!(archive.covers(&from(10)));

        let mut old = Checkpoint { first: None, ..archive };
        old.signature = hex::encode(mac(SECRET, &old).finalize().into_bytes());
        old.check_signature(SECRET).unwrap();
        old.check_chain(Some(&from(10)), Some("abc"), 12).unwrap();
        assert!(!old.covers(&from(10)), "a checkpoint that does not say where the chain starts covers no start");
        let err = Checkpoint { seq: 4, ..old }.check_chain(Some(&from(10)), None, 12).unwrap_err();
        assert!(err.contains("the records before it were removed"), "{err}");
    }
}
