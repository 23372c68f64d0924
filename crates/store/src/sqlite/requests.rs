//! HTTP requests kept for idempotency (a repeat returns the first response) and for the status
//! of asynchronous ones.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, StoreError};
use crate::requests::interrupted_response;
use crate::{Begun, KeptRequest, RequestStatus, RequestStore};
use provhost_core::model::{new_id, now_rfc3339, rfc3339};

impl FromSql for RequestStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str()?.parse().map_err(|why: String| FromSqlError::Other(why.into()))
    }
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

impl RequestStore for SqliteStore {
    fn begin_request(
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

    fn finish_request(&self, tenant: &str, id: &str, http_status: u16, response: &str) -> Result<(), StoreError> {
        self.write(|c| {
            c.prepare_cached(
                "UPDATE requests SET status = 'done', http_status = ?3, response = ?4 WHERE tenant = ?1 AND id = ?2",
            )?
            .execute(params![tenant, id, http_status, response])?;
            Ok(())
        })
    }

    fn request(&self, tenant: &str, id: &str) -> Result<Option<KeptRequest>, StoreError> {
        Ok(self
            .read()?
            .prepare_cached(
                "SELECT id, request_hash, status, http_status, response FROM requests WHERE tenant = ?1 AND id = ?2",
            )?
            .query_row([tenant, id], read_request)
            .optional()?)
    }

    fn settle_requests(&self) -> Result<usize, StoreError> {
        let body = interrupted_response();
        self.write(|conn| {
            Ok(conn
                .prepare_cached(
                    "UPDATE requests SET status = 'done', http_status = 503, response = ?1 WHERE status = 'running'",
                )?
                .execute([body])?)
        })
    }

    fn forget_requests(&self, keep: std::time::Duration) -> Result<usize, StoreError> {
        let keep = time::Duration::try_from(keep).unwrap_or(time::Duration::DAY);
        let cutoff = rfc3339(time::OffsetDateTime::now_utc() - keep);
        self.write(|conn| Ok(conn.prepare_cached("DELETE FROM requests WHERE created_at < ?1")?.execute([cutoff])?))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{DEMO_TENANT, seed_demo};

    #[test]
    fn requests_older_than_they_are_kept_are_forgotten_and_their_keys_free_again() {
        let store = SqliteStore::in_memory().unwrap();
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
