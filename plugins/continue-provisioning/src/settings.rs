//! The plugin's two settings, parsed: which provhost system each SailPoint source is, and which
//! systems' entitlements depend on an attribute of another.

use provhost_sdk::{Reference, settings};

/// `SOURCE=SYSTEM` entries: a SailPoint source, by id or name, and the provhost system it is.
pub struct Sources(Vec<(String, String)>);

/// `SYSTEM:ATTRIBUTE=SYSTEM,SYSTEM` entries: the systems whose entitlements depend on an attribute
/// of a system.
pub struct Dependents(Vec<Dependency>);

struct Dependency {
    system: String,
    attribute: String,
    dependents: Vec<String>,
}

/// The `;`-separated entries of a setting, each split at its first `=`; an entry without one, or
/// with an empty side, is an error naming the setting, the entry and the form it should have.
fn entries(key: &str, form: &str) -> Result<Vec<(String, String)>, String> {
    let Some(text) = settings::get(key) else { return Ok(Vec::new()) };
    text.split(';')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| match entry.split_once('=') {
            Some((left, right)) if !left.trim().is_empty() && !right.trim().is_empty() => {
                Ok((left.trim().to_string(), right.trim().to_string()))
            }
            _ => Err(format!("setting `{key}`: entry '{entry}' is not {form}")),
        })
        .collect()
}

impl Sources {
    /// The `sources` setting.
    pub fn read() -> Result<Sources, String> {
        entries("sources", "SOURCE=SYSTEM").map(Sources)
    }

    /// The provhost system a source is: by its id, else by its name.
    pub fn system(&self, source: &Reference) -> Option<&str> {
        let find = |key: &str| self.0.iter().find(|(k, _)| k == key).map(|(_, system)| system.as_str());
        find(&source.id).or_else(|| find(&source.name))
    }
}

impl Dependents {
    /// The `dependent-systems` setting.
    pub fn read() -> Result<Dependents, String> {
        let form = "SYSTEM:ATTRIBUTE=SYSTEM,SYSTEM";
        entries("dependent-systems", form)?
            .into_iter()
            .map(|(left, right)| match left.split_once(':') {
                Some((system, attribute)) if !system.trim().is_empty() && !attribute.trim().is_empty() => {
                    Ok(Dependency {
                        system: system.trim().to_string(),
                        attribute: attribute.trim().to_string(),
                        dependents: right
                            .split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect(),
                    })
                }
                _ => Err(format!("setting `dependent-systems`: entry '{left}={right}' is not {form}")),
            })
            .collect::<Result<_, _>>()
            .map(Dependents)
    }

    /// The systems that depend on any of `attributes` (compared case-insensitively) in `system`,
    /// each once, in the order the setting names them.
    pub fn of(&self, system: &str, attributes: &[&str]) -> Vec<String> {
        let mut systems: Vec<String> = Vec::new();
        for dependency in self
            .0
            .iter()
            .filter(|d| d.system == system && attributes.iter().any(|a| a.eq_ignore_ascii_case(&d.attribute)))
        {
            for dependent in &dependency.dependents {
                if !systems.contains(dependent) {
                    systems.push(dependent.clone());
                }
            }
        }
        systems
    }
}
