//! Checkpoints: a signed statement of a tenant's chain head (its last record's sequence number
//! and hash) that the operator keeps outside the store. The chain alone shows an edited or removed
//! record in its middle; a checkpoint also shows a truncated tail or a chain rewritten from the
//! start, since the record it names must still be there with the same hash.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// A tenant's chain head at one moment, signed with HMAC-SHA256 under the operator's secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The tenant whose chain it is.
    pub tenant: String,
    /// The last record's position in the chain.
    pub seq: u64,
    /// The last record's hash.
    pub hash: String,
    /// When the checkpoint was taken, RFC 3339 UTC.
    pub at: String,
    /// Hex HMAC-SHA256 over the fields above.
    pub signature: String,
}

fn mac(secret: &[u8], tenant: &str, seq: u64, hash: &str, at: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(format!("provhost-checkpoint-v1\n{tenant}\n{seq}\n{hash}\n{at}").as_bytes());
    mac
}

impl Checkpoint {
    /// Signs the head `(seq, hash)` of `tenant`'s chain, taken `at`.
    pub fn sign(secret: &[u8], tenant: &str, (seq, hash): (u64, &str), at: &str) -> Self {
        let signature = hex::encode(mac(secret, tenant, seq, hash, at).finalize().into_bytes());
        Checkpoint { tenant: tenant.into(), seq, hash: hash.into(), at: at.into(), signature }
    }

    /// Checks the signature under `secret`: the checkpoint was made by its holder, unchanged.
    pub fn check_signature(&self, secret: &[u8]) -> Result<(), String> {
        let signature = hex::decode(&self.signature).map_err(|_| "its signature is not hex".to_string())?;
        mac(secret, &self.tenant, self.seq, &self.hash, &self.at)
            .verify_slice(&signature)
            .map_err(|_| "its signature does not verify under this secret: it was changed or made with another".into())
    }

    /// Checks the chain still holds the checkpoint's record: `found` is the hash of the tenant's
    /// record at `self.seq`, if there is one, and `last` the chain's last sequence number.
    pub fn check_chain(&self, found: Option<&str>, last: u64) -> Result<(), String> {
        match found {
            None => Err(format!(
                "the chain ends at record {last}, before record {} the checkpoint of {} names: its tail was removed",
                self.seq, self.at
            )),
            Some(hash) if hash != self.hash => Err(format!(
                "record {} has hash {hash}, but the checkpoint of {} says {}: the chain was rewritten",
                self.seq, self.at, self.hash
            )),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"an operator's secret";

    #[test]
    fn a_checkpoint_detects_truncation_rewriting_and_forgery() {
        let checkpoint = Checkpoint::sign(SECRET, "demo", (7, "abc"), "2026-11-24T12:00:00.000Z");
        checkpoint.check_signature(SECRET).unwrap();
        checkpoint.check_chain(Some("abc"), 9).unwrap();
        assert!(checkpoint.check_chain(None, 5).unwrap_err().contains("its tail was removed"));
        assert!(checkpoint.check_chain(Some("xyz"), 9).unwrap_err().contains("the chain was rewritten"));
        assert!(checkpoint.check_signature(b"another secret").is_err());
        let moved = Checkpoint { seq: 5, ..checkpoint };
        assert!(moved.check_signature(SECRET).is_err(), "a changed checkpoint does not verify");
    }
}
