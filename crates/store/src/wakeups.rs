//! Telling the executors and webhook senders of every host that a commit queued work, so that
//! each takes up what another host committed at once rather than at its next poll.

use super::StoreError;

/// The work a commit queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Actions to carry out.
    Actions,
    /// Webhook deliveries to send.
    Deliveries,
}

/// Called, on a thread of the store's, with the work a commit queued.
pub type Wake = Box<dyn Fn(Queued) + Send + Sync>;

/// Listening for commits that queue work; dropping it stops listening.
pub struct Listening {
    _running: Box<dyn Send>,
}

impl Listening {
    /// Listening that lasts until `running` is dropped.
    pub(super) fn new(running: impl Send + 'static) -> Self {
        Self { _running: Box::new(running) }
    }
}

/// Wake-ups for the work commits queue.
pub trait WakeStore {
    /// Calls `wake` whenever a commit on any host queued actions or deliveries, until the returned
    /// guard is dropped; after losing the store and finding it again it calls `wake` for both, so
    /// that nothing committed meanwhile waits for the poll. `None` when the store cannot tell
    /// (the embedded store, whose other processes are found by the callers' poll alone).
    fn listen_for_work(&self, wake: Wake) -> Result<Option<Listening>, StoreError>;
}
