//! Delivering queued notifications: signed with HMAC-SHA256 over timestamp and body, retried with
//! exponential backoff and jitter, dead-lettered after the webhook's last try.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Config;
use crate::model::rfc3339;
use crate::store::{Attempt, Delivery, DeliveryClaim, DueDeliveries, DuePage, Store, StoreError};

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

/// How long a sender's claim on a delivery holds: longer than one try may take (the client's
/// whole-request timeout), so that no other sender takes a delivery up while it is being tried.
pub const DELIVERY_LEASE: Duration = Duration::from_secs(60);

/// A sender's own name in its claims: this process and a nonce, so that two senders of one
/// process never share claims.
fn sender() -> String {
    format!("{}-{}", std::process::id(), crate::model::new_id())
}

/// Tries one claimed delivery and records the outcome under the claim: delivered, retried later,
/// or dead-lettered. A try whose claim passed to another sender meanwhile records nothing.
async fn deliver(
    store: &Arc<dyn Store>,
    config: &Config,
    client: &reqwest::Client,
    owner: &str,
    claim: DeliveryClaim,
) -> Result<(), StoreError> {
    let d = &claim.delivery;
    let hook = config.tenants.get(&d.tenant).and_then(|t| t.webhooks.iter().find(|h| h.url == d.url));
    let attempt = match hook {
        None => Attempt::Dead {
            error: format!("no webhook for {} is configured for tenant '{}' any more", d.url, d.tenant),
        },
        Some(hook) => match attempt(client, &hook.secret, d).await {
            Ok(()) => Attempt::Delivered,
            Err(error) => {
                let tries = d.attempts + 1;
                if tries < hook.max_attempts {
                    let wait = crate::backoff::backoff(Duration::from_millis(hook.retry_base_ms), tries, MAX_BACKOFF);
                    Attempt::Retry { error, retry_at: rfc3339(time::OffsetDateTime::now_utc() + wait) }
                } else {
                    Attempt::Dead { error }
                }
            }
        },
    };
    if let Attempt::Retry { error, .. } | Attempt::Dead { error } = &attempt {
        tracing::warn!(delivery = %d.id, "webhook delivery failed: {error}");
    }
    let owner = owner.to_owned();
    match off_worker(store, move |store| store.record_attempt(&owner, &claim, &attempt)).await {
        Err(StoreError::Conflict(why)) => {
            tracing::warn!("{why}");
            Ok(())
        }
        recorded => recorded,
    }
}

/// Claims due deliveries once and tries them one after another, tenant by tenant (at most 64 in
/// all, 16 of one tenant); returns how many were tried.
pub async fn deliver_due(
    store: &Arc<dyn Store>,
    config: &Config,
    client: &reqwest::Client,
) -> Result<usize, StoreError> {
    let owner = sender();
    let mine = owner.clone();
    let page = move |store: &dyn Store| {
        store.claim_deliveries(&mine, DELIVERY_LEASE, DuePage { start: 0, per_tenant: 16, limit: 64, in_flight: &[] })
    };
    let due = off_worker(store, page).await?;
    let tried = due.claims.len();
    for claim in due.claims {
        deliver(store, config, client, &owner, claim).await?;
    }
    Ok(tried)
}

/// The most deliveries of one tenant in flight at once, so that one tenant's slow endpoint holds
/// only its own deliveries back.
pub const MAX_IN_FLIGHT_PER_TENANT: usize = 4;

/// How many deliveries of each tenant are in flight.
#[derive(Default)]
struct InFlight {
    per_tenant: HashMap<String, usize>,
}

impl InFlight {
    fn start(&mut self, tenant: &str) {
        *self.per_tenant.entry(tenant.to_owned()).or_default() += 1;
    }

    fn end(&mut self, tenant: &str) {
        if let Some(running) = self.per_tenant.get_mut(tenant) {
            *running -= 1;
        }
    }

    /// The tenants with deliveries in flight, and how many each has.
    fn counts(&self) -> Vec<(String, usize)> {
        self.per_tenant.iter().filter(|(_, n)| **n > 0).map(|(t, n)| (t.clone(), *n)).collect()
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

/// Delivers until `stop` turns true. Whenever `due` is notified (a commit queued deliveries), and
/// otherwise every 100 ms, the due deliveries are claimed tenant by tenant (the tenants in turn,
/// each up to [`MAX_IN_FLIGHT_PER_TENANT`] in flight) and each sent in a task of its own. Senders
/// on other hosts skip what this one claimed.
pub async fn run_worker(
    store: Arc<dyn Store>,
    config: Arc<Config>,
    due: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let client = match client() {
        Ok(client) => client,
        Err(e) => {
            tracing::error!("webhook deliveries are off: cannot build an HTTP client: {e}");
            return;
        }
    };
    let owner: Arc<str> = sender().into();
    let in_flight = Arc::new(Mutex::new(InFlight::default()));
    let mut tasks = tokio::task::JoinSet::new();
    let mut start = 0;
    while !*stop.borrow() {
        let (mine, sending) = (owner.clone(), in_flight.lock().unwrap_or_else(|p| p.into_inner()).counts());
        let pass = move |store: &dyn Store| {
            // A read first: a pass with nothing due writes nothing.
            if store.next_delivery_due()?.is_none_or(|at| at > crate::model::now_rfc3339()) {
                return Ok(DueDeliveries { claims: Vec::new(), next: start });
            }
            let page = DuePage { start, per_tenant: MAX_IN_FLIGHT_PER_TENANT, limit: 256, in_flight: &sending };
            store.claim_deliveries(&mine, DELIVERY_LEASE, page)
        };
        match off_worker(&store, pass).await {
            Ok(due) => {
                start = due.next;
                for claim in due.claims {
                    let tenant = claim.delivery.tenant.clone();
                    in_flight.lock().unwrap_or_else(|p| p.into_inner()).start(&tenant);
                    let (store, config, client, owner, in_flight) =
                        (store.clone(), config.clone(), client.clone(), owner.clone(), in_flight.clone());
                    tasks.spawn(async move {
                        let id = claim.delivery.id.clone();
                        if let Err(e) = deliver(&store, &config, &client, &owner, claim).await {
                            tracing::error!(delivery = %id, "could not record a webhook delivery: {e}");
                        }
                        in_flight.lock().unwrap_or_else(|p| p.into_inner()).end(&tenant);
                    });
                }
            }
            Err(e) => tracing::error!("webhook delivery pass failed: {e}"),
        }
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = due.notified() => {}
            _ = stop.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenants_in_flight_are_counted_until_their_tries_end() {
        let mut in_flight = InFlight::default();
        (0..3).for_each(|_| in_flight.start("a"));
        in_flight.start("b");
        in_flight.end("b");
        assert_eq!(in_flight.counts(), [("a".to_string(), 3)], "a tenant whose tries all ended has none in flight");
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
