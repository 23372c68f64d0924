//! API keys: created with a secret shown once, stored as a salted hash, listed without secrets,
//! revoked, and verified.

use serde::Serialize;

use super::StoreError;
use provhost_core::auth::Credentials;
use provhost_core::policy::Grants;

/// An API key as stored, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    /// The key's id.
    pub id: String,
    /// The tenant it belongs to; it reaches no other.
    pub tenant: String,
    /// What it is granted.
    pub scopes: Grants,
    /// What it is for.
    pub description: String,
    /// When it was created.
    pub created_at: String,
    /// When it stops working, if ever.
    pub expires_at: Option<String>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

/// A key just created, with its secret: the only time the secret is shown, since the store keeps
/// only its hash.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The key as stored.
    pub record: KeyRecord,
    /// Its secret.
    pub secret: String,
}

/// Why a key was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// Unknown id or wrong secret (deliberately not told apart).
    #[error("API key '{0}' is not valid (unknown key or wrong secret)")]
    Invalid(String),
    /// Revoked.
    #[error("API key '{0}' was revoked at {1}")]
    Revoked(String, String),
    /// Expired.
    #[error("API key '{0}' expired at {1}")]
    Expired(String, String),
}

/// Why a key could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not accepted.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// API keys.
pub trait KeyStore {
    /// Creates a key for a tenant; returns it with its secret, which is not kept.
    fn create_key(
        &self,
        tenant: &str,
        scopes: &Grants,
        description: &str,
        expires_at: Option<String>,
    ) -> Result<IssuedKey, StoreError>;

    /// Every key, or a tenant's, oldest first; never secrets.
    fn keys(&self, tenant: Option<&str>) -> Result<Vec<KeyRecord>, StoreError>;

    /// Revokes a key; it stops working at once.
    fn revoke_key(&self, id: &str) -> Result<(), StoreError>;

    /// The key these credentials name, if the secret matches and it is neither revoked nor expired.
    fn verify_key(&self, credentials: &Credentials) -> Result<KeyRecord, KeyError>;
}

/// Whether an RFC 3339 time is past (an unreadable one counts as past: the key fails closed).
pub(super) fn is_past(rfc3339: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(rfc3339, &Rfc3339).map(|t| t <= time::OffsetDateTime::now_utc()).unwrap_or(true)
}
