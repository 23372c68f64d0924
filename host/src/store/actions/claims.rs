//! Executors claiming committed actions under leases that fence. Each claim takes a new fencing
//! token, holds a lease on the store's own clock, and (unless it follows up an action that waits on
//! a platform) counts an attempt recorded like any state change. Every later change the claim makes
//! — renewing it, noting the platform's reference, ending the action — names the token, so an
//! executor whose lease passed and whose action was taken up again changes nothing. A process that
//! dies leaves its claims to lapse; once a lease passes, another executor takes the action up.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::transitions::{set_state, unit_entry};
use super::{ACTION_COLUMNS, Claim, Following, LeaseKey, action, action_row};
use crate::audit::Actor;
use crate::model::{Action, ActionState};
use crate::store::audit::append as append_audit;
use crate::store::clock::millis;
use crate::store::{Store, StoreError};

/// What to claim.
#[derive(Debug, Clone, Copy)]
pub enum Due<'a> {
    /// Of each of these tenants, up to its number of runnable actions: those whose lease passed
    /// (or whose follow-up is due) first, then pending ones, oldest first.
    Tenants(&'a [(String, usize)]),
    /// These actions of one tenant, where they are runnable.
    These(&'a str, &'a [String]),
}

/// An action's row as the claim query reads it.
struct Runnable {
    tenant: String,
    id: String,
    state: String,
    previous: Option<String>,
    attempts: i64,
    follow_ref: Option<String>,
    follow_since: Option<i64>,
}

const RUNNABLE_COLUMNS: &str = "tenant, id, state, lease_owner, attempts, follow_ref, follow_since_ms";

fn runnable(r: &rusqlite::Row<'_>) -> rusqlite::Result<Runnable> {
    Ok(Runnable {
        tenant: r.get(0)?,
        id: r.get(1)?,
        state: r.get(2)?,
        previous: r.get(3)?,
        attempts: r.get(4)?,
        follow_ref: r.get(5)?,
        follow_since: r.get(6)?,
    })
}

/// The states of actions still to be carried out or followed up: the condition of the
/// `actions_due` index, which every query of them repeats word for word so that SQLite uses it.
const OPEN: &str = "state IN ('pending', 'running', 'waiting')";

/// A tenant's running and waiting actions whose lease passed (`?2`: now, `?3`: how many); a
/// pending action has no lease.
pub(in crate::store) const LAPSED_SQL: &str = "SELECT tenant, id, state, lease_owner, attempts, follow_ref, follow_since_ms \
     FROM actions WHERE tenant = ?1 AND state IN ('pending', 'running', 'waiting') AND lease_until_ms < ?2 LIMIT ?3";

/// A tenant's pending actions, oldest first (`?2`: how many).
pub(in crate::store) const PENDING_SQL: &str = "SELECT tenant, id, state, lease_owner, attempts, follow_ref, follow_since_ms \
     FROM actions WHERE tenant = ?1 AND state IN ('pending', 'running', 'waiting') AND state = 'pending' \
     ORDER BY lease_until_ms, rowid LIMIT ?2";

/// Whether a tenant has anything runnable (`?2`: now).
pub(in crate::store) const ANY_DUE_SQL: &str = "SELECT EXISTS (SELECT 1 FROM actions \
     WHERE tenant = ?1 AND state IN ('pending', 'running', 'waiting') AND state = 'pending') \
     OR EXISTS (SELECT 1 FROM actions WHERE tenant = ?1 AND state IN ('pending', 'running', 'waiting') AND lease_until_ms < ?2)";

fn due_of(tx: &Connection, tenant: &str, now: i64, limit: usize) -> Result<Vec<Runnable>, StoreError> {
    let mut found: Vec<Runnable> = tx
        .prepare_cached(LAPSED_SQL)?
        .query_map(params![tenant, now, limit as i64], runnable)?
        .collect::<Result<_, _>>()?;
    let left = limit - found.len();
    if left > 0 {
        let mut pending = tx.prepare_cached(PENDING_SQL)?;
        for row in pending.query_map(params![tenant, left as i64], runnable)? {
            found.push(row?);
        }
    }
    Ok(found)
}

