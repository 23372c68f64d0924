//! The IdentityIQ backend: each committed action launches the configured provisioning workflow
//! (`POST {base}/identityiq/scim/v2/LaunchedWorkflows`) with a ProvisioningPlan built from the
//! action, then follows the workflow's task result to completion and maps its
//! `completionStatus` onto the action's state. The directory (persons, entitlements, accounts)
//! is the one provhost holds; actions are provhost's own, so a retry launches the plan again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::ACCEPT;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{Auth, Call, Reply, Resend, RestClient, excerpt};
use super::path::segment;
use super::provisioning_plan::{AccountOp, AttributeOp, AttributeRequest, ProvisioningPlan};
use super::settings::{Application, IdentityIqConfig};
use super::{Backend, BackendError, EmbeddedBackend};
use crate::model::{Account, Action, ActionFilter, ActionKind, ActionTarget, Entitlement, EntitlementType, Person};
use crate::store::{Effect, Finish, Store};

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
    store: Arc<Store>,
    client: RestClient,
    config: IdentityIqConfig,
}

/// The parts of a LaunchedWorkflow or TaskResult provhost reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskResult {
    id: String,
    #[serde(default)]
    completion_status: Option<String>,
    #[serde(default)]
    messages: Vec<Value>,
    #[serde(default)]
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    location: Option<String>,
}

impl IdentityIqBackend {
    /// A backend launching workflows on the IdentityIQ `config` names; the directory is `store`'s.
    pub fn new(config: &IdentityIqConfig, store: Arc<Store>) -> Result<Self, String> {
        let auth = match (&config.username, &config.password, &config.token) {
            (Some(user), Some(password), _) => Auth::Basic(user.reveal()?, password.reveal()?),
            (_, _, Some(token)) => Auth::Bearer(token.reveal()?),
            _ => return Err(format!("{PLATFORM}: set either `username` and `password`, or `token`")),
        };
        let client = RestClient::new(PLATFORM, &config.base_url, auth, config.http)?;
        Ok(Self { directory: EmbeddedBackend::new(store.clone()), store, client, config: config.clone() })
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
        Ok(ProvisioningPlan { identity, application, native_identity: account.account_reference, op, attributes })
    }

    /// The launch request's body.
    fn launch_body(&self, action: &Action, plan: &ProvisioningPlan) -> Value {
        json!({
            "schemas": [LAUNCHED_WORKFLOW, TASK_RESULT],
            "workflowName": self.config.workflow_name,
            "input": [
                { "key": "identityName", "value": plan.identity, "type": "string" },
                { "key": "plan", "value": plan.to_xml(), "type": "application/xml" },
                { "key": "provhostActionId", "value": action.id, "type": "string" },
            ],
        })
    }

    /// Launches the workflow for one action and follows it.
    fn run(&self, tenant: &str, action: &Action) -> Finish {
        let plan = match self.plan_for(tenant, action) {
            Ok(plan) => plan,
            Err(message) => return Finish::Error(message),
        };
        let call = Call {
            method: Method::POST,
            target: LAUNCH_PATH,
            headers: vec![(ACCEPT, SCIM_JSON.into())],
            body: Some((SCIM_JSON, self.launch_body(action, &plan).to_string().into_bytes())),
            // Launching twice would run the workflow twice: only re-sent when IdentityIQ refused it.
            resend: Resend::OnlyIfRefused,
        };
        let reply = match self.client.send(&call) {
            Ok(reply) => reply,
            Err(e) => return Finish::Error(e.to_string()),
        };
        let tries = if reply.attempts > 1 { format!(" (after {} tries)", reply.attempts) } else { String::new() };
        if !(200..=299).contains(&reply.status) {
            return Finish::Error(format!(
                "{PLATFORM} refused to launch '{}': {}{tries}",
                self.config.workflow_name,
                scim_error(&reply)
            ));
        }
        let launched: TaskResult = match serde_json::from_str(&reply.body) {
            Ok(launched) => launched,
            Err(e) => {
                return Finish::Error(format!(
                    "{PLATFORM} answered the launch of '{}' with a body provhost cannot read ({e}); the workflow may have \
                     started — check IdentityIQ before retrying: {}",
                    self.config.workflow_name,
                    excerpt(&reply.body)
                ));
            }
        };
        self.follow(launched, &tries)
    }

    /// The task result at `location`.
    fn task_result(&self, location: &str) -> Result<TaskResult, String> {
        let call = Call { headers: vec![(ACCEPT, SCIM_JSON.into())], ..Call::get(location) };
        parse_task_result(&self.client.send(&call).map_err(|e| e.to_string())?)
    }

