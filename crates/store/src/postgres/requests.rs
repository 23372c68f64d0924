//! HTTP requests kept for idempotency and status. An `Idempotency-Key` is answered once across
//! hosts: the key is unique per tenant, and a request that loses the race to insert it reads the
//! winner's.

use postgres::Row;

use super::{PostgresStore, StoreError, parse_column};
use crate::requests::interrupted_response;
use crate::{Begun, KeptRequest, RequestStore};
use provhost_core::model::{new_id, now_rfc3339, rfc3339};

/// How long a request must have been running before a starting host takes it as cut off by a
/// stop rather than still running on another host.
const CUT_OFF_AFTER: time::Duration = time::Duration::minutes(15);

const COLUMNS: &str = "id, request_hash, status, http_status, response";

fn read(r: &Row) -> Result<KeptRequest, StoreError> {
    Ok(KeptRequest {
        id: r.get(0),
        request_hash: r.get(1),
        status: parse_column("requests.status", r.get(2))?,
        http_status: r.get::<_, Option<i32>>(3).map(|s| s as u16),
        response: r.get(4),
    })
}

impl RequestStore for PostgresStore {
    fn begin_request(
        &self,
        tenant: &str,
        idempotency_key: Option<&str>,
        request_hash: &str,
    ) -> Result<Begun, StoreError> {
        let (id, now) = (new_id(), now_rfc3339());
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO requests (tenant, id, idempotency_key, request_hash, status, created_at)
                 VALUES ($1, $2, $3, $4, 'running', $5) ON CONFLICT (tenant, idempotency_key) DO NOTHING",
                &[&tenant, &id, &idempotency_key, &request_hash, &now],
            )?;
            if inserted == 1 {
                return Ok(Begun::New(id.clone()));
            }
            let existing = tx.query_one(
                &format!("SELECT {COLUMNS} FROM requests WHERE tenant = $1 AND idempotency_key = $2"),
                &[&tenant, &idempotency_key],
            )?;
            Ok(Begun::Existing(read(&existing)?))
        })
    }

    fn finish_request(&self, tenant: &str, id: &str, http_status: u16, response: &str) -> Result<(), StoreError> {
        let status = i32::from(http_status);
        self.write(|tx| {
            tx.execute(
                "UPDATE requests SET status = 'done', http_status = $3, response = $4 WHERE tenant = $1 AND id = $2",
                &[&tenant, &id, &status, &response],
            )?;
            Ok(())
        })
    }

    fn request(&self, tenant: &str, id: &str) -> Result<Option<KeptRequest>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM requests WHERE tenant = $1 AND id = $2");
        self.read(|c| Ok(c.query_opt(&sql, &[&tenant, &id])?))?.as_ref().map(read).transpose()
    }

    /// Other hosts may be serving the database while this one starts, so only requests that
    /// have run for longer than any request runs ([`CUT_OFF_AFTER`]) count as cut off by a stop.
    fn settle_requests(&self) -> Result<usize, StoreError> {
        let body = interrupted_response();
        let cutoff = rfc3339(time::OffsetDateTime::now_utc() - CUT_OFF_AFTER);
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE requests SET status = 'done', http_status = 503, response = $1
                 WHERE status = 'running' AND created_at < $2",
                &[&body, &cutoff],
            )? as usize)
        })
    }

    fn forget_requests(&self, keep: std::time::Duration) -> Result<usize, StoreError> {
        let keep = time::Duration::try_from(keep).unwrap_or(time::Duration::DAY);
        let cutoff = rfc3339(time::OffsetDateTime::now_utc() - keep);
        self.write(|tx| Ok(tx.execute("DELETE FROM requests WHERE created_at < $1", &[&cutoff])? as usize))
    }
}
