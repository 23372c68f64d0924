//! Concluding a decision: thresholds, the one commit transaction with its audit records, and
//! execution; or, when nothing may be committed, the single invocation record.

use super::records::invocation_entry;
use super::replay::{Decided, commit_keeping};
use super::thresholds::apply_thresholds;
use crate::audit::{InvocationRecord, Outcome};
use crate::event::{AttributeChanged, Event};
use crate::gate::{Journal, TenantContext};
use serde_json::json;

use crate::model::{Action, apply_attribute_changes};
use crate::refusal::Refusal;
use crate::store::{Commit, Declined, StoreError};
use crate::webhook::Tracking;

use super::{Execution, RunError};

/// What became of a plan.
#[derive(Debug, Clone)]
pub struct Conclusion {
    /// Whether it was committed (a dry run: whether it would be).
    pub committed: bool,
    /// Why a plan that could have committed was refused at commit (a window budget used up
    /// meanwhile by another process).
    pub refused_at_commit: Option<Refusal>,
    /// The actions, in their final states when committed and executed.
    pub actions: Vec<Action>,
    /// The thresholds the plan reached.
    pub thresholds: Vec<String>,
}

/// Records an invocation that committed nothing: one audit record, which carries what was asked
/// for and decided in its details; with `kept`, the event it ran on and what it decided, kept in
/// the same transaction when the tenant keeps events.
pub(super) fn record_uncommitted(
    context: &TenantContext,
    record: &InvocationRecord,
    journal: &Journal,
    kept: Option<(&Event, Decided)>,
) -> Result<(), StoreError> {
    let entry = invocation_entry(record, journal, None);
    let commit = Commit { record, actions: &[], observed: None, windows: &[], audit: std::slice::from_ref(&entry) };
    commit_keeping(context, &commit, kept).map_err(Declined::into_store_error)
}

/// Whether an event's attribute change is recorded on the person: not where provhost holds no copy
/// of the person (a platform's directory), and — with the reason — not when it may not be. An
/// excluded person keeps what they have, so an event (which takes only `events:submit`) cannot lift
/// the person's exclusion, e.g. by blanking the `employeeType` a rule excludes on; a person who
/// cannot be read is not changed either; and a person's recorded attributes are bounded (in number,
/// in values, in bytes), so a stream of events cannot grow them without end.
fn recorded(context: &TenantContext, change: &AttributeChanged) -> Result<bool, String> {
    let exclusions = &context.parts.policy.exclusions;
    if !exclusions.persons.is_empty() || !exclusions.rules.is_empty() {
        let person = context.parts.backend.person(&context.parts.tenant, &change.person).map_err(|e| e.to_string())?;
        if let Some(why) = exclusions.person(&person) {
            return Err(why);
        }
    }
    match context.parts.store.person(&context.parts.tenant, &change.person) {
        Ok(held) => apply_attribute_changes(&held.attributes, change.written()).map(|_| true),
        Err(_) => Ok(false),
    }
}

/// What a run hands its conclusion.
pub struct Concluding<'a> {
    /// The actions planned.
    pub plan: Vec<Action>,
    /// Every call and its decision, every note and log line.
    pub journal: &'a Journal,
    /// False when the plugin did not return `ok` (or a request's call was refused).
    pub may_commit: bool,
    /// The attribute change the event reported, recorded on the person with the commit.
    pub observed: Option<&'a AttributeChanged>,
    /// The event the invocation ran on, kept with its record when the tenant keeps events.
    pub event: Option<&'a Event>,
    /// When the committed actions are carried out.
    pub execution: Execution<'a>,
}

