//! `provhost:plugin/log` (log lines, audit notes and, in 0.1.0, per-tenant plugin settings) and
//! 0.2.0's `provhost:plugin/settings`; both versions' imports share one body.

use super::HostState;
use crate::bindings::log::{Host, Level};
use crate::bindings::next;
use crate::bindings::next::log::Level as NextLevel;
use provhost_core::limits::{LimitHit, cut_to};
use provhost_gate::{AuditNote, Import, LogLine};

/// The longest log line or audit note kept; longer ones are cut and marked.
const MAX_LINE: usize = 4096;

/// `text` with every control character (newlines, escape sequences), the line and paragraph
/// separators (U+2028, U+2029, which JSON readers and editors take as line ends) and every
/// bidirectional override written out as an escape, so that a guest's line stays one line in
/// provhost's log and cannot restyle or reorder what a terminal shows.
fn escape_controls(text: &str) -> String {
    let bidi = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    let separator = |c: char| matches!(c, '\u{2028}' | '\u{2029}');
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || bidi(c) || separator(c) {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    escaped
}

impl HostState {
    /// Keeps a log line while the invocation's log bytes last; the first line past them is
    /// replaced by one marker and later ones are dropped. Whether it was kept.
    fn keep_log(&mut self, level: &'static str, message: String) -> Option<&LogLine> {
        let max = self.limits.max_log_bytes as usize;
        if self.kept.logs_cut || self.kept.logs + message.len() > max {
            if !self.kept.logs_cut {
                self.kept.logs_cut = true;
                let message = format!("[log cut: later lines dropped past {max} bytes]");
                self.gate.journal.log(LogLine { level: "warn", message });
            }
            return None;
        }
        self.kept.logs += message.len();
        self.gate.journal.log(LogLine { level, message });
        self.gate.journal.logs.last()
    }

    /// A setting of the plugin, read through `import` (0.1.0's `log.config`, 0.2.0's
    /// `settings.get`): the tenant's value, else the manifest's default.
    fn setting(&mut self, import: Import, key: String) -> wasmtime::Result<Option<String>> {
        self.begin_call(import).map_err(super::CallError::into_trap)?;
        Ok(self.gate.context().config.get(&key).cloned())
    }

    /// Counts an audit note against the invocation's note limits; past them the invocation ends.
    fn admit_note(&mut self, bytes: usize) -> wasmtime::Result<()> {
        let hit = if self.gate.journal.notes.len() >= self.limits.max_notes as usize {
            Some(LimitHit::Notes(self.limits.max_notes))
        } else if self.kept.notes + bytes > self.limits.max_note_bytes as usize {
            Some(LimitHit::NoteBytes(self.limits.max_note_bytes))
        } else {
            None
        };
        if let Some(hit) = hit {
            self.limit_hit = Some(hit);
            return Err(wasmtime::Error::new(hit));
        }
        self.kept.notes += bytes;
        Ok(())
    }
}

/// The log imports, the same in both contract versions.
macro_rules! log_host {
    ($host:path, $level:ident { $($more:tt)* }) => {
        impl $host for HostState {
            /// A line reaches provhost's own log only once it is cut to its bound and kept within the
            /// invocation's log bytes, with its control characters escaped.
            fn log(&mut self, level: $level, message: String) -> wasmtime::Result<()> {
                self.begin_call(Import::Log).map_err(super::CallError::into_trap)?;
                let level = match level {
                    $level::Debug => "debug",
                    $level::Info => "info",
                    $level::Warn => "warn",
                    $level::Error => "error",
                };
                let tenant = self.gate.tenant().to_owned();
                if let Some(kept) = self.keep_log(level, cut_to(message, MAX_LINE)) {
                    let line = escape_controls(&kept.message);
                    tracing::debug!(target: "provhost::plugin", tenant = %tenant, level, "{line}");
                }
                Ok(())
            }

            fn audit_note(&mut self, action: Option<String>, message: String, is_error: bool) -> wasmtime::Result<()> {
                self.begin_call(Import::AuditNote).map_err(super::CallError::into_trap)?;
                let message = cut_to(message, MAX_LINE);
                let action = action.map(|a| cut_to(a, self.limits.max_id_bytes as usize));
                self.admit_note(message.len() + action.as_ref().map_or(0, String::len))?;
                self.gate.journal.note(AuditNote { action, message, is_error });
                Ok(())
            }

            $($more)*
        }
    };
}

log_host!(Host, Level {
    fn config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        self.setting(Import::Config, key)
    }
});
log_host!(next::log::Host, NextLevel {});

