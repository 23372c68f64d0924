//! API keys: an id and a secret (HelloID's key/secret). Secrets are random, shown once, and kept
//! only as a salted SHA-256; verification compares in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An API key as presented: `KEY_ID:SECRET`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The key's id.
    pub id: String,
    /// The secret.
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("id", &self.id).field("secret", &"<redacted>").finish()
    }
}

impl std::str::FromStr for Credentials {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().split_once(':') {
            Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
                Ok(Credentials { id: id.to_owned(), secret: secret.to_owned() })
            }
            _ => Err("an API key is written KEY_ID:SECRET, as `provhost keys create` prints it".into()),
        }
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random source is available");
    hex::encode(buf)
}

/// A new key id, `phk_` and 16 hex digits.
pub fn new_key_id() -> String {
    format!("phk_{}", random_hex(8))
}

/// A new secret: 32 random bytes, hex.
pub fn new_secret() -> String {
    random_hex(32)
}

/// A new random salt.
pub fn new_salt() -> Vec<u8> {
    let mut salt = vec![0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's random source is available");
    salt
}

/// The stored form of a secret.
pub fn hash_secret(salt: &[u8], secret: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(secret.as_bytes());
    hasher.finalize().to_vec()
}

/// Whether `secret` matches the stored hash, in constant time.
pub fn secret_matches(salt: &[u8], stored: &[u8], secret: &str) -> bool {
    hash_secret(salt, secret).ct_eq(stored).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_verify_only_against_their_own_salted_hash() {
        let (salt, secret) = (new_salt(), new_secret());
        let stored = hash_secret(&salt, &secret);
        assert!(secret_matches(&salt, &stored, &secret));
        assert!(!secret_matches(&salt, &stored, &new_secret()));
        assert!(!secret_matches(&new_salt(), &stored, &secret), "the salt is part of the hash");
        assert_ne!(stored, secret.as_bytes());
    }

    #[test]
    fn credentials_parse_and_never_print_the_secret() {
        let c: Credentials = "phk_1:s3cret".parse().unwrap();
        assert_eq!((c.id.as_str(), c.secret.as_str()), ("phk_1", "s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!("no-colon".parse::<Credentials>().unwrap_err().contains("KEY_ID:SECRET"));
    }
}
