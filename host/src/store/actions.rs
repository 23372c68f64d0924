//! Entitlement actions: inserting a committed plan, state changes with history, and reads.

use rusqlite::{Connection, OptionalExtension, Row, ToSql, params};
use serde::Serialize;

use super::audit::append as append_audit;
use super::directory::{not_found, not_found_if_zero, to_json};
use super::invocations::check_windows;
use super::{Store, StoreError, parse_column};
use crate::audit::{AuditEntry, helloid_action};
use std::time::Duration;

use crate::model::{Action, ActionFilter, ActionKind, ActionState, ActionTarget, Attribute, now_rfc3339, rfc3339};
use crate::policy::WindowBudget;
use crate::refusal::Refusal;

const ACTION_COLUMNS: &str = "id, person, system, target_type, target_id, kind, state, origin, message, \
                              retry_of, invocation, created_at, updated_at";

/// What executing an action changed in the target system, applied with its final state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing changed beyond the action's state (e.g. a permission granted again).
    Nothing,
    /// The account's attributes were rewritten.
    AccountAttributes {
        /// The account.
        account: String,
        /// Its new attributes.
        attributes: Vec<Attribute>,
    },
    /// The account was enabled.
    AccountEnabled {
        /// The account.
        account: String,
    },
    /// The entitlement is no longer managed.
    Unmanaged {
        /// The entitlement.
        entitlement: String,
    },
    /// The entitlement was revoked and is gone.
    Revoked {
        /// The entitlement.
        entitlement: String,
    },
}

/// Where executing an action left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// Done: what it changed in the directory (platform backends: nothing) and the message.
    Success(Effect, String),
    /// The target system's or platform's error.
    Error(String),
    /// Accepted by the platform and not finished yet (still running there, or held for approval
    /// there); the message says where to follow it.
    Waiting(String),
}

/// One state an action went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The state entered.
    pub state: ActionState,
    /// Why.
    pub message: String,
    /// When, RFC 3339 UTC.
    pub at: String,
}

type ActionRow = [Option<String>; 13];

fn action_row(row: &Row<'_>) -> rusqlite::Result<ActionRow> {
    let mut out: ActionRow = Default::default();
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = row.get(i)?;
    }
    Ok(out)
}

fn action(row: ActionRow) -> Result<Action, StoreError> {
    let [
        id,
        person,
        system,
        target_type,
        target_id,
        kind,
        state,
        origin,
        message,
        retry_of,
        invocation,
        created,
        updated,
    ] = row;
    let text = |v: Option<String>| v.unwrap_or_default();
    let target_id = text(target_id);
    let target = match target_type.as_deref() {
        Some("entitlement") => ActionTarget::Entitlement(target_id),
        Some("account") => ActionTarget::Account(target_id),
        other => {
            return Err(StoreError::Corrupt {
                column: "actions.target_type",
                reason: format!("unknown target type {other:?}"),
            });
        }
    };
    Ok(Action {
        id: text(id),
        person: text(person),
        system: text(system),
        target,
        kind: parse_column("actions.kind", &text(kind))?,
        state: parse_column("actions.state", &text(state))?,
        origin: text(origin),
        message: text(message),
        retry_of,
        invocation,
        created_at: text(created),
        updated_at: text(updated),
    })
}

/// Who changed an action, for its audit record.
#[derive(Debug, Clone, Copy)]
pub(super) struct Actor<'a> {
    /// The audit record's kind.
    pub kind: &'static str,
    /// The API key behind the change.
    pub key_id: Option<&'a str>,
    /// The plugin behind the change.
    pub plugin: Option<&'a str>,
}

const EXECUTOR: Actor<'static> = Actor { kind: crate::audit::kind::ACTION_STATE, key_id: None, plugin: None };

