//! Approving or rejecting blocked actions, all or none.

use super::{Declined, Notify, StoreError};
use provhost_core::model::{Action, ActionState};
use provhost_core::policy::TenantPolicy;
use provhost_core::refusal::Refusal;

/// A decision on blocked actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let them run: they become `pending`.
    Approve,
    /// Do not run them: they end `rejected`.
    Reject,
}

/// What a verdict does to each action it decides, the same in every store.
pub(crate) struct Decided {
    /// The state the actions move to.
    pub state: ActionState,
    /// The history message naming who decided.
    pub message: String,
    /// The kind of the audit record of the decision.
    pub audit_kind: &'static str,
}

impl Verdict {
    /// What this verdict, given by the key `by`, does to the actions it decides.
    pub(crate) fn decided(self, by: &str) -> Decided {
        use provhost_core::audit::kind;
        match self {
            Verdict::Approve => Decided {
                state: ActionState::Pending,
                message: format!("approved by API key '{by}'"),
                audit_kind: kind::APPROVAL,
            },
            Verdict::Reject => Decided {
                state: ActionState::Rejected,
                message: format!("rejected by API key '{by}'"),
                audit_kind: kind::REJECTION,
            },
        }
    }
}

/// `found` (action `id`) as it would run once approved, or the conflict when it is no longer
/// blocked: then nothing is decided.
pub(crate) fn still_blocked(mut found: Action, id: &str) -> Result<Action, StoreError> {
    if found.state != ActionState::Blocked {
        return Err(StoreError::Conflict(format!(
            "action '{id}' is {}, not blocked; nothing was decided",
            found.state
        )));
    }
    found.state = ActionState::Pending;
    Ok(found)
}

/// Decisions on blocked actions.
pub trait ApprovalStore {
    /// Approves or rejects blocked actions, all or none, recording who decided; the notifications
    /// `notify` builds from the actions decided are queued in the same transaction. An id that is
    /// not a blocked action of this tenant fails the whole decision. An approval holds the rules a
    /// commit holds, checked again inside the transaction: under the tenant's four-eyes rule the
    /// key that caused the block (it ran the invocation that planned the action) cannot approve
    /// it; an entitlement unmanaged meanwhile is not acted on; and the approved actions count
    /// against the window budgets from now, so an approval that would push a window past its
    /// maximum is refused whole. A refused approval changes nothing but its audit record and comes
    /// back as [`Declined::Refused`].
    fn decide_blocked(
        &self,
        tenant: &str,
        ids: &[String],
        verdict: Verdict,
        by: &str,
        policy: &TenantPolicy,
        notify: Notify<'_>,
    ) -> Result<Vec<Action>, Declined>;

    /// Records a decision on blocked actions that checks made before it refused (an exclusion
    /// that applies now): nothing changes, and the refusal is on record with the key that asked.
    fn refuse_decision(&self, tenant: &str, ids: &[String], by: &str, refusal: &Refusal) -> Result<(), StoreError>;
}
