//! Fair share between tenants under `provhost serve`. Every request under an API key is admitted
//! before it runs:
//! - a change (an event, a targeted request, an approval or rejection, a redrive) under the
//!   tenant's `max-concurrent-events` and its rate (a token bucket: every tenant has one, so no
//!   tenant fills the disk at the host's full speed), and the host's `max-concurrent-events`
//!   over all tenants;
//! - a read under the tenant's `max-concurrent-reads` and the host's `max-concurrent-reads`.
//!
//! Past a tenant's share a request is answered 429, past the host's capacity 503, both with
//! `Retry-After`; neither is run. A tenant past its rate is logged when it first is, then at most
//! once a minute with how many were refused meanwhile. Work done outside any tenant's share (checking a key, a readiness
//! probe, counting the held actions of a tenant the configuration does not name) waits its turn
//! for one of [`UNATTRIBUTED`] places instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::problem::Problem;
use crate::config::{Config, FairShare};

/// The most key checks and readiness probes' store reads that run at once, over all callers; the
/// others wait their turn. Each takes a thread of the blocking pool and a read connection while
/// it runs: as many as the store keeps idle, so that key checks reuse them.
pub const UNATTRIBUTED: usize = 8;

/// What a request asks of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// It changes state: an event, a targeted request, an approval or rejection, a redrive.
    Change,
    /// It only reads.
    Read,
}

/// How often the log says again that a tenant is past its rate.
const RATE_LOGGED_EVERY: Duration = Duration::from_secs(60);

/// A token bucket: `rate` tokens a second, holding at most `burst`; and what the log last said
/// of the requests it refused.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
    refused: u64,
    logged: Option<Instant>,
}

impl Bucket {
    fn new(rate: f64, burst: u32, now: Instant) -> Self {
        Self { rate, burst: f64::from(burst), tokens: f64::from(burst), at: now, refused: 0, logged: None }
    }

    /// Counts a refused request; answers how many were refused since the log last said so when
    /// it is time to say so again (the first refusal, then at most every [`RATE_LOGGED_EVERY`]).
    fn refused(&mut self, now: Instant) -> Option<u64> {
        self.refused += 1;
        if self.logged.is_some_and(|at| now.saturating_duration_since(at) < RATE_LOGGED_EVERY) {
            return None;
        }
        self.logged = Some(now);
        Some(std::mem::take(&mut self.refused))
    }

    /// Takes a token, or says how long until one is there.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// Places for requests running at once, and how many there are.
struct Places {
    free: Arc<Semaphore>,
    max: u32,
}

impl Places {
    fn new(max: u32) -> Self {
        Self { free: Arc::new(Semaphore::new(max as usize)), max }
    }

    fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.free.clone().try_acquire_owned().ok()
    }
}

/// One tenant's share.
struct TenantShare {
    changes: Places,
    reads: Places,
    bucket: Mutex<Bucket>,
}

impl TenantShare {
    fn new(share: &FairShare) -> Self {
        Self {
            changes: Places::new(share.max_concurrent_events),
            reads: Places::new(share.max_concurrent_reads),
            bucket: Mutex::new(Bucket::new(share.events_per_second, share.burst, Instant::now())),
        }
    }
}

/// The places an admitted request holds while it runs.
pub struct Admitted {
    _tenant: OwnedSemaphorePermit,
    _host: OwnedSemaphorePermit,
}

/// Admission of requests, per tenant and for the host.
pub struct Admission {
    changes: Places,
    reads: Places,
    unattributed: Arc<Semaphore>,
    configured: HashMap<String, FairShare>,
    shares: Mutex<HashMap<String, Arc<TenantShare>>>,
}

/// Seconds to tell a caller to wait: at least one.
fn seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