/// The audit record of action `a` entering `state`, named as HelloID names it.
fn action_entry(
    tx: &Connection,
    tenant: &str,
    a: &Action,
    state: ActionState,
    message: &str,
    actor: Actor<'_>,
) -> Result<AuditEntry, StoreError> {
    let entitlement_type = match &a.target {
        ActionTarget::Entitlement(e) => tx
            .prepare_cached("SELECT kind FROM entitlements WHERE tenant = ?1 AND id = ?2")?
            .query_row([tenant, e], |r| r.get::<_, String>(0))
            .optional()?
            .and_then(|k| serde_json::from_value(serde_json::Value::String(k)).ok()),
        ActionTarget::Account(_) => None,
    };
    Ok(AuditEntry {
        kind: actor.kind.into(),
        invocation: a.invocation.clone(),
        key_id: actor.key_id.map(str::to_owned),
        plugin: actor.plugin.map(str::to_owned),
        person: Some(a.person.clone()),
        action: Some(a.id.clone()),
        system: Some(a.system.clone()),
        decision: state.as_str().into(),
        audit_action: Some(helloid_action(a.kind, &a.target, entitlement_type).into()),
        message: message.into(),
        details: serde_json::json!({
            "kind": a.kind,
            "target": a.target,
            "origin": a.origin,
            "retry_of": a.retry_of,
            "by": actor.key_id.map(|k| format!("API key {k}")).unwrap_or_else(|| match actor.kind {
                crate::audit::kind::COMMIT => "plan commit".to_string(),
                _ => "embedded executor".to_string(),
            }),
        }),
    })
}

/// Inserts actions as committed, with the first entry of their history and their audit records,
/// inside `tx`.
pub(super) fn insert_actions(
    tx: &Connection,
    tenant: &str,
    actions: &[Action],
    actor: Actor<'_>,
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO actions (tenant, {ACTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    ))?;
    for a in actions {
        let (target_type, target_id) = match &a.target {
            ActionTarget::Entitlement(id) => ("entitlement", id),
            ActionTarget::Account(id) => ("account", id),
        };
        insert.execute(params![
            tenant,
            a.id,
            a.person,
            a.system,
            target_type,
            target_id,
            a.kind.as_str(),
            a.state.as_str(),
            a.origin,
            a.message,
            a.retry_of,
            a.invocation,
            a.created_at,
            a.updated_at
        ])?;
        append_history(tx, tenant, &a.id, a.state, &a.message, &a.created_at)?;
    }
    drop(insert);
    let entries = actions
        .iter()
        .map(|a| action_entry(tx, tenant, a, a.state, &a.message, actor))
        .collect::<Result<Vec<_>, _>>()?;
    append_audit(tx, tenant, &entries)
}

fn append_history(
    tx: &Connection,
    tenant: &str,
    action: &str,
    state: ActionState,
    message: &str,
    at: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO action_history (tenant, action, seq, state, message, at)
         VALUES (?1, ?2, (SELECT COUNT(*) FROM action_history WHERE tenant = ?1 AND action = ?2), ?3, ?4, ?5)",
    )?
    .execute(params![tenant, action, state.as_str(), message, at])?;
    Ok(())
}

/// Moves an action to `state` with its history entry; returns the action as it now is and its
/// audit record, for the caller to append with the others of its unit.
fn set_state(
    tx: &Connection,
    tenant: &str,
    id: &str,
    (state, message): (ActionState, &str),
    actor: Actor<'_>,
) -> Result<(Action, AuditEntry), StoreError> {
    let at = now_rfc3339();
    let sql = format!(
        "UPDATE actions SET state = ?3, message = ?4, updated_at = ?5 WHERE tenant = ?1 AND id = ?2
         RETURNING {ACTION_COLUMNS}"
    );
    let row = tx
        .prepare_cached(&sql)?
        .query_row(params![tenant, id, state.as_str(), message, at], action_row)
        .optional()?
        .ok_or_else(|| not_found("action", id, tenant))?;
    append_history(tx, tenant, id, state, message, &at)?;
    let changed = action(row)?;
    let entry = action_entry(tx, tenant, &changed, state, message, actor)?;
    Ok((changed, entry))
}

fn apply(tx: &Connection, tenant: &str, effect: &Effect) -> Result<(), StoreError> {
    let (sql, id, value): (&str, &str, Option<String>) = match effect {
        Effect::Nothing => return Ok(()),
        Effect::AccountAttributes { account, attributes } => {
            ("UPDATE accounts SET attributes = ?3 WHERE tenant = ?1 AND id = ?2", account, Some(to_json(attributes)))
        }
        Effect::AccountEnabled { account } => {
            ("UPDATE accounts SET enabled = 1 WHERE tenant = ?1 AND id = ?2", account, None)
        }
        Effect::Unmanaged { entitlement } => {
            ("UPDATE entitlements SET managed = 0 WHERE tenant = ?1 AND id = ?2", entitlement, None)
        }
        Effect::Revoked { entitlement } => {
            ("DELETE FROM entitlements WHERE tenant = ?1 AND id = ?2", entitlement, None)
        }
    };
    let changed = match value {
        Some(value) => tx.prepare_cached(sql)?.execute(params![tenant, id, value])?,
        None => tx.prepare_cached(sql)?.execute(params![tenant, id])?,
    };
    not_found_if_zero(changed, "target", id, tenant)
}

