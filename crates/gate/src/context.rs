//! The tenant context: what every invocation of one plugin for one tenant under one API key
//! shares. Only the tenant wiring (`tenant.rs`) builds one.

use std::collections::BTreeMap;
use std::sync::Arc;

use provhost_config::Webhook;
use provhost_core::model::Action;
use provhost_core::policy::{Permission, TenantPolicy};
use provhost_platforms::{Backend, BackendError};
use provhost_store::Store;

/// What every invocation of one plugin for one tenant under one API key shares: built once,
/// shared by `Arc`.
pub struct TenantContext {
    /// The tenant's id.
    pub tenant: String,
    /// Where the tenant's directory lives and actions run.
    pub backend: Arc<dyn Backend>,
    /// provhost's own store: committed actions, window usage.
    pub store: Arc<dyn Store>,
    /// The tenant's exclusions, thresholds and window budgets.
    pub policy: Arc<TenantPolicy>,
    /// The API key's grants and the plugin's declared capabilities.
    pub permission: Permission,
    /// The plugin's settings in this tenant, read through `log.config`.
    pub config: BTreeMap<String, String>,
    /// Where notifications go after committed actions finish.
    pub webhooks: Arc<Vec<Webhook>>,
}

impl TenantContext {
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
