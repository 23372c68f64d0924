//! Wake-ups across hosts with LISTEN/NOTIFY: a transaction that queues actions or deliveries
//! notifies a channel, which PostgreSQL delivers when (and only if) it commits, and each host
//! listens on a connection of its own, outside the pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;

use super::pool::connect;
use super::{PostgresStore, StoreError};
use crate::postgres::statements::Tx;
use crate::{Listening, Queued, Wake, WakeStore};

/// The channel of committed actions.
const ACTIONS: &str = "provhost_actions";

/// The channel of queued deliveries.
const DELIVERIES: &str = "provhost_deliveries";

/// How often the listening thread looks whether it should stop.
const STOP_CHECK: Duration = Duration::from_millis(500);

/// How long the listening thread waits before it connects again after losing the database.
const RECONNECT: Duration = Duration::from_secs(1);

/// Tells every host, once `tx` commits, that it queued `work`. Notifications of one transaction
/// on one channel are delivered once, so each channel is notified once per transaction.
pub(super) fn announce(tx: &mut Tx<'_, '_>, work: Queued) -> Result<(), StoreError> {
    let channel = channel(work);
    if !tx.announced.contains(&channel) {
        tx.batch_execute(&format!("NOTIFY {channel}"))?;
        tx.announced.push(channel);
    }
    Ok(())
}

fn channel(work: Queued) -> &'static str {
    match work {
        Queued::Actions => ACTIONS,
        Queued::Deliveries => DELIVERIES,
    }
}

/// A connection listening on both channels.
fn listening(config: &postgres::Config, shown: &str) -> Result<Client, StoreError> {
    let mut client = connect(config, shown)?;
    client.batch_execute(&format!("LISTEN {ACTIONS}; LISTEN {DELIVERIES}"))?;
    Ok(client)
}

/// Stops the listening thread when dropped.
struct Stop(Arc<AtomicBool>);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl WakeStore for PostgresStore {
    fn listen_for_work(&self, wake: Wake) -> Result<Option<Listening>, StoreError> {
        let (config, shown) = (self.pool.config().clone(), self.pool.shown().to_owned());
        let client = super::off_runtime(|| listening(&config, &shown))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("provhost-listen".into())
            .spawn(move || listen(client, (&config, &shown), &*wake, &stopped))
            .map_err(|e| StoreError::Backend(format!("cannot start the thread that listens for commits: {e}")))?;
        Ok(Some(Listening::new(Stop(stop))))
    }
}

/// Wakes `wake` for each notification that arrives before none has for [`STOP_CHECK`].
fn wake_for_notes(client: &mut Client, wake: &dyn Fn(Queued)) -> Result<(), postgres::Error> {
    let mut notifications = client.notifications();
    let mut notes = notifications.timeout_iter(STOP_CHECK);
    while let Some(note) = notes.next()? {
        wake(if note.channel() == DELIVERIES { Queued::Deliveries } else { Queued::Actions });
    }
    Ok(())
}

/// Wakes `wake` for every notification until `stop`; a connection that broke is opened again.
fn listen(mut client: Client, (config, shown): (&postgres::Config, &str), wake: &dyn Fn(Queued), stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let broken = wake_for_notes(&mut client, wake).err().map(|e| super::described(&e));
        if broken.is_none() && !client.is_closed() {
            continue;
        }
        tracing::warn!(
            "lost the connection listening for other hosts' commits to {shown} ({}); until it is back, \
             their work is found by the poll",
            broken.unwrap_or_else(|| "closed".into())
        );
        client = loop {
            std::thread::sleep(RECONNECT);
            if stop.load(Ordering::SeqCst) {
                return;
            }
            match listening(config, shown) {
                Ok(client) => break client,
                Err(e) => tracing::warn!("cannot listen for other hosts' commits yet: {e}"),
            }
        };
        wake(Queued::Actions);
        wake(Queued::Deliveries);
    }
}