/// Committed actions of a kind against a system created since `since` (RFC 3339), not counting
/// blocked or rejected ones: what a window budget has used.
pub(super) fn usage_since(
    conn: &Connection,
    tenant: &str,
    system: &str,
    kind: ActionKind,
    since: &str,
) -> Result<u32, StoreError> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM actions WHERE tenant = ?1 AND system = ?2 AND kind = ?3 AND created_at >= ?4
               AND state NOT IN ('blocked', 'rejected')",
        )?
        .query_row(params![tenant, system, kind.as_str(), since], |r| r.get(0))?;
    Ok(n as u32)
}

/// The query for [`Store::actions_page`] and its values, with `LIMIT` and `OFFSET` left to add.
/// Only the filters given go into the statement, so that SQLite uses the index that fits them;
/// `(?2 IS NULL OR person = ?2)` would make it scan all of the tenant's actions.
fn filtered<'a>(
    tenant: &'a &str,
    filter: &'a ActionFilter,
    state: &'a Option<&'static str>,
) -> (String, Vec<&'a dyn ToSql>) {
    let mut sql = format!("SELECT {ACTION_COLUMNS} FROM actions WHERE tenant = ?1");
    let mut values: Vec<&dyn ToSql> = vec![tenant];
    let given: [(&str, Option<&dyn ToSql>); 3] = [
        ("person", filter.person.as_ref().map(|v| v as _)),
        ("state", state.as_ref().map(|v| v as _)),
        ("system", filter.system.as_ref().map(|v| v as _)),
    ];
    for (column, value) in given {
        if let Some(value) = value {
            values.push(value);
            sql.push_str(&format!(" AND {column} = ?{}", values.len()));
        }
    }
    sql.push_str(&format!(
        " ORDER BY created_at DESC, rowid DESC LIMIT ?{} OFFSET ?{}",
        values.len() + 1,
        values.len() + 2
    ));
    (sql, values)
}

/// The start of a window that ends now.
pub(super) fn window_start(window: Duration) -> String {
    let window = time::Duration::try_from(window).unwrap_or(time::Duration::MAX);
    rfc3339(time::OffsetDateTime::now_utc().checked_sub(window).unwrap_or(time::OffsetDateTime::UNIX_EPOCH))
}

/// A decision on blocked actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let them run: they become `pending`.
    Approve,
    /// Do not run them: they end `rejected`.
    Reject,
}

impl Store {
    /// Committed actions of `kind` against `system` within the last `window`.
    pub fn window_usage(
        &self,
        tenant: &str,
        system: &str,
        kind: ActionKind,
        window: Duration,
    ) -> Result<u32, StoreError> {
        usage_since(&*self.read()?, tenant, system, kind, &window_start(window))
    }

    /// Approves or rejects blocked actions, all or none, recording who decided. An id that is not
    /// a blocked action of this tenant fails the whole decision. An approval is checked against
    /// the tenant's window budgets inside the transaction, as a commit is, and refused whole when
    /// the approved actions would push a window past its maximum.
    pub fn decide_blocked(
        &self,
        tenant: &str,
        ids: &[String],
        (decision, by): (Decision, &str),
        windows: &[WindowBudget],
    ) -> Result<Result<Vec<Action>, Refusal>, StoreError> {
        let decided = self.write(|tx| {
            let sql = format!("SELECT {ACTION_COLUMNS} FROM actions WHERE tenant = ?1 AND id = ?2");
            let mut approved = Vec::with_capacity(ids.len());
            for id in ids {
                let found = tx.prepare_cached(&sql)?.query_row([tenant, id], action_row).optional()?;
                let mut found = action(found.ok_or_else(|| not_found("action", id, tenant))?)?;
                if found.state != ActionState::Blocked {
                    return Err(StoreError::Conflict(format!(
                        "action '{id}' is {}, not blocked; nothing was decided",
                        found.state
                    )));
                }
                found.state = ActionState::Pending;
                approved.push(found);
            }
            if decision == Decision::Approve
                && let Err(refusal) = check_windows(tx, tenant, &approved, windows)?
            {
                return Ok(Err(refusal));
            }
            let mut entries = Vec::with_capacity(ids.len());
            for id in ids {
                let (state, message, kind) = match decision {
                    Decision::Approve => {
                        (ActionState::Pending, format!("approved by API key '{by}'"), crate::audit::kind::APPROVAL)
                    }
                    Decision::Reject => {
                        (ActionState::Rejected, format!("rejected by API key '{by}'"), crate::audit::kind::REJECTION)
                    }
                };
                let actor = Actor { kind, key_id: Some(by), plugin: None };
                entries.push(set_state(tx, tenant, id, (state, &message), actor)?.1);
                tx.prepare_cached("UPDATE actions SET decided_by = ?3 WHERE tenant = ?1 AND id = ?2")?
                    .execute(params![tenant, id, by])?;
            }
            append_audit(tx, tenant, &entries).map(Ok)
        })?;
        match decided {
            Ok(()) => ids.iter().map(|id| self.action(tenant, id)).collect::<Result<_, _>>().map(Ok),
            Err(refusal) => Ok(Err(refusal)),
        }
    }

