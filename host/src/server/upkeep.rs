//! Upkeep while serving: requests kept for `Idempotency-Key` and for their status are forgotten
//! once they are older than [`KEEP_REQUESTS`], looked for every [`FORGET_EVERY`], so a server
//! that runs for months keeps two days of them, not all.

use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;

/// How long a kept request (its `Idempotency-Key`, its response, its status) is kept.
pub const KEEP_REQUESTS: Duration = Duration::from_secs(48 * 3600);

/// How often requests past [`KEEP_REQUESTS`] are looked for.
pub const FORGET_EVERY: Duration = Duration::from_secs(600);

/// Forgets kept requests older than `keep` now and then every `every`, off the async workers,
/// until `stop` turns true.
pub async fn forget_requests(
    store: Arc<dyn Store>,
    (every, keep): (Duration, Duration),
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let pass = store.clone();
        match tokio::task::spawn_blocking(move || pass.forget_requests(keep)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!("forgot {n} kept requests older than {} h", keep.as_secs() / 3600),
            Ok(Err(e)) => tracing::warn!("forgetting old kept requests failed: {e}"),
            Err(e) => tracing::error!("forgetting old kept requests failed inside provhost: {e}"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Begun, DEMO_TENANT, seed_demo};

    #[tokio::test]
    async fn old_requests_are_forgotten_while_serving_not_only_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(crate::store::SqliteStore::open(&dir.path().join("provhost.db")).unwrap());
        seed_demo(&*store).unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let upkeep = tokio::spawn(forget_requests(store.clone(), (Duration::from_millis(20), KEEP_REQUESTS), stopped));
        let Begun::New(id) = store.begin_request(DEMO_TENANT, Some("k"), "h").unwrap() else { panic!() };
        let recent = store.begin_request(DEMO_TENANT, Some("recent"), "h").unwrap();
        // Written after the first pass, aged past what is kept: a later pass forgets it.
        let aged = rusqlite::Connection::open(dir.path().join("provhost.db")).unwrap();
        aged.busy_timeout(Duration::from_secs(10)).unwrap();
        aged.execute("UPDATE requests SET created_at = '2020-01-01T00:00:00.000Z' WHERE id = ?1", [&id]).unwrap();
        let forgotten = async {
            while store.request(DEMO_TENANT, &id).unwrap().is_some() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), forgotten).await.expect("a later pass forgets the aged request");
        let Begun::New(recent) = recent else { panic!() };
        assert!(store.request(DEMO_TENANT, &recent).unwrap().is_some(), "only what is past its time goes");
        stop.send(true).unwrap();
        upkeep.await.unwrap();
    }
}
