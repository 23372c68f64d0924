//! A tenant's state in stages: [`TenantParts`], built once per tenant, and the [`TenantContext`]
//! of one call, which adds the requester's grant and the plugin's settings. Only the tenant
//! wiring (`provhost::tenant`) builds them.

use std::collections::BTreeMap;
use std::sync::Arc;

use provhost_config::{Retention, Webhook};
use provhost_core::model::Action;
use provhost_core::policy::{Permission, TenantPolicy};
use provhost_platforms::{Backend, BackendError};
use provhost_store::Store;

/// What is built once per tenant and shared by every call made for it: its id, its platform, the
/// store, its compiled policy and its webhooks. The tenant wiring builds it when it wires the
/// tenant; every [`TenantContext`] holds it by `Arc`.
pub struct TenantParts {
    /// The tenant's id.
    pub tenant: String,
    /// Where the tenant's directory lives and actions run.
    pub backend: Arc<dyn Backend>,
    /// provhost's own store: committed actions, window usage.
    pub store: Arc<dyn Store>,
    /// The tenant's exclusions, thresholds and window budgets.
    pub policy: Arc<TenantPolicy>,
    /// Where notifications go after committed actions finish.
    pub webhooks: Arc<Vec<Webhook>>,
    /// Whether and how the events the tenant's invocations ran on are kept, for replays.
    pub retention: Arc<Retention>,
}

/// What one invocation of a plugin (or one request made without one) runs in: the tenant's parts,
/// built once, with what is prepared for this call: the requester's grant bounded by the
/// plugin's capabilities, and the plugin's settings. The sandbox adds the per-instance state
/// (limits, deadline, journal) around it.
pub struct TenantContext {
    /// The tenant's parts, shared by every call for the tenant.
    pub parts: Arc<TenantParts>,
    /// The API key's grants and the plugin's declared capabilities.
    pub permission: Permission,
    /// The plugin's settings in this tenant, read through `log.config`.
    pub config: BTreeMap<String, String>,
}

impl TenantParts {
    /// Why `action` may not be acted on now because of the tenant's exclusions as they stand: its
    /// system is excluded, or its person (read from the backend as they are now) is. `None` when
    /// neither is; an error when the person cannot be read while persons are excluded.
    pub fn exclusion(&self, action: &Action) -> Result<Option<String>, BackendError> {
        let exclusions = &self.policy.exclusions;
        if let Some(why) = exclusions.system(&action.system) {
            return Ok(Some(why));
        }
        if exclusions.persons.is_empty() && exclusions.rules.is_empty() {
            return Ok(None);
        }
        Ok(exclusions.person(&self.backend.person(&self.tenant, &action.person)?))
    }
}
