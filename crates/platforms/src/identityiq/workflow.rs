//! One action's workflow on IdentityIQ: launched once whatever happens to provhost, and followed
//! to its end. The launch carries the action's idempotency key twice — as the workflow input
//! `provhostIdempotencyKey` and as the ProvisioningPlan's `trackingId` — and its task result is
//! recorded as soon as IdentityIQ answers. A later attempt (after a crash, or a launch whose answer
//! was lost) follows the recorded task result, or looks for a launch carrying the key before it
//! launches anything; when it cannot tell, it launches nothing. The task result's `meta.location`
//! must be on the configured origin, like every URL provhost follows.

use std::time::Instant;

use reqwest::Method;
use reqwest::header::ACCEPT;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{IdentityIqBackend, LAUNCH_PATH, LAUNCHED_WORKFLOW, PLATFORM, SCIM_JSON, TASK_RESULT};
use crate::Job;
use crate::client::{Call, ClientError, Reply, Resend, Sent, excerpt};
use crate::path::{query_value, segment};
use crate::provisioning_plan::ProvisioningPlan;
use provhost_core::model::{ActionState, rfc3339};
use provhost_store::{Effect, Finish, FollowUp, Following};

/// The workflow input that carries the action's idempotency key.
pub const KEY_INPUT: &str = "provhostIdempotencyKey";

/// How many launched workflows one page of the lookup asks for.
const PAGE: usize = 100;

/// The parts of a LaunchedWorkflow or TaskResult provhost reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TaskResult {
    id: String,
    #[serde(default)]
    completion_status: Option<String>,
    #[serde(default)]
    messages: Vec<Value>,
    #[serde(default)]
    meta: Option<Meta>,
}

#[derive(Debug, Deserialize)]
struct Meta {
    #[serde(default)]
    location: Option<String>,
}

/// A page of `GET LaunchedWorkflows`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    #[serde(default)]
    total_results: usize,
    #[serde(default, rename = "Resources")]
    resources: Vec<Value>,
}

impl IdentityIqBackend {
    /// The launch request's body for `plan`, carrying the job's idempotency key.
    fn launch_body(&self, job: &Job<'_>, plan: &ProvisioningPlan) -> Value {
        json!({
            "schemas": [LAUNCHED_WORKFLOW, TASK_RESULT],
            "workflowName": self.config.workflow_name,
            "input": [
                { "key": "identityName", "value": plan.identity, "type": "string" },
                { "key": "plan", "value": plan.to_xml(), "type": "application/xml" },
                { "key": "provhostActionId", "value": job.action.id, "type": "string" },
                { "key": KEY_INPUT, "value": job.idempotency_key(), "type": "string" },
            ],
        })
    }

    /// Carries the job out: follows the workflow an earlier attempt launched, or launches it.
    pub(super) fn workflow(&self, tenant: &str, job: &Job<'_>) -> Finish {
        if let Some(following) = job.follow {
            return self.follow_up(job, following);
        }
        if job.attempt > 1 {
            match self.find_launch(job) {
                Ok(Some(found)) => return self.followed(job, found, " (launched by an earlier attempt)"),
                Ok(None) => {}
                Err(e) => {
                    return Finish::Error(format!(
                        "{PLATFORM}: attempt {} cannot tell whether an earlier attempt launched '{}' ({e}); it was not \
                         launched again — check IdentityIQ for {KEY_INPUT} {} before retrying",
                        job.attempt,
                        self.config.workflow_name,
                        job.idempotency_key()
                    ));
                }
            }
        }
        let mut plan = match self.plan_for(tenant, job.action) {
            Ok(plan) => plan,
            Err(message) => return Finish::Error(message),
        };
        plan.tracking_id = Some(job.idempotency_key());
        self.launch(job, &plan)
    }

