//! Approving or rejecting blocked actions, all or none. The tenant's chain head is locked first,
//! so that a decision re-checks the window budgets with every other commit of the tenant settled;
//! the blocked rows are then locked, so that of two hosts deciding on the same action one decides
//! and the other finds it no longer blocked (a conflict, 409).

use super::reads::check_windows;
use super::transitions::{set_state, still_managed, unit_entry};
use super::{ACTION_COLUMNS, action};
use crate::approvals::{Decided, still_blocked};
use crate::postgres::audit::append as append_audit;
use crate::postgres::budget::lock_budget;
use crate::postgres::deliveries::insert as insert_deliveries;
use crate::postgres::statements::Tx;
use crate::postgres::wakeups::announce;
use crate::postgres::{PostgresStore, not_found};
use crate::{ApprovalStore, Declined, Notify, Queued, StoreError, Verdict};
use provhost_core::audit::{Actor, entries};
use provhost_core::model::{Action, ActionState};
use provhost_core::policy::TenantPolicy;
use provhost_core::refusal::Refusal;

impl ApprovalStore for PostgresStore {
    fn decide_blocked(
        &self,
        tenant: &str,
        ids: &[String],
        verdict: Verdict,
        by: &str,
        policy: &TenantPolicy,
        notify: Notify<'_>,
    ) -> Result<Vec<Action>, Declined> {
        // `notify` stays on this thread: decisions are made on blocking threads.
        self.governed_here(|tx| {
            lock_budget(tx, tenant)?;
            let sql = format!("SELECT {ACTION_COLUMNS} FROM actions WHERE tenant = $1 AND id = $2 FOR UPDATE");
            let mut approved = Vec::with_capacity(ids.len());
            for id in ids {
                let found = tx.query_opt(&sql, &[&tenant, id])?;
                let found = action(&found.ok_or_else(|| not_found("action", id, tenant))?)?;
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
                tx.execute(
                    "UPDATE actions SET decided_by = $3, counted_at = CASE WHEN $4 THEN updated_at ELSE NULL END
                     WHERE tenant = $1 AND id = $2",
                    &[&tenant, id, &by, &(verdict == Verdict::Approve)],
                )?;
            }
            let actor = Actor { kind, key_id: Some(by), plugin: None };
            append_audit(tx, tenant, &[unit_entry(actor, &moved)])?;
            if state == ActionState::Pending {
                announce(tx, Queued::Actions)?;
            }
            let decided: Vec<Action> = moved.into_iter().map(|(action, _)| action).collect();
            insert_deliveries(tx, tenant, &notify(&decided))?;
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
    tx: &mut Tx<'_, '_>,
    tenant: &str,
    approved: &[Action],
    by: &str,
    four_eyes: bool,
) -> Result<(), Declined> {
    for action in approved {
        if four_eyes && let Some(invocation) = &action.invocation {
            let caused_by =
                tx.query_opt("SELECT key_id FROM invocations WHERE tenant = $1 AND id = $2", &[&tenant, invocation])?;
            if caused_by.and_then(|r| r.get::<_, Option<String>>(0)).as_deref() == Some(by) {
                return Err(Refusal::Forbidden(format!(
                    "four eyes: API key '{by}' caused the block of action '{}' (it made the request that planned it), so \
                     it cannot approve it; another key with actions:approve must",
                    action.id
                ))
                .into());
            }
        }
        still_managed(tx, tenant, std::slice::from_ref(action))?;
    }
    Ok(())
}
