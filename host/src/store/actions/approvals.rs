//! Approving or rejecting blocked actions, all or none. An approval is where the decision to act
//! becomes final, so the rules of a commit are checked again inside its transaction — window
//! budgets (the approved actions count from now), entitlements still managed — and the tenant's
//! four-eyes rule besides.

use rusqlite::{Connection, OptionalExtension, params};

use super::reads::check_windows;
use super::transitions::{Notify, set_state, still_managed, unit_entry};
use super::{ACTION_COLUMNS, action, action_row};
use crate::audit::{Actor, entries};
use crate::model::{Action, ActionState};
use crate::policy::TenantPolicy;
use crate::refusal::Refusal;
use crate::store::audit::append as append_audit;
use crate::store::deliveries::insert as insert_delivery;
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
    /// Approves or rejects blocked actions, all or none, recording who decided; the notifications
    /// `notify` builds from the actions decided are queued in the same transaction. An id that is
    /// not a blocked action of this tenant fails the whole decision. An approval holds the rules a
    /// commit holds, checked again inside the transaction: under the tenant's four-eyes rule the
    /// key that caused the block (it ran the invocation that planned the action) cannot approve
    /// it; an entitlement unmanaged meanwhile is not acted on; and the approved actions count
    /// against the window budgets from now, so an approval that would push a window past its
    /// maximum is refused whole. A refused approval changes nothing and leaves an audit record.
    pub fn decide_blocked(
        &self,
        tenant: &str,
        ids: &[String],
        (decision, by): (Decision, &str),
        policy: &TenantPolicy,
        notify: Notify<'_>,
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
            if decision == Decision::Approve {
                let refused = match approval_rules(tx, tenant, &approved, (by, policy.four_eyes))? {
                    Err(refusal) => Some(refusal),
                    Ok(()) => check_windows(tx, tenant, &approved, &policy.windows)?.err(),
                };
                if let Some(refusal) = refused {
                    append_audit(tx, tenant, &[entries::approval_refused(by, ids, &refusal)])?;
                    return Ok(Err(refusal));
                }
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
                tx.prepare_cached(
                    "UPDATE actions SET decided_by = ?3,
                            counted_at = CASE WHEN ?4 THEN updated_at ELSE NULL END
                     WHERE tenant = ?1 AND id = ?2",
                )?
                .execute(params![tenant, id, by, decision == Decision::Approve])?;
            }
            let actor = Actor { kind, key_id: Some(by), plugin: None };
            append_audit(tx, tenant, &[unit_entry(actor, &moved)])?;
            let decided: Vec<Action> = moved.into_iter().map(|(action, _)| action).collect();
            for (url, body) in notify(&decided) {
                insert_delivery(tx, tenant, &url, &body)?;
            }
            Ok(Ok(decided))
        })?;
        Ok(decided)
    }

    /// Records a decision on blocked actions that checks made before it refused (an exclusion
    /// that applies now): nothing changes, and the refusal is on record with the key that asked.
    pub fn refuse_decision(&self, tenant: &str, ids: &[String], by: &str, refusal: &Refusal) -> Result<(), StoreError> {
        self.write(|tx| append_audit(tx, tenant, &[entries::approval_refused(by, ids, refusal)]))
    }
}

