//! A tenant's thresholds over a whole plan: whole kinds of action per system blocked for approval,
//! applied before a plan commits and to a replay's plan alike.

use std::collections::BTreeMap;

use crate::backend::BackendError;
use crate::gate::TenantContext;
use crate::model::Action;
use crate::policy::threshold;

/// A system's entitlement count, which a percentage threshold over it needs, could not be read;
/// without it the threshold cannot be applied, so nothing commits.
#[derive(Debug, thiserror::Error)]
#[error("the threshold count for '{system}' failed: {error}")]
pub(super) struct CountFailed {
    /// The system counted.
    pub(super) system: String,
    /// Why the platform could not count it.
    pub(super) error: BackendError,
}

/// Applies the tenant's thresholds to `plan`, blocking whole kinds per system; the messages of
/// those reached. A system's entitlement count is read (from the platform, for a remote backend)
/// only where a percentage threshold applies.
pub(super) fn apply_thresholds(context: &TenantContext, plan: &mut [Action]) -> Result<Vec<String>, CountFailed> {
    let policy = &context.parts.policy.thresholds;
    let mut totals = BTreeMap::new();
    for action in plan.iter() {
        if !totals.contains_key(&action.system)
            && policy.iter().any(|t| t.counts_entitlements(&action.system, action.kind))
        {
            let count = context.parts.backend.entitlement_count(&context.parts.tenant, &action.system);
            totals.insert(
                action.system.clone(),
                count.map_err(|error| CountFailed { system: action.system.clone(), error })?,
            );
        }
    }
    let reached = threshold::apply(policy, plan, |system| totals.get(system).copied().unwrap_or(0));
    Ok(reached.into_iter().map(|b| b.message).collect())
}
