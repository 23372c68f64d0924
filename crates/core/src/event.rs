//! Events as they arrive in JSON: provhost's own shape (tagged by `type`), or SailPoint's
//! "Provisioning Completed" trigger payload as SailPoint sends it.

use serde::{Deserialize, Serialize};

use crate::limits::Limits;

/// One attribute that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributeChange {
    /// Attribute name.
    pub attribute: String,
    /// Values before.
    #[serde(default)]
    pub old_values: Vec<String>,
    /// Values after.
    #[serde(default)]
    pub new_values: Vec<String>,
}

/// Attributes of a person changed outside provisioning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributeChanged {
    /// The person.
    pub person: String,
    /// The system where they changed.
    pub system: String,
    /// Who made the change.
    #[serde(default)]
    pub source: String,
    /// For an event from SailPoint, the source it names (its id is `system` until the tenant's
    /// `[sources]` map it to a provhost system).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sailpoint_source: Option<Reference>,
    /// The changes; at least one.
    pub changes: Vec<AttributeChange>,
}

impl AttributeChanged {
    /// What recording the change on the person writes: each attribute with its new values (none
    /// removes it).
    pub fn written(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.changes.iter().map(|c| (c.attribute.as_str(), c.new_values.as_slice()))
    }
}

/// A SailPoint `{type, id, name}` reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// `IDENTITY`, `SOURCE`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The id.
    pub id: String,
    /// The display name.
    #[serde(default)]
    pub name: String,
}

/// One attribute operation of an account request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeRequest {
    /// Attribute name.
    pub attribute_name: String,
    /// Value (SailPoint sends a string, a list or null; lists are joined with commas).
    #[serde(default, deserialize_with = "string_or_list")]
    pub attribute_value: String,
    /// `Add`, `Remove`, `Set`.
    pub operation: String,
}

/// One account operation of a provisioning run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRequest {
    /// The source.
    pub source: Reference,
    /// The provhost system the tenant maps the source to (`[tenants.T.sources]`), once mapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The account id in the source.
    #[serde(default)]
    pub account_id: String,
    /// `Create`, `Modify`, ...
    pub account_operation: String,
    /// `SUCCESS`, `FAILED`, ...
    pub provisioning_result: String,
    /// Provisioning target name.
    #[serde(default)]
    pub provisioning_target: Option<String>,
    /// Manual work item ticket.
    #[serde(default)]
    pub ticket_id: Option<String>,
    /// Attribute operations.
    #[serde(default)]
    pub attribute_requests: Vec<AttributeRequest>,
}

/// SailPoint's "Provisioning Completed" trigger payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningCompleted {
    /// Tracking number.
    pub tracking_number: String,
    /// Sources involved.
    #[serde(default)]
    pub sources: String,
    /// What started the run.
    #[serde(default)]
    pub action: String,
    /// The identity whose access changed.
    pub recipient: Reference,
    /// Who asked.
    #[serde(default)]
    pub requester: Option<Reference>,
    /// Errors.
    #[serde(default)]
    pub errors: Vec<String>,
    /// Warnings.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Account operations.
    #[serde(default)]
    pub account_requests: Vec<AccountRequest>,
}

/// One change in SailPoint's "Identity/Account Attributes Changed" triggers; values may be a
/// string, a boolean, a list or an object.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SailPointChange {
    attribute: String,
    #[serde(default)]
    old_value: serde_json::Value,
    #[serde(default)]
    new_value: serde_json::Value,
}

/// SailPoint's "Account Attributes Changed" (with `source` and `account`) and "Identity
/// Attributes Changed" (without) trigger payloads.
#[derive(Debug, Clone, Deserialize)]
struct SailPointAttributesChanged {
    identity: Reference,
    #[serde(default)]
    source: Option<Reference>,
    #[serde(default)]
    account: Option<serde_json::Value>,
    changes: Vec<SailPointChange>,
}

fn values(value: serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::String(s) => vec![s],
        serde_json::Value::Array(items) => {
            items.into_iter().map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).collect()
        }
        other => vec![other.to_string()],
    }
}

impl From<SailPointAttributesChanged> for AttributeChanged {
    fn from(e: SailPointAttributesChanged) -> Self {
        let (system, source) = match (&e.source, &e.account) {
            (Some(source), account) => {
                let name = account.as_ref().and_then(|a| a.get("name")).and_then(|n| n.as_str()).unwrap_or("");
                (source.id.clone(), format!("SailPoint Account Attributes Changed: {} account {name}", source.name))
            }
            (None, _) => ("identity".to_owned(), "SailPoint Identity Attributes Changed".to_owned()),
        };
        AttributeChanged {
            person: e.identity.id,
            system,
            source,
            sailpoint_source: e.source,
            changes: e
                .changes
                .into_iter()
                .map(|c| AttributeChange {
                    attribute: c.attribute,
                    old_values: values(c.old_value),
                    new_values: values(c.new_value),
                })
                .collect(),
        }
    }
}