impl Store {
    /// Claims runnable actions for executor `owner` until `lease` from now on the store's clock.
    /// A pending or running action becomes `running` with one more attempt, recorded in its history
    /// and the audit trail in the same transaction; one taken up again after a lease passed says
    /// so. A waiting action due for a follow-up stays `waiting`: its claim changes no state and is
    /// not recorded. Every claim takes a new fencing token.
    pub fn claim_actions(&self, owner: &str, lease: Duration, due: Due<'_>) -> Result<Vec<Claim>, StoreError> {
        self.write(|tx| {
            let now = self.clock.tick(tx)?;
            let until = now.saturating_add(millis(lease));
            let found: Vec<Runnable> = match due {
                Due::Tenants(tenants) => {
                    let mut found = Vec::new();
                    for (tenant, most) in tenants {
                        found.extend(due_of(tx, tenant, now, *most)?);
                    }
                    found
                }
                Due::These(tenant, ids) => {
                    let mut stmt = tx.prepare_cached(&format!(
                        "SELECT {RUNNABLE_COLUMNS} FROM actions WHERE tenant = ?1 AND id = ?2 \
                         AND (state = 'pending' OR (state IN ('running', 'waiting') AND lease_until_ms < ?3))"
                    ))?;
                    let mut found = Vec::with_capacity(ids.len());
                    for id in ids {
                        found.extend(stmt.query_row(params![tenant, id, now], runnable).optional()?);
                    }
                    found
                }
            };
            let mut claims = Vec::with_capacity(found.len());
            let mut moved: Vec<(String, Moved)> = Vec::new();
            for row in found {
                let (claim, change) = claim_one(tx, owner, (now, until), row)?;
                moved.extend(change.map(|c| (claim.key.tenant.clone(), c)));
                claims.push(claim);
            }
            let mut tenants: Vec<&str> = moved.iter().map(|(t, _)| t.as_str()).collect();
            tenants.sort_unstable();
            tenants.dedup();
            for tenant in tenants {
                let mine: Vec<_> = moved.iter().filter(|(t, _)| t == tenant).map(|(_, m)| m.clone()).collect();
                append_audit(tx, tenant, &[unit_entry(Actor::EXECUTOR, &mine)])?;
            }
            Ok(claims)
        })
    }

    /// The tenants of `among` that have an action to claim now: a quick read before a claim.
    pub fn due_tenants(&self, among: &[String]) -> Result<Vec<String>, StoreError> {
        let conn = self.read()?;
        let now = self.clock.read(&conn)?;
        let mut due = Vec::new();
        for tenant in among {
            if conn.prepare_cached(ANY_DUE_SQL)?.query_row(params![tenant, now], |r| r.get::<_, bool>(0))? {
                due.push(tenant.clone());
            }
        }
        Ok(due)
    }

    /// Extends the leases of executor `owner`'s claims to `lease` from now; says of each claim
    /// whether it still holds (`false`: its lease passed and the action was taken up again, or it
    /// ended).
    pub fn renew_leases(&self, owner: &str, lease: Duration, claims: &[LeaseKey]) -> Result<Vec<bool>, StoreError> {
        self.write(|tx| {
            let until = self.clock.tick(tx)?.saturating_add(millis(lease));
            let mut renew = tx.prepare_cached(
                "UPDATE actions SET lease_until_ms = ?5 WHERE tenant = ?1 AND id = ?2 AND lease_token = ?3
                 AND lease_owner = ?4 AND state IN ('running', 'waiting')",
            )?;
            claims.iter().map(|k| Ok(renew.execute(params![k.tenant, k.id, k.token, owner, until])? == 1)).collect()
        })
    }

