//! Upkeep while serving: requests kept for `Idempotency-Key` and for their status are forgotten
//! once they are older than [`KEEP_REQUESTS`], looked for every [`FORGET_EVERY`], so a server
//! that runs for months keeps two days of them, not all; and the store's write-ahead log is
//! emptied into the database every [`TRUNCATE_LOG_EVERY`], so that it does not keep the size of
//! its busiest moment on the disk; warm instances idle for `[capacity] warm-idle-ms` are dropped,
//! giving their memory back.

use std::sync::Arc;
use std::time::Duration;

use crate::runtime::Runtime;
use crate::store::Store;

/// How long a kept request (its `Idempotency-Key`, its response, its status) is kept.
pub const KEEP_REQUESTS: Duration = Duration::from_secs(48 * 3600);

/// How often requests past [`KEEP_REQUESTS`] are looked for.
pub const FORGET_EVERY: Duration = Duration::from_secs(600);

/// How often the write-ahead log is emptied into the database.
pub const TRUNCATE_LOG_EVERY: Duration = Duration::from_secs(60);

/// Forgets kept requests older than `keep` now and then every `every`, off the async workers,
/// until `stop` turns true.
pub async fn forget_requests(
    store: Arc<dyn Store>,
    (every, keep): (Duration, Duration),
    stop: tokio::sync::watch::Receiver<bool>,
) {
    repeat(every, stop, move || match store.forget_requests(keep) {
        Ok(0) => {}
        Ok(n) => tracing::info!("forgot {n} kept requests older than {} h", keep.as_secs() / 3600),
        Err(e) => tracing::warn!("forgetting old kept requests failed: {e}"),
    })
    .await;
}

/// Empties the store's write-ahead log into the database every `every`, off the async workers,
/// until `stop` turns true.
pub async fn truncate_log(store: Arc<dyn Store>, every: Duration, stop: tokio::sync::watch::Receiver<bool>) {
    repeat(every, stop, move || match store.truncate_log() {
        Ok(true) => {}
        Ok(false) => tracing::debug!("the write-ahead log was in use; it is emptied next time"),
        Err(e) => tracing::warn!("emptying the write-ahead log failed: {e}"),
    })
    .await;
}

/// Drops the warm instances that have waited idle for `idle_for`, looked for every tenth of it
/// (at most every minute), off the async workers, until `stop` turns true.
pub async fn evict_idle(runtime: Arc<Runtime>, idle_for: Duration, stop: tokio::sync::watch::Receiver<bool>) {
    let every = (idle_for / 10).clamp(Duration::from_millis(10), Duration::from_secs(60));
    repeat(every, stop, move || match runtime.evict_idle(idle_for) {
        0 => {}
        n => tracing::debug!("dropped {n} warm instances idle for {} ms", idle_for.as_millis()),
    })
    .await;
}

/// Runs `pass` on the blocking pool now and then every `every` until `stop` turns true.
async fn repeat(
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    pass: impl Fn() + Clone + Send + 'static,
) {
    loop {
        if let Err(e) = tokio::task::spawn_blocking(pass.clone()).await {
            tracing::error!("an upkeep pass failed inside provhost: {e}");
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

    #[tokio::test]
    async fn the_write_ahead_log_is_emptied_while_serving_not_only_at_stop() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(crate::store::SqliteStore::open(&dir.path().join("provhost.db")).unwrap());
        let checkpointer = store.upkeep_in_background(Duration::from_millis(20)).unwrap();
        seed_demo(store.as_ref()).unwrap();
        let wal = dir.path().join("provhost.db-wal");
        let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert!(size() > 0, "the demo's data went through the log");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let upkeep = tokio::spawn(truncate_log(store.clone(), Duration::from_millis(20), stopped));
        let emptied = async {
            while size() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), emptied).await.expect("the log was never emptied while serving");
        assert_eq!(store.persons(DEMO_TENANT).unwrap().len(), 6, "what the log held is in the database");
        stop.send(true).unwrap();
        upkeep.await.unwrap();
        drop(checkpointer);
    }
}
