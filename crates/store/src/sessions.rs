//! Console sessions, kept in the store so that they outlive a restart of `serve` and hold on every
//! host of a shared store. A session is named by the SHA-256 of its token, never by the token
//! itself (which only the operator's cookie holds), names the API key it was opened with, and ends
//! when it expires, when it is closed, or with its key.

use super::{KeyRecord, StoreError};

/// Console sessions.
pub trait SessionStore {
    /// Opens a session named by `token_hash` under the key `key_id`, lasting until `expires_at`
    /// (RFC 3339); sessions that have expired are forgotten in the same transaction.
    fn open_session(&self, token_hash: &str, key_id: &str, expires_at: &str) -> Result<(), StoreError>;

    /// The key of the session `token_hash` names, as the key stands now (revoked or expired ones
    /// included, for the caller to refuse); `None` when there is no such session or it expired.
    fn session_key(&self, token_hash: &str) -> Result<Option<KeyRecord>, StoreError>;

    /// Ends the session `token_hash` names, if there is one.
    fn close_session(&self, token_hash: &str) -> Result<(), StoreError>;
}
