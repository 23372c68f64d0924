//! `provhost:plugin/events`: the event documents provhost accepts, as the WIT `event` a plugin
//! receives. The interface has no functions to import.

use super::HostState;
use crate::bindings::events as wit_events;
use provhost_core::event::{self, Event};
use provhost_core::model::Action;
use provhost_platforms::BackendError;

impl wit_events::Host for HostState {}

fn reference(r: event::Reference) -> wit_events::Reference {
    wit_events::Reference { kind: r.kind, id: r.id, name: r.name }
}

/// The WIT event for an event document; `action-failed` carries the failed action, looked up
/// with `failed_action`.
pub(crate) fn wit_event(
    event: Event,
    failed_action: impl FnOnce(&str) -> Result<Action, BackendError>,
) -> Result<wit_events::Event, BackendError> {
    Ok(match event {
        Event::AttributeChanged(e) => wit_events::Event::AttributeChanged(wit_events::AttributeChanged {
            person: e.person,
            system: e.system,
            source: e.source,
            changes: e
                .changes
                .into_iter()
                .map(|c| wit_events::AttributeChange {
                    attribute: c.attribute,
                    old_values: c.old_values,
                    new_values: c.new_values,
                })
                .collect(),
        }),
        Event::ProvisioningCompleted(e) => {
            wit_events::Event::ProvisioningCompleted(wit_events::ProvisioningCompleted {
                tracking_number: e.tracking_number,
                sources: e.sources,
                action: e.action,
                recipient: reference(e.recipient),
                requester: e.requester.map(reference),
                errors: e.errors,
                warnings: e.warnings,
                account_requests: e
                    .account_requests
                    .into_iter()
                    .map(|r| wit_events::AccountRequest {
                        source: reference(r.source),
                        account_id: r.account_id,
                        account_operation: r.account_operation,
                        provisioning_result: r.provisioning_result,
                        provisioning_target: r.provisioning_target,
                        ticket_id: r.ticket_id,
                        attribute_requests: r
                            .attribute_requests
                            .into_iter()
                            .map(|a| wit_events::AttributeRequest {
                                name: a.attribute_name,
                                value: a.attribute_value,
                                operation: a.operation,
                            })
                            .collect(),
                    })
                    .collect(),
            })
        }
        Event::ActionFailed { action } => wit_events::Event::ActionFailed(failed_action(&action)?.into()),
    })
}
