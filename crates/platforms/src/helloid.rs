//! The HelloID backend: the directory is read from HelloID's REST API, and each committed action
//! calls one of the four targeted endpoints of the feature request — re-enforce, update account,
//! unmanage, retry — with `Idempotency-Key: provhost-<action id>`, so a request sent again after a
//! lost answer, or by a later attempt after a crash, is replayed by the platform, never applied
//! twice. An action HelloID has not finished (or holds for approval) waits on HelloID's action and
//! is followed up until it ends there. provhost's own HTTP service serves the same contract, so one
//! provhost can front another.

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::client::{Auth, Call, ClientError, Reply, Resend, RestClient, excerpt};
use super::path::{query_value, segment};
use super::settings::{HelloIdConfig, Pace};
use super::{Backend, BackendError, Job};
use provhost_core::api::{Page, RequestReport};
use provhost_core::model::{Account, Action, ActionFilter, ActionKind, ActionState, ActionTarget, Entitlement, Person};
use provhost_store::{Effect, Finish, FollowUp, Following};
use std::time::Instant;

const PLATFORM: &str = "HelloID";

/// A tenant in HelloID.
pub struct HelloIdBackend {
    client: RestClient,
    pace: Pace,
}

/// A system's summary: what percentage thresholds count against.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SystemSummary {
    entitlement_count: u32,
}

/// An RFC 9457 problem, as far as messages need it.
#[derive(Deserialize)]
struct ProblemBody {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    detail: String,
}

