//! HTTP requests kept for idempotency (a repeat returns the first response) and for the status
//! of asynchronous ones.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError};
use crate::model::{new_id, now_rfc3339, rfc3339};

/// A kept request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptRequest {
    /// Its id (the status URL names it).
    pub id: String,
    /// The sha256 of what was asked, to tell a true repeat from a reused key.
    pub request_hash: String,
    /// `running` or `done`.
    pub status: String,
    /// The HTTP status of the response, once done.
    pub http_status: Option<u16>,
    /// The response body, once done.
    pub response: Option<String>,
}

fn read_request(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeptRequest> {
    Ok(KeptRequest {
        id: r.get(0)?,
        request_hash: r.get(1)?,
        status: r.get(2)?,
        http_status: r.get(3)?,
        response: r.get(4)?,
    })
}

/// What beginning a request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// A new request, now `running`, with this id.
    New(String),
    /// A request with the same idempotency key exists.
    Existing(KeptRequest),
}

impl Store {
    /// Records a request as running; with an idempotency key that was used before, returns the
    /// earlier request instead.
    pub fn begin_request(
        &self,
        tenant: &str,
        idempotency_key: Option<&str>,
        request_hash: &str,
    ) -> Result<Begun, StoreError> {
        self.write(|tx| {
            if let Some(key) = idempotency_key {
                let existing = tx
                    .prepare_cached(
                        "SELECT id, request_hash, status, http_status, response FROM requests
                         WHERE tenant = ?1 AND idempotency_key = ?2",
                    )?
                    .query_row([tenant, key], read_request)
                    .optional()?;
                if let Some(existing) = existing {
                    return Ok(Begun::Existing(existing));
                }
            }
            let id = new_id();
            tx.prepare_cached(
                "INSERT INTO requests (tenant, id, idempotency_key, request_hash, status, created_at)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
            )?
            .execute(params![tenant, id, idempotency_key, request_hash, now_rfc3339()])?;
            Ok(Begun::New(id))
        })
    }

    /// Keeps a request's response.
    pub fn finish_request(&self, tenant: &str, id: &str, http_status: u16, response: &str) -> Result<(), StoreError> {
        self.write(|c| {
            c.prepare_cached(
                "UPDATE requests SET status = 'done', http_status = ?3, response = ?4 WHERE tenant = ?1 AND id = ?2",
            )?
            .execute(params![tenant, id, http_status, response])?;
            Ok(())
        })
    }

    /// A kept request of the tenant.
    pub fn request(&self, tenant: &str, id: &str) -> Result<Option<KeptRequest>, StoreError> {
        Ok(self
            .read()?
            .prepare_cached(
                "SELECT id, request_hash, status, http_status, response FROM requests WHERE tenant = ?1 AND id = ?2",
            )?
            .query_row([tenant, id], read_request)
            .optional()?)
    }

    /// At start-up: requests still `running` were cut off by a stop; they end with a response
    /// that says so (their invocation, if any, is in the audit trail). Returns how many were cut
    /// off.
    pub fn settle_requests(&self) -> Result<usize, StoreError> {
        let body = serde_json::json!({
            "type": "/problems/interrupted",
            "title": "Interrupted",
            "status": 503,
            "detail": "provhost stopped while this request ran; look its invocation up in the audit trail before sending it again under a new Idempotency-Key",
        })
        .to_string();
        self.write(|conn| {
            Ok(conn
                .prepare_cached(
                    "UPDATE requests SET status = 'done', http_status = 503, response = ?1 WHERE status = 'running'",
                )?
                .execute([body])?)
        })
    }

    /// Forgets requests older than `keep`: their `Idempotency-Key` may be used again, and their
    /// status is no longer shown. Returns how many were forgotten.
    pub fn forget_requests(&self, keep: std::time::Duration) -> Result<usize, StoreError> {
        let keep = time::Duration::try_from(keep).unwrap_or(time::Duration::DAY);
        let cutoff = rfc3339(time::OffsetDateTime::now_utc() - keep);
        self.write(|conn| Ok(conn.prepare_cached("DELETE FROM requests WHERE created_at < ?1")?.execute([cutoff])?))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::{DEMO_TENANT, seed_demo};

    #[test]
    fn requests_older_than_they_are_kept_are_forgotten_and_their_keys_free_again() {
        let store = Store::in_memory().unwrap();
        seed_demo(&store).unwrap();
        let Begun::New(old) = store.begin_request(DEMO_TENANT, Some("old-key"), "h1").unwrap() else { panic!() };
        let Begun::New(recent) = store.begin_request(DEMO_TENANT, Some("recent-key"), "h2").unwrap() else { panic!() };
        store
            .idle_writer()
            .conn
            .execute("UPDATE requests SET created_at = '2020-01-01T00:00:00.000Z' WHERE id = ?1", [&old])
            .unwrap();
        assert_eq!(store.forget_requests(Duration::from_secs(48 * 3600)).unwrap(), 1);
        assert_eq!(store.request(DEMO_TENANT, &old).unwrap(), None);
        assert!(store.request(DEMO_TENANT, &recent).unwrap().is_some(), "a recent request is kept");
        assert!(matches!(store.begin_request(DEMO_TENANT, Some("old-key"), "h3").unwrap(), Begun::New(_)));
        assert!(matches!(store.begin_request(DEMO_TENANT, Some("recent-key"), "h2").unwrap(), Begun::Existing(_)));
    }
}
