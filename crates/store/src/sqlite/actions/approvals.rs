//! Approving or rejecting blocked actions, all or none. An approval is where the decision to act
//! becomes final, so the rules of a commit are checked again inside its transaction — window
//! budgets (the approved actions count from now), entitlements still managed — and the tenant's
//! four-eyes rule besides.

use rusqlite::{Connection, OptionalExtension, params};

use super::reads::check_windows;
use super::transitions::{set_state, still_managed, unit_entry};
use super::{ACTION_COLUMNS, action, action_row};
use crate::approvals::{Decided, still_blocked};
use crate::sqlite::audit::append as append_audit;
use crate::sqlite::deliveries::insert as insert_delivery;
use crate::sqlite::directory::not_found;
use crate::{ApprovalStore, Declined, Notify, SqliteStore, StoreError, Verdict};
use provhost_core::audit::{Actor, entries};
use provhost_core::model::Action;
use provhost_core::policy::TenantPolicy;
use provhost_core::refusal::Refusal;

impl ApprovalStore for SqliteStore {
    fn decide_blocked(
        &self,
        tenant: &str,
        ids: &[String],
        verdict: Verdict,
        by: &str,
        policy: &TenantPolicy,
        notify: Notify<'_>,
    ) -> Result<Vec<Action>, Declined> {
        self.governed(|tx| {
            let sql = format!("SELECT {ACTION_COLUMNS} FROM actions WHERE tenant = ?1 AND id = ?2");
            let mut approved = Vec::with_capacity(ids.len());
            for id in ids {
                let found = tx.prepare_cached(&sql)?.query_row([tenant, id], action_row).optional()?;
                let found = action(found.ok_or_else(|| not_found("action", id, tenant))?)?;
                approved.push(still_blocked(found, id)?);
            }
            if verdict == Verdict::Approve {
                let checked = approval_rules(tx, tenant, &approved, by, policy.four_eyes)
                    .and_then(|()| check_windows(tx, tenant, &approved, &policy.windows));
                if let Err(Declined::Refused(refusal)) = &checked {
                    append_audit(tx, tenant, &[entries::approval_refused(by, ids, refusal)])?;
                }
                checked?;
            }
            let Decided { state, message, audit_kind: kind } = verdict.decided(by);
            let mut moved = Vec::with_capacity(ids.len());
            for id in ids {
                moved.push(set_state(tx, tenant, id, state, &message)?);
                tx.prepare_cached(
                    "UPDATE actions SET decided_by = ?3,
                            counted_at = CASE WHEN ?4 THEN updated_at ELSE NULL END
                     WHERE tenant = ?1 AND id = ?2",
                )?
                .execute(params![tenant, id, by, verdict == Verdict::Approve])?;
            }
            let actor = Actor { kind, key_id: Some(by), plugin: None };
            append_audit(tx, tenant, &[unit_entry(actor, &moved)])?;
            let decided: Vec<Action> = moved.into_iter().map(|(action, _)| action).collect();
            for (url, body) in notify(&decided) {
                insert_delivery(tx, tenant, &url, &body)?;
            }
            Ok(decided)
        })
    }

    fn refuse_decision(&self, tenant: &str, ids: &[String], by: &str, refusal: &Refusal) -> Result<(), StoreError> {
        self.write(|tx| append_audit(tx, tenant, &[entries::approval_refused(by, ids, refusal)]))
    }
}

/// The rules an approval holds besides the window budgets: four eyes (when the tenant asks for
/// it), and entitlements still managed.
fn approval_rules(
    tx: &Connection,
    tenant: &str,
    approved: &[Action],
    by: &str,
    four_eyes: bool,
) -> Result<(), Declined> {
    for action in approved {
        if four_eyes && let Some(invocation) = &action.invocation {
            let caused_by: Option<Option<String>> = tx
                .prepare_cached("SELECT key_id FROM invocations WHERE tenant = ?1 AND id = ?2")?
                .query_row([tenant, invocation], |r| r.get(0))
                .optional()?;
            if caused_by.flatten().as_deref() == Some(by) {
                return Err(Refusal::Forbidden(format!(
                    "four eyes: API key '{by}' caused the block of action '{}' (it made the request that planned it), so \
                     it cannot approve it; another key with actions:approve must",
                    action.id
                ))
                .into());
            }
        }
        still_managed(tx, tenant, action)?;
    }
    Ok(())
}