impl HelloIdBackend {
    /// A backend for the HelloID tenant `config` names.
    pub fn new(config: &HelloIdConfig) -> Result<Self, String> {
        let auth = Auth::Basic(config.api_key.reveal()?, config.api_secret.reveal()?);
        let client = RestClient::new(PLATFORM, &config.base_url, auth, config.http)?;
        Ok(Self { client, pace: config.pace() })
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, BackendError> {
        let reply = self.client.send(&Call::get(path)).map_err(unavailable)?;
        match reply.status {
            200..=299 => serde_json::from_str(&reply.body).map_err(|e| {
                BackendError::Unavailable(format!(
                    "{PLATFORM}: GET {path} answered with a body provhost cannot read ({e}): {}",
                    excerpt(&reply.body)
                ))
            }),
            404 => Err(BackendError::NotFound(problem_text(&reply))),
            _ => Err(BackendError::Unavailable(format!("{PLATFORM}: GET {path}: {}", problem_text(&reply)))),
        }
    }

    /// Every item of a paged list, following at most `http.max-pages` pages.
    fn all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, BackendError> {
        let mut items = Vec::new();
        let mut offset = 0;
        for _ in 0..self.client.max_pages() {
            let separator = if path.contains('?') { '&' } else { '?' };
            let page: Page<T> = self.get(&format!("{path}{separator}limit=500&offset={offset}"))?;
            items.extend(page.items);
            match page.next_offset {
                Some(next) if next > offset => offset = next,
                _ => return Ok(items),
            }
        }
        Err(BackendError::Unavailable(format!(
            "{PLATFORM}: GET {path} has more than {} pages (`http.max-pages`); provhost stopped reading and used none of it",
            self.client.max_pages()
        )))
    }

    /// The endpoint that runs `action`.
    fn endpoint(action: &Action) -> Result<String, String> {
        if let Some(failed) = &action.retry_of {
            return Ok(format!("/provisioning/entitlement-actions/{}/retry", segment(failed).map_err(text)?));
        }
        let person = segment(&action.person).map_err(text)?;
        match (action.kind, &action.target) {
            (ActionKind::Grant, ActionTarget::Entitlement(e)) => {
                Ok(format!("/provisioning/persons/{person}/entitlements/{}/re-enforce", segment(e).map_err(text)?))
            }
            (ActionKind::Update, ActionTarget::Account(a)) => {
                Ok(format!("/provisioning/persons/{person}/accounts/{}/update", segment(a).map_err(text)?))
            }
            (ActionKind::Unmanage, ActionTarget::Entitlement(e)) => {
                Ok(format!("/provisioning/persons/{person}/entitlements/{}/unmanage", segment(e).map_err(text)?))
            }
            (kind, _) => Err(format!(
                "{PLATFORM} has no targeted endpoint for a {kind} action; provhost re-enforces, updates, unmanages and retries"
            )),
        }
    }

    /// Runs one action on HelloID and says where it ended. Every attempt sends the same
    /// idempotency key, so an attempt after a crash or a lost answer gets the first one's answer.
    fn run(&self, job: &Job<'_>) -> Finish {
        let action = job.action;
        let path = match Self::endpoint(action) {
            Ok(path) => path,
            Err(message) => return Finish::Error(message),
        };
        let body = serde_json::json!({ "reason": format!("provhost action {} ({})", action.id, action.origin) });
        let call = Call {
            method: Method::POST,
            target: &path,
            headers: Vec::new(),
            body: Some(("application/json", body.to_string().into_bytes())),
            resend: Resend::Keyed(job.idempotency_key()),
        };
        let reply = match self.send_until_settled(&call) {
            Ok(reply) => reply,
            Err(e) => return Finish::Error(e.to_string()),
        };
        let tries = if reply.attempts > 1 { format!(" (after {} tries)", reply.attempts) } else { String::new() };
        if !(200..=299).contains(&reply.status) {
            return Finish::Error(format!("{PLATFORM} refused POST {path}: {}{tries}", problem_text(&reply)));
        }
        let report: RequestReport = match serde_json::from_str(&reply.body) {
            Ok(report) => report,
            Err(e) => {
                return Finish::Error(format!(
                    "{PLATFORM} answered POST {path} with a body provhost cannot read ({e}); the action may have run there: {}",
                    excerpt(&reply.body)
                ));
            }
        };
        if !report.committed {
            return Finish::Error(format!("{PLATFORM} did not run POST {path}: it did not commit the action{tries}"));
        }
        match report.actions.as_slice() {
            [remote] => {
                let seen = Seen { id: &remote.id, state: remote.state, message: remote.message.clone() };
                self.settle(seen, &report.thresholds, &tries, Instant::now() + self.pace.completion)
            }
            other => Finish::Error(format!(
                "{PLATFORM} answered POST {path} with {} actions, where one was expected{tries}",
                other.len()
            )),
        }
    }

    /// Sends `call`, waiting while HelloID still works on an earlier copy of it (409
    /// `request-in-progress`: the same idempotency key is being processed).
    fn send_until_settled(&self, call: &Call<'_>) -> Result<Reply, ClientError> {
        let deadline = Instant::now() + self.pace.completion;
        loop {
            let reply = self.client.send(call)?;
            let in_progress = reply.status == 409
                && serde_json::from_str::<ProblemBody>(&reply.body)
                    .is_ok_and(|p| p.kind == "/problems/request-in-progress");
            if !in_progress || Instant::now() >= deadline {
                return Ok(reply);
            }
            std::thread::sleep(self.pace.poll);
        }
    }

    /// Follows up a waiting action: HelloID's action is read once, and ends the local one if it
    /// ended; past `follow-up-limit-ms` of waiting, the local action ends in error.
    fn follow_up(&self, following: &Following) -> Finish {
        let id = &following.reference;
        if following.waited >= self.pace.limit {
            return Finish::Error(format!(
                "{PLATFORM} action {id} did not end within {} s of waiting (`follow-up-limit-ms`); provhost stopped \
                 following it: check it there",
                self.pace.limit.as_secs()
            ));
        }
        let read = segment(id).and_then(|id| self.get::<Action>(&format!("/v1/actions/{id}")));
        match read {
            Ok(now) => self.settle(Seen { id, state: now.state, message: now.message }, &[], "", Instant::now()),
            Err(e) => self.waiting(id, format!("{PLATFORM} action {id} is waiting; following it up failed: {e}")),
        }
    }

    /// Where an action HelloID accepted ends: followed until final or `deadline`; then `waiting`,
    /// to be followed up. `tries` is what the messages add about the tries it took.
    fn settle(&self, mut seen: Seen<'_>, thresholds: &[String], tries: &str, deadline: Instant) -> Finish {
        let id = seen.id;
        loop {
            let said = format!("{PLATFORM} action {id}: {}{tries}", seen.message);
            match seen.state {
                ActionState::Success => return Finish::Success(Effect::Nothing, said),
                ActionState::Error | ActionState::Rejected => return Finish::Error(said),
                ActionState::Blocked => {
                    let why =
                        if thresholds.is_empty() { String::new() } else { format!(" ({})", thresholds.join("; ")) };
                    return self.waiting(
                        id,
                        format!("{PLATFORM} holds action {id} for approval{why}; approve or reject it there{tries}"),
                    );
                }
                ActionState::Pending | ActionState::Waiting | ActionState::Running => {}
            }
            if Instant::now() + self.pace.poll > deadline {
                return self.waiting(id, format!("{PLATFORM} action {id} is still {} there{tries}", seen.state));
            }
            std::thread::sleep(self.pace.poll);
            let followed = segment(id).and_then(|id| self.get::<Action>(&format!("/v1/actions/{id}")));
            match followed {
                Ok(now) => (seen.state, seen.message) = (now.state, now.message),
                Err(e) => {
                    return self
                        .waiting(id, format!("{PLATFORM} action {id} is {}; following it failed: {e}", seen.state));
                }
            }
        }
    }

    /// The action waits on HelloID's action `id`, followed up after `follow-up-interval-ms`.
    fn waiting(&self, id: &str, message: String) -> Finish {
        Finish::Waiting(message, FollowUp { reference: id.to_owned(), after: self.pace.follow_up })
    }
}

/// HelloID's action as last seen.
struct Seen<'a> {
    id: &'a str,
    state: ActionState,
    message: String,
}

fn text(e: BackendError) -> String {
    e.to_string()
}