impl Admission {
    /// Admission under the configuration's capacity and tenant shares.
    pub fn new(config: &Config) -> Self {
        Self {
            changes: Places::new(config.capacity.max_concurrent_events),
            reads: Places::new(config.capacity.max_concurrent_reads),
            unattributed: Arc::new(Semaphore::new(UNATTRIBUTED)),
            configured: config.tenants.iter().map(|(id, t)| (id.clone(), t.share)).collect(),
            shares: Mutex::default(),
        }
    }

    fn share(&self, tenant: &str) -> Arc<TenantShare> {
        let mut shares = self.shares.lock().unwrap_or_else(|p| p.into_inner());
        shares
            .entry(tenant.to_owned())
            .or_insert_with(|| Arc::new(TenantShare::new(&self.configured.get(tenant).copied().unwrap_or_default())))
            .clone()
    }

    /// Admits one request of `tenant`, or answers why not and when to try again.
    pub fn admit(&self, tenant: &str, work: Work) -> Result<Admitted, Problem> {
        let share = self.share(tenant);
        let (mine, host, what) = match work {
            Work::Change => (&share.changes, &self.changes, "events and other changes"),
            Work::Read => (&share.reads, &self.reads, "reads"),
        };
        if work == Work::Change {
            let mut bucket = share.bucket.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if let Err(wait) = bucket.take(now) {
                if let Some(refused) = bucket.refused(now) {
                    tracing::warn!(
                        tenant = %tenant,
                        refused,
                        "tenant '{tenant}' is past its rate of {} events and other changes per second \
                         ([tenants.{tenant}.share] events-per-second); {refused} refused with 429 since this was last said",
                        bucket.rate
                    );
                }
                let detail = format!(
                    "tenant '{tenant}' is past its rate of {} events and other changes per second; try again after {} s",
                    bucket.rate,
                    seconds(wait)
                );
                return Err(
                    Problem::new(StatusCode::TOO_MANY_REQUESTS, "tenant-rate", detail).retry_after(seconds(wait))
                );
            }
        }
        let tenant_place = mine.take().ok_or_else(|| {
            let detail = format!(
                "tenant '{tenant}' already has {} {what} running, its share of this host; try again shortly",
                mine.max
            );
            Problem::new(StatusCode::TOO_MANY_REQUESTS, "tenant-busy", detail).retry_after(1)
        })?;
        let host_place = host.take().ok_or_else(|| {
            let detail = format!("provhost is running {} {what}, all it takes at once; try again shortly", host.max);
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "host-busy", detail).retry_after(1)
        })?;
        Ok(Admitted { _tenant: tenant_place, _host: host_place })
    }

    /// Waits for a place for work done outside any tenant's share: checking a key, a readiness
    /// probe's store reads.
    pub async fn unattributed(&self) -> OwnedSemaphorePermit {
        self.unattributed.clone().acquire_owned().await.expect("the semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(2.0, 3, start);
        for _ in 0..3 {
            bucket.take(start).unwrap();
        }
        let wait = bucket.take(start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500), "one token comes every half second");
        bucket.take(start + Duration::from_millis(500)).unwrap();
        assert!(bucket.take(start + Duration::from_millis(600)).is_err());
        let later = start + Duration::from_secs(3600);
        for _ in 0..3 {
            bucket.take(later).unwrap();
        }
        assert!(bucket.take(later).is_err(), "an idle hour saves up no more than the burst");
    }

    fn config(text: &str) -> Config {
        Config::parse(std::path::Path::new("provhost.toml"), text).unwrap()
    }

    #[test]
    fn a_tenant_past_its_share_is_answered_429_and_others_still_run() {
        let admission = Admission::new(&config("[tenants.a.share]\nmax-concurrent-events = 2\n[tenants.b]\n"));
        let held: Vec<Admitted> = (0..2).map(|_| admission.admit("a", Work::Change).unwrap()).collect();
        let refused = admission.admit("a", Work::Change).err().unwrap();
        assert_eq!(
            (refused.status, refused.kind, refused.retry_after),
            (StatusCode::TOO_MANY_REQUESTS, "tenant-busy", Some(1))
        );
        assert!(
            refused.detail.contains("tenant 'a' already has 2 events and other changes running"),
            "{}",
            refused.detail
        );
        admission.admit("b", Work::Change).unwrap();
        drop(held);
        admission.admit("a", Work::Change).unwrap();
    }

    #[test]
    fn reads_have_a_share_of_their_own_that_changes_do_not_take() {
        let admission = Admission::new(&config(
            "[tenants.a.share]\nmax-concurrent-events = 1\nmax-concurrent-reads = 2\n[tenants.b]\n",
        ));
        let _change = admission.admit("a", Work::Change).unwrap();
        assert_eq!(admission.admit("a", Work::Change).err().unwrap().kind, "tenant-busy");
        let reads: Vec<Admitted> = (0..2).map(|_| admission.admit("a", Work::Read).unwrap()).collect();
        let refused = admission.admit("a", Work::Read).err().unwrap();
        assert_eq!((refused.status, refused.kind), (StatusCode::TOO_MANY_REQUESTS, "tenant-busy"));
        assert!(refused.detail.contains("already has 2 reads running"), "{}", refused.detail);
        admission.admit("b", Work::Read).unwrap();
        drop(reads);
        admission.admit("a", Work::Read).unwrap();
    }

    #[test]
    fn past_the_hosts_capacity_every_tenant_is_answered_503() {
        let admission = Admission::new(&config("[capacity]\nmax-concurrent-events = 1\nmax-concurrent-reads = 1\n"));
        let _held = admission.admit("a", Work::Change).unwrap();
        let refused = admission.admit("b", Work::Change).err().unwrap();
        assert_eq!((refused.status, refused.kind), (StatusCode::SERVICE_UNAVAILABLE, "host-busy"));
        let _read = admission.admit("a", Work::Read).unwrap();
        let refused = admission.admit("b", Work::Read).err().unwrap();
        assert_eq!((refused.status, refused.kind), (StatusCode::SERVICE_UNAVAILABLE, "host-busy"));
        assert!(refused.detail.contains("running 1 reads"), "{}", refused.detail);
    }

    #[test]
    fn a_tenant_past_its_rate_is_told_when_to_come_back_and_reads_do_not_spend_it() {
        let admission = Admission::new(&config("[tenants.a.share]\nevents-per-second = 0.1\nburst = 1\n"));
        for _ in 0..3 {
            drop(admission.admit("a", Work::Read).unwrap());
        }
        drop(admission.admit("a", Work::Change).unwrap());
        let refused = admission.admit("a", Work::Change).err().unwrap();
        assert_eq!((refused.kind, refused.retry_after), ("tenant-rate", Some(10)));
        admission.admit("a", Work::Read).unwrap();
    }

    #[test]
    fn every_tenant_has_a_rate_by_default_and_a_burst_past_it_is_answered_429() {
        let admission = Admission::new(&config("[tenants.a]\n"));
        let share = FairShare::default();
        for _ in 0..share.burst {
            drop(admission.admit("a", Work::Change).unwrap());
        }
        let refused = admission.admit("a", Work::Change).err().unwrap();
        assert_eq!((refused.status, refused.kind), (StatusCode::TOO_MANY_REQUESTS, "tenant-rate"));
        assert_eq!(refused.retry_after, Some(1));
        assert!(
            refused.detail.contains(&format!("its rate of {} events", share.events_per_second)),
            "{}",
            refused.detail
        );
    }

    #[test]
    fn a_tenant_past_its_rate_is_logged_once_then_at_most_once_a_minute_with_the_count() {
        let start = Instant::now();
        let mut bucket = Bucket::new(1.0, 1, start);
        assert_eq!(bucket.refused(start), Some(1), "the first refusal is said at once");
        assert_eq!(bucket.refused(start + Duration::from_secs(1)), None);
        assert_eq!(bucket.refused(start + Duration::from_secs(59)), None);
        assert_eq!(bucket.refused(start + RATE_LOGGED_EVERY), Some(3), "then with how many since");
    }
}
