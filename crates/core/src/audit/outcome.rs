//! How an invocation or a targeted request ended, as its record and its audit entry name it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::refusal::Refusal;

/// How an invocation or a targeted request ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Outcome {
    /// The plugin returned `ok`, or every call of the request was allowed (the record of one
    /// still running says so too).
    #[default]
    Completed,
    /// The plugin returned an error.
    PluginError,
    /// The plugin trapped.
    Trap,
    /// A limit ended the plugin.
    Limit,
    /// The plugin was not run: its event's failed action could not be looked up.
    NotRun,
    /// Nothing was committed: a count a threshold needs could not be read.
    Unavailable,
    /// The plan was refused when its commit checked it again.
    Refused,
    /// A call of the request was refused while planning, with this refusal code.
    Denied(&'static str),
    /// History brought in from outside a run (seed data, fixtures): it committed.
    Committed,
}

impl Outcome {
    /// The outcome's name in records: `completed`, `plugin-error`, `trap`, `limit`, `not-run`,
    /// `unavailable`, `refused`, a refusal code, or `committed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::PluginError => "plugin-error",
            Outcome::Trap => "trap",
            Outcome::Limit => "limit",
            Outcome::NotRun => "not-run",
            Outcome::Unavailable => "unavailable",
            Outcome::Refused => "refused",
            Outcome::Denied(code) => code,
            Outcome::Committed => "committed",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::str::FromStr for Outcome {
    type Err = String;

    /// The outcome records name `name`. A refusal code that is also an outcome's own name
    /// (`unavailable`) reads as that outcome.
    fn from_str(name: &str) -> Result<Self, String> {
        Ok(match name {
            "completed" => Outcome::Completed,
            "plugin-error" => Outcome::PluginError,
            "trap" => Outcome::Trap,
            "limit" => Outcome::Limit,
            "not-run" => Outcome::NotRun,
            "unavailable" => Outcome::Unavailable,
            "refused" => Outcome::Refused,
            "committed" => Outcome::Committed,
            code => match Refusal::CODES.iter().find(|known| **known == code) {
                Some(known) => Outcome::Denied(known),
                None => {
                    return Err(format!("'{code}' is not an outcome: neither one of provhost's nor a refusal code"));
                }
            },
        })
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ActionKind;

    #[test]
    fn every_outcome_reads_back_as_records_name_it_and_an_unknown_name_is_refused() {
        let own = [
            Outcome::Completed,
            Outcome::PluginError,
            Outcome::Trap,
            Outcome::Limit,
            Outcome::NotRun,
            Outcome::Unavailable,
            Outcome::Refused,
            Outcome::Committed,
            Outcome::Denied("forbidden"),
        ];
        for outcome in own {
            assert_eq!(outcome.as_str().parse::<Outcome>(), Ok(outcome));
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), outcome, "{json}");
        }
        let refusals = [
            Refusal::Forbidden(String::new()),
            Refusal::Excluded(String::new()),
            Refusal::ThresholdExceeded {
                system: String::new(),
                kind: ActionKind::Update,
                limit: 1,
                count: 2,
                message: String::new(),
            },
            Refusal::NotFound(String::new()),
            Refusal::Invalid(String::new()),
            Refusal::Conflict(String::new()),
            Refusal::Unavailable(String::new()),
            Refusal::BudgetExhausted(String::new()),
        ];
        let codes: Vec<&str> = refusals.iter().map(Refusal::code).collect();
        assert_eq!(codes, Refusal::CODES, "CODES names every refusal, in order");
        assert_eq!("unavailable".parse::<Outcome>(), Ok(Outcome::Unavailable), "the outcome's own name wins");
        let err = "finished".parse::<Outcome>().unwrap_err();
        assert!(err.contains("'finished' is not an outcome"), "{err}");
    }
}