fn unavailable(e: ClientError) -> BackendError {
    BackendError::Unavailable(e.to_string())
}

/// What a non-2xx answer says: the problem's title and detail when it is one.
fn problem_text(reply: &Reply) -> String {
    match serde_json::from_str::<ProblemBody>(&reply.body) {
        Ok(p) if !p.detail.is_empty() => format!("{} {}: {}", reply.status, p.title, p.detail),
        _ => format!("{}: {}", reply.status, excerpt(&reply.body)),
    }
}

impl Backend for HelloIdBackend {
    fn persons(&self, _tenant: &str) -> Result<Vec<Person>, BackendError> {
        self.all("/v1/persons")
    }

    fn person(&self, _tenant: &str, id: &str) -> Result<Person, BackendError> {
        self.get(&format!("/v1/persons/{}", segment(id)?))
    }

    fn entitlements(&self, _tenant: &str, person: &str) -> Result<Vec<Entitlement>, BackendError> {
        self.all(&format!("/v1/persons/{}/entitlements", segment(person)?))
    }

    fn accounts(&self, _tenant: &str, person: &str) -> Result<Vec<Account>, BackendError> {
        self.all(&format!("/v1/persons/{}/accounts", segment(person)?))
    }

    fn entitlement(&self, _tenant: &str, id: &str) -> Result<Entitlement, BackendError> {
        self.get(&format!("/v1/entitlements/{}", segment(id)?))
    }

    fn account(&self, _tenant: &str, id: &str) -> Result<Account, BackendError> {
        self.get(&format!("/v1/accounts/{}", segment(id)?))
    }

    fn action(&self, _tenant: &str, id: &str) -> Result<Action, BackendError> {
        self.get(&format!("/v1/actions/{}", segment(id)?))
    }

    fn actions(&self, _tenant: &str, filter: &ActionFilter, limit: usize) -> Result<Vec<Action>, BackendError> {
        let mut query = vec![format!("limit={}", limit.clamp(1, 500))];
        if let Some(person) = &filter.person {
            query.push(format!("person={}", query_value(person)));
        }
        if let Some(state) = filter.state {
            query.push(format!("state={state}"));
        }
        if let Some(system) = &filter.system {
            query.push(format!("system={}", query_value(system)));
        }
        let page: Page<Action> = self.get(&format!("/v1/actions?{}", query.join("&")))?;
        Ok(page.items)
    }

    fn entitlement_count(&self, _tenant: &str, system: &str) -> Result<u32, BackendError> {
        Ok(self.get::<SystemSummary>(&format!("/v1/systems/{}", segment(system)?))?.entitlement_count)
    }

    fn carry_out(&self, _tenant: &str, job: &Job<'_>) -> Result<Finish, BackendError> {
        Ok(match job.follow {
            Some(following) => self.follow_up(following),
            None => self.run(job),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(kind: ActionKind, target: ActionTarget, retry_of: Option<&str>) -> Action {
        Action {
            id: "a1".into(),
            person: "p 1".into(),
            system: "ad".into(),
            target,
            kind,
            state: ActionState::Pending,
            origin: "test".into(),
            message: String::new(),
            retry_of: retry_of.map(str::to_owned),
            invocation: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn each_action_goes_to_its_endpoint_with_ids_encoded() {
        let e = || ActionTarget::Entitlement("e/1".into());
        assert_eq!(
            HelloIdBackend::endpoint(&action(ActionKind::Grant, e(), None)).unwrap(),
            "/provisioning/persons/p%201/entitlements/e%2F1/re-enforce"
        );
        assert_eq!(
            HelloIdBackend::endpoint(&action(ActionKind::Update, ActionTarget::Account("acc".into()), None)).unwrap(),
            "/provisioning/persons/p%201/accounts/acc/update"
        );
        assert_eq!(
            HelloIdBackend::endpoint(&action(ActionKind::Unmanage, e(), None)).unwrap(),
            "/provisioning/persons/p%201/entitlements/e%2F1/unmanage"
        );
        assert_eq!(
            HelloIdBackend::endpoint(&action(ActionKind::Revoke, e(), Some("f1"))).unwrap(),
            "/provisioning/entitlement-actions/f1/retry"
        );
        let mut upward = action(ActionKind::Update, ActionTarget::Account("..".into()), None);
        let refused = HelloIdBackend::endpoint(&upward).unwrap_err();
        assert!(refused.contains("'..' cannot name a record on the platform"), "{refused}");
        upward.target = ActionTarget::Account("../x".into());
        assert_eq!(
            HelloIdBackend::endpoint(&upward).unwrap(),
            "/provisioning/persons/p%201/accounts/..%2Fx/update",
            "an id with a slash stays one segment"
        );
        let revoke = HelloIdBackend::endpoint(&action(ActionKind::Revoke, e(), None)).unwrap_err();
        assert!(revoke.contains("no targeted endpoint for a revoke action"), "{revoke}");
    }
}