impl next::settings::Host for HostState {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        self.setting(Import::SettingsGet, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imports::testing::demo_state;
    use provhost_core::limits::Limits;

    #[test]
    fn notes_logs_and_config_are_kept_in_order() {
        let (_store, mut state) = demo_state(Limits::default());
        state.log(Level::Warn, "x".repeat(MAX_LINE + 10)).unwrap();
        state.audit_note(Some("a1".into()), "UpdateAccount ok".into(), false).unwrap();
        assert_eq!(state.config("systems".into()).unwrap().as_deref(), Some("exchange-online,topdesk"));
        assert_eq!(state.config("missing".into()).unwrap(), None);
        assert!(state.gate.journal.logs[0].message.ends_with(" […cut: 4096 of 4106 bytes kept]"));
        assert_eq!(state.gate.journal.notes[0].action.as_deref(), Some("a1"));
    }

    #[test]
    fn settings_get_reads_what_config_reads_and_counts() {
        use next::settings::Host as _;
        let (_store, mut state) = demo_state(Limits::default());
        assert_eq!(state.get("systems".into()).unwrap(), state.config("systems".into()).unwrap());
        assert_eq!(state.get("missing".into()).unwrap(), None);
        assert_eq!(state.host_calls, 3);
        let (_store, mut late) = demo_state(Limits { timeout_ms: 0, ..Limits::default() });
        assert!(late.get("systems".into()).is_err(), "past the deadline it traps");
    }

    #[test]
    fn log_bytes_are_bounded_with_one_marker() {
        let (_store, mut state) = demo_state(Limits { max_log_bytes: 10_000, ..Limits::default() });
        for _ in 0..100 {
            state.log(Level::Info, "y".repeat(1 << 20)).unwrap();
        }
        let logs = &state.gate.journal.logs;
        assert_eq!(logs.len(), 3, "two cut lines fit, then one marker");
        assert!(logs.iter().map(|l| l.message.len()).sum::<usize>() < 10_200);
        assert_eq!(logs[2].message, "[log cut: later lines dropped past 10000 bytes]");
    }

    /// What `log` calls write to provhost's own log, as text.
    fn traced(calls: impl FnOnce(&mut HostState)) -> String {
        #[derive(Clone, Default)]
        struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let written = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || written.clone())
            .finish();
        let (_store, mut state) = demo_state(Limits { max_log_bytes: 100, ..Limits::default() });
        tracing::subscriber::with_default(subscriber, || calls(&mut state));
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_log_line_reaches_provhosts_log_cut_and_escaped_and_only_while_it_is_kept() {
        let text = traced(|state| {
            state.log(Level::Info, "first\nforged: admin logged in\u{1b}[2J\u{202e}\u{2028}\u{2029}".into()).unwrap();
            state.log(Level::Info, "x".repeat(200)).unwrap();
            state.log(Level::Info, "after the cap".into()).unwrap();
        });
        assert_eq!(text.lines().count(), 1, "one line per guest line, and none past the cap: {text}");
        assert!(text.contains(r"first\nforged: admin logged in\u{1b}[2J\u{202e}\u{2028}\u{2029}"), "{text}");
        assert!(!text.contains("after the cap") && !text.contains("xxxx"), "{text}");
    }

    #[test]
    fn audit_notes_past_their_count_or_bytes_end_the_invocation() {
        let (_store, mut state) = demo_state(Limits { max_notes: 2, ..Limits::default() });
        state.audit_note(None, "one".into(), false).unwrap();
        state.audit_note(None, "two".into(), false).unwrap();
        let trap = state.audit_note(None, "three".into(), false).unwrap_err();
        assert_eq!(trap.to_string(), "audit-note limit of 2 notes exceeded");
        assert_eq!(state.limit_hit, Some(LimitHit::Notes(2)));

        let (_store, mut state) = demo_state(Limits { max_note_bytes: 5000, ..Limits::default() });
        state.audit_note(Some("a".repeat(1 << 20)), "z".repeat(1 << 20), false).unwrap();
        let note = &state.gate.journal.notes[0];
        assert!(note.message.len() < 4200 && note.action.as_ref().unwrap().len() < 300, "cut before counting");
        let trap = state.audit_note(None, "z".repeat(1 << 20), false).unwrap_err();
        assert_eq!(trap.to_string(), "audit-note limit of 5000 bytes exceeded");
        assert!(state.audit_note(None, "after".into(), false).is_err(), "nothing more is taken");
        assert_eq!(state.gate.journal.notes.len(), 1);
    }
}
