//! The plan: entitlement actions a plugin asked for during one invocation. Nothing in it touches
//! the store until the plugin returns `ok`; then it commits in one transaction with the
//! invocation's record.

use provhost_core::model::{Action, ActionKind, ActionState, ActionTarget, new_id, now_rfc3339};
use provhost_core::refusal::Refusal;

/// A planned action, as the plugin asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The person it is for.
    pub person: String,
    /// The target system.
    pub system: String,
    /// What it acts on.
    pub target: ActionTarget,
    /// The step to run.
    pub kind: ActionKind,
    /// Why it exists (`re-enforce`, `update account`, `manual retry`, ...).
    pub origin: &'static str,
    /// The plugin's reason.
    pub reason: String,
    /// The failed action a retry repeats.
    pub retry_of: Option<String>,
}

/// The actions planned so far in one invocation.
#[derive(Debug, Clone)]
pub struct Plan {
    invocation: String,
    actions: Vec<Action>,
    max: u32,
    exhausted: bool,
}

impl Plan {
    /// An empty plan for `invocation` that holds at most `max` actions.
    pub fn new(invocation: &str, max: u32) -> Self {
        Self { invocation: invocation.to_owned(), actions: Vec::new(), max, exhausted: false }
    }

    /// Adds an intent and returns the planned action. Asking twice for the same step on the same
    /// target (or to retry the same action twice) returns the action already planned instead of
    /// planning a duplicate.
    pub fn add(&mut self, intent: Intent) -> Result<&Action, Refusal> {
        let same = |a: &Action| a.kind == intent.kind && a.target == intent.target && a.retry_of == intent.retry_of;
        if let Some(index) = self.actions.iter().position(same) {
            return Ok(&self.actions[index]);
        }
        if self.actions.len() as u32 >= self.max {
            self.exhausted = true;
            return Err(Refusal::BudgetExhausted(format!(
                "this invocation may plan at most {} actions; the plan is abandoned",
                self.max
            )));
        }
        let at = now_rfc3339();
        self.actions.push(Action {
            id: new_id(),
            person: intent.person,
            system: intent.system,
            target: intent.target,
            kind: intent.kind,
            state: ActionState::Pending,
            origin: intent.origin.to_owned(),
            message: intent.reason,
            retry_of: intent.retry_of,
            invocation: Some(self.invocation.clone()),
            created_at: at.clone(),
            updated_at: at,
        });
        Ok(self.actions.last().expect("just pushed"))
    }

    /// Whether an action was refused for the plan's budget: the plan is then abandoned.
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// The planned actions, in the order they were asked for.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// Forgets every action planned after the first `len`: a call that is all or nothing undoes
    /// what it planned before it was refused.
    pub fn truncate(&mut self, len: usize) {
        self.actions.truncate(len);
    }

    /// Takes the planned actions out, leaving the plan empty.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(account: &str) -> Intent {
        Intent {
            person: "p".into(),
            system: "s".into(),
            target: ActionTarget::Account(account.into()),
            kind: ActionKind::Update,
            origin: "update account",
            reason: "mail changed".into(),
            retry_of: None,
        }
    }

    #[test]
    fn planned_actions_are_pending_tagged_with_the_invocation_and_deduplicated() {
        let mut plan = Plan::new("inv-1", 10);
        let first = plan.add(update("a1")).unwrap().id.clone();
        let again = plan.add(update("a1")).unwrap().id.clone();
        assert_eq!(first, again);
        plan.add(update("a2")).unwrap();
        assert_eq!(plan.actions().len(), 2);
        assert!(plan.actions().iter().all(|a| a.state == ActionState::Pending));
        assert!(plan.actions().iter().all(|a| a.invocation.as_deref() == Some("inv-1")));
    }

    #[test]
    fn the_action_budget_refuses_the_next_action_with_the_limit() {
        let mut plan = Plan::new("inv-1", 1);
        plan.add(update("a1")).unwrap();
        let err = plan.add(update("a2")).unwrap_err();
        assert_eq!(err.code(), "budget-exhausted");
        assert!(err.to_string().contains("at most 1 actions"), "{err}");
    }
}
