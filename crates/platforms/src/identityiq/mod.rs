//! The IdentityIQ backend: each committed action launches the configured provisioning workflow
//! (`POST {base}/identityiq/scim/v2/LaunchedWorkflows`) with a ProvisioningPlan built from the
//! action, then follows the workflow's task result to completion and maps its
//! `completionStatus` onto the action's state; a workflow still running then is followed up
//! until it completes ([`workflow`]). The directory (persons, entitlements, accounts) is the one
//! provhost holds; actions are provhost's own, so a retry (a new action) launches the plan again,
//! while a second attempt of one action never launches twice.

mod workflow;

use std::sync::Arc;

use super::client::{Auth, RestClient};
use super::provisioning_plan::{AccountOp, AttributeOp, AttributeRequest, ProvisioningPlan};
use super::settings::{Application, IdentityIqConfig, Pace};
use super::{Backend, BackendError, EmbeddedBackend, Job};
use provhost_core::model::{
    Account, Action, ActionFilter, ActionKind, ActionTarget, Entitlement, EntitlementType, Person,
};
use provhost_store::{Finish, Store};

const PLATFORM: &str = "IdentityIQ";
/// The SCIM media type.
pub const SCIM_JSON: &str = "application/scim+json";
/// The launched-workflow schema.
pub const LAUNCHED_WORKFLOW: &str = "urn:ietf:params:scim:schemas:sailpoint:1.0:LaunchedWorkflow";
/// The task-result schema.
pub const TASK_RESULT: &str = "urn:ietf:params:scim:schemas:sailpoint:1.0:TaskResult";
const LAUNCH_PATH: &str = "/identityiq/scim/v2/LaunchedWorkflows";

/// A tenant whose actions IdentityIQ carries out.
pub struct IdentityIqBackend {
    directory: EmbeddedBackend,
    store: Arc<dyn Store>,
    client: RestClient,
    config: IdentityIqConfig,
    pace: Pace,
}

impl IdentityIqBackend {
    /// A backend launching workflows on the IdentityIQ `config` names; the directory is `store`'s.
    pub fn new(config: &IdentityIqConfig, store: Arc<dyn Store>) -> Result<Self, String> {
        let auth = match (&config.username, &config.password, &config.token) {
            (Some(user), Some(password), _) => Auth::Basic(user.reveal()?, password.reveal()?),
            (_, _, Some(token)) => Auth::Bearer(token.reveal()?),
            _ => return Err(format!("{PLATFORM}: set either `username` and `password`, or `token`")),
        };
        let client = RestClient::new(PLATFORM, &config.base_url, auth, config.http)?;
        let pace = config.pace();
        Ok(Self { directory: EmbeddedBackend::new(store.clone()), store, client, config: config.clone(), pace })
    }

