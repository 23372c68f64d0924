//! What a plugin did through its imports during one invocation: each host call with its
//! decision, its audit notes and its log lines, and how many bytes of the invocation's record
//! they take, so the sandbox can hold the journal to its ceiling.

use serde::Serialize;

use super::Import;
use provhost_core::limits::{Limits, cut_to};
use provhost_core::refusal::Refusal;

/// The bytes `value` takes as JSON, the form it is recorded and reported in.
pub(super) fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).expect("provhost's own values serialize");
    count.0
}

/// One host call and what provhost decided about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// The import it came through (`actions.re-enforce-entitlement`, `queries.get-person`, ...).
    pub function: Import,
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
    /// Host calls that plan or read, and any call refused for the host-call budget.
    pub calls: Vec<CallRecord>,
    /// Audit notes.
    pub notes: Vec<AuditNote>,
    /// Log lines.
    pub logs: Vec<LogLine>,
    /// Bytes of all of the above, as JSON.
    #[serde(skip)]
    bytes: usize,
}

impl Journal {
    /// Records a call's decision: allowed with the actions it planned, or the refusal. Ids are
    /// kept to the longest an id may be and the reason to the longest a reason may be, so every
    /// record is bounded, and a refused oversized id is recorded cut.
    pub fn record<T>(
        &mut self,
        function: Import,
        ids: &[&str],
        result: &Result<T, Refusal>,
        planned: impl FnOnce(&T) -> Vec<String>,
    ) {
        let (decision, reason, actions) = match result {
            Ok(value) => ("allowed", None, planned(value)),
            Err(refusal) => {
                let reason = cut_to(refusal.to_string(), Limits::MAXIMUM.max_reason_bytes as usize);
                (refusal.code(), Some(reason), Vec::new())
            }
        };
        let record = CallRecord {
            function,
            ids: ids.iter().map(|s| cut_to(s.to_string(), Limits::MAXIMUM.max_id_bytes as usize)).collect(),
            decision,
            reason,
            actions,
        };
        self.bytes += json_len(&record);
        self.calls.push(record);
    }

    /// Keeps an audit note.
    pub fn note(&mut self, note: AuditNote) {
        self.bytes += json_len(&note);
        self.notes.push(note);
    }

    /// Keeps a log line.
    pub fn log(&mut self, line: LogLine) {
        self.bytes += json_len(&line);
        self.logs.push(line);
    }

    /// The bytes the journal takes so far, as JSON.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The calls that were refused.
    pub fn refused(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls.iter().filter(|c| c.decision != "allowed")
    }
}
