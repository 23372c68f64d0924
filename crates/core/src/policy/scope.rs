//! Scopes: what an API key is granted and what a plugin's manifest declares. A call is allowed
//! only if both allow it — the key's grants intersected with the manifest's — for the target
//! system it touches.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read persons, entitlements, accounts and actions.
    PersonsRead,
    /// Re-enforce an entitlement.
    EntitlementsReEnforce,
    /// Update one or all accounts.
    AccountsUpdate,
    /// Unmanage an entitlement.
    EntitlementsUnmanage,
    /// Retry a failed action.
    ActionsRetry,
    /// Approve or reject blocked actions.
    ActionsApprove,
    /// Submit events (run plugins).
    EventsSubmit,
    /// Read the audit trail.
    AuditRead,
    /// Read `/metrics`: the host's totals and the key's own tenant's series.
    MetricsRead,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 9] = [
        Scope::PersonsRead,
        Scope::EntitlementsReEnforce,
        Scope::AccountsUpdate,
        Scope::EntitlementsUnmanage,
        Scope::ActionsRetry,
        Scope::ActionsApprove,
        Scope::EventsSubmit,
        Scope::AuditRead,
        Scope::MetricsRead,
    ];

    /// The scope's name, e.g. `accounts:update`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::PersonsRead => "persons:read",
            Scope::EntitlementsReEnforce => "entitlements:re-enforce",
            Scope::AccountsUpdate => "accounts:update",
            Scope::EntitlementsUnmanage => "entitlements:unmanage",
            Scope::ActionsRetry => "actions:retry",
            Scope::ActionsApprove => "actions:approve",
            Scope::EventsSubmit => "events:submit",
            Scope::AuditRead => "audit:read",
            Scope::MetricsRead => "metrics:read",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope, optionally narrowed to one target system: `accounts:update` or
/// `accounts:update@exchange-online`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grant {
    /// The permission.
    pub scope: Scope,
    /// The only system it applies to; `None` for every system.
    pub system: Option<String>,
}

impl FromStr for Grant {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (name, system) = match text.split_once('@') {
            Some((name, system)) if !system.trim().is_empty() => (name, Some(system.trim().to_owned())),
            Some(_) => return Err(format!("scope '{text}' names no system after '@'")),
            None => (text, None),
        };
        let scope = Scope::ALL.into_iter().find(|s| s.as_str() == name.trim()).ok_or_else(|| {
            let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown scope '{name}'; known scopes: {}", known.join(", "))
        })?;
        Ok(Grant { scope, system })
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.system {
            Some(system) => write!(f, "{}@{system}", self.scope),
            None => write!(f, "{}", self.scope),
        }
    }
}

impl Serialize for Grant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Grant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A set of grants: an API key's, or a plugin manifest's capabilities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Grants(BTreeSet<Grant>);

impl Grants {
    /// Grants from their text form, naming the first that does not parse.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, String> {
        items.iter().map(|s| s.as_ref().parse()).collect::<Result<BTreeSet<_>, _>>().map(Grants)
    }

    /// Every scope on every system: a plugin run without a manifest is bounded by its key alone.
    pub fn everything() -> Self {
        Grants(Scope::ALL.into_iter().map(|scope| Grant { scope, system: None }).collect())
    }

    /// Whether `scope` is granted for `system` (`None`: a call that names no system).
    pub fn allows(&self, scope: Scope, system: Option<&str>) -> bool {
        self.0.iter().any(|g| g.scope == scope && (g.system.is_none() || g.system.as_deref() == system))
    }

    /// The grants both sets allow: `accounts:update` ∩ `accounts:update@topdesk` is the latter.
    pub fn intersect(&self, other: &Grants) -> Grants {
        let mine = self.0.iter().filter(|g| other.allows(g.scope, g.system.as_deref()));
        let theirs = other.0.iter().filter(|g| self.allows(g.scope, g.system.as_deref()));
        Grants(mine.chain(theirs).cloned().collect())
    }

    /// The grants as text.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(Grant::to_string).collect()
    }
}