/// The rules an approval holds besides the window budgets: four eyes (when the tenant asks for
/// it), and entitlements still managed.
fn approval_rules(
    tx: &Connection,
    tenant: &str,
    approved: &[Action],
    (by, four_eyes): (&str, bool),
) -> Result<Result<(), Refusal>, StoreError> {
    for action in approved {
        if four_eyes && let Some(invocation) = &action.invocation {
            let caused_by: Option<Option<String>> = tx
                .prepare_cached("SELECT key_id FROM invocations WHERE tenant = ?1 AND id = ?2")?
                .query_row([tenant, invocation], |r| r.get(0))
                .optional()?;
            if caused_by.flatten().as_deref() == Some(by) {
                return Ok(Err(Refusal::Forbidden(format!(
                    "four eyes: API key '{by}' caused the block of action '{}' (it made the request that planned it), so \
                     it cannot approve it; another key with actions:approve must",
                    action.id
                ))));
            }
        }
        if let Err(refusal) = still_managed(tx, tenant, action)? {
            return Ok(Err(refusal));
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::audit::InvocationRecord;
    use crate::model::{ActionFilter, new_id, rfc3339};
    use crate::policy::WindowBudget;
    use crate::store::{Commit, DEMO_TENANT};

    const NONE: Notify<'static> = &|_| Vec::new();

    /// A demo store, its failed update (in error, so outside every window), and `n` blocked
    /// copies of it committed under key `phk_causer` two hours ago.
    fn blocked(n: usize) -> (Store, Action, Vec<String>) {
        let store = Store::in_memory().unwrap();
        crate::store::seed_demo(&store).unwrap();
        let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
        let long_ago = rfc3339(time::OffsetDateTime::now_utc() - time::Duration::hours(2));
        let invocation = new_id();
        let blocked: Vec<Action> = (0..n)
            .map(|i| Action {
                id: new_id(),
                state: ActionState::Blocked,
                message: format!("blocked {i}"),
                retry_of: None,
                invocation: Some(invocation.clone()),
                created_at: long_ago.clone(),
                updated_at: long_ago.clone(),
                ..failed.clone()
            })
            .collect();
        let mut record = InvocationRecord::history(&invocation, DEMO_TENANT, "test", "blocked updates");
        record.key_id = Some("phk_causer".into());
        store.commit_invocation(&record, &blocked).unwrap();
        (store, failed, blocked.into_iter().map(|a| a.id).collect())
    }

    /// The window usage of the failed action's system and kind over the last hour.
    fn used(store: &Store, failed: &Action) -> u32 {
        store.window_usage(DEMO_TENANT, &failed.system, failed.kind, Duration::from_secs(3600)).unwrap()
    }

    fn window(failed: &Action, max: u32) -> TenantPolicy {
        let per = Duration::from_secs(3600);
        TenantPolicy {
            windows: vec![WindowBudget { system: failed.system.clone(), kind: failed.kind, max, per }],
            ..Default::default()
        }
    }

    #[test]
    fn an_approval_cannot_push_a_window_past_its_maximum_and_a_refusal_is_recorded() {
        let (store, failed, ids) = blocked(3);
        let policy = window(&failed, used(&store, &failed) + 2);
        let before = store.audit(&Default::default(), 1000, 0).unwrap().len();
        let refused = store.decide_blocked(DEMO_TENANT, &ids, (Decision::Approve, "phk_x"), &policy, NONE).unwrap();
        assert_eq!(refused.unwrap_err().code(), "threshold-exceeded");
        assert!(ids.iter().all(|id| store.action(DEMO_TENANT, id).unwrap().state == ActionState::Blocked));
        let records = store.audit(&Default::default(), 1000, 0).unwrap();
        assert_eq!(records.len(), before + 1, "the refused approval is on record");
        let last = &records.last().unwrap().entry;
        assert_eq!((last.decision.as_str(), last.key_id.as_deref()), ("threshold-exceeded", Some("phk_x")));
        let two = store.decide_blocked(DEMO_TENANT, &ids[..2], (Decision::Approve, "phk_x"), &policy, NONE).unwrap();
        assert!(two.unwrap().iter().all(|a| a.state == ActionState::Pending));
        let rejected =
            store.decide_blocked(DEMO_TENANT, &ids[2..], (Decision::Reject, "phk_x"), &policy, NONE).unwrap();
        assert_eq!(rejected.unwrap()[0].state, ActionState::Rejected, "a rejection needs no room");
    }

    #[test]
    fn a_window_used_up_by_approvals_of_old_blocked_actions_refuses_the_next_commit() {
        let (store, failed, ids) = blocked(2);
        let base = used(&store, &failed);
        let policy = window(&failed, base + 2);
        let next = || Action { id: new_id(), state: ActionState::Pending, retry_of: None, ..failed.clone() };
        let commit = |action: Action| {
            let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "one more update");
            let audit = [record.plan_entry(std::slice::from_ref(&action))];
            let actions = [action];
            let commit =
                Commit { record: &record, actions: &actions, observed: None, windows: &policy.windows, audit: &audit };
            store.commit(&commit).unwrap()
        };
        // Blocked two hours ago, they are older than the window: until approved they use none of it.
        assert_eq!(used(&store, &failed), base);
        let approved = store.decide_blocked(DEMO_TENANT, &ids, (Decision::Approve, "phk_x"), &policy, NONE).unwrap();
        assert_eq!(approved.unwrap().len(), 2);
        assert_eq!(used(&store, &failed), base + 2, "approved now, they count now");
        let refused = commit(next()).unwrap_err();
        assert_eq!(refused.code(), "threshold-exceeded", "{refused}");
        let roomy = window(&failed, base + 3);
        let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "one more update");
        let actions = [next()];
        let audit = [record.plan_entry(&actions)];
        let commit =
            Commit { record: &record, actions: &actions, observed: None, windows: &roomy.windows, audit: &audit };
        assert!(store.commit(&commit).unwrap().is_ok(), "with room for it, the same commit goes through");
    }

    #[test]
    fn under_four_eyes_the_key_that_caused_the_block_cannot_approve_it_and_another_can() {
        let (store, _, ids) = blocked(1);
        let four_eyes = TenantPolicy { four_eyes: true, ..Default::default() };
        let own = store.decide_blocked(DEMO_TENANT, &ids, (Decision::Approve, "phk_causer"), &four_eyes, NONE).unwrap();
        let refusal = own.unwrap_err();
        assert_eq!(refusal.code(), "forbidden");
        assert!(refusal.to_string().contains("four eyes: API key 'phk_causer' caused the block"), "{refusal}");
        assert_eq!(store.action(DEMO_TENANT, &ids[0]).unwrap().state, ActionState::Blocked);
        let last = store.audit(&Default::default(), 1000, 0).unwrap().pop().unwrap().entry;
        assert_eq!((last.kind.as_str(), last.decision.as_str()), ("approval", "forbidden"));
        let without = TenantPolicy::default();
        let undecided = blocked(1);
        let mine =
            undecided.0.decide_blocked(DEMO_TENANT, &undecided.2, (Decision::Approve, "phk_causer"), &without, NONE);
        assert!(mine.unwrap().is_ok(), "without the rule the same key may approve");
        let other =
            store.decide_blocked(DEMO_TENANT, &ids, (Decision::Approve, "phk_other"), &four_eyes, NONE).unwrap();
        assert_eq!(other.unwrap()[0].state, ActionState::Pending, "another key may");
    }
}
