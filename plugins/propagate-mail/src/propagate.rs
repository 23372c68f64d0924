//! What propagate-mail plans for an attribute change (see the crate's documentation); a module of
//! its own so that test versions of the plugin can build on it.

use provhost_sdk::{
    AccountId, ActionFilter, ActionId, ActionKind, ActionState, ActionTarget, AttributeChanged, EntitlementId, Error,
    Outcome, PersonId, Plugin, Receipt, SystemId, actions, audit_note, info, queries, settings, warn,
};

/// The attributes that carry a person's mail identity, watched unless the setting `attributes`
/// names others.
const WATCHED: &str = "proxyAddresses,mail,userPrincipalName";

/// The plugin: what it plans for an attribute change.
pub struct PropagateMail;

/// What was planned, for the summary.
#[derive(Default)]
struct Tally {
    retries: usize,
    updates: usize,
    re_enforced: usize,
    refused: usize,
}

impl Tally {
    /// Counts a planned action, or logs and counts a refusal; `unavailable` abandons the run.
    fn planned(
        &mut self,
        what: &str,
        result: Result<Receipt, Error>,
        counter: fn(&mut Tally) -> &mut usize,
    ) -> Result<Option<ActionId>, String> {
        match result {
            Ok(receipt) => {
                *counter(self) += 1;
                let id = ActionId::from(receipt.action);
                audit_note!(&id, "{what}: planned");
                Ok(Some(id))
            }
            Err(Error::Unavailable(message)) => Err(format!("{what}: platform unavailable: {message}")),
            Err(refusal) => {
                self.refused += 1;
                warn!("{what}: refused: {refusal:?}");
                Ok(None)
            }
        }
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

/// The items of a comma-separated setting, trimmed, without empty ones.
fn list(setting: &str) -> Vec<String> {
    setting.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

impl Plugin for PropagateMail {
    fn on_attribute_changed(event: &AttributeChanged) -> Result<Outcome, String> {
        let sources = list(&settings::get("source-system").unwrap_or_else(|| "active-directory".to_string()));
        if !sources.contains(&event.system) {
            let sources = sources.join(", ");
            info!("change in {} ignored: only changes in {sources} are propagated", event.system);
            return Ok(Outcome::new(format!("ignored: change in {}, not {sources}", event.system)));
        }
        let source = event.system.as_str();
        let watched = list(&settings::get("attributes").unwrap_or_else(|| WATCHED.to_string()));
        let changed: Vec<&str> = event
            .changes
            .iter()
            .map(|c| c.attribute.as_str())
            .filter(|a| watched.iter().any(|w| w.eq_ignore_ascii_case(a)))
            .collect();
        if changed.is_empty() {
            let all: Vec<&str> = event.changes.iter().map(|c| c.attribute.as_str()).collect();
            info!("no mail attribute changed ({}); nothing to propagate", all.join(", "));
            return Ok(Outcome::new("ignored: no mail attribute changed"));
        }

        let person = PersonId::from(event.person.as_str());
        let named = settings::get("systems").map(|setting| list(&setting));
        // One downstream system named: every read asks the host for that system's records only.
        let only = match named.as_deref() {
            Some([system]) => Some(SystemId::from(system.as_str())),
            _ => None,
        };
        let found = queries::get_person(&person).map_err(|e| format!("reading person {person}: {e:?}"))?;
        let accounts = queries::list_accounts(&person, only.as_ref())
            .map_err(|e| format!("reading accounts of {person}: {e:?}"))?;
        let entitlements = queries::list_entitlements(&person, only.as_ref())
            .map_err(|e| format!("reading entitlements of {person}: {e:?}"))?;
        let systems = named.unwrap_or_else(|| {
            let mut person_systems: Vec<String> = accounts.iter().map(|a| a.system.clone()).collect();
            person_systems.dedup();
            person_systems.retain(|s| s != source);
            person_systems
        });
        let reason = format!("{} changed in {source} by {}", changed.join(", "), event.source);

        let mut tally = Tally::default();
        let failed = queries::list_actions(
            &ActionFilter {
                person: Some(event.person.clone()),
                state: Some(ActionState::Error),
                system: only.map(|s| s.as_str().to_owned()),
            },
            500,
        )
        .map_err(|e| format!("reading failed actions of {person}: {e:?}"))?;
        let mut retried_accounts = Vec::new();
        for action in failed.iter().filter(|a| systems.contains(&a.system)) {
            let what = format!("retry {} on {}", kind_name(action.kind), action.system);
            let result = actions::retry_action(&ActionId::from(&action.id), &reason);
            if tally.planned(&what, result, |t| &mut t.retries)?.is_some()
                && let ActionTarget::Account(account) = &action.target
            {
                retried_accounts.push(account.clone());
            }
        }
        for account in accounts.iter().filter(|a| systems.contains(&a.system) && !retried_accounts.contains(&a.id)) {
            let what = format!("UpdateAccount {} on {}", account.account_reference, account.system);
            let result = actions::update_account(&person, &AccountId::from(&account.id), &reason);
            tally.planned(&what, result, |t| &mut t.updates)?;
        }
        for entitlement in entitlements.iter().filter(|e| e.managed && systems.contains(&e.system)) {
            let what = format!("re-enforce {} on {}", entitlement.display_name, entitlement.system);
            let result = actions::re_enforce_entitlement(&person, &EntitlementId::from(&entitlement.id), &reason);
            tally.planned(&what, result, |t| &mut t.re_enforced)?;
        }

        Ok(Outcome::new(format!(
            "{}: {} changed; planned {} retries, {} account updates, {} re-enforcements in {}{}",
            found.display_name(),
            changed.join(", "),
            tally.retries,
            tally.updates,
            tally.re_enforced,
            systems.join(", "),
            if tally.refused > 0 { format!("; {} refused", tally.refused) } else { String::new() }
        )))
    }
}