/// Concludes a plan: thresholds, then the commit with the record of `record`, then execution.
pub fn conclude(
    context: &TenantContext,
    record: &mut InvocationRecord,
    concluding: Concluding<'_>,
) -> Result<Conclusion, RunError> {
    let Concluding { mut plan, journal, may_commit, observed, event, execution } = concluding;
    // The event with what the invocation decided, kept with whichever record it ends with.
    let kept = |record: &InvocationRecord, committed: bool, plan: &[Action], thresholds: &[String]| {
        let refused = journal.refused();
        event.map(|e| {
            (e, Decided::of(record.outcome, &record.detail, committed, plan, refused, thresholds, record.duration_us))
        })
    };
    let mut thresholds = Vec::new();
    if may_commit {
        thresholds = match apply_thresholds(context, &mut plan) {
            Ok(thresholds) => thresholds,
            Err(failed) => {
                // Nothing commits, and the invocation is still recorded.
                record.outcome = Outcome::Unavailable;
                record.detail = format!("not committed: {failed}");
                record_uncommitted(context, record, journal, kept(record, false, &plan, &[]))?;
                return Err(failed.error.into());
            }
        };
    }
    if !may_commit || record.dry_run {
        record_uncommitted(context, record, journal, kept(record, false, &plan, &thresholds))?;
        return Ok(Conclusion { committed: may_commit, refused_at_commit: None, actions: plan, thresholds });
    }
    let observed = observed.filter(|change| match recorded(context, change) {
        Ok(recorded) => recorded,
        Err(why) => {
            record.detail =
                format!("{} (the event's attribute changes were not recorded on the person: {why})", record.detail);
            false
        }
    });
    let mut audit = [invocation_entry(record, journal, Some(&plan))];
    if let Some(change) = observed {
        // What the commit writes on the person is on record with it.
        let written: Vec<_> =
            change.written().map(|(name, values)| json!({ "attribute": name, "values": values })).collect();
        audit[0].details["recorded"] = json!({ "person": change.person, "attributes": written });
    }
    let commit = Commit { record, actions: &plan, observed, windows: &context.parts.policy.windows, audit: &audit };
    match commit_keeping(context, &commit, kept(record, true, &plan, &thresholds)) {
        Ok(()) => {}
        Err(Declined::Store(e)) => return Err(e.into()),
        Err(Declined::Refused(refusal)) => {
            record.outcome = Outcome::Refused;
            record.detail = format!("not committed: {refusal}");
            record_uncommitted(context, record, journal, kept(record, false, &plan, &thresholds))?;
            return Ok(Conclusion { committed: false, refused_at_commit: Some(refusal), actions: plan, thresholds });
        }
    }
    if let Execution::Now(executor) = execution {
        plan = executor.run_now(context, Tracking::Fixed(&record.id, &record.plugin_name), &plan)?;
    }
    Ok(Conclusion { committed: true, refused_at_commit: None, actions: plan, thresholds })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::backend::{Backend, BackendError, EmbeddedBackend, Job};
    use crate::executor::{DEFAULT_LEASE, Executor};
    use crate::gate::{Bounds, Call, Gate, TenantParts};
    use crate::model::{Account, ActionFilter, ActionKind, Entitlement, Person, new_id};
    use crate::policy::{Grants, TenantPolicy, Threshold};
    use crate::store::{Counts, DEMO_TENANT, Finish};
    use provhost_gate::testing::governed_context;

    /// The embedded backend, except that it cannot count a system's entitlements.
    struct CannotCount(EmbeddedBackend);

    impl Backend for CannotCount {
        fn persons(&self, t: &str) -> Result<Vec<Person>, BackendError> {
            self.0.persons(t)
        }
        fn person(&self, t: &str, id: &str) -> Result<Person, BackendError> {
            self.0.person(t, id)
        }
        fn entitlements(&self, t: &str, p: &str) -> Result<Vec<Entitlement>, BackendError> {
            self.0.entitlements(t, p)
        }
        fn accounts(&self, t: &str, p: &str) -> Result<Vec<Account>, BackendError> {
            self.0.accounts(t, p)
        }
        fn entitlement(&self, t: &str, id: &str) -> Result<Entitlement, BackendError> {
            self.0.entitlement(t, id)
        }
        fn account(&self, t: &str, id: &str) -> Result<Account, BackendError> {
            self.0.account(t, id)
        }
        fn action(&self, t: &str, id: &str) -> Result<Action, BackendError> {
            self.0.action(t, id)
        }
        fn actions(&self, t: &str, f: &ActionFilter, limit: usize) -> Result<Vec<Action>, BackendError> {
            self.0.actions(t, f, limit)
        }
        fn entitlement_count(&self, _: &str, system: &str) -> Result<u32, BackendError> {
            Err(BackendError::Unavailable(format!("the platform did not answer for '{system}'")))
        }
        fn carry_out(&self, t: &str, job: &Job<'_>) -> Result<Finish, BackendError> {
            self.0.carry_out(t, job)
        }
    }

    #[test]
    fn a_failed_threshold_count_commits_nothing_and_still_records_the_invocation() {
        let threshold = Threshold { system: "*".into(), kind: ActionKind::Update, count: None, percent: Some(50.0) };
        let policy = TenantPolicy { thresholds: vec![threshold], ..Default::default() };
        let (store, context) = governed_context(Grants::everything(), policy);
        let context = Arc::into_inner(context).expect("the only handle");
        let parts = Arc::into_inner(context.parts).expect("the only handle");
        let parts = TenantParts { backend: Arc::new(CannotCount(EmbeddedBackend::new(store.clone()))), ..parts };
        let context = Arc::new(TenantContext { parts: Arc::new(parts), ..context });
        let id = new_id();
        let mut gate = Gate::new(&id, context.clone(), Bounds { max_actions: 10, ..Bounds::REQUEST });
        gate.decide(&Call::update_all_accounts("3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e7b01", "mail changed")).unwrap();
        let before = store.counts(DEMO_TENANT).unwrap();
        let mut record = InvocationRecord::history(&id, DEMO_TENANT, "test-plugin", "an event");
        record.outcome = Outcome::Completed;
        let plan = gate.plan.take_actions();
        let executor = Executor::new(DEFAULT_LEASE);
        let concluding = Concluding {
            plan,
            journal: &gate.journal,
            may_commit: true,
            observed: None,
            event: None,
            execution: Execution::Now(&executor),
        };
        let err = conclude(&context, &mut record, concluding).unwrap_err();
        assert!(err.to_string().contains("did not answer"), "{err}");
        let after = store.counts(DEMO_TENANT).unwrap();
        let expected = Counts { invocations: before.invocations + 1, ..before };
        assert_eq!(after, expected, "the invocation is on record, no action");
        let last = store.audit(&Default::default(), 1000, 0).unwrap().pop().unwrap();
        assert_eq!(last.entry.decision, "unavailable");
        assert!(last.entry.message.contains("the threshold count for"), "{}", last.entry.message);
    }

    /// The conclusion of an empty plan that observed `change`.
    fn observing<'a>(journal: &'a Journal, change: &'a AttributeChanged) -> Concluding<'a> {
        Concluding {
            plan: Vec::new(),
            journal,
            may_commit: true,
            observed: Some(change),
            event: None,
            execution: Execution::Queued,
        }
    }

    #[test]
    fn an_event_cannot_lift_the_exclusion_of_its_person() {
        use crate::event::AttributeChange;
        use crate::policy::{AttributeRule, Exclusions};
        let jan = "3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e7b01";
        let blank_department = AttributeChanged {
            person: jan.into(),
            system: "active-directory".into(),
            source: "a workflow".into(),
            sailpoint_source: None,
            changes: vec![AttributeChange {
                attribute: "department".into(),
                old_values: vec!["Sales".into()],
                new_values: vec![],
            }],
        };
        let department = |store: &dyn crate::store::Store| -> Vec<String> {
            let person = store.person(DEMO_TENANT, jan).unwrap();
            person.attributes.into_iter().filter(|a| a.name == "department").flat_map(|a| a.values).collect()
        };
        let rule = AttributeRule { attribute: "department".into(), equals: Some("sales".into()), one_of: None };
        for (policy, kept) in [
            (
                TenantPolicy {
                    exclusions: Exclusions { rules: vec![rule], ..Default::default() },
                    ..Default::default()
                },
                true,
            ),
            (TenantPolicy::default(), false),
        ] {
            let (store, context) = governed_context(Grants::everything(), policy);
            let mut record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test-plugin", "an event");
            conclude(&context, &mut record, observing(&Journal::default(), &blank_department)).unwrap();
            assert_eq!(department(&*store).is_empty(), !kept, "{}", record.detail);
            if kept {
                assert!(record.detail.contains("excluded by the rule department = sales"), "{}", record.detail);
            }
        }
    }

    #[test]
    fn an_event_records_what_it_writes_and_cannot_grow_a_person_without_bound() {
        use crate::event::AttributeChange;
        let jan = "3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e7b01";
        let (store, context) = governed_context(Grants::everything(), TenantPolicy::default());
        let event = |names: std::ops::Range<usize>| AttributeChanged {
            person: jan.into(),
            system: "active-directory".into(),
            source: "a workflow".into(),
            sailpoint_source: None,
            changes: names
                .map(|n| AttributeChange {
                    attribute: format!("extra{n}"),
                    old_values: vec![],
                    new_values: vec![format!("value {n}")],
                })
                .collect(),
        };
        let conclude_event = |change: &AttributeChanged| {
            let mut record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test-plugin", "an event");
            conclude(&context, &mut record, observing(&Journal::default(), change)).unwrap();
            let last = store.audit(&Default::default(), 10_000, 0).unwrap().pop().unwrap().entry;
            (record.detail, last.details)
        };
        let held = store.person(DEMO_TENANT, jan).unwrap().attributes.len();
        let (_, details) = conclude_event(&event(0..3));
        assert_eq!(details["recorded"]["attributes"][1], json!({"attribute": "extra1", "values": ["value 1"]}));
        assert_eq!(store.person(DEMO_TENANT, jan).unwrap().attributes.len(), held + 3);
        // Events of new names, one after another, up to the bound and no further.
        let room = crate::model::MAX_PERSON_ATTRIBUTES - held - 3;
        conclude_event(&event(3..3 + room));
        let (detail, details) = conclude_event(&event(1000..1001));
        assert!(detail.contains("would hold 257 attributes, over 256"), "{detail}");
        assert!(details.get("recorded").is_none(), "nothing written, nothing said to be");
        assert_eq!(store.person(DEMO_TENANT, jan).unwrap().attributes.len(), 256);
    }
}
