//! continue-provisioning: SailPoint's "Provisioning Completed" carried on in provhost, account
//! request by account request.
//!
//! - A request that failed (`provisioningResult` FAILED; or, when the run reports `errors`, one
//!   that did not succeed) retries provhost's failed actions of the person in the system the
//!   request's source is: the latest one of each entitlement or account. A failed request with
//!   nothing to retry is noted in the audit trail.
//! - A request that succeeded re-enforces the person's managed entitlements in the systems that
//!   depend on what it changed, as the setting `dependent-systems` says.
//! - Errors of the run that no failed request accounts for are noted.
//!
//! Settings: `sources` (which provhost system each SailPoint source is) and `dependent-systems`.
//! A refused call is logged and counted, and the rest goes on; `unavailable` abandons the run.

mod settings;

use provhost_sdk::{
    AccountRequest, ActionFilter, ActionId, ActionKind, ActionState, ActionTarget, EntitlementId, Error, Outcome,
    PersonId, Plugin, ProvisioningCompleted, Receipt, actions, audit_note, info, log, queries, register_plugin, warn,
};
use settings::{Dependents, Sources};

struct ContinueProvisioning;

/// How an account request ended, as far as this plugin is concerned.
enum Ended {
    Failed,
    Succeeded,
    /// Still pending (or an unknown result) in a run without errors: nothing to do yet.
    Unfinished,
}

fn ended(request: &AccountRequest, run_has_errors: bool) -> Ended {
    match request.provisioning_result.to_ascii_uppercase().as_str() {
        "SUCCESS" => Ended::Succeeded,
        "FAILED" => Ended::Failed,
        _ if run_has_errors => Ended::Failed,
        _ => Ended::Unfinished,
    }
}

fn kind_name(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Grant => "grant",
        ActionKind::Update => "update",
        ActionKind::Revoke => "revoke",
        ActionKind::Unmanage => "unmanage",
    }
}

/// A refusal as `tag: message`, as the Python and JavaScript versions write it too.
fn describe(refusal: &Error) -> String {
    let (tag, message) = match refusal {
        Error::Forbidden(m) => ("forbidden", m),
        Error::Excluded(m) => ("excluded", m),
        Error::ThresholdExceeded(hit) => ("threshold-exceeded", &hit.message),
        Error::NotFound(m) => ("not-found", m),
        Error::Invalid(m) => ("invalid", m),
        Error::Conflict(m) => ("conflict", m),
        Error::Unavailable(m) => ("unavailable", m),
        Error::BudgetExhausted(m) => ("budget-exhausted", m),
    };
    format!("{tag}: {message}")
}

fn target_id(target: &ActionTarget) -> &str {
    match target {
        ActionTarget::Entitlement(id) | ActionTarget::Account(id) => id,
    }
}

/// One event's run: what it planned and noted so far.
struct Run<'a> {
    event: &'a ProvisioningCompleted,
    person: PersonId,
    name: String,
    dependents: Dependents,
    retries: usize,
    /// The entitlements re-enforced, so that each is re-enforced once per event.
    re_enforced: Vec<String>,
    /// The systems whose failed actions were looked at, so that each is retried once per event.
    retried_in: Vec<String>,
    noted: usize,
    refused: usize,
}

