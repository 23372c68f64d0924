//! Console sessions: named by their token's hash, each naming its key, forgotten once expired.

use rusqlite::{OptionalExtension, params};

use super::keys::{KEY_COLUMNS, read_key, record};
use super::{SqliteStore, StoreError};
use crate::{KeyRecord, SessionStore};
use provhost_core::model::now_rfc3339;

impl SessionStore for SqliteStore {
    fn open_session(&self, token_hash: &str, key_id: &str, expires_at: &str) -> Result<(), StoreError> {
        let now = now_rfc3339();
        self.write(|c| {
            c.prepare_cached("DELETE FROM console_sessions WHERE expires_at <= ?1")?.execute([&now])?;
            c.prepare_cached(
                "INSERT INTO console_sessions (token_hash, key_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![token_hash, key_id, now, expires_at])?;
            Ok(())
        })
    }

    fn session_key(&self, token_hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = \
             (SELECT key_id FROM console_sessions WHERE token_hash = ?1 AND expires_at > ?2)"
        );
        let row = self.read()?.prepare_cached(&sql)?.query_row([token_hash, &now_rfc3339()], read_key).optional()?;
        row.map(record).transpose()
    }

    fn close_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.write(|c| {
            c.prepare_cached("DELETE FROM console_sessions WHERE token_hash = ?1")?.execute([token_hash])?;
            Ok(())
        })
    }
}
