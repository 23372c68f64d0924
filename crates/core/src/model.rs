//! provhost's domain records, independent of wasm and of any backend.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One named attribute with its values (attributes such as `proxyAddresses` are multi-valued).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attribute {
    /// Attribute name, e.g. `mail`.
    pub name: String,
    /// Its values in order.
    pub values: Vec<String>,
}

/// The most attributes a person holds in the embedded store when events record changes on them.
pub const MAX_PERSON_ATTRIBUTES: usize = 256;
/// The most values one recorded attribute holds.
pub const MAX_ATTRIBUTE_VALUES: usize = 64;
/// The longest attribute name or value recorded, in bytes.
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 1024;
/// The most bytes a person's attributes take in all (names and values).
pub const MAX_PERSON_ATTRIBUTE_BYTES: usize = 64 * 1024;

/// `current` with each of `changes` (an attribute and its new values; none removes it) applied,
/// sorted by name; or, when the result would pass one of the bounds above, a sentence naming the
/// attribute and the bound, and nothing is applied.
pub fn apply_attribute_changes<'a>(
    current: &[Attribute],
    changes: impl IntoIterator<Item = (&'a str, &'a [String])>,
) -> Result<Vec<Attribute>, String> {
    let mut attributes = current.to_vec();
    for (name, values) in changes {
        if name.len() > MAX_ATTRIBUTE_VALUE_BYTES || values.iter().any(|v| v.len() > MAX_ATTRIBUTE_VALUE_BYTES) {
            return Err(format!(
                "attribute '{}' has a name or value over {MAX_ATTRIBUTE_VALUE_BYTES} bytes",
                name.chars().take(64).collect::<String>()
            ));
        }
        if values.len() > MAX_ATTRIBUTE_VALUES {
            return Err(format!("attribute '{name}' has {} values, over {MAX_ATTRIBUTE_VALUES}", values.len()));
        }
        attributes.retain(|a| a.name != name);
        if !values.is_empty() {
            attributes.push(Attribute { name: name.to_owned(), values: values.to_vec() });
        }
    }
    if attributes.len() > MAX_PERSON_ATTRIBUTES {
        return Err(format!("the person would hold {} attributes, over {MAX_PERSON_ATTRIBUTES}", attributes.len()));
    }
    let bytes: usize = attributes.iter().map(|a| a.name.len() + a.values.iter().map(String::len).sum::<usize>()).sum();
    if bytes > MAX_PERSON_ATTRIBUTE_BYTES {
        return Err(format!("the person's attributes would take {bytes} bytes, over {MAX_PERSON_ATTRIBUTE_BYTES}"));
    }
    attributes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(attributes)
}

/// A person as the platform knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Person {
    /// The person's id (a GUID).
    pub id: String,
    /// Name for display.
    pub display_name: String,
    /// The person's attributes.
    pub attributes: Vec<Attribute>,
}

/// A target system such as Active Directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct System {
    /// The system's id (a short slug such as `active-directory`).
    pub id: String,
    /// Name for display.
    pub name: String,
    /// Person attributes the system's update step writes to its accounts.
    pub consumes: Vec<String>,
    /// When set, every action executed against the system fails with this message.
    pub failure: Option<String>,
}

/// What an entitlement grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EntitlementType {
    /// An account.
    Account,
    /// The account being enabled or disabled.
    AccountAccess,
    /// A group membership or permission.
    Permission,
}

/// What a person is granted in a target system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entitlement {
    /// The entitlement's id.
    pub id: String,
    /// Its holder.
    pub person: String,
    /// Its target system.
    pub system: String,
    /// What it grants.
    pub kind: EntitlementType,
    /// Name for display.
    pub display_name: String,
    /// False once unmanaged.
    pub managed: bool,
}

/// One account of a person in a target system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Account {
    /// The account's id.
    pub id: String,
    /// Its owner.
    pub person: String,
    /// Its target system.
    pub system: String,
    /// The target system's own reference.
    pub account_reference: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// The account's provisioned attributes.
    pub attributes: Vec<Attribute>,
}

/// Declares a string-backed enum with its wire names, `Display` and `FromStr`.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        /// The wire names, as the OpenAPI document lists them.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} '{other}'; expected one of: {}",
                        stringify!($name),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

wire_enum! {
    /// The step an entitlement action runs.
    ActionKind {
        /// Grant (a re-enforce runs it again).
        Grant = "grant",
        /// Account update.
        Update = "update",
        /// Revoke.
        Revoke = "revoke",
        /// Stop managing.
        Unmanage = "unmanage",
    }
}

wire_enum! {
    /// Where an entitlement action is in its life.
    ActionState {
        /// Committed, not yet picked up.
        Pending = "pending",
        /// Queued.
        Waiting = "waiting",
        /// Executing.
        Running = "running",
        /// Finished without error.
        Success = "success",
        /// Finished with an error.
        Error = "error",
        /// Held back by a threshold; waits for approval.
        Blocked = "blocked",
        /// A blocked action that was rejected; final.
        Rejected = "rejected",
    }
}