    /// The plan that carries out `action`, or why there is none.
    pub fn plan_for(&self, tenant: &str, action: &Action) -> Result<ProvisioningPlan, String> {
        let read = |e: BackendError| e.to_string();
        let person = self.directory.person(tenant, &action.person).map_err(read)?;
        let system = self.store.system(tenant, &action.system).map_err(|e| e.to_string())?;
        let fallback = Application::default();
        let app = self.config.applications.get(&action.system).unwrap_or(&fallback);
        let application = app.name.clone().unwrap_or(system.name);
        let identity = match &self.config.identity_attribute {
            None => person.id.clone(),
            Some(name) => first_value(&person, name).ok_or_else(|| {
                format!("person '{}' has no {name} attribute, which holds the {PLATFORM} identity name", person.id)
            })?,
        };
        let account_on_system = || -> Result<Account, String> {
            self.directory
                .accounts(tenant, &person.id)
                .map_err(read)?
                .into_iter()
                .find(|a| a.system == action.system)
                .ok_or_else(|| format!("person '{}' has no account in {application} to provision", person.id))
        };
        let set_mapped = || -> Result<Vec<AttributeRequest>, String> {
            if app.attributes.is_empty() {
                return Err(format!(
                    "no attributes are mapped for {application}: set `applications.{}.attributes` in the tenant's backend",
                    action.system
                ));
            }
            Ok(app
                .attributes
                .iter()
                .map(|(from, to)| AttributeRequest {
                    name: to.clone(),
                    op: AttributeOp::Set,
                    values: values(&person, from),
                })
                .collect())
        };
        let (account, op, attributes) = match (action.kind, &action.target) {
            (ActionKind::Update, ActionTarget::Account(id)) => {
                (self.directory.account(tenant, id).map_err(read)?, AccountOp::Modify, set_mapped()?)
            }
            (ActionKind::Grant, ActionTarget::Entitlement(id)) => {
                let entitlement: Entitlement = self.directory.entitlement(tenant, id).map_err(read)?;
                if !entitlement.managed {
                    return Err(format!(
                        "entitlement '{}' ({id}) is no longer managed; provisioning leaves it alone, so nothing was launched",
                        entitlement.display_name
                    ));
                }
                match entitlement.kind {
                    EntitlementType::Permission => {
                        let add = AttributeRequest {
                            name: app.entitlement_attribute.clone(),
                            op: AttributeOp::Add,
                            values: vec![entitlement.display_name],
                        };
                        (account_on_system()?, AccountOp::Modify, vec![add])
                    }
                    EntitlementType::AccountAccess => (account_on_system()?, AccountOp::Enable, Vec::new()),
                    EntitlementType::Account => (account_on_system()?, AccountOp::Modify, set_mapped()?),
                }
            }
            (kind, target) => {
                return Err(unsupported(kind).unwrap_or_else(|| format!("a {kind} action cannot act on {target:?}")));
            }
        };
        let native_identity = account.account_reference;
        Ok(ProvisioningPlan { identity, application, native_identity, op, attributes, tracking_id: None })
    }
}

/// Why IdentityIQ cannot carry out actions of `kind`, if it cannot.
fn unsupported(kind: ActionKind) -> Option<String> {
    match kind {
        ActionKind::Grant | ActionKind::Update => None,
        ActionKind::Unmanage => Some(format!(
            "{PLATFORM} has no equivalent of unmanaging an entitlement; the tenant's backend cannot do it"
        )),
        ActionKind::Revoke => Some(format!("provhost does not revoke through {PLATFORM}")),
    }
}

fn values(person: &Person, name: &str) -> Vec<String> {
    person.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name)).map(|a| a.values.clone()).unwrap_or_default()
}

fn first_value(person: &Person, name: &str) -> Option<String> {
    values(person, name).into_iter().find(|v| !v.is_empty())
}

impl Backend for IdentityIqBackend {
    fn persons(&self, tenant: &str) -> Result<Vec<Person>, BackendError> {
        self.directory.persons(tenant)
    }

    fn person(&self, tenant: &str, id: &str) -> Result<Person, BackendError> {
        self.directory.person(tenant, id)
    }

    fn entitlements(&self, tenant: &str, person: &str) -> Result<Vec<Entitlement>, BackendError> {
        self.directory.entitlements(tenant, person)
    }

    fn accounts(&self, tenant: &str, person: &str) -> Result<Vec<Account>, BackendError> {
        self.directory.accounts(tenant, person)
    }

    fn entitlement(&self, tenant: &str, id: &str) -> Result<Entitlement, BackendError> {
        self.directory.entitlement(tenant, id)
    }

    fn account(&self, tenant: &str, id: &str) -> Result<Account, BackendError> {
        self.directory.account(tenant, id)
    }

    fn action(&self, tenant: &str, id: &str) -> Result<Action, BackendError> {
        self.directory.action(tenant, id)
    }

    fn actions(&self, tenant: &str, filter: &ActionFilter, limit: usize) -> Result<Vec<Action>, BackendError> {
        self.directory.actions(tenant, filter, limit)
    }

    fn entitlement_count(&self, tenant: &str, system: &str) -> Result<u32, BackendError> {
        self.directory.entitlement_count(tenant, system)
    }

    fn carry_out(&self, tenant: &str, job: &Job<'_>) -> Result<Finish, BackendError> {
        Ok(self.workflow(tenant, job))
    }

    fn unsupported(&self, kind: ActionKind) -> Option<String> {
        unsupported(kind)
    }
}