    /// Launches the workflow once and follows it. After an answer that leaves open whether it
    /// launched (a 5xx, a timeout, a connection cut), the launch is looked up by its idempotency
    /// key before it is sent again: found, it is followed; not found, it is sent again within
    /// the retry bounds; when the lookup fails, nothing more is launched.
    fn launch(&self, job: &Job<'_>, plan: &ProvisioningPlan) -> Finish {
        let call = Call {
            method: Method::POST,
            target: LAUNCH_PATH,
            headers: vec![(ACCEPT, SCIM_JSON.into())],
            body: Some((SCIM_JSON, self.launch_body(job, plan).to_string().into_bytes())),
            // Launching twice would run the workflow twice.
            resend: Resend::Once,
        };
        let reply = match self.client.send_once(&call, || self.find_launch(job)) {
            Ok(Sent::Reply(reply)) => reply,
            Ok(Sent::Applied(found)) => {
                return self.followed(
                    job,
                    found,
                    " (its answer left open whether it launched: found by its idempotency key)",
                );
            }
            Err(unreadable @ ClientError::TooLarge { .. }) => {
                // It launched, but the answer is not read: follow it if IdentityIQ has it.
                return match self.find_launch(job) {
                    Ok(Some(found)) => {
                        self.followed(job, found, " (its answer was unreadable: found by its idempotency key)")
                    }
                    _ => Finish::Error(unreadable.to_string()),
                };
            }
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
        match serde_json::from_str(&reply.body) {
            Ok(launched) => self.followed(job, launched, &tries),
            Err(e) => Finish::Error(format!(
                "{PLATFORM} answered the launch of '{}' with a body provhost cannot read ({e}); the workflow may have \
                 started — check IdentityIQ before retrying: {}",
                self.config.workflow_name,
                excerpt(&reply.body)
            )),
        }
    }

    /// The launch of an earlier attempt, found by the job's idempotency key among the workflows
    /// launched since shortly before the action was committed, at most `http.max-pages` pages.
    fn find_launch(&self, job: &Job<'_>) -> Result<Option<TaskResult>, String> {
        let key = job.idempotency_key();
        let committed =
            time::OffsetDateTime::parse(&job.action.created_at, &time::format_description::well_known::Rfc3339)
                .map_err(|e| format!("the action's time '{}' is unreadable: {e}", job.action.created_at))?;
        // A launch follows the commit; an hour's margin covers IdentityIQ's clock being behind.
        let since = rfc3339(committed - time::Duration::hours(1));
        let filter = query_value(&format!("launched ge \"{since}\""));
        for page in 0..self.client.max_pages() as usize {
            let target = format!("{LAUNCH_PATH}?filter={filter}&startIndex={}&count={PAGE}", 1 + page * PAGE);
            let call = Call { headers: vec![(ACCEPT, SCIM_JSON.into())], ..Call::get(&target) };
            let reply = self.client.send(&call).map_err(|e| e.to_string())?;
            if !(200..=299).contains(&reply.status) {
                return Err(format!("looking it up answered {}", scim_error(&reply)));
            }
            let list: ListResponse = serde_json::from_str(&reply.body)
                .map_err(|e| format!("the launched workflows are unreadable ({e}): {}", excerpt(&reply.body)))?;
            if let Some(found) = list.resources.iter().find(|r| carries(r, &key)) {
                return serde_json::from_value(found.clone())
                    .map(Some)
                    .map_err(|e| format!("the launch carrying the key is unreadable: {e}"));
            }
            if list.resources.is_empty() || (page + 1) * PAGE >= list.total_results {
                return Ok(None);
            }
        }
        Err(format!(
            "more than {} pages of workflows were launched since {since} (`http.max-pages`)",
            self.client.max_pages()
        ))
    }

    /// Records where `launched` is followed, then follows it within the carry-out.
    fn followed(&self, job: &Job<'_>, launched: TaskResult, tries: &str) -> Finish {
        let location = match self.location(&launched) {
            Ok(location) => location,
            Err(e) => return Finish::Error(e),
        };
        if !(job.noted)(&location) {
            return Finish::Error(format!(
                "{PLATFORM} task result {}: the claim on the action was lost while launching; its new holder follows it",
                launched.id
            ));
        }
        self.follow(launched, &location, tries, Instant::now() + self.pace.completion)
    }

    /// Follows up the task result an earlier attempt or follow-up recorded: within the carry-out
    /// when the action was taken up again, once for a waiting action (which ends in error past
    /// `follow-up-limit-ms`).
    fn follow_up(&self, job: &Job<'_>, following: &Following) -> Finish {
        let location = &following.reference;
        let waiting = job.action.state == ActionState::Waiting;
        if waiting && following.waited >= self.pace.limit {
            return Finish::Error(format!(
                "{PLATFORM} task result {location} did not complete within {} s of waiting (`follow-up-limit-ms`); \
                 provhost stopped following it: check it there",
                self.pace.limit.as_secs()
            ));
        }
        let deadline = if waiting { Instant::now() } else { Instant::now() + self.pace.completion };
        match self.task_result(location) {
            Ok(result) => self.follow(result, location, "", deadline),
            Err(e) => self
                .waiting(location, format!("{PLATFORM} task result {location} is running; following it failed: {e}")),
        }
    }

    /// Where a task result is read: its `meta.location` when it is on the configured origin,
    /// else the TaskResults path of its id.
    fn location(&self, result: &TaskResult) -> Result<String, String> {
        match result.meta.as_ref().and_then(|m| m.location.clone()) {
            Some(location) => match self.client.url(&location) {
                Ok(_) => Ok(location),
                Err(e) => Err(format!("{PLATFORM} task result {}: its meta.location is not followed: {e}", result.id)),
            },
            None => segment(&result.id)
                .map(|id| format!("/identityiq/scim/v2/TaskResults/{id}"))
                .map_err(|e| format!("{PLATFORM} answered an unusable task result id: {e}")),
        }
    }

    /// The task result at `location`.
    fn task_result(&self, location: &str) -> Result<TaskResult, String> {
        let call = Call { headers: vec![(ACCEPT, SCIM_JSON.into())], ..Call::get(location) };
        parse_task_result(&self.client.send(&call).map_err(|e| e.to_string())?)
    }

    /// Reads the task result until it has a completion status or `deadline` passes; then the
    /// action waits, to be followed up. `tries` is what the launch's messages say of its tries.
    fn follow(&self, mut result: TaskResult, location: &str, tries: &str, deadline: Instant) -> Finish {
        loop {
            if let Some(status) = &result.completion_status {
                return completion(&result.id, status, &result.messages, tries);
            }
            if Instant::now() + self.pace.poll > deadline {
                let message = format!("{PLATFORM} task result {} has not completed yet{tries}", result.id);
                return self.waiting(location, message);
            }
            std::thread::sleep(self.pace.poll);
            result = match self.task_result(location) {
                Ok(next) => next,
                Err(e) => {
                    let message = format!("{PLATFORM} task result {} is running; following it failed: {e}", result.id);
                    return self.waiting(location, message);
                }
            };
        }
    }

    /// The action waits on the task result at `location`, followed up after
    /// `follow-up-interval-ms`.
    fn waiting(&self, location: &str, message: String) -> Finish {
        Finish::Waiting(message, FollowUp { reference: location.to_owned(), after: self.pace.follow_up })
    }
}

/// Whether a launched workflow carries `key` as its `provhostIdempotencyKey` input.
fn carries(launched: &Value, key: &str) -> bool {
    let inputs = [&launched["input"], &launched[LAUNCHED_WORKFLOW]["input"]];
    inputs.iter().filter_map(|i| i.as_array()).flatten().any(|i| i["key"] == KEY_INPUT && i["value"] == key)
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

    #[test]
    fn a_launch_is_found_by_its_key_in_either_place_the_inputs_are_listed() {
        let input = json!([{ "key": KEY_INPUT, "value": "provhost-a1" }]);
        assert!(carries(&json!({ "input": input }), "provhost-a1"));
        assert!(carries(&json!({ LAUNCHED_WORKFLOW: { "input": input } }), "provhost-a1"));
        assert!(!carries(&json!({ "input": input }), "provhost-a2"));
        assert!(!carries(&json!({ "input": [{ "key": "provhostActionId", "value": "provhost-a1" }] }), "provhost-a1"));
    }
}
