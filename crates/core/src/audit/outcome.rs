//! How an invocation or a targeted request ended, as its record and its audit entry name it.

use std::fmt;

use serde::{Serialize, Serializer};

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