/// What a plugin may do under one API key: the key's grants and the manifest's capabilities.
#[derive(Debug, Clone)]
pub struct Permission {
    /// The key's id, for messages.
    pub key_id: String,
    /// What the key is granted.
    pub key: Grants,
    /// The plugin's name, for messages.
    pub plugin: String,
    /// What the plugin's manifest declares.
    pub manifest: Grants,
}

impl Permission {
    /// `Ok` if both the key and the manifest allow `scope` on `system`; otherwise the sentence
    /// naming which one lacks it.
    pub fn check(&self, scope: Scope, system: Option<&str>) -> Result<(), String> {
        let on = system.map(|s| format!(" on system '{s}'")).unwrap_or_default();
        if !self.key.allows(scope, system) {
            return Err(format!("API key '{}' is not granted {scope}{on}", self.key_id));
        }
        if !self.manifest.allows(scope, system) {
            return Err(format!("plugin '{}' does not declare the capability {scope}{on}", self.plugin));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(items: &[&str]) -> Grants {
        Grants::parse(items).unwrap()
    }

    #[test]
    fn parsing_names_unknown_scopes_and_empty_systems() {
        assert_eq!("accounts:update@topdesk".parse::<Grant>().unwrap().system.as_deref(), Some("topdesk"));
        let err = "accounts:write".parse::<Grant>().unwrap_err();
        assert!(err.starts_with("unknown scope 'accounts:write'; known scopes: persons:read,"), "{err}");
        assert!("accounts:update@".parse::<Grant>().unwrap_err().contains("names no system"));
    }

    #[test]
    fn the_effective_permission_is_the_intersection_of_key_and_manifest() {
        struct Case {
            key: &'static [&'static str],
            manifest: &'static [&'static str],
            scope: Scope,
            system: Option<&'static str>,
            expect: Result<(), &'static str>,
        }
        let cases = [
            Case {
                key: &["accounts:update"],
                manifest: &["accounts:update"],
                scope: Scope::AccountsUpdate,
                system: Some("topdesk"),
                expect: Ok(()),
            },
            Case {
                key: &["persons:read"],
                manifest: &["accounts:update"],
                scope: Scope::AccountsUpdate,
                system: Some("topdesk"),
                expect: Err("API key 'k1' is not granted accounts:update on system 'topdesk'"),
            },
            Case {
                key: &["accounts:update"],
                manifest: &["persons:read"],
                scope: Scope::AccountsUpdate,
                system: Some("topdesk"),
                expect: Err("plugin 'p' does not declare the capability accounts:update on system 'topdesk'"),
            },
            Case {
                key: &["accounts:update@exchange-online"],
                manifest: &["accounts:update"],
                scope: Scope::AccountsUpdate,
                system: Some("exchange-online"),
                expect: Ok(()),
            },
            Case {
                key: &["accounts:update@exchange-online"],
                manifest: &["accounts:update"],
                scope: Scope::AccountsUpdate,
                system: Some("topdesk"),
                expect: Err("API key 'k1' is not granted accounts:update on system 'topdesk'"),
            },
            Case {
                key: &["accounts:update"],
                manifest: &["accounts:update@topdesk"],
                scope: Scope::AccountsUpdate,
                system: Some("afas-hr"),
                expect: Err("plugin 'p' does not declare the capability accounts:update on system 'afas-hr'"),
            },
            Case {
                key: &["persons:read"],
                manifest: &["persons:read"],
                scope: Scope::PersonsRead,
                system: None,
                expect: Ok(()),
            },
            Case {
                key: &["persons:read@topdesk"],
                manifest: &["persons:read"],
                scope: Scope::PersonsRead,
                system: None,
                expect: Err("API key 'k1' is not granted persons:read"),
            },
        ];
        for (i, c) in cases.iter().enumerate() {
            let p = Permission {
                key_id: "k1".into(),
                key: grants(c.key),
                plugin: "p".into(),
                manifest: grants(c.manifest),
            };
            assert_eq!(p.check(c.scope, c.system), c.expect.map_err(String::from), "case {i}");
        }
    }

    #[test]
    fn everything_allows_every_scope_on_every_system() {
        let all = Grants::everything();
        assert!(Scope::ALL.iter().all(|s| all.allows(*s, Some("any-system"))));
    }
}
