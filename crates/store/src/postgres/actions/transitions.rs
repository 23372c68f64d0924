//! Inserting a committed plan (its invocation, actions and their history in one statement), and
//! every later state change, each with its history row and audit record in the same
//! transaction.

use postgres::Row;

use super::{ACTION_COLUMNS, action_from};
use crate::postgres::directory::entitlement_type;
use crate::postgres::statements::Tx;
use crate::postgres::wakeups::announce;
use crate::postgres::{not_found, not_found_if_zero, to_json};
use crate::{Declined, Effect, Queued, StoreError};
use provhost_core::audit::entries::Change;
use provhost_core::audit::{Actor, AuditEntry, InvocationRecord, entries, helloid_action};
use provhost_core::model::{Action, ActionState, ActionTarget, now_rfc3339};
use provhost_core::refusal::Refusal;

/// How HelloID names action `a` whose entitlement, if the store holds it, is of type `kind`.
fn named(a: &Action, kind: Option<&str>) -> &'static str {
    helloid_action(a.kind, &a.target, kind.and_then(|k| entitlement_type(k).ok()))
}

/// A column of a statement that changes actions and returns them: the type of the entitlement an
/// action targets (`NULL` for an account, or an entitlement the store does not hold), read with
/// the change so that the action's HelloID name costs no statement of its own. It comes right
/// before the [`ACTION_COLUMNS`] it is returned with.
pub(super) const TARGET_KIND: &str = "(SELECT e.kind FROM entitlements e WHERE e.tenant = actions.tenant \
                                      AND e.id = actions.target_id AND actions.target_type = 'entitlement')";

/// The action a changing statement returned at column `at` ([`TARGET_KIND`] and then the
/// [`ACTION_COLUMNS`]), with its HelloID name.
pub(super) fn moved_at(row: &Row, at: usize) -> Result<(Action, &'static str), StoreError> {
    let changed = action_from(row, at + 1)?;
    let name = named(&changed, row.get::<_, Option<&str>>(at));
    Ok((changed, name))
}

/// The history rows of actions a batch moved, one per `(id, state, message)`, all at `at`: one
/// statement. Each id appears once in a batch.
pub(super) fn record_history(
    tx: &mut Tx<'_, '_>,
    tenant: &str,
    at: &str,
    steps: &[(&str, &str, &str)],
) -> Result<(), StoreError> {
    if steps.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = steps.iter().map(|s| s.0).collect();
    let states: Vec<&str> = steps.iter().map(|s| s.1).collect();
    let messages: Vec<&str> = steps.iter().map(|s| s.2).collect();
    tx.execute(
        "INSERT INTO action_history (tenant, action, seq, state, message, at)
         SELECT $1, s.moved, (SELECT COUNT(*) FROM action_history h WHERE h.tenant = $1 AND h.action = s.moved),
                s.state_to, s.note, $2
         FROM UNNEST($3::text[], $4::text[], $5::text[]) AS s(moved, state_to, note)",
        &[&tenant, &at, &ids, &states, &messages],
    )?;
    Ok(())
}

/// Refuses acting on an entitlement the store holds as no longer managed, naming the first such
/// action; one the store does not hold (a platform's directory) is the platform's to refuse.
pub(in crate::postgres) fn still_managed(
    tx: &mut Tx<'_, '_>,
    tenant: &str,
    actions: &[Action],
) -> Result<(), Declined> {
    let targets: Vec<&str> = actions
        .iter()
        .filter_map(|a| match &a.target {
            ActionTarget::Entitlement(id) => Some(id.as_str()),
            ActionTarget::Account(_) => None,
        })
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let rows = tx.query(
        "SELECT id FROM entitlements WHERE tenant = $1 AND id = ANY($2) AND NOT managed",
        &[&tenant, &targets],
    )?;
    let unmanaged: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let first = actions.iter().find_map(|a| match &a.target {
        ActionTarget::Entitlement(id) if unmanaged.contains(id) => Some((a, id)),
        _ => None,
    });
    match first {
        Some((a, id)) => Err(Declined::Refused(Refusal::Invalid(format!(
            "entitlement '{id}' is no longer managed; provisioning leaves it alone, so action '{}' ({} of it) is not acted on",
            a.id, a.kind
        )))),
        None => Ok(()),
    }
}

/// The one audit record of a unit of work that moved `moved` (each action with its HelloID name).
pub(super) fn unit_entry(actor: Actor<'_>, moved: &[(Action, &'static str)]) -> AuditEntry {
    let changes: Vec<Change<'_>> = moved.iter().map(|(action, name)| Change { action, audit_action: name }).collect();
    entries::action_states(actor, &changes)
}

/// One column of every action, as an array parameter.
fn column<'a>(actions: &'a [Action], value: impl Fn(&'a Action) -> Option<&'a str>) -> Vec<Option<&'a str>> {
    actions.iter().map(value).collect()
}

