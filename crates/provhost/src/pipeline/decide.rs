//! Deciding on blocked actions, from the command line or over HTTP: the same rules as a commit.
//! Exclusions are checked again against the person as the backend has them now (a person or a
//! system excluded since the block is not acted on), then the store decides in one transaction
//! that checks the window budgets, managed entitlements and the tenant's four-eyes rule again. A
//! refused approval changes nothing and leaves an audit record. Approved actions are carried out at
//! once by an executor of the approval's own; a rejection's notifications are queued with it.

use super::RunError;
use crate::executor::Executor;
use crate::gate::TenantContext;
use crate::model::Action;
use crate::refusal::Refusal;
use crate::store::Verdict;
use crate::webhook::{Outbox, Tracking};

/// Decides on the blocked actions `ids` under the context's key. Returns the actions as they
/// stand afterwards; a refusal is [`RunError::Refused`].
pub fn decide(
    context: &TenantContext,
    executor: &Executor,
    ids: &[String],
    decision: Verdict,
) -> Result<Vec<Action>, RunError> {
    let (store, tenant, by) = (&context.parts.store, &context.parts.tenant, &context.permission.key_id);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let blocked: Vec<Action> = ids.iter().map(|id| store.action(tenant, id)).collect::<Result<_, _>>()?;
    if decision == Verdict::Approve
        && let Some(refusal) = excluded(context, &blocked)
    {
        store.refuse_decision(tenant, ids, by, &refusal)?;
        return Err(refusal.into());
    }
    let outbox = match decision {
        Verdict::Approve => None,
        Verdict::Reject => {
            let rejected: Vec<(&Action, _)> = blocked.iter().map(|a| (a, None)).collect();
            let tracking = Tracking::Fixed(ids.first().map_or("", String::as_str), "rejection");
            Some(Outbox::prepare(context, tracking, &rejected)?)
        }
    };
    let notify = |decided: &[Action]| outbox.as_ref().map(|o| o.deliveries(decided)).unwrap_or_default();
    let decided = store.decide_blocked(tenant, ids, decision, by, &context.parts.policy, &notify)?;
    match decision {
        Verdict::Approve => Ok(executor.run_now(context, Tracking::Fixed(&ids[0], "approval"), &decided)?),
        Verdict::Reject => Ok(decided),
    }
}

/// Why one of the actions may not be approved because of an exclusion that applies now.
fn excluded(context: &TenantContext, actions: &[Action]) -> Option<Refusal> {
    actions.iter().find_map(|a| match context.parts.exclusion(a) {
        Ok(why) => why.map(|why| Refusal::Excluded(format!("action '{}' cannot be approved: {why}", a.id))),
        Err(e) => Some(e.into()),
    })
}
