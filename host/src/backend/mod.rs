//! Where persons, entitlements and accounts live and where committed actions are executed.
//! provhost's embedded store is the default; platform backends implement the same trait.

mod embedded;
mod memory;

pub use embedded::EmbeddedBackend;
pub use memory::MemoryBackend;

use crate::model::{Account, Action, ActionFilter, Entitlement, Person};

/// Why a backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The named record does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The backend could not answer.
    #[error("{0}")]
    Unavailable(String),
}

impl From<crate::store::StoreError> for BackendError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::NotFound { .. } => BackendError::NotFound(e.to_string()),
            other => BackendError::Unavailable(other.to_string()),
        }
    }
}

/// Reads the directory of one tenant and executes committed actions against its target systems.
pub trait Backend: Send + Sync {
    /// The person with this id.
    fn person(&self, tenant: &str, id: &str) -> Result<Person, BackendError>;
    /// Every entitlement of the person.
    fn entitlements(&self, tenant: &str, person: &str) -> Result<Vec<Entitlement>, BackendError>;
    /// Every account of the person.
    fn accounts(&self, tenant: &str, person: &str) -> Result<Vec<Account>, BackendError>;
    /// The entitlement with this id.
    fn entitlement(&self, tenant: &str, id: &str) -> Result<Entitlement, BackendError>;
    /// The account with this id.
    fn account(&self, tenant: &str, id: &str) -> Result<Account, BackendError>;
    /// The action with this id.
    fn action(&self, tenant: &str, id: &str) -> Result<Action, BackendError>;
    /// Actions matching the filter, newest first, at most `limit`.
    fn actions(&self, tenant: &str, filter: &ActionFilter, limit: usize) -> Result<Vec<Action>, BackendError>;
    /// How many entitlements the system holds (the base of percentage thresholds).
    fn entitlement_count(&self, tenant: &str, system: &str) -> Result<u32, BackendError>;
    /// Runs committed `pending` actions to completion and returns them in their final state.
    fn execute(&self, tenant: &str, actions: &[Action]) -> Result<Vec<Action>, BackendError>;
}
