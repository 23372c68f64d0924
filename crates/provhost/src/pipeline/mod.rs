//! From a decision to committed, executed actions — the same path for an event through a plugin
//! (CLI and HTTP) and for a targeted request on the HTTP API: thresholds on the plan, one
//! transaction for the plan and its audit records (window budgets checked again inside it), then
//! execution, at once or by the worker after the answer. The CLI and the HTTP service both go through here.

mod conclude;
mod decide;
mod fan_out;
mod records;
mod replay;
mod report;
mod request;
mod run_event;
mod thresholds;

pub use conclude::{Concluding, Conclusion};
pub use decide::decide;
pub use fan_out::{FanOut, Plugins, fan_out, not_triggered};
pub use replay::{AGAINST, Decided, Delta, Difference, Planned, Replay, ReplayReport, Replayed, Summary, replay};
pub use report::{PluginSummary, RunReport};
pub use request::run_request;
pub use run_event::{check_targets, run_event};

use crate::executor::Executor;

/// How a run ends: whether its plan commits, and when its committed actions are carried out.
#[derive(Debug, Clone, Copy)]
pub struct Mode<'a> {
    /// Report what would be committed, and commit nothing but the invocation's record.
    pub dry_run: bool,
    /// When the committed actions are carried out.
    pub execution: Execution<'a>,
}

impl<'a> Mode<'a> {
    /// A run that commits its plan, carried out as `execution` says.
    pub fn commit(execution: Execution<'a>) -> Self {
        Mode { dry_run: false, execution }
    }
}

/// When a committed plan's actions are carried out.
#[derive(Debug, Clone, Copy)]
pub enum Execution<'a> {
    /// Before the run returns, by this executor (`provhost run`, `provhost test`): the report
    /// shows the actions' end states.
    Now(&'a Executor),
    /// After the answer, by an executor's worker: the report shows the actions `pending`.
    Queued,
}

use crate::backend::BackendError;
use crate::refusal::Refusal;
use crate::runtime::InvokeError;
use crate::store::{Declined, StoreError};

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The gate or the store refused a targeted request or a verdict: nothing changed but the
    /// refusal's audit record.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The event names a person or action the tenant does not have.
    #[error("the event cannot be run: {0}")]
    UnknownTarget(String),
    /// The backend failed.
    #[error("the backend failed: {0}")]
    Backend(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The host had no capacity to run the plugin; nothing ran and nothing was recorded.
    #[error("{0}")]
    Busy(String),
}

impl From<InvokeError> for RunError {
    fn from(e: InvokeError) -> Self {
        match e {
            InvokeError::Backend(e) => e.into(),
            InvokeError::Busy(_) => RunError::Busy(e.to_string()),
        }
    }
}

impl From<Declined> for RunError {
    fn from(e: Declined) -> Self {
        match e {
            Declined::Refused(refusal) => RunError::Refused(refusal),
            Declined::Store(e) => RunError::Store(e),
        }
    }
}

impl From<BackendError> for RunError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::NotFound(m) => RunError::UnknownTarget(m),
            BackendError::Unavailable(m) => RunError::Backend(m),
        }
    }
}
