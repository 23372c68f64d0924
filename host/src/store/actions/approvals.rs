//! Approving or rejecting blocked actions, all or none, re-checking window budgets inside the
//! transaction.

use rusqlite::{OptionalExtension, params};

use super::reads::check_windows;
use super::transitions::{set_state, unit_entry};
use super::{ACTION_COLUMNS, action, action_row};
use crate::audit::Actor;
use crate::model::{Action, ActionState};
use crate::policy::WindowBudget;
use crate::refusal::Refusal;
use crate::store::audit::append as append_audit;
use crate::store::directory::not_found;
use crate::store::{Store, StoreError};

/// A decision on blocked actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let them run: they become `pending`.
    Approve,
    /// Do not run them: they end `rejected`.
    Reject,
}

impl Store {
    /// Approves or rejects blocked actions, all or none, recording who decided. An id that is not
    /// a blocked action of this tenant fails the whole decision. An approval is checked against
    /// the tenant's window budgets inside the transaction, as a commit is, and refused whole when
    /// the approved actions would push a window past its maximum.
    pub fn decide_blocked(
        &self,
        tenant: &str,
        ids: &[String],
        (decision, by): (Decision, &str),
        windows: &[WindowBudget],
    ) -> Result<Result<Vec<Action>, Refusal>, StoreError> {
        let decided = self.write(|tx| {
            let sql = format!("SELECT {ACTION_COLUMNS} FROM actions WHERE tenant = ?1 AND id = ?2");
            let mut approved = Vec::with_capacity(ids.len());
            for id in ids {
                let found = tx.prepare_cached(&sql)?.query_row([tenant, id], action_row).optional()?;
                let mut found = action(found.ok_or_else(|| not_found("action", id, tenant))?)?;
                if found.state != ActionState::Blocked {
                    return Err(StoreError::Conflict(format!(
                        "action '{id}' is {}, not blocked; nothing was decided",
                        found.state
                    )));
                }
                found.state = ActionState::Pending;
                approved.push(found);
            }
            if decision == Decision::Approve
                && let Err(refusal) = check_windows(tx, tenant, &approved, windows)?
            {
                return Ok(Err(refusal));
            }
            let (state, message, kind) = match decision {
                Decision::Approve => {
                    (ActionState::Pending, format!("approved by API key '{by}'"), crate::audit::kind::APPROVAL)
                }
                Decision::Reject => {
                    (ActionState::Rejected, format!("rejected by API key '{by}'"), crate::audit::kind::REJECTION)
                }
            };
            let mut moved = Vec::with_capacity(ids.len());
            for id in ids {
                moved.push(set_state(tx, tenant, id, (state, &message))?);
                tx.prepare_cached("UPDATE actions SET decided_by = ?3 WHERE tenant = ?1 AND id = ?2")?
                    .execute(params![tenant, id, by])?;
            }
            let actor = Actor { kind, key_id: Some(by), plugin: None };
            append_audit(tx, tenant, &[unit_entry(actor, &moved)]).map(Ok)
        })?;
        match decided {
            Ok(()) => ids.iter().map(|id| self.action(tenant, id)).collect::<Result<_, _>>().map(Ok),
            Err(refusal) => Ok(Err(refusal)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::ActionFilter;

    #[test]
    fn an_approval_cannot_push_a_window_past_its_maximum() {
        use crate::audit::InvocationRecord;
        use crate::store::DEMO_TENANT;
        let store = Store::in_memory().unwrap();
        crate::store::seed_demo(&store).unwrap();
        let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
        let blocked: Vec<Action> = (0..2)
            .map(|n| Action {
                id: crate::model::new_id(),
                state: ActionState::Blocked,
                message: format!("blocked {n}"),
                ..failed.clone()
            })
            .collect();
        let record = InvocationRecord::history(&crate::model::new_id(), DEMO_TENANT, "test", "two blocked updates");
        store.commit_invocation(&record, &blocked).unwrap();
        let ids: Vec<String> = blocked.iter().map(|a| a.id.clone()).collect();
        // The demo's failed update is in the window already: room for one more, not two.
        let windows =
            [WindowBudget { system: failed.system.clone(), kind: failed.kind, max: 2, per: Duration::from_secs(3600) }];
        let refused = store.decide_blocked(DEMO_TENANT, &ids, (Decision::Approve, "phk_x"), &windows).unwrap();
        assert_eq!(refused.unwrap_err().code(), "threshold-exceeded");
        assert!(ids.iter().all(|id| store.action(DEMO_TENANT, id).unwrap().state == ActionState::Blocked));
        let one = store.decide_blocked(DEMO_TENANT, &ids[..1], (Decision::Approve, "phk_x"), &windows).unwrap();
        assert_eq!(one.unwrap()[0].state, ActionState::Pending);
        let rejected = store.decide_blocked(DEMO_TENANT, &ids[1..], (Decision::Reject, "phk_x"), &windows).unwrap();
        assert_eq!(rejected.unwrap()[0].state, ActionState::Rejected, "a rejection needs no room");
    }
}
