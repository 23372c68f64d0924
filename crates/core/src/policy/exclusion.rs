//! Exclusions: persons (by id or by an attribute predicate) and target systems that provisioning
//! leaves alone. An excluded person keeps what they have; only new actions are refused.

use serde::Deserialize;

use crate::model::Person;

/// An attribute predicate: `employeeType = external` or `department in [Board, Legal]`.
/// Attribute names and values compare case-insensitively; a multi-valued attribute matches when
/// any of its values does.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeRule {
    /// The person attribute, e.g. `employeeType`.
    pub attribute: String,
    /// Matches when a value equals this.
    #[serde(default)]
    pub equals: Option<String>,
    /// Matches when a value is one of these.
    #[serde(default, rename = "in")]
    pub one_of: Option<Vec<String>>,
}

impl AttributeRule {
    /// Checks the rule has exactly one of `equals` and `in`.
    pub fn validate(&self) -> Result<(), String> {
        match (&self.equals, &self.one_of) {
            (Some(_), None) => Ok(()),
            (None, Some(list)) if !list.is_empty() => Ok(()),
            (None, Some(_)) => Err(format!("rule on `{}`: `in` lists no value", self.attribute)),
            _ => Err(format!("rule on `{}`: set exactly one of `equals` or `in`", self.attribute)),
        }
    }

    fn matches(&self, person: &Person) -> bool {
        let wanted: Vec<&str> = match (&self.equals, &self.one_of) {
            (Some(value), _) => vec![value.as_str()],
            (None, Some(list)) => list.iter().map(String::as_str).collect(),
            (None, None) => return false,
        };
        person
            .attributes
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case(&self.attribute))
            .flat_map(|a| &a.values)
            .any(|v| wanted.iter().any(|w| w.eq_ignore_ascii_case(v)))
    }

    fn describe(&self) -> String {
        match (&self.equals, &self.one_of) {
            (Some(value), _) => format!("{} = {value}", self.attribute),
            (_, Some(list)) => format!("{} in [{}]", self.attribute, list.join(", ")),
            _ => self.attribute.clone(),
        }
    }
}

/// A tenant's exclusions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclusions {
    /// Person ids excluded outright.
    #[serde(default)]
    pub persons: Vec<String>,
    /// Target systems excluded.
    #[serde(default)]
    pub systems: Vec<String>,
    /// Persons excluded by attribute.
    #[serde(default)]
    pub rules: Vec<AttributeRule>,
}

impl Exclusions {
    /// The reason the person is excluded, if they are.
    pub fn person(&self, person: &Person) -> Option<String> {
        if self.persons.iter().any(|id| id == &person.id) {
            return Some(format!("person '{}' ({}) is excluded by id", person.display_name, person.id));
        }
        self.rules.iter().find(|r| r.matches(person)).map(|r| {
            format!("person '{}' ({}) is excluded by the rule {}", person.display_name, person.id, r.describe())
        })
    }

    /// The reason the system is excluded, if it is.
    pub fn system(&self, system: &str) -> Option<String> {
        self.systems.iter().any(|s| s == system).then(|| format!("target system '{system}' is excluded"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Attribute;

    fn person(attributes: &[(&str, &[&str])]) -> Person {
        Person {
            id: "p1".into(),
            display_name: "Pat".into(),
            attributes: attributes
                .iter()
                .map(|(n, v)| Attribute { name: n.to_string(), values: v.iter().map(|s| s.to_string()).collect() })
                .collect(),
        }
    }

    fn rule(attribute: &str, equals: Option<&str>, one_of: Option<&[&str]>) -> AttributeRule {
        AttributeRule {
            attribute: attribute.into(),
            equals: equals.map(String::from),
            one_of: one_of.map(|l| l.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn predicates_match_any_value_case_insensitively() {
        type Attributes<'a> = &'a [(&'a str, &'a [&'a str])];
        let cases: &[(AttributeRule, Attributes, bool)] = &[
            (rule("employeeType", Some("external"), None), &[("employeeType", &["External"])], true),
            (rule("employeeType", Some("external"), None), &[("employeeType", &["employee"])], false),
            (rule("department", None, Some(&["Board", "Legal"])), &[("Department", &["legal"])], true),
            (rule("department", None, Some(&["Board", "Legal"])), &[("department", &["Sales"])], false),
            (
                rule("proxyAddresses", Some("smtp:ceo@x"), None),
                &[("proxyAddresses", &["SMTP:a@x", "smtp:ceo@x"])],
                true,
            ),
            (rule("employeeType", Some("external"), None), &[], false),
        ];
        for (i, (r, attributes, excluded)) in cases.iter().enumerate() {
            let ex = Exclusions { rules: vec![r.clone()], ..Default::default() };
            assert_eq!(ex.person(&person(attributes)).is_some(), *excluded, "case {i}");
        }
    }

    #[test]
    fn reasons_name_the_rule_the_person_and_the_system() {
        let ex = Exclusions {
            persons: vec!["p2".into()],
            systems: vec!["afas-hr".into()],
            rules: vec![rule("employeeType", Some("external"), None)],
        };
        let reason = ex.person(&person(&[("employeeType", &["external"])])).unwrap();
        assert_eq!(reason, "person 'Pat' (p1) is excluded by the rule employeeType = external");
        let mut by_id = person(&[]);
        by_id.id = "p2".into();
        assert!(ex.person(&by_id).unwrap().ends_with("is excluded by id"));
        assert_eq!(ex.system("afas-hr").unwrap(), "target system 'afas-hr' is excluded");
        assert_eq!(ex.system("topdesk"), None);
    }

    #[test]
    fn a_rule_needs_exactly_one_predicate() {
        assert!(rule("a", Some("x"), None).validate().is_ok());
        assert!(rule("a", None, None).validate().unwrap_err().contains("exactly one"));
        assert!(rule("a", Some("x"), Some(&["y"])).validate().unwrap_err().contains("exactly one"));
        assert!(rule("a", None, Some(&[])).validate().unwrap_err().contains("lists no value"));
    }
}
