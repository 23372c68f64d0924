//! Delivering queued notifications: signed with HMAC-SHA256 over timestamp and body, retried with
//! exponential backoff and jitter, dead-lettered after the webhook's last try.

use std::sync::Arc;
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

/// Delivers every due delivery once; returns how many were tried.
pub async fn deliver_due(store: &Store, config: &Config, client: &reqwest::Client) -> Result<usize, StoreError> {
    let due = store.due_deliveries(64)?;
    for d in &due {
        let hook = config.tenants.get(&d.tenant).and_then(|t| t.webhooks.iter().find(|h| h.url == d.url));
        let outcome = match hook {
            None => Err((format!("no webhook for {} is configured for tenant '{}' any more", d.url, d.tenant), None)),
            Some(hook) => attempt(client, &hook.secret, d).await.map_err(|error| {
                let tries = d.attempts + 1;
                let retry_at = (tries < hook.max_attempts).then(|| {
                    let wait = crate::retry::backoff(Duration::from_millis(hook.retry_base_ms), tries, MAX_BACKOFF);
                    rfc3339(time::OffsetDateTime::now_utc() + wait)
                });
                (error, retry_at)
            }),
        };
        if let Err((error, _)) = &outcome {
            tracing::warn!(delivery = %d.id, "webhook delivery failed: {error}");
        }
        store.record_attempt(&d.id, outcome)?;
    }
    Ok(due.len())
}

/// Delivers until `stop` turns true: each pass sends what is due, then waits for the next due
/// time (at most a second, so new deliveries go out promptly).
pub async fn run_worker(store: Arc<Store>, config: Arc<Config>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!("webhook deliveries are off: cannot build an HTTP client: {e}");
            return;
        }
    };
    while !*stop.borrow() {
        if let Err(e) = deliver_due(&store, &config, &client).await {
            tracing::error!("webhook delivery pass failed: {e}");
        }
        let wait = Duration::from_millis(100);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