/// An event a plugin can be invoked with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    /// Attributes changed outside provisioning.
    AttributeChanged(AttributeChanged),
    /// A provisioning run finished.
    ProvisioningCompleted(ProvisioningCompleted),
    /// An entitlement action ended in error; the host looks the action up.
    #[serde(rename_all = "camelCase")]
    ActionFailed {
        /// The failed action's id.
        action: String,
    },
}

/// Why an event document was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not JSON, or not an event of a known shape.
    #[error("{0}")]
    Malformed(String),
    /// A well-formed event that cannot be acted on.
    #[error("{0}")]
    Invalid(String),
}

impl Event {
    /// The event's kind as the WIT variant names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::AttributeChanged(_) => "attribute-changed",
            Event::ProvisioningCompleted(_) => "provisioning-completed",
            Event::ActionFailed { .. } => "action-failed",
        }
    }

    /// One line on what the event is about, for records.
    pub fn summary(&self) -> String {
        match self {
            Event::AttributeChanged(e) => {
                let names: Vec<&str> = e.changes.iter().map(|c| c.attribute.as_str()).collect();
                format!("{} of person {} changed in {} by {}", names.join(", "), e.person, e.system, e.source)
            }
            Event::ProvisioningCompleted(e) => format!(
                "provisioning {} ({}) completed for {} with {} account requests",
                e.tracking_number,
                e.action,
                e.recipient.id,
                e.account_requests.len()
            ),
            Event::ActionFailed { action } => format!("action {action} failed"),
        }
    }

    /// The sha256 of the event's canonical JSON, hex.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let json = serde_json::to_vec(self).expect("events serialise");
        hex::encode(sha2::Sha256::digest(json))
    }

    /// The person the event is about.
    pub fn person(&self) -> Option<&str> {
        match self {
            Event::AttributeChanged(e) => Some(&e.person),
            Event::ProvisioningCompleted(e) => Some(&e.recipient.id),
            Event::ActionFailed { .. } => None,
        }
    }

    /// Parses an event document. A document without `type` is taken as a SailPoint trigger
    /// payload: "Provisioning Completed" when it has `trackingNumber` and `recipient`; "Account
    /// Attributes Changed" or "Identity Attributes Changed" when it has `identity` and `changes`.
    pub fn from_json(text: &str) -> Result<Event, EventError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| EventError::Malformed(format!("not valid JSON: {e}")))?;
        let untyped_sailpoint =
            value.get("type").is_none() && value.get("trackingNumber").is_some() && value.get("recipient").is_some();
        let attributes_changed =
            value.get("type").is_none() && value.get("identity").is_some() && value.get("changes").is_some();
        let event = if untyped_sailpoint {
            serde_json::from_value(value).map(Event::ProvisioningCompleted)
        } else if attributes_changed {
            serde_json::from_value::<SailPointAttributesChanged>(value).map(|e| Event::AttributeChanged(e.into()))
        } else {
            serde_json::from_value(value)
        }
        .map_err(|e| {
            EventError::Malformed(format!(
                "not a provhost event: {e} (expected \"type\": \"attribute-changed\", \
                 \"provisioning-completed\" or \"action-failed\", or a SailPoint Provisioning Completed payload)"
            ))
        })?;
        event.validate()?;
        Ok(event)
    }

    fn validate(&self) -> Result<(), EventError> {
        let blank = |field: &str, value: &str| {
            if value.trim().is_empty() {
                Err(EventError::Invalid(format!("{} event: `{field}` must not be empty", self.kind())))
            } else {
                Ok(())
            }
        };
        // An id no longer than a plugin's call may name, so that none reaches a platform or an
        // answer unbounded.
        let id = |field: &str, value: &str| {
            blank(field, value)?;
            let max = Limits::MAXIMUM.max_id_bytes as usize;
            if value.len() > max {
                return Err(EventError::Invalid(format!(
                    "{} event: `{field}` is {} bytes long; provhost takes ids of at most {max} bytes",
                    self.kind(),
                    value.len()
                )));
            }
            Ok(())
        };
        match self {
            Event::AttributeChanged(e) => {
                id("person", &e.person)?;
                id("system", &e.system)?;
                if e.changes.is_empty() {
                    return Err(EventError::Invalid("attribute-changed event: `changes` lists no attribute".into()));
                }
                e.changes.iter().try_for_each(|c| blank("changes[].attribute", &c.attribute))
            }
            Event::ProvisioningCompleted(e) => id("recipient.id", &e.recipient.id),
            Event::ActionFailed { action } => id("action", action),
        }
    }
}