impl Run<'_> {
    /// Notes a planned action, or logs and counts a refusal; `unavailable` abandons the run.
    fn planned(&mut self, what: &str, result: Result<Receipt, Error>) -> Result<bool, String> {
        match result {
            Ok(receipt) => {
                audit_note!(&ActionId::from(receipt.action), "{what}: planned");
                Ok(true)
            }
            Err(Error::Unavailable(message)) => Err(format!("{what}: platform unavailable: {message}")),
            Err(refusal) => {
                self.refused += 1;
                warn!("{what}: refused: {}", describe(&refusal));
                Ok(false)
            }
        }
    }

    fn note(&mut self, message: &str, is_error: bool) {
        log::audit_note(None, message, is_error);
        self.noted += 1;
    }

    /// A failed request: retry the latest failed action of each target in `system`, or note that
    /// there is none.
    fn retry_failed(&mut self, request: &AccountRequest, system: &str, what: &str) -> Result<(), String> {
        if self.retried_in.iter().any(|s| s == system) {
            return Ok(());
        }
        self.retried_in.push(system.to_string());
        let failed = queries::list_actions(
            &ActionFilter {
                person: Some(self.person.to_string()),
                state: Some(ActionState::Error),
                system: Some(system.to_string()),
            },
            500,
        )
        .map_err(|e| format!("reading the failed actions of {} in {system}: {}", self.person, describe(&e)))?;
        // Newest first: the first of each target is its latest failure; older ones were retried.
        let mut seen: Vec<(ActionKind, &str)> = Vec::new();
        let latest: Vec<_> = failed
            .iter()
            .filter(|a| {
                let key = (a.kind, target_id(&a.target));
                let first = !seen.contains(&key);
                seen.push(key);
                first
            })
            .collect();
        if latest.is_empty() {
            let errors = if self.event.errors.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.event.errors.join("; "))
            };
            let message = format!(
                "{what} of account {} failed{errors}; {} has no failed action in {system} to retry",
                request.account_id, self.name
            );
            self.note(&message, true);
            return Ok(());
        }
        let reason = format!("SailPoint provisioning {}: {what} failed", self.event.tracking_number);
        for action in latest {
            let result = actions::retry_action(&ActionId::from(&action.id), &reason);
            if self.planned(&format!("retry {} on {system}", kind_name(action.kind)), result)? {
                self.retries += 1;
            }
        }
        Ok(())
    }

    /// A request that succeeded: re-enforce the person's managed entitlements in the systems that
    /// depend on what it changed in `system`.
    fn re_enforce_dependents(&mut self, request: &AccountRequest, system: &str, what: &str) -> Result<(), String> {
        let changed: Vec<&str> = request.attribute_requests.iter().map(|a| a.name.as_str()).collect();
        let dependents = self.dependents.of(system, &changed);
        if dependents.is_empty() {
            let changed = if changed.is_empty() { "no attribute".to_string() } else { changed.join(", ") };
            info!("{what} succeeded; no system depends on {changed} in {system}");
            return Ok(());
        }
        let entitlements = queries::list_entitlements(&self.person, None)
            .map_err(|e| format!("reading the entitlements of {}: {}", self.person, describe(&e)))?;
        let reason = format!(
            "SailPoint provisioning {}: {} changed in {system}",
            self.event.tracking_number,
            changed.join(", ")
        );
        for entitlement in entitlements.iter().filter(|e| e.managed && dependents.contains(&e.system)) {
            if self.re_enforced.contains(&entitlement.id) {
                continue;
            }
            let result = actions::re_enforce_entitlement(&self.person, &EntitlementId::from(&entitlement.id), &reason);
            let what = format!("re-enforce {} on {}", entitlement.display_name, entitlement.system);
            if self.planned(&what, result)? {
                self.re_enforced.push(entitlement.id.clone());
            }
        }
        Ok(())
    }
}

impl Plugin for ContinueProvisioning {
    fn on_provisioning_completed(event: &ProvisioningCompleted) -> Result<Outcome, String> {
        let sources = Sources::read()?;
        let dependents = Dependents::read()?;
        let person = PersonId::from(&event.recipient.id);
        let found = queries::get_person(&person).map_err(|e| format!("reading person {person}: {}", describe(&e)))?;
        let mut run = Run {
            event,
            person,
            name: found.display_name(),
            dependents,
            retries: 0,
            re_enforced: Vec::new(),
            retried_in: Vec::new(),
            noted: 0,
            refused: 0,
        };
        let run_has_errors = !event.errors.is_empty();
        let mut errors_accounted = false;
        for request in &event.account_requests {
            let what = format!("{} in {}", request.account_operation, request.source.name);
            let Some(system) = sources.system(&request.source) else {
                let message = format!(
                    "{what}: SailPoint source '{}' ({}) is not in the setting `sources`; nothing done for it",
                    request.source.name, request.source.id
                );
                run.note(&message, false);
                continue;
            };
            match ended(request, run_has_errors) {
                Ended::Failed => {
                    errors_accounted = true;
                    run.retry_failed(request, system, &what)?;
                }
                Ended::Succeeded => run.re_enforce_dependents(request, system, &what)?,
                Ended::Unfinished => info!("{what} is {}; nothing to do until it ends", request.provisioning_result),
            }
        }
        if run_has_errors && !errors_accounted {
            let message = format!(
                "SailPoint provisioning {} reported errors no failed account request accounts for: {}",
                event.tracking_number,
                event.errors.join("; ")
            );
            run.note(&message, true);
        }
        Ok(Outcome::new(format!(
            "{}: provisioning {} ({}): planned {} retries, {} re-enforcements; {} noted{}",
            run.name,
            event.tracking_number,
            event.action,
            run.retries,
            run.re_enforced.len(),
            run.noted,
            if run.refused > 0 { format!("; {} refused", run.refused) } else { String::new() }
        )))
    }
}

register_plugin!(ContinueProvisioning);
