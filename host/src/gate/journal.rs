//! What a plugin did through its imports during one invocation: each host call with its
//! decision, its audit notes and its log lines.

use serde::Serialize;

use crate::limits::{Limits, cut_to};
use crate::refusal::Refusal;

/// One host call and what provhost decided about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// `actions.re-enforce-entitlement`, `queries.get-person`, ...
    pub function: &'static str,
    /// The ids the call named, in argument order.
    pub ids: Vec<String>,
    /// `allowed` or the refusal's code.
    pub decision: &'static str,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The actions it planned.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

/// A line the plugin added to the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditNote {
    /// The planned action it is about.
    pub action: Option<String>,
    /// The line.
    pub message: String,
    /// Whether it reports a failure.
    pub is_error: bool,
}

/// A line of the plugin's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The line.
    pub message: String,
}

/// Everything the plugin did through its imports, in order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Journal {
    /// Host calls that plan or read (not log lines or config reads).
    pub calls: Vec<CallRecord>,
    /// Audit notes.
    pub notes: Vec<AuditNote>,
    /// Log lines.
    pub logs: Vec<LogLine>,
}

impl Journal {
    /// Records a call's decision: allowed with the actions it planned, or the refusal. Ids are
    /// kept to the longest an id may be, so a refused oversized id is recorded cut.
    pub fn record<T>(
        &mut self,
        function: &'static str,
        ids: &[&str],
        result: &Result<T, Refusal>,
        planned: impl FnOnce(&T) -> Vec<String>,
    ) {
        let (decision, reason, actions) = match result {
            Ok(value) => ("allowed", None, planned(value)),
            Err(refusal) => (refusal.code(), Some(refusal.to_string()), Vec::new()),
        };
        self.calls.push(CallRecord {
            function,
            ids: ids.iter().map(|s| cut_to(s.to_string(), Limits::MAXIMUM.max_id_bytes as usize)).collect(),
            decision,
            reason,
            actions,
        });
    }

    /// The calls that were refused.
    pub fn refused(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls.iter().filter(|c| c.decision != "allowed")
    }
}