    /// Records the platform's reference for a claimed action as soon as the platform gave it (a
    /// launched workflow's task result), so that an attempt after a crash follows that work
    /// instead of starting it again. Says whether the claim still holds.
    pub fn note_follow(&self, owner: &str, claim: &LeaseKey, reference: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE actions SET follow_ref = ?5 WHERE tenant = ?1 AND id = ?2 AND lease_token = ?3
                     AND lease_owner = ?4 AND state = 'running'",
                )?
                .execute(params![claim.tenant, claim.id, claim.token, owner, reference])?;
            Ok(changed == 1)
        })
    }

    /// How many of the tenant's actions wait to be carried out or followed up (pending, running or
    /// waiting).
    pub fn open_actions_of(&self, tenant: &str) -> Result<u64, StoreError> {
        let conn = self.read()?;
        let sql = format!("SELECT COUNT(*) FROM actions INDEXED BY actions_due WHERE tenant = ?1 AND {OPEN}");
        Ok(conn.prepare_cached(&sql)?.query_row([tenant], |r| r.get::<_, i64>(0))? as u64)
    }

    /// How many actions wait to be carried out or followed up (pending, running or waiting), by
    /// tenant, for the tenants that have any.
    pub fn open_actions(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT tenant, COUNT(*) FROM actions INDEXED BY actions_due WHERE {OPEN} GROUP BY tenant"
        ))?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// An action as a claim moved it, with its HelloID name.