/// What an action acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case", tag = "type", content = "id")]
pub enum ActionTarget {
    /// An entitlement.
    Entitlement(String),
    /// An account.
    Account(String),
}

/// One entitlement action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Action {
    /// The action's id.
    pub id: String,
    /// The person it is for.
    pub person: String,
    /// The system it runs against.
    pub system: String,
    /// What it acts on.
    pub target: ActionTarget,
    /// The step it runs.
    pub kind: ActionKind,
    /// Its state.
    pub state: ActionState,
    /// Why it exists (`re-enforce`, `update account`, `manual retry`, ...).
    pub origin: String,
    /// The latest message.
    pub message: String,
    /// The action this one retries, if it is a retry.
    pub retry_of: Option<String>,
    /// The invocation that planned it.
    pub invocation: Option<String>,
    /// Creation time, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Time of the last state change, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// Which actions to list; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionFilter {
    /// Only this person's.
    pub person: Option<String>,
    /// Only in this state.
    pub state: Option<ActionState>,
    /// Only against this system.
    pub system: Option<String>,
    /// Only of this kind.
    pub kind: Option<ActionKind>,
    /// Only those the invocations of this plugin planned.
    pub plugin: Option<String>,
    /// Only those created at or after this time (RFC 3339 UTC, as [`parse_rfc3339`] writes it).
    pub since: Option<String>,
    /// Only those created before this time (RFC 3339 UTC, as [`parse_rfc3339`] writes it).
    pub until: Option<String>,
}

/// The current time as RFC 3339 UTC with millisecond precision.
pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

/// A time as RFC 3339 UTC, always with three fractional digits, so that stored times sort as text.
pub fn rfc3339(at: time::OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.to_offset(time::UtcOffset::UTC).format(&format).expect("a UTC time formats")
}

/// A time a caller gave (`since`, `until`), checked to be RFC 3339 and turned into the stored
/// form so that it compares with stored times; otherwise a sentence naming what was wrong.
pub fn parse_rfc3339(text: &str) -> Result<String, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(rfc3339)
        .map_err(|_| format!("'{text}' is not an RFC 3339 time such as 2026-11-24T09:30:00Z"))
}

/// A new GUID for an action, invocation or other record: a version-7 UUID, so ids are ordered by
/// creation time and new rows land at the end of the indexes that key on them (random ids would
/// dirty a random index page per insert).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_unknown_names_list_the_choices() {
        for kind in ActionKind::ALL {
            assert_eq!(kind.as_str().parse::<ActionKind>().unwrap(), *kind);
        }
        let err = "granted".parse::<ActionState>().unwrap_err();
        assert!(err.contains("unknown ActionState 'granted'"), "{err}");
        assert!(err.contains("pending, waiting, running, success, error, blocked"), "{err}");
    }

    #[test]
    fn timestamps_are_utc_rfc3339_of_fixed_width() {
        let whole = rfc3339(time::macros::datetime!(2026-01-02 03:04:05 UTC));
        assert_eq!(whole, "2026-01-02T03:04:05.000Z");
        let t = now_rfc3339();
        assert_eq!(t.len(), whole.len());
        assert!(t.ends_with('Z'), "{t}");
        assert!(time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).is_ok());
    }

    #[test]
    fn recorded_attribute_changes_are_bounded_per_value_per_attribute_and_per_person() {
        let mail = Attribute { name: "mail".into(), values: vec!["a@x".into()] };
        let new = vec!["b@x".to_string()];
        let applied = apply_attribute_changes(std::slice::from_ref(&mail), [("mail", new.as_slice())]).unwrap();
        assert_eq!(applied[0].values, new);
        assert!(
            apply_attribute_changes(std::slice::from_ref(&mail), [("mail", &[][..])]).unwrap().is_empty(),
            "no values: removed"
        );
        let long = vec!["x".repeat(MAX_ATTRIBUTE_VALUE_BYTES + 1)];
        assert!(apply_attribute_changes(&[], [("mail", long.as_slice())]).unwrap_err().contains("over 1024 bytes"));
        let many: Vec<String> = (0..=MAX_ATTRIBUTE_VALUES).map(|n| n.to_string()).collect();
        assert!(apply_attribute_changes(&[], [("proxy", many.as_slice())]).unwrap_err().contains("65 values"));
        let names: Vec<String> = (0..=MAX_PERSON_ATTRIBUTES).map(|n| format!("a{n}")).collect();
        let one = vec!["v".to_string()];
        let flood = names.iter().map(|n| (n.as_str(), one.as_slice()));
        assert!(apply_attribute_changes(&[], flood).unwrap_err().contains("257 attributes"));
        let big = vec!["v".repeat(1000); 60];
        let heavy: Vec<String> = (0..2).map(|n| format!("big{n}")).collect();
        let err = apply_attribute_changes(&[], heavy.iter().map(|n| (n.as_str(), big.as_slice()))).unwrap_err();
        assert!(err.contains("over 65536"), "{err}");
    }
}
