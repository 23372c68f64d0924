//! `provhost:plugin/log`: log lines, audit notes and per-tenant plugin settings.

use super::HostState;
use crate::bindings::log::{Host, Level};
use crate::imports::{AuditNote, LogLine};

/// The longest log line or audit note kept; longer ones are cut and marked.
const MAX_LINE: usize = 4096;

fn capped(mut message: String) -> String {
    if message.len() > MAX_LINE {
        let mut cut = MAX_LINE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str(" […]");
    }
    message
}

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.begin_call().map_err(super::CallError::into_trap)?;
        let message = capped(message);
        let level = match level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        tracing::debug!(target: "provhost::plugin", tenant = %self.planner.tenant(), level, "{message}");
        self.planner.journal.logs.push(LogLine { level, message });
        Ok(())
    }

    fn audit_note(&mut self, action: Option<String>, message: String, is_error: bool) -> wasmtime::Result<()> {
        self.begin_call().map_err(super::CallError::into_trap)?;
        self.planner.journal.notes.push(AuditNote { action, message: capped(message), is_error });
        Ok(())
    }

    fn config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        self.begin_call().map_err(super::CallError::into_trap)?;
        Ok(self.planner.context().config.get(&key).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imports::testing::demo_state;
    use crate::runtime::Limits;

    #[test]
    fn notes_logs_and_config_are_kept_in_order() {
        let (_store, mut state) = demo_state(Limits::default());
        state.log(Level::Warn, "x".repeat(MAX_LINE + 10)).unwrap();
        state.audit_note(Some("a1".into()), "UpdateAccount ok".into(), false).unwrap();
        assert_eq!(state.config("systems".into()).unwrap().as_deref(), Some("exchange-online,topdesk"));
        assert_eq!(state.config("missing".into()).unwrap(), None);
        assert!(state.planner.journal.logs[0].message.ends_with(" […]"));
        assert_eq!(state.planner.journal.notes[0].action.as_deref(), Some("a1"));
    }
}