    /// Moves actions to `state` with a message, recording each change in its history and the
    /// audit trail, in one transaction.
    pub fn transition(
        &self,
        tenant: &str,
        ids: &[String],
        state: ActionState,
        message: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let entries = ids
                .iter()
                .map(|id| set_state(tx, tenant, id, (state, message), EXECUTOR).map(|(_, entry)| entry))
                .collect::<Result<Vec<_>, _>>()?;
            append_audit(tx, tenant, &entries)
        })
    }

    /// Ends actions: each success applies its effect and marks the action `success`; each
    /// failure marks it `error` with the target system's message; an action still running on a
    /// platform becomes `waiting`. All in one transaction. With `picked_up`, each action is first
    /// marked `running` with that message in the same transaction (an executor that finished the
    /// work before recording it). Returns the actions in their end states.
    pub fn finish_actions(
        &self,
        tenant: &str,
        results: &[(String, Finish)],
        picked_up: Option<&str>,
    ) -> Result<Vec<Action>, StoreError> {
        self.write(|tx| {
            let mut entries = Vec::with_capacity(results.len() * 2);
            if let Some(message) = picked_up {
                for (id, _) in results {
                    entries.push(set_state(tx, tenant, id, (ActionState::Running, message), EXECUTOR)?.1);
                }
            }
            let mut ended = Vec::with_capacity(results.len());
            for (id, result) in results {
                let end = match result {
                    Finish::Success(effect, message) => {
                        apply(tx, tenant, effect)?;
                        (ActionState::Success, message)
                    }
                    Finish::Error(message) => (ActionState::Error, message),
                    Finish::Waiting(message) => (ActionState::Waiting, message),
                };
                let (action, entry) = set_state(tx, tenant, id, (end.0, end.1.as_str()), EXECUTOR)?;
                ended.push(action);
                entries.push(entry);
            }
            append_audit(tx, tenant, &entries)?;
            Ok(ended)
        })
    }

    /// The action with this id.
    pub fn action(&self, tenant: &str, id: &str) -> Result<Action, StoreError> {
        let sql = format!("SELECT {ACTION_COLUMNS} FROM actions WHERE tenant = ?1 AND id = ?2");
        let row = self.read()?.prepare_cached(&sql)?.query_row([tenant, id], action_row).optional()?;
        action(row.ok_or_else(|| not_found("action", id, tenant))?)
    }

    /// Actions matching the filter, newest first, at most `limit`.
    pub fn actions(&self, tenant: &str, filter: &ActionFilter, limit: usize) -> Result<Vec<Action>, StoreError> {
        self.actions_page(tenant, filter, limit, 0)
    }

    /// As [`Store::actions`], skipping the first `offset`.
    pub fn actions_page(
        &self,
        tenant: &str,
        filter: &ActionFilter,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Action>, StoreError> {
        let state = filter.state.map(|s| s.as_str());
        let (sql, mut values) = filtered(&tenant, filter, &state);
        let (limit, offset) = (limit as i64, offset as i64);
        values.extend([&limit as &dyn ToSql, &offset]);
        let rows = self
            .read()?
            .prepare_cached(&sql)?
            .query_map(values.as_slice(), action_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(action).collect()
    }

    /// The actions that retry `action`, newest first.
    pub fn retries_of(&self, tenant: &str, failed: &str) -> Result<Vec<Action>, StoreError> {
        let sql = format!(
            "SELECT {ACTION_COLUMNS} FROM actions WHERE tenant = ?1 AND retry_of = ?2 ORDER BY created_at DESC"
        );
        let rows = self
            .read()?
            .prepare_cached(&sql)?
            .query_map([tenant, failed], action_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(action).collect()
    }

    /// The states an action went through, oldest first.
    pub fn action_history(&self, tenant: &str, id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT state, message, at FROM action_history WHERE tenant = ?1 AND action = ?2 ORDER BY seq",
        )?;
        let rows = stmt
            .query_map([tenant, id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(state, message, at)| {
                Ok(HistoryEntry { state: parse_column("action_history.state", &state)?, message, at })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How SQLite would run the filtered query.
    fn plan(store: &Store, filter: &ActionFilter) -> String {
        let state = filter.state.map(|s| s.as_str());
        let (sql, mut values) = filtered(&"demo", filter, &state);
        values.extend([&1 as &dyn ToSql, &0]);
        let conn = store.read().unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map(values.as_slice(), |r| r.get::<_, String>(3)).unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap().join("; ")
    }

    #[test]
    fn filtered_lists_use_the_index_that_fits_the_filter() {
        let store = Store::in_memory().unwrap();
        let person = Some("p".to_string());
        let by_person_state = ActionFilter { person: person.clone(), state: Some(ActionState::Error), system: None };
        assert!(plan(&store, &by_person_state).contains("actions_by_person_state (tenant=? AND person=? AND state=?)"));
        let by_person = ActionFilter { person, state: None, system: None };
        assert!(plan(&store, &by_person).contains("(tenant=? AND person=?)"), "{}", plan(&store, &by_person));
        let by_state = ActionFilter { person: None, state: Some(ActionState::Pending), system: None };
        assert!(
            plan(&store, &by_state).contains("actions_by_state (tenant=? AND state=?)"),
            "{}",
            plan(&store, &by_state)
        );
    }

    #[test]
    fn filters_select_the_same_actions_with_or_without_the_others() {
        let store = Store::in_memory().unwrap();
        crate::store::seed_demo(&store).unwrap();
        let all = store.actions(crate::store::DEMO_TENANT, &ActionFilter::default(), 100).unwrap();
        let failed = all.iter().find(|a| a.state == ActionState::Error).expect("the demo has a failed action");
        let filter = ActionFilter {
            person: Some(failed.person.clone()),
            state: Some(ActionState::Error),
            system: Some(failed.system.clone()),
        };
        let found = store.actions(crate::store::DEMO_TENANT, &filter, 100).unwrap();
        let expected: Vec<&str> = all
            .iter()
            .filter(|a| a.person == failed.person && a.state == ActionState::Error && a.system == failed.system)
            .map(|a| a.id.as_str())
            .collect();
        assert_eq!(found.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), expected);
        let page = store.actions_page(crate::store::DEMO_TENANT, &ActionFilter::default(), 1, 1).unwrap();
        assert_eq!(
            page.iter().map(|a| &a.id).collect::<Vec<_>>(),
            all.iter().skip(1).take(1).map(|a| &a.id).collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_approval_cannot_push_a_window_past_its_maximum() {
        use crate::audit::InvocationRecord;
        use crate::store::DEMO_TENANT;
        let store = Store::in_memory().unwrap();
        crate::store::seed_demo(&store).unwrap();
        let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
        let blocked: Vec<Action> = (0..2)
            .map(|n| Action {
                id: crate::model::new_id(),
                state: ActionState::Blocked,
                message: format!("blocked {n}"),
                ..failed.clone()
            })
            .collect();
        let record = InvocationRecord::history(&crate::model::new_id(), DEMO_TENANT, "test", "two blocked updates");
        store.commit_invocation(&record, &blocked).unwrap();
        let ids: Vec<String> = blocked.iter().map(|a| a.id.clone()).collect();
        // The demo's failed update is in the window already: room for one more, not two.
        let windows =
            [WindowBudget { system: failed.system.clone(), kind: failed.kind, max: 2, per: Duration::from_secs(3600) }];
        let refused = store.decide_blocked(DEMO_TENANT, &ids, (Decision::Approve, "phk_x"), &windows).unwrap();
        assert_eq!(refused.unwrap_err().code(), "threshold-exceeded");
        assert!(ids.iter().all(|id| store.action(DEMO_TENANT, id).unwrap().state == ActionState::Blocked));
        let one = store.decide_blocked(DEMO_TENANT, &ids[..1], (Decision::Approve, "phk_x"), &windows).unwrap();
        assert_eq!(one.unwrap()[0].state, ActionState::Pending);
        let rejected = store.decide_blocked(DEMO_TENANT, &ids[1..], (Decision::Reject, "phk_x"), &windows).unwrap();
        assert_eq!(rejected.unwrap()[0].state, ActionState::Rejected, "a rejection needs no room");
    }
}
