//! Where persons, entitlements and accounts live and where committed actions are executed.
//! provhost's embedded store is the default; platform backends implement the same trait.

mod batch;
mod breaker;
mod client;
mod embedded;
mod helloid;
mod identityiq;
mod memory;
mod path;
mod provisioning_plan;
mod settings;

pub use batch::BatchReads;
pub use breaker::{Breaker, BreakerState};
pub use client::{Auth, Call, ClientError, Reply, Resend, RestClient};
pub use embedded::EmbeddedBackend;
pub use helloid::HelloIdBackend;
pub use identityiq::{IdentityIqBackend, LAUNCHED_WORKFLOW, SCIM_JSON, TASK_RESULT};
pub use memory::MemoryBackend;
pub use provisioning_plan::{AccountOp, AttributeOp, AttributeRequest, ProvisioningPlan};
pub use settings::{Application, BackendConfig, HelloIdConfig, HttpSettings, IdentityIqConfig, Secret};

use std::sync::Arc;

use provhost_core::model::{Account, Action, ActionFilter, ActionKind, Entitlement, Person};
use provhost_store::{Finish, Following, Store};

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

impl From<provhost_store::StoreError> for BackendError {
    fn from(e: provhost_store::StoreError) -> Self {
        match e {
            provhost_store::StoreError::NotFound { .. } => BackendError::NotFound(e.to_string()),
            other => BackendError::Unavailable(other.to_string()),
        }
    }
}

/// Reads the directory of one tenant and executes committed actions against its target systems.
pub trait Backend: Send + Sync {
    /// Every person of the tenant.
    fn persons(&self, tenant: &str) -> Result<Vec<Person>, BackendError>;
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
    /// Carries out one committed action an executor claimed (it is `running`), or follows up the
    /// platform's work for it where an earlier attempt started that work, and says how it ended;
    /// the executor records that. An error leaves the action to be taken up again once its lease
    /// passes.
    fn carry_out(&self, tenant: &str, job: &Job<'_>) -> Result<Finish, BackendError>;
    /// Why actions of `kind` cannot be carried out here, if they cannot: such calls are refused
    /// as invalid when planned.
    fn unsupported(&self, kind: ActionKind) -> Option<String> {
        let _ = kind;
        None
    }
}

/// One claimed action to carry out or follow up.
pub struct Job<'a> {
    /// The action.
    pub action: &'a Action,
    /// Which attempt this is (1 for the first): a later one may find that the platform did the
    /// work already, and must not start it again.
    pub attempt: u32,
    /// Where an earlier attempt or follow-up left the platform's work for the action, if it did.
    pub follow: Option<&'a Following>,
    /// Records the platform's reference for the action as soon as the platform gave it; `false`
    /// when the claim no longer holds (then the backend stops: another executor has the action).
    /// A reference the store could not record is not a reason to stop: a later attempt finds the
    /// platform's work by the action's idempotency key.
    pub noted: &'a dyn Fn(&str) -> bool,
    /// The directory records the carry-outs of the job's batch have read, shared with this one.
    pub reads: &'a BatchReads,
}

impl Job<'_> {
    /// The key a platform sees on every request for this action, whichever attempt sends it: one
    /// sent again after a crash or a lost answer cannot apply twice.
    pub fn idempotency_key(&self) -> String {
        format!("provhost-{}", self.action.id)
    }
}

/// The backend `config` selects for a tenant, recording actions in `store`.
pub fn for_tenant(config: &BackendConfig, store: &Arc<dyn Store>) -> Result<Arc<dyn Backend>, String> {
    Ok(match config {
        BackendConfig::Embedded {} => Arc::new(EmbeddedBackend::new(store.clone())),
        BackendConfig::HelloId(c) => Arc::new(HelloIdBackend::new(c)?),
        BackendConfig::IdentityIq(c) => Arc::new(IdentityIqBackend::new(c, store.clone())?),
    })
}

impl From<BackendError> for provhost_core::refusal::Refusal {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::NotFound(m) => provhost_core::refusal::Refusal::NotFound(m),
            BackendError::Unavailable(m) => provhost_core::refusal::Refusal::Unavailable(m),
        }
    }
}