/// Inserts a plan as committed inside `tx`, in one statement: its invocation `record`, its
/// actions and the first entry of each one's history. Each action keeps the plugin of the
/// invocation that planned it (this one, or one committed before), which the console lists
/// them by.
pub(in crate::postgres) fn insert_plan(
    tx: &mut Tx<'_, '_>,
    record: &InvocationRecord,
    actions: &[Action],
) -> Result<(), StoreError> {
    let target = |a: &Action| match &a.target {
        ActionTarget::Entitlement(id) => ("entitlement", id.clone()),
        ActionTarget::Account(id) => ("account", id.clone()),
    };
    let targets: Vec<(&str, String)> = actions.iter().map(target).collect();
    let target_types: Vec<&str> = targets.iter().map(|t| t.0).collect();
    let target_ids: Vec<&str> = targets.iter().map(|t| t.1.as_str()).collect();
    let columns = [
        column(actions, |a| Some(&a.id)),
        column(actions, |a| Some(&a.person)),
        column(actions, |a| Some(&a.system)),
        column(actions, |a| Some(a.kind.as_str())),
        column(actions, |a| Some(a.state.as_str())),
        column(actions, |a| Some(&a.origin)),
        column(actions, |a| Some(&a.message)),
        column(actions, |a| a.retry_of.as_deref()),
        column(actions, |a| a.invocation.as_deref()),
        column(actions, |a| Some(&a.created_at)),
        column(actions, |a| Some(&a.updated_at)),
    ];
    let [ids, persons, systems, kinds, states, origins, messages, retries, invocations, created, updated] = &columns;
    let r = record;
    tx.execute(
        &format!(
            "WITH planned AS (
                 INSERT INTO invocations (tenant, id, plugin_name, plugin_sha256, event_kind, outcome, detail, dry_run,
                                          started_at, duration_us, fuel_used, peak_memory, host_calls, guest_output,
                                          key_id, event_digest, event_summary)
                 VALUES ($1, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)
                 RETURNING id, plugin_name),
             inserted AS (INSERT INTO actions (tenant, {ACTION_COLUMNS}, counted_at, plugin)
             SELECT $1, i, p, s, tt, ti, k, st, o, m, r, inv, c, u,
                    CASE WHEN st IN ('blocked', 'rejected') THEN NULL ELSE c END,
                    COALESCE((SELECT plugin_name FROM planned WHERE planned.id = inv),
                             (SELECT plugin_name FROM invocations WHERE tenant = $1 AND id = inv))
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                         $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])
                  AS a(i, p, s, tt, ti, k, st, o, m, r, inv, c, u))
             INSERT INTO action_history (tenant, action, seq, state, message, at)
             SELECT $1, i, 0, st, m, c FROM UNNEST($2::text[], $8::text[], $10::text[], $13::text[]) AS h(i, st, m, c)"
        ),
        &[
            &r.tenant,
            ids,
            persons,
            systems,
            &target_types,
            &target_ids,
            kinds,
            states,
            origins,
            messages,
            retries,
            invocations,
            created,
            updated,
            &r.id,
            &r.plugin_name,
            &r.plugin_sha256,
            &r.event_kind,
            &r.outcome.as_str(),
            &r.detail,
            &r.dry_run,
            &r.started_at,
            &(r.duration_us as i64),
            &(r.fuel_used as i64),
            &(r.peak_memory as i64),
            &i64::from(r.host_calls),
            &r.guest_output,
            &r.key_id,
            &r.event_digest,
            &r.event_summary,
        ],
    )?;
    if actions.iter().any(|a| a.state == ActionState::Pending) {
        announce(tx, Queued::Actions)?;
    }
    Ok(())
}

/// Moves an action to `state` with its history entry; returns the action as it now is and its
/// HelloID name, for the caller's one audit record of its unit.
pub(super) fn set_state(
    tx: &mut Tx<'_, '_>,
    tenant: &str,
    id: &str,
    state: ActionState,
    message: &str,
) -> Result<(Action, &'static str), StoreError> {
    let at = now_rfc3339();
    let row = tx
        .query_opt(
            &format!(
                "UPDATE actions SET state = $3, message = $4, updated_at = $5 WHERE tenant = $1 AND id = $2
                 RETURNING {TARGET_KIND}, {ACTION_COLUMNS}"
            ),
            &[&tenant, &id, &state.as_str(), &message, &at],
        )?
        .ok_or_else(|| not_found("action", id, tenant))?;
    record_history(tx, tenant, &at, &[(id, state.as_str(), message)])?;
    moved_at(&row, 0)
}

/// Applies what carrying an action out changed in the directory.
pub(super) fn apply(tx: &mut Tx<'_, '_>, tenant: &str, effect: &Effect) -> Result<(), StoreError> {
    let changed = match effect {
        Effect::Nothing => return Ok(()),
        Effect::AccountAttributes { account, attributes } => {
            let sql = "UPDATE accounts SET attributes = $3 WHERE tenant = $1 AND id = $2";
            (tx.execute(sql, &[&tenant, account, &to_json(attributes)])?, account)
        }
        Effect::AccountEnabled { account } => (
            tx.execute("UPDATE accounts SET enabled = TRUE WHERE tenant = $1 AND id = $2", &[&tenant, account])?,
            account,
        ),
        Effect::Unmanaged { entitlement } => (
            tx.execute(
                "UPDATE entitlements SET managed = FALSE WHERE tenant = $1 AND id = $2",
                &[&tenant, entitlement],
            )?,
            entitlement,
        ),
        Effect::Revoked { entitlement } => (
            tx.execute("DELETE FROM entitlements WHERE tenant = $1 AND id = $2", &[&tenant, entitlement])?,
            entitlement,
        ),
    };
    not_found_if_zero(changed.0, "target", changed.1, tenant)
}
