//! Executors claiming committed actions: each claim holds a lease, counts an attempt and is
//! recorded like any state change, so a process that dies mid-run leaves nothing stranded. Once
//! the lease passes, another executor (or the same one after a restart) takes the action up again.

use std::time::Duration;

use rusqlite::{OptionalExtension, params};

use super::transitions::{set_state, unit_entry};
use crate::audit::Actor;
use crate::model::{Action, ActionState, now_rfc3339, rfc3339};
use crate::store::audit::append as append_audit;
use crate::store::{Store, StoreError};

/// What to claim.
#[derive(Debug, Clone, Copy)]
pub enum Due<'a> {
    /// Up to this many runnable actions of any tenant, oldest first: pending ones, and running ones
    /// whose lease passed.
    Any(usize),
    /// These actions of one tenant, where they are runnable.
    These(&'a str, &'a [String]),
}

/// Runnable actions: pending, or running under a lease that passed (`?1`: now).
const RUNNABLE: &str = "(state = 'pending' OR (state = 'running' AND (lease_until IS NULL OR lease_until < ?1)))";

/// The oldest runnable actions of any tenant (`?1`: now, `?2`: how many).
pub(in crate::store) const DUE_SQL: &str = "SELECT tenant, id, lease_owner, attempts FROM actions \
     WHERE state IN ('pending', 'running') \
     AND (state = 'pending' OR (state = 'running' AND (lease_until IS NULL OR lease_until < ?1))) \
     ORDER BY created_at LIMIT ?2";

impl Store {
    /// Claims runnable actions for executor `owner` until `lease` from now: each becomes `running`
    /// with the lease and one more attempt, recorded in its history and the audit trail in the same
    /// transaction. An action taken up again after a lease passed says so. Returns each claimed
    /// action with its tenant.
    pub fn claim_actions(
        &self,
        owner: &str,
        lease: Duration,
        due: Due<'_>,
    ) -> Result<Vec<(String, Action)>, StoreError> {
        let now = now_rfc3339();
        let until = rfc3339(time::OffsetDateTime::now_utc() + lease);
        self.write(|tx| {
            let runnable = RUNNABLE;
            let found: Vec<(String, String, Option<String>, i64)> = match due {
                Due::Any(limit) => tx
                    .prepare_cached(DUE_SQL)?
                    .query_map(params![now, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<_, _>>()?,
                Due::These(tenant, ids) => {
                    let mut stmt = tx.prepare_cached(&format!(
                        "SELECT tenant, id, lease_owner, attempts FROM actions WHERE tenant = ?2 AND id = ?3 AND {runnable}"
                    ))?;
                    let mut found = Vec::with_capacity(ids.len());
                    for id in ids {
                        let row = stmt
                            .query_row(params![now, tenant, id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                            .optional()?;
                        found.extend(row);
                    }
                    found
                }
            };
            let mut claimed: Vec<(String, Action)> = Vec::with_capacity(found.len());
            let mut moved: Vec<(String, (Action, &'static str))> = Vec::with_capacity(found.len());
            for (tenant, id, previous, attempts) in found {
                let attempt = attempts + 1;
                tx.prepare_cached(
                    "UPDATE actions SET lease_owner = ?3, lease_until = ?4, attempts = ?5 WHERE tenant = ?1 AND id = ?2",
                )?
                .execute(params![tenant, id, owner, until, attempt])?;
                let message = match previous {
                    Some(previous) => format!(
                        "taken up again by executor {owner} (attempt {attempt}): the lease of executor {previous} passed before it finished"
                    ),
                    None => format!("picked up by executor {owner} (attempt {attempt})"),
                };
                let (action, name) = set_state(tx, &tenant, &id, (ActionState::Running, &message))?;
                claimed.push((tenant.clone(), action.clone()));
                moved.push((tenant, (action, name)));
            }
            let mut tenants: Vec<&str> = moved.iter().map(|(t, _)| t.as_str()).collect();
            tenants.sort_unstable();
            tenants.dedup();
            for tenant in tenants {
                let mine: Vec<_> = moved.iter().filter(|(t, _)| t == tenant).map(|(_, m)| m.clone()).collect();
                append_audit(tx, tenant, &[unit_entry(Actor::EXECUTOR, &mine)])?;
            }
            Ok(claimed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::InvocationRecord;
    use crate::model::{ActionFilter, new_id};
    use crate::store::{DEMO_TENANT, Effect, Finish, seed_demo};

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

    #[test]
    fn a_claim_is_held_until_its_lease_passes_and_then_taken_up_again_with_the_attempt_recorded() {
        let (store, ids) = two_pending();
        let first = store.claim_actions("a", Duration::ZERO, Due::These(DEMO_TENANT, &ids[..1])).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].1.state, ActionState::Running);
        std::thread::sleep(Duration::from_millis(5));
        let held = store.claim_actions("b", Duration::from_secs(60), Due::Any(10)).unwrap();
        let taken: Vec<&str> = held.iter().map(|(_, a)| a.id.as_str()).collect();
        assert!(taken.contains(&ids[1].as_str()), "the other pending action is claimed");
        assert!(taken.contains(&ids[0].as_str()), "a claim whose lease passed is taken up again");
        let again = held.iter().find(|(_, a)| a.id == ids[0]).unwrap();
        assert!(again.1.message.contains("taken up again by executor b (attempt 2)"), "{}", again.1.message);
        assert!(again.1.message.contains("lease of executor a passed"), "{}", again.1.message);
        assert!(store.claim_actions("c", Duration::from_secs(60), Due::Any(10)).unwrap().is_empty(), "b's leases hold");

        let done = |owner: &str| Finish::Success(Effect::Nothing, format!("done by {owner}"));
        let late = store.finish_actions(DEMO_TENANT, &[(ids[0].clone(), done("a"))], "a").unwrap();
        assert!(late.is_empty(), "an executor that lost its lease records nothing");
        let ended = store.finish_actions(DEMO_TENANT, &[(ids[0].clone(), done("b"))], "b").unwrap();
        assert_eq!((ended[0].state, ended[0].message.as_str()), (ActionState::Success, "done by b"));
        let history: Vec<ActionState> =
            store.action_history(DEMO_TENANT, &ids[0]).unwrap().into_iter().map(|h| h.state).collect();
        use ActionState::*;
        assert_eq!(history, [Pending, Running, Running, Success], "each attempt and the one end are recorded");
        assert!(store.claim_actions("c", Duration::ZERO, Due::These(DEMO_TENANT, &ids[..1])).unwrap().is_empty());
        assert!(store.verify_audit(DEMO_TENANT).unwrap().broken.is_none(), "the chain verifies");
    }
}