    /// Reads the task result until it has a completion status or the completion timeout passes.
    fn follow(&self, mut result: TaskResult, tries: &str) -> Finish {
        let location = match result.meta.as_ref().and_then(|m| m.location.clone()) {
            Some(location) => location,
            None => match segment(&result.id) {
                Ok(id) => format!("/identityiq/scim/v2/TaskResults/{id}"),
                Err(e) => return Finish::Error(format!("{PLATFORM} answered an unusable task result id: {e}")),
            },
        };
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        let deadline = Instant::now() + Duration::from_millis(self.config.completion_timeout_ms);
        loop {
            if let Some(status) = &result.completion_status {
                return completion(&result.id, status, &result.messages, tries);
            }
            if Instant::now() + poll > deadline {
                return Finish::Waiting(format!("{PLATFORM} task result {} has not completed yet{tries}", result.id));
            }
            std::thread::sleep(poll);
            result = match self.task_result(&location) {
                Ok(next) => next,
                Err(e) => {
                    return Finish::Waiting(format!(
                        "{PLATFORM} task result {} is running; following it failed: {e}",
                        result.id
                    ));
                }
            };
        }
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

/// Why IdentityIQ's answer is unusable, or the task result it holds.
fn parse_task_result(reply: &Reply) -> Result<TaskResult, String> {
    match reply.status {
        200..=299 => serde_json::from_str(&reply.body)
            .map_err(|e| format!("an answer provhost cannot read ({e}): {}", excerpt(&reply.body))),
        _ => Err(scim_error(reply)),
    }
}

/// Maps a completion status onto the action's end.
fn completion(id: &str, status: &str, messages: &[Value], tries: &str) -> Finish {
    let said: Vec<String> = messages.iter().map(message_text).collect();
    let said = if said.is_empty() { String::new() } else { format!(": {}", said.join("; ")) };
    let text = format!("{PLATFORM} task result {id}: {status}{said}{tries}");
    match status {
        "Success" => Finish::Success(Effect::Nothing, text),
        "Warning" => Finish::Success(Effect::Nothing, format!("{text} (completed with warnings)")),
        "Error" | "Terminated" => Finish::Error(text),
        "TempError" => Finish::Error(format!("{text} (a temporary error: retry the action)")),
        other => Finish::Error(format!(
            "{PLATFORM} task result {id} has a completion status provhost does not know: '{other}'{tries}"
        )),
    }
}

/// A task-result message: a string, or an object with its text.
fn message_text(message: &Value) -> String {
    match message {
        Value::String(s) => s.clone(),
        Value::Object(o) => ["localizedMessage", "message", "key", "text"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str))
            .map(str::to_owned)
            .unwrap_or_else(|| message.to_string()),
        other => other.to_string(),
    }
}

/// A SCIM error's detail (RFC 7644 §3.12), or the start of the body.
fn scim_error(reply: &Reply) -> String {
    let detail = serde_json::from_str::<Value>(&reply.body)
        .ok()
        .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned));
    format!("{}: {}", reply.status, detail.unwrap_or_else(|| excerpt(&reply.body)))
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

    fn carry_out(&self, tenant: &str, action: &Action) -> Result<Finish, BackendError> {
        Ok(self.run(tenant, action))
    }

    fn unsupported(&self, kind: ActionKind) -> Option<String> {
        unsupported(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_statuses_map_onto_action_ends() {
        let msgs = [json!({"type": "Warn", "localizedMessage": "mailbox quota near"}), json!("second")];
        let success = completion("t1", "Success", &[], "");
        assert_eq!(success, Finish::Success(Effect::Nothing, "IdentityIQ task result t1: Success".into()));
        match completion("t1", "Warning", &msgs, "") {
            Finish::Success(_, m) => assert!(m.contains("mailbox quota near; second") && m.contains("warnings"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(completion("t1", "Error", &msgs, ""), Finish::Error(_)));
        assert!(matches!(completion("t1", "Terminated", &[], ""), Finish::Error(_)));
        match completion("t1", "TempError", &[], " (after 2 tries)") {
            Finish::Error(m) => assert!(m.contains("retry the action") && m.contains("after 2 tries"), "{m}"),
            other => panic!("{other:?}"),
        }
        match completion("t1", "Pending", &[], "") {
            Finish::Error(m) => assert!(m.contains("does not know: 'Pending'"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
