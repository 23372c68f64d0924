//! Log lines and audit notes. Prefer the macros: [`info!`](crate::info),
//! [`warn!`](crate::warn), [`debug!`](crate::debug), [`error!`](crate::error) and
//! [`audit_note!`](crate::audit_note).

use crate::ActionId;
use crate::bindings::provhost::plugin::log as wit;
pub use crate::bindings::provhost::plugin::log::Level;

/// Writes a line to the invocation's log.
pub fn write(level: Level, message: &str) {
    wit::log(level, message);
}

/// Adds a line to the audit trail, optionally about one planned action.
pub fn audit_note(action: Option<&ActionId>, message: &str, is_error: bool) {
    wit::audit_note(action.map(ActionId::as_str), message, is_error);
}

/// Logs at info level, `format!`-style.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs at warn level, `format!`-style.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs at debug level, `format!`-style.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, &::std::format!($($arg)*)) };
}

/// Logs at error level, `format!`-style.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, &::std::format!($($arg)*)) };
}

/// Adds an audit note about a planned action: `audit_note!(&receipt_action_id, "UpdateAccount {}", name)`.
/// Use `audit_note!(error: &id, "...")` for a note that reports a failure.
#[macro_export]
macro_rules! audit_note {
    (error: $action:expr, $($arg:tt)*) => {
        $crate::log::audit_note(::core::option::Option::Some($action), &::std::format!($($arg)*), true)
    };
    ($action:expr, $($arg:tt)*) => {
        $crate::log::audit_note(::core::option::Option::Some($action), &::std::format!($($arg)*), false)
    };
}
