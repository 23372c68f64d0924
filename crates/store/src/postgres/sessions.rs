//! Console sessions: named by their token's hash, each naming its key, forgotten once expired;
//! shared by every host of the database.

use super::keys::{KEY_COLUMNS, record};
use super::{PostgresStore, StoreError};
use crate::{KeyRecord, SessionStore};
use provhost_core::model::now_rfc3339;

impl SessionStore for PostgresStore {
    fn open_session(&self, token_hash: &str, key_id: &str, expires_at: &str) -> Result<(), StoreError> {
        let now = now_rfc3339();
        self.write(|tx| {
            tx.execute("DELETE FROM console_sessions WHERE expires_at <= $1", &[&now])?;
            tx.execute(
                "INSERT INTO console_sessions (token_hash, key_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[&token_hash, &key_id, &now, &expires_at],
            )?;
            Ok(())
        })
    }

    fn session_key(&self, token_hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = \
             (SELECT key_id FROM console_sessions WHERE token_hash = $1 AND expires_at > $2)"
        );
        let now = now_rfc3339();
        let row = self.read(|c| Ok(c.query_opt(&sql, &[&token_hash, &now])?))?;
        row.as_ref().map(record).transpose()
    }

    fn close_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("DELETE FROM console_sessions WHERE token_hash = $1", &[&token_hash])?;
            Ok(())
        })
    }
}
