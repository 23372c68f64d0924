//! Keeping the event an invocation ran on, with what it decided, when its tenant opts in: in the
//! transaction that commits the invocation's record, redacted as the tenant's retention says and
//! bounded per event and per tenant.

use crate::config::Retention;
use crate::event::Event;
use crate::gate::TenantContext;
use crate::store::{Commit, Declined, EventBounds, Kept, KeptEvent};

use super::Decided;

/// What a redacted value is kept as.
const REDACTED: &str = "[redacted]";

/// `event` with the values of the attributes `retention` redacts replaced.
fn redacted(event: &Event, retention: &Retention) -> Event {
    let redacts = |name: &str| retention.redact.iter().any(|r| r.eq_ignore_ascii_case(name));
    let mut event = event.clone();
    match &mut event {
        Event::AttributeChanged(change) => {
            for c in change.changes.iter_mut().filter(|c| redacts(&c.attribute)) {
                for values in [&mut c.old_values, &mut c.new_values] {
                    if !values.is_empty() {
                        *values = vec![REDACTED.to_owned()];
                    }
                }
            }
        }
        Event::ProvisioningCompleted(completed) => {
            let requests = completed.account_requests.iter_mut().flat_map(|r| r.attribute_requests.iter_mut());
            for request in requests.filter(|a| redacts(&a.attribute_name)) {
                request.attribute_value = REDACTED.to_owned();
            }
        }
        Event::ActionFailed { .. } => {}
    }
    event
}

/// Commits `commit`; with `kept` (the event its invocation ran on and what it decided), when the
/// tenant keeps events and this is no dry run, keeps the event with it in the same transaction, so
/// that neither is on record without the other. An event larger than the tenant's bound is not
/// kept, and the log says so.
pub fn commit_keeping(
    context: &TenantContext,
    commit: &Commit<'_>,
    kept: Option<(&Event, Decided)>,
) -> Result<(), Declined> {
    let (retention, store, record) = (&context.parts.retention, &context.parts.store, commit.record);
    let Some((event, decided)) = kept.filter(|_| retention.keep_events && !record.dry_run) else {
        return store.commit(commit);
    };
    let kept = KeptEvent {
        seq: 0,
        tenant: context.parts.tenant.clone(),
        invocation: record.id.clone(),
        plugin: record.plugin_name.clone(),
        at: record.started_at.clone(),
        event: serde_json::to_string(&redacted(event, retention)).expect("events serialise"),
        decided: serde_json::to_string(&decided).expect("decisions serialise"),
    };
    let bounds =
        EventBounds { max_event_bytes: retention.max_event_bytes, max_tenant_bytes: retention.max_tenant_bytes };
    store.commit_keeping(commit, &kept, bounds).map(|kept| match kept {
        Kept::Kept { dropped: 0, .. } => {}
        Kept::Kept { dropped, .. } => {
            tracing::debug!(dropped, "the tenant's oldest kept events made room within its max-tenant-bytes")
        }
        Kept::TooLarge { bytes } => tracing::info!(
            bytes,
            max = retention.max_event_bytes,
            "the event is not kept for replays: it is larger than the tenant's [retention] max-event-bytes"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_attributes_keep_that_they_changed_not_their_values() {
        let text = r#"{"type":"attribute-changed","person":"p","system":"s","changes":[
            {"attribute":"employeeNumber","oldValues":["1"],"newValues":["2"]},
            {"attribute":"mail","oldValues":[],"newValues":["a@b"]}]}"#;
        let retention = Retention { redact: vec!["EmployeeNumber".into()], ..Default::default() };
        let Event::AttributeChanged(change) = redacted(&Event::from_json(text).unwrap(), &retention) else { panic!() };
        assert_eq!(change.changes[0].old_values, [REDACTED]);
        assert_eq!(change.changes[0].new_values, [REDACTED]);
        assert_eq!(change.changes[1].new_values, ["a@b"], "what is not named is kept as it is");
        assert!(change.changes[1].old_values.is_empty());
    }
}
