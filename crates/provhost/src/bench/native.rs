//! The baseline: propagate-mail's decision logic as native Rust, calling the same gate a
//! plugin's imports call — so that the difference to the sandboxed plugin is the sandbox's cost.

use std::collections::BTreeMap;

use crate::event::AttributeChanged;
use crate::gate::AuditNote;
use crate::gate::{Call, Gate, LIST_ACTIONS_LIMIT, Query};
use crate::model::{Action, ActionFilter, ActionState, ActionTarget};
use crate::refusal::Refusal;

const WATCHED: [&str; 3] = ["proxyAddresses", "mail", "userPrincipalName"];

/// The id of the one action a call on one target planned.
fn first_id(planned: Vec<Action>) -> String {
    planned.into_iter().next().map(|a| a.id).unwrap_or_default()
}

/// Plans what propagate-mail plans for `event`; returns its summary.
pub fn propagate_mail(
    gate: &mut Gate,
    event: &AttributeChanged,
    settings: &BTreeMap<String, String>,
) -> Result<String, String> {
    let source = settings.get("source-system").cloned().unwrap_or_else(|| "active-directory".into());
    if event.system != source {
        return Ok(format!("ignored: change in {}, not {source}", event.system));
    }
    let changed: Vec<&str> = event
        .changes
        .iter()
        .map(|c| c.attribute.as_str())
        .filter(|a| WATCHED.iter().any(|w| w.eq_ignore_ascii_case(a)))
        .collect();
    if changed.is_empty() {
        return Ok("ignored: no mail attribute changed".into());
    }
    let person = event.person.as_str();
    let text = |e: Refusal| e.to_string();
    let found = gate
        .query(&Query::GetPerson { person: person.into() }, |p| Ok(p.backend().person(p.tenant(), person)?))
        .map_err(text)?;
    let accounts = gate
        .query(&Query::ListAccounts { person: person.into() }, |p| Ok(p.backend().accounts(p.tenant(), person)?))
        .map_err(text)?;
    let entitlements = gate
        .query(&Query::ListEntitlements { person: person.into() }, |p| {
            Ok(p.backend().entitlements(p.tenant(), person)?)
        })
        .map_err(text)?;
    let mut person_systems: Vec<String> = accounts.iter().map(|a| a.system.clone()).collect();
    person_systems.dedup();
    let systems: Vec<String> = match settings.get("systems") {
        Some(list) => list.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
        None => person_systems.into_iter().filter(|s| *s != source).collect(),
    };
    let reason = format!("{} changed in {source} by {}", changed.join(", "), event.source);
    let filter = ActionFilter { person: Some(person.into()), state: Some(ActionState::Error), ..Default::default() };
    let failed = gate
        .query(&Query::ListActions { filter: filter.clone() }, |p| {
            Ok(p.backend().actions(p.tenant(), &filter, LIST_ACTIONS_LIMIT)?)
        })
        .map_err(text)?;
    let mut counts = [0usize; 3];
    let mut note = |gate: &mut Gate, what: String, planned: Result<String, Refusal>, slot: usize| {
        if let Ok(id) = planned {
            counts[slot] += 1;
            gate.journal.note(AuditNote { action: Some(id), message: format!("{what}: planned"), is_error: false });
        }
    };
    let mut retried = Vec::new();
    for action in failed.iter().filter(|a| systems.contains(&a.system)) {
        let planned = gate.decide(&Call::retry(&action.id, &reason)).map(first_id);
        if planned.is_ok()
            && let ActionTarget::Account(account) = &action.target
        {
            retried.push(account.clone());
        }
        note(gate, format!("retry {} on {}", action.kind, action.system), planned, 0);
    }
    for account in accounts.iter().filter(|a| systems.contains(&a.system) && !retried.contains(&a.id)) {
        let planned = gate.decide(&Call::update_account(person, &account.id, &reason)).map(first_id);
        note(gate, format!("UpdateAccount {} on {}", account.account_reference, account.system), planned, 1);
    }
    for entitlement in entitlements.iter().filter(|e| e.managed && systems.contains(&e.system)) {
        let planned = gate.decide(&Call::re_enforce(person, &entitlement.id, &reason)).map(first_id);
        note(gate, format!("re-enforce {} on {}", entitlement.display_name, entitlement.system), planned, 2);
    }
    Ok(format!(
        "{}: {} changed; planned {} retries, {} account updates, {} re-enforcements in {}",
        found.display_name,
        changed.join(", "),
        counts[0],
        counts[1],
        counts[2],
        systems.join(", ")
    ))
}