type Moved = (Action, &'static str);

/// Claims one runnable action; returns the claim and, for a carry-out, its state change.
fn claim_one(
    tx: &Connection,
    owner: &str,
    (now, until): (i64, i64),
    row: Runnable,
) -> Result<(Claim, Option<Moved>), StoreError> {
    let following = |reference: Option<String>| {
        reference.map(|reference| Following {
            reference,
            waited: Duration::from_millis(row.follow_since.map_or(0, |since| now.saturating_sub(since).max(0)) as u64),
        })
    };
    if row.state == ActionState::Waiting.as_str() {
        let token: i64 = tx
            .prepare_cached(
                "UPDATE actions SET lease_owner = ?3, lease_until_ms = ?4, lease_token = lease_token + 1
                 WHERE tenant = ?1 AND id = ?2 RETURNING lease_token",
            )?
            .query_row(params![row.tenant, row.id, owner, until], |r| r.get(0))?;
        let found = tx
            .prepare_cached(&format!("SELECT {ACTION_COLUMNS} FROM actions WHERE tenant = ?1 AND id = ?2"))?
            .query_row([&row.tenant, &row.id], action_row)?;
        let claim = Claim {
            key: LeaseKey { tenant: row.tenant.clone(), id: row.id.clone(), token },
            action: action(found)?,
            attempt: row.attempts.max(1) as u32,
            follow: following(row.follow_ref.clone()),
        };
        return Ok((claim, None));
    }
    let attempt = row.attempts + 1;
    let token: i64 = tx
        .prepare_cached(
            "UPDATE actions SET lease_owner = ?3, lease_until_ms = ?4, attempts = ?5, lease_token = lease_token + 1
             WHERE tenant = ?1 AND id = ?2 RETURNING lease_token",
        )?
        .query_row(params![row.tenant, row.id, owner, until, attempt], |r| r.get(0))?;
    let message = match &row.previous {
        Some(previous) => format!(
            "taken up again by executor {owner} (attempt {attempt}): the lease of executor {previous} passed before it finished"
        ),
        None => format!("picked up by executor {owner} (attempt {attempt})"),
    };
    let (action, name) = set_state(tx, &row.tenant, &row.id, (ActionState::Running, &message))?;
    let claim = Claim {
        key: LeaseKey { tenant: row.tenant.clone(), id: row.id.clone(), token },
        action: action.clone(),
        attempt: attempt as u32,
        follow: following(row.follow_ref.clone()),
    };
    Ok((claim, Some((action, name))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::InvocationRecord;
    use crate::model::{ActionFilter, new_id};
    use crate::store::{DEMO_TENANT, Effect, Finish, FollowUp, seed_demo};

    /// A demo store with two committed pending copies of the demo's failed action.
    fn two_pending() -> (Store, Vec<String>) {
        let store = Store::in_memory().unwrap();
        seed_demo(&store).unwrap();
        let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
        let pending: Vec<Action> = (0..2)
            .map(|_| Action { id: new_id(), state: ActionState::Pending, retry_of: None, ..failed.clone() })
            .collect();
        let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "two pending");
        store.commit_invocation(&record, &pending).unwrap();
        (store, pending.into_iter().map(|a| a.id).collect())
    }

    fn demo() -> Vec<(String, usize)> {
        vec![(DEMO_TENANT.to_string(), 10)]
    }

    fn done(by: &str) -> Finish {
        Finish::Success(Effect::Nothing, format!("done by {by}"))
    }

    #[test]
    fn a_claim_is_held_until_its_lease_passes_and_then_taken_up_again_with_the_attempt_recorded() {
        let (store, ids) = two_pending();
        let first = store.claim_actions("a", Duration::ZERO, Due::These(DEMO_TENANT, &ids[..1])).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].action.state, first[0].attempt), (ActionState::Running, 1));
        std::thread::sleep(Duration::from_millis(5));
        let held = store.claim_actions("b", Duration::from_secs(60), Due::Tenants(&demo())).unwrap();
        let taken: Vec<&str> = held.iter().map(|c| c.action.id.as_str()).collect();
        assert!(taken.contains(&ids[1].as_str()), "the other pending action is claimed");
        assert!(taken.contains(&ids[0].as_str()), "a claim whose lease passed is taken up again");
        let again = held.iter().find(|c| c.action.id == ids[0]).unwrap();
        assert_eq!(again.attempt, 2);
        assert!(again.key.token > first[0].key.token, "a later claim has a higher fencing token");
        assert!(again.action.message.contains("taken up again by executor b (attempt 2)"), "{}", again.action.message);
        assert!(again.action.message.contains("lease of executor a passed"), "{}", again.action.message);
        let more = store.claim_actions("c", Duration::from_secs(60), Due::Tenants(&demo())).unwrap();
        assert!(more.is_empty(), "b's leases hold");
        assert!(store.due_tenants(&[DEMO_TENANT.to_string()]).unwrap().is_empty(), "nothing is due while b holds both");

        let late = store.finish_actions(DEMO_TENANT, "a", &[(first[0].key.clone(), done("a"))], &|_| vec![]).unwrap();
        assert!(late.is_empty(), "an executor that lost its lease records nothing");
        assert_eq!(store.renew_leases("a", Duration::from_secs(60), &[first[0].key.clone()]).unwrap(), [false]);
        let ended = store.finish_actions(DEMO_TENANT, "b", &[(again.key.clone(), done("b"))], &|_| vec![]).unwrap();
        assert_eq!((ended[0].state, ended[0].message.as_str()), (ActionState::Success, "done by b"));
        let history: Vec<ActionState> =
            store.action_history(DEMO_TENANT, &ids[0]).unwrap().into_iter().map(|h| h.state).collect();
        use ActionState::*;
        assert_eq!(history, [Pending, Running, Running, Success], "each attempt and the one end are recorded");
        assert!(store.claim_actions("c", Duration::ZERO, Due::These(DEMO_TENANT, &ids[..1])).unwrap().is_empty());
        assert!(store.verify_audit(DEMO_TENANT).unwrap().broken.is_none(), "the chain verifies");
    }

    #[test]
    fn a_stale_claim_of_the_same_owner_cannot_end_or_renew_the_action() {
        let (store, ids) = two_pending();
        let old = store.claim_actions("a", Duration::ZERO, Due::These(DEMO_TENANT, &ids[..1])).unwrap().remove(0);
        std::thread::sleep(Duration::from_millis(5));
        // The same executor takes the action up again after its own lease passed: the owner is
        // the same, the attempt is not.
        let new = store.claim_actions("a", Duration::from_secs(60), Due::These(DEMO_TENANT, &ids[..1])).unwrap();
        let new = new.into_iter().next().expect("taken up again");
        assert_eq!(new.attempt, 2);
        assert_eq!(store.renew_leases("a", Duration::from_secs(60), std::slice::from_ref(&old.key)).unwrap(), [false]);
        assert!(!store.note_follow("a", &old.key, "task-1").unwrap(), "the old attempt notes nothing");
        let notify =
            |ended: &[Action]| ended.iter().map(|a| ("http://127.0.0.1:1/".to_string(), a.message.clone())).collect();
        let stale = store.finish_actions(DEMO_TENANT, "a", &[(old.key.clone(), done("old"))], &notify).unwrap();
        assert!(stale.is_empty(), "the old attempt of the same owner ends nothing");
        assert!(store.deliveries(DEMO_TENANT, None, 10, 0).unwrap().is_empty(), "and notifies no one");
        assert_eq!(store.action(DEMO_TENANT, &ids[0]).unwrap().state, ActionState::Running);
        assert_eq!(store.renew_leases("a", Duration::from_secs(60), std::slice::from_ref(&new.key)).unwrap(), [true]);
        let ended = store.finish_actions(DEMO_TENANT, "a", &[(new.key, done("new"))], &notify).unwrap();
        assert_eq!(ended[0].message, "done by new");
        let queued = store.deliveries(DEMO_TENANT, None, 10, 0).unwrap();
        assert_eq!(queued.len(), 1, "the end's notification is queued in its transaction");
        assert_eq!(queued[0].payload, "done by new");
    }

    #[test]
    fn a_waiting_action_is_followed_up_when_due_without_a_record_until_it_ends() {
        let (store, ids) = two_pending();
        let claim = store.claim_actions("a", Duration::from_secs(60), Due::These(DEMO_TENANT, &ids[..1])).unwrap();
        assert!(store.note_follow("a", &claim[0].key, "task-7").unwrap());
        let follow = FollowUp { reference: "task-7".into(), after: Duration::ZERO };
        let waiting = Finish::Waiting("still running there".into(), follow.clone());
        let moved = store.finish_actions(DEMO_TENANT, "a", &[(claim[0].key.clone(), waiting)], &|_| vec![]).unwrap();
        assert_eq!(moved[0].state, ActionState::Waiting);
        let records = store.audit(&Default::default(), 1000, 0).unwrap().len();

        std::thread::sleep(Duration::from_millis(5));
        let up = store.claim_actions("b", Duration::from_secs(60), Due::Tenants(&demo())).unwrap();
        let up: Vec<&Claim> = up.iter().filter(|c| c.action.id == ids[0]).collect();
        assert_eq!(up.len(), 1, "due for its follow-up");
        assert_eq!(up[0].action.state, ActionState::Waiting, "a follow-up is no new attempt");
        assert_eq!((up[0].attempt, up[0].follow.as_ref().unwrap().reference.as_str()), (1, "task-7"));
        let still =
            Finish::Waiting("still running there".into(), FollowUp { after: Duration::from_secs(3600), ..follow });
        let moved = store.finish_actions(DEMO_TENANT, "b", &[(up[0].key.clone(), still)], &|_| vec![]).unwrap();
        assert!(moved.is_empty(), "nothing changed, nothing is recorded");
        assert_eq!(
            store.audit(&Default::default(), 1000, 0).unwrap().len(),
            records + 1,
            "only b's claim of the other"
        );
        let none = store.claim_actions("c", Duration::from_secs(60), Due::These(DEMO_TENANT, &ids[..1])).unwrap();
        assert!(none.is_empty(), "not due again before its next follow-up");
    }
}