fn string_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s,
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAILPOINT: &str = include_str!("../../../examples/events/sailpoint-provisioning-completed.json");

    #[test]
    fn attribute_changed_parses_and_unknown_fields_are_named() {
        let ok = r#"{"type":"attribute-changed","person":"p1","system":"active-directory","source":"wf",
                     "changes":[{"attribute":"mail","oldValues":["a@x"],"newValues":["b@x"]}]}"#;
        let Event::AttributeChanged(e) = Event::from_json(ok).unwrap() else { panic!("wrong kind") };
        assert_eq!(e.changes[0].new_values, ["b@x"]);
        let typo = ok.replace("newValues", "newValue");
        let err = Event::from_json(&typo).unwrap_err().to_string();
        assert!(err.contains("unknown field `newValue`"), "{err}");
    }

    #[test]
    fn empty_changes_and_bad_json_are_explained() {
        let err =
            Event::from_json(r#"{"type":"attribute-changed","person":"p","system":"s","changes":[]}"#).unwrap_err();
        assert!(err.to_string().contains("lists no attribute"), "{err}");
        let err = Event::from_json("{not json").unwrap_err();
        assert!(err.to_string().starts_with("not valid JSON"), "{err}");
        let err = Event::from_json(r#"{"type":"holiday"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant `holiday`"), "{err}");
        let long = format!(r#"{{"type":"action-failed","action":"{}"}}"#, "a".repeat(257));
        let err = Event::from_json(&long).unwrap_err();
        assert!(err.to_string().contains("`action` is 257 bytes long; provhost takes ids of at most 256"), "{err}");
    }

    #[test]
    fn sailpoint_attribute_triggers_become_attribute_changed() {
        let account = r#"{"identity": {"type": "IDENTITY", "id": "2c7180a46faadee4016fb4e018c20642", "name": "Michael Michaels"},
            "source": {"id": "4e4d982dddff4267ab12f0f1e72b5a6d", "type": "SOURCE", "name": "Corporate Active Directory"},
            "account": {"id": "52170a74-ca89-11ea-87d0-0242ac130003", "uuid": "1cb1f07d-3e5a-4431-becd-234fa4306108",
                        "name": "john.doe", "nativeIdentity": "cn=john.doe,ou=users,dc=acme,dc=com", "type": "ACCOUNT"},
            "changes": [{"attribute": "sn", "oldValue": "doe", "newValue": "ryans"},
                        {"attribute": "memberOf", "oldValue": ["a"], "newValue": ["a", "b"]}]}"#;
        let Event::AttributeChanged(e) = Event::from_json(account).unwrap() else { panic!("wrong kind") };
        assert_eq!(
            (e.person.as_str(), e.system.as_str()),
            ("2c7180a46faadee4016fb4e018c20642", "4e4d982dddff4267ab12f0f1e72b5a6d")
        );
        assert_eq!(e.changes[1].new_values, ["a", "b"]);
        assert!(e.source.contains("Corporate Active Directory account john.doe"));

        let identity = r#"{"identity": {"type": "IDENTITY", "id": "2c7180a46faadee4016fb4e018c20642", "name": "Michael Michaels"},
            "changes": [{"attribute": "department", "oldValue": "sales", "newValue": "marketing"},
                        {"attribute": "isManager", "oldValue": false, "newValue": true}]}"#;
        let Event::AttributeChanged(e) = Event::from_json(identity).unwrap() else { panic!("wrong kind") };
        assert_eq!(e.system, "identity");
        assert_eq!(e.changes[1].new_values, ["true"]);
    }

    #[test]
    fn sailpoint_provisioning_completed_is_accepted_as_published() {
        let Event::ProvisioningCompleted(e) = Event::from_json(SAILPOINT).unwrap() else { panic!("wrong kind") };
        assert_eq!(e.tracking_number, "4b4d982dddff4267ab12f0f1e72b5a6d");
        assert_eq!(e.account_requests[0].attribute_requests[0].attribute_name, "memberOf");
        assert_eq!(e.recipient.name, "William Wilson");
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::*;

        /// JSON values leaning towards the shapes events have, so parsing gets past its first checks.
        fn json_value() -> impl Strategy<Value = Value> {
            let key = prop_oneof![
                Just("type".to_string()),
                Just("person".to_string()),
                Just("system".to_string()),
                Just("changes".to_string()),
                Just("attribute".to_string()),
                Just("newValues".to_string()),
                Just("action".to_string()),
                Just("recipient".to_string()),
                Just("trackingNumber".to_string()),
                Just("identity".to_string()),
                Just("id".to_string()),
                "[a-zA-Z]{1,8}",
            ];
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                prop_oneof![
                    Just("attribute-changed".to_string()),
                    Just("action-failed".to_string()),
                    Just("provisioning-completed".to_string()),
                    ".{0,12}",
                ]
                .prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 64, 6, move |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                    proptest::collection::btree_map(key.clone(), inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// Text of any characters that is not blank (a first character that is not whitespace).
        fn named() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9_.'%;\\-é😀][^\\x00]{0,16}"
        }

        /// Text of any characters, blank or not.
        fn text() -> impl Strategy<Value = String> {
            "\\PC{0,16}"
        }

        fn reference() -> impl Strategy<Value = Reference> {
            (text(), named(), text()).prop_map(|(kind, id, name)| Reference { kind, id, name })
        }

        /// Every valid event: each kind, with every optional field set or not.
        fn valid_event() -> impl Strategy<Value = Event> {
            let change = (named(), proptest::collection::vec(text(), 0..3), proptest::collection::vec(text(), 0..3))
                .prop_map(|(attribute, old_values, new_values)| AttributeChange { attribute, old_values, new_values });
            let changed =
                (named(), named(), text(), proptest::option::of(reference()), proptest::collection::vec(change, 1..4))
                    .prop_map(|(person, system, source, sailpoint_source, changes)| {
                        Event::AttributeChanged(AttributeChanged { person, system, source, sailpoint_source, changes })
                    });
            let attribute = (named(), text(), text()).prop_map(|(attribute_name, attribute_value, operation)| {
                AttributeRequest { attribute_name, attribute_value, operation }
            });
            let request = (
                reference(),
                proptest::option::of(named()),
                (text(), text(), text()),
                (proptest::option::of(text()), proptest::option::of(text())),
                proptest::collection::vec(attribute, 0..3),
            )
                .prop_map(
                    |(
                        source,
                        system,
                        (account_id, account_operation, provisioning_result),
                        (provisioning_target, ticket_id),
                        attribute_requests,
                    )| {
                        AccountRequest {
                            source,
                            system,
                            account_id,
                            account_operation,
                            provisioning_result,
                            provisioning_target,
                            ticket_id,
                            attribute_requests,
                        }
                    },
                );
            let completed = (
                (text(), text(), text()),
                reference(),
                proptest::option::of(reference()),
                (proptest::collection::vec(text(), 0..3), proptest::collection::vec(text(), 0..3)),
                proptest::collection::vec(request, 0..3),
            )
                .prop_map(
                    |(
                        (tracking_number, sources, action),
                        recipient,
                        requester,
                        (errors, warnings),
                        account_requests,
                    )| {
                        Event::ProvisioningCompleted(ProvisioningCompleted {
                            tracking_number,
                            sources,
                            action,
                            recipient,
                            requester,
                            errors,
                            warnings,
                            account_requests,
                        })
                    },
                );
            let failed = named().prop_map(|action| Event::ActionFailed { action });
            prop_oneof![changed, completed, failed]
        }

        proptest! {
            #[test]
            fn every_valid_event_parses_to_what_was_written(event in valid_event()) {
                let text = serde_json::to_string(&event).unwrap();
                let parsed = Event::from_json(&text);
                prop_assert!(parsed.is_ok(), "{} was refused: {}", text, parsed.unwrap_err());
                prop_assert_eq!(parsed.unwrap(), event.clone());
                // SailPoint sends Provisioning Completed without provhost's `type`.
                if let Event::ProvisioningCompleted(completed) = &event {
                    let untyped = serde_json::to_string(completed).unwrap();
                    prop_assert_eq!(Event::from_json(&untyped).unwrap(), event);
                }
            }

            #[test]
            fn any_text_is_parsed_or_refused_without_panic(text in ".{0,200}") {
                let _ = Event::from_json(&text);
            }

            #[test]
            fn any_json_is_parsed_or_refused_and_what_parses_names_its_target(value in json_value()) {
                if let Ok(event) = Event::from_json(&value.to_string()) {
                    match &event {
                        Event::ActionFailed { action } => prop_assert!(!action.trim().is_empty()),
                        other => prop_assert!(!other.person().unwrap_or_default().trim().is_empty()),
                    }
                    prop_assert!(!event.summary().is_empty());
                }
            }

            #[test]
            fn a_well_formed_attribute_change_keeps_its_person_and_attributes(
                person in "[a-z0-9-]{1,40}",
                attributes in proptest::collection::vec("[A-Za-z]{1,20}", 1..5),
            ) {
                let changes: Vec<Value> =
                    attributes.iter().map(|a| json!({"attribute": a, "newValues": ["x"]})).collect();
                let text = json!({"type": "attribute-changed", "person": person, "system": "ad", "changes": changes});
                match Event::from_json(&text.to_string()).unwrap() {
                    Event::AttributeChanged(e) => {
                        prop_assert_eq!(e.person, person);
                        prop_assert_eq!(e.changes.into_iter().map(|c| c.attribute).collect::<Vec<_>>(), attributes);
                    }
                    other => prop_assert!(false, "parsed as {}", other.kind()),
                }
            }
        }
    }
}
