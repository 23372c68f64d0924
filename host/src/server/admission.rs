//! Fair share between tenants under `provhost serve`: each tenant's events run at most
//! `max-concurrent-events` at once and arrive at most at its rate (a token bucket), and the host
//! runs at most its capacity over all tenants. Past a tenant's share an event is answered 429,
//! past the host's capacity 503, both with `Retry-After`; neither is run or recorded as the
//! plugin's failure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::problem::Problem;
use crate::config::{Config, FairShare};

/// A token bucket: `rate` tokens a second, holding at most `burst`.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: u32, now: Instant) -> Self {
        Self { rate, burst: f64::from(burst), tokens: f64::from(burst), at: now }
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

/// One tenant's share.
struct TenantShare {
    running: Arc<Semaphore>,
    max: u32,
    bucket: Option<Mutex<Bucket>>,
}

impl TenantShare {
    fn new(share: &FairShare) -> Self {
        Self {
            running: Arc::new(Semaphore::new(share.max_concurrent_events as usize)),
            max: share.max_concurrent_events,
            bucket: share.events_per_second.map(|rate| Mutex::new(Bucket::new(rate, share.burst, Instant::now()))),
        }
    }
}

/// The permits an admitted event holds while it runs.
pub struct Admitted {
    _tenant: OwnedSemaphorePermit,
    _host: OwnedSemaphorePermit,
}

/// Admission of events, per tenant and for the host.
pub struct Admission {
    host: Arc<Semaphore>,
    host_max: u32,
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
        let host_max = config.capacity.max_concurrent_events;
        Self {
            host: Arc::new(Semaphore::new(host_max as usize)),
            host_max,
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

    /// Admits one event of `tenant`, or answers why not and when to try again.
    pub fn admit(&self, tenant: &str) -> Result<Admitted, Problem> {
        let share = self.share(tenant);
        if let Some(bucket) = &share.bucket {
            let mut bucket = bucket.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(wait) = bucket.take(Instant::now()) {
                let detail = format!(
                    "tenant '{tenant}' is past its rate of {} events per second; try again after {} s",
                    bucket.rate,
                    seconds(wait)
                );
                return Err(
                    Problem::new(StatusCode::TOO_MANY_REQUESTS, "tenant-rate", detail).retry_after(seconds(wait))
                );
            }
        }
        let tenant_permit = share.running.clone().try_acquire_owned().map_err(|_| {
            let detail = format!(
                "tenant '{tenant}' already has {} events running, its share of this host; try again shortly",
                share.max
            );
            Problem::new(StatusCode::TOO_MANY_REQUESTS, "tenant-busy", detail).retry_after(1)
        })?;
        let host_permit = self.host.clone().try_acquire_owned().map_err(|_| {
            let detail =
                format!("provhost is running {} events, all it takes at once; try again shortly", self.host_max);
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "host-busy", detail).retry_after(1)
        })?;
        Ok(Admitted { _tenant: tenant_permit, _host: host_permit })
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
        let held: Vec<Admitted> = (0..2).map(|_| admission.admit("a").unwrap()).collect();
        let refused = admission.admit("a").err().unwrap();
        assert_eq!(
            (refused.status, refused.kind, refused.retry_after),
            (StatusCode::TOO_MANY_REQUESTS, "tenant-busy", Some(1))
        );
        assert!(refused.detail.contains("tenant 'a' already has 2 events running"), "{}", refused.detail);
        admission.admit("b").unwrap();
        drop(held);
        admission.admit("a").unwrap();
    }

    #[test]
    fn past_the_hosts_capacity_every_tenant_is_answered_503() {
        let admission = Admission::new(&config("[capacity]\nmax-concurrent-events = 1\n"));
        let _held = admission.admit("a").unwrap();
        let refused = admission.admit("b").err().unwrap();
        assert_eq!((refused.status, refused.kind), (StatusCode::SERVICE_UNAVAILABLE, "host-busy"));
    }

    #[test]
    fn a_tenant_past_its_rate_is_told_when_to_come_back() {
        let admission = Admission::new(&config("[tenants.a.share]\nevents-per-second = 0.1\nburst = 1\n"));
        drop(admission.admit("a").unwrap());
        let refused = admission.admit("a").err().unwrap();
        assert_eq!((refused.kind, refused.retry_after), ("tenant-rate", Some(10)));
    }
}
