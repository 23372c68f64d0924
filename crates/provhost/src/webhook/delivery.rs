//! Delivering queued notifications: signed with HMAC-SHA256 over timestamp and body, retried with
//! exponential backoff and jitter, dead-lettered after the webhook's last try.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Config;
use crate::model::rfc3339;
use crate::store::{Delivery, Store, StoreError};

/// The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "X-Provhost-Signature";

/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The signature header's value for a body sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Tries one delivery once.
async fn attempt(client: &reqwest::Client, secret: &str, d: &Delivery) -> Result<(), String> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let response = client
        .post(&d.url)
        .header("Content-Type", "application/json")
        .header("X-Provhost-Delivery", &d.id)
        .header("X-Provhost-Attempt", (d.attempts + 1).to_string())
        .header(SIGNATURE_HEADER, sign(secret, now, &d.payload))
        .body(d.payload.clone())
        .send()
        .await
        .map_err(|e| format!("could not reach {}: {e}", d.url))?;
    if response.status().is_success() { Ok(()) } else { Err(format!("{} answered {}", d.url, response.status())) }
}

/// Runs a store call on the blocking pool, never on an async worker: a slow commit holds only
/// its own thread.
async fn off_worker<T: Send + 'static>(
    store: &Arc<dyn Store>,
    call: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || call(&*store))
        .await
        .map_err(|e| StoreError::GroupCommit(format!("a delivery's store call failed inside provhost: {e}")))?
}

/// Tries one due delivery and records the outcome: delivered, retried later, or dead-lettered.
async fn deliver(
    store: &Arc<dyn Store>,
    config: &Config,
    client: &reqwest::Client,
    d: &Delivery,
) -> Result<(), StoreError> {
    let hook = config.tenants.get(&d.tenant).and_then(|t| t.webhooks.iter().find(|h| h.url == d.url));
    let outcome = match hook {
        None => Err((format!("no webhook for {} is configured for tenant '{}' any more", d.url, d.tenant), None)),
        Some(hook) => attempt(client, &hook.secret, d).await.map_err(|error| {
            let tries = d.attempts + 1;
            let retry_at = (tries < hook.max_attempts).then(|| {
                let wait = crate::backoff::backoff(Duration::from_millis(hook.retry_base_ms), tries, MAX_BACKOFF);
                rfc3339(time::OffsetDateTime::now_utc() + wait)
            });
            (error, retry_at)
        }),
    };
    if let Err((error, _)) = &outcome {
        tracing::warn!(delivery = %d.id, "webhook delivery failed: {error}");
    }
    let id = d.id.clone();
    off_worker(store, move |store| store.record_attempt(&id, outcome)).await
}

/// Delivers due deliveries once, one after another, tenant by tenant (at most 64 in all, 16 of
/// one tenant); returns how many were tried.
pub async fn deliver_due(
    store: &Arc<dyn Store>,
    config: &Config,
    client: &reqwest::Client,
) -> Result<usize, StoreError> {
    let (due, _) = off_worker(store, |store| store.due_deliveries((0, 16, 64))).await?;
    for d in &due {
        deliver(store, config, client, d).await?;
    }
    Ok(due.len())
}

/// The most deliveries of one tenant in flight at once, so that one tenant's slow endpoint holds
/// only its own deliveries back.
pub const MAX_IN_FLIGHT_PER_TENANT: usize = 4;

/// The deliveries in flight, by id and per tenant.
#[derive(Default)]
struct InFlight {
    ids: HashSet<String>,
    per_tenant: HashMap<String, usize>,
}

impl InFlight {
    /// Claims a delivery unless it is in flight already or its tenant has its fill.
    fn claim(&mut self, d: &Delivery) -> bool {
        let running = self.per_tenant.entry(d.tenant.clone()).or_default();
        if *running >= MAX_IN_FLIGHT_PER_TENANT || self.ids.contains(&d.id) {
            return false;
        }
        *running += 1;
        self.ids.insert(d.id.clone());
        true
    }

    fn release(&mut self, d: &Delivery) {
        self.ids.remove(&d.id);
        if let Some(running) = self.per_tenant.get_mut(&d.tenant) {
            *running -= 1;
        }
    }
}

/// The HTTP client for deliveries: bounded waits, and redirects never followed (a 3xx is a failed
/// try), so a subscriber cannot send provhost's signed payloads on to another address.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Delivers until `stop` turns true. Every 100 ms the due deliveries are taken tenant by tenant
/// (at most [`MAX_IN_FLIGHT_PER_TENANT`] of each, the tenants in turn) and each sent in a task of
/// its own, at most [`MAX_IN_FLIGHT_PER_TENANT`] per tenant in flight.
pub async fn run_worker(store: Arc<dyn Store>, config: Arc<Config>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let client = match client() {
        Ok(client) => client,
        Err(e) => {
            tracing::error!("webhook deliveries are off: cannot build an HTTP client: {e}");
            return;
        }
    };
    let in_flight = Arc::new(Mutex::new(InFlight::default()));
    let mut tasks = tokio::task::JoinSet::new();
    let mut start = 0;
    while !*stop.borrow() {
        match off_worker(&store, move |store| store.due_deliveries((start, MAX_IN_FLIGHT_PER_TENANT, 256))).await {
            Ok((due, next)) => {
                start = next;
                for d in due {
                    if !in_flight.lock().unwrap_or_else(|p| p.into_inner()).claim(&d) {
                        continue;
                    }
                    let (store, config, client, in_flight) =
                        (store.clone(), config.clone(), client.clone(), in_flight.clone());
                    tasks.spawn(async move {
                        if let Err(e) = deliver(&store, &config, &client, &d).await {
                            tracing::error!(delivery = %d.id, "could not record a webhook delivery: {e}");
                        }
                        in_flight.lock().unwrap_or_else(|p| p.into_inner()).release(&d);
                    });
                }
            }
            Err(e) => tracing::error!("webhook delivery pass failed: {e}"),
        }
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: &str, tenant: &str) -> Delivery {
        Delivery {
            id: id.into(),
            tenant: tenant.into(),
            url: "http://127.0.0.1:1/".into(),
            payload: "{}".into(),
            status: "pending".into(),
            attempts: 0,
            last_error: None,
            next_attempt_at: String::new(),
            created_at: String::new(),
        }
    }

    #[test]
    fn one_tenant_fills_only_its_own_share_of_deliveries_in_flight() {
        let mut in_flight = InFlight::default();
        let slow: Vec<Delivery> = (0..10).map(|n| delivery(&format!("a{n}"), "a")).collect();
        let claimed = slow.iter().filter(|d| in_flight.claim(d)).count();
        assert_eq!(claimed, MAX_IN_FLIGHT_PER_TENANT);
        assert!(!in_flight.claim(&slow[0]), "a delivery in flight is not sent twice");
        assert!(in_flight.claim(&delivery("b0", "b")), "another tenant still goes out");
        in_flight.release(&slow[0]);
        assert!(in_flight.claim(&slow[9]));
    }

    #[test]
    fn signatures_cover_timestamp_and_body() {
        let a = sign("secret-secret-secret", 1700000000, "{}");
        assert!(a.starts_with("t=1700000000,v1="));
        assert_eq!(a.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(a, sign("secret-secret-secret", 1700000001, "{}"));
        assert_ne!(a, sign("secret-secret-secret", 1700000000, "{ }"));
        assert_ne!(a, sign("other-secret-secret", 1700000000, "{}"));
    }
}
