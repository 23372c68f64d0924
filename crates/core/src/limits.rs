//! Per-invocation limits: the defaults, provhost's maximum, how the operator's values, a tenant's
//! and a manifest's combine (only down, but for the operator's), and what hitting one means.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Declares [`Limits`] and [`LimitSettings`] from one table: each limit's type, default,
/// provhost's maximum (a setting above it is refused at load) and documentation.
macro_rules! limits {
    ($($(#[doc = $doc:literal])* $field:ident: $ty:ty = $default:expr, max $max:expr;)*) => {
        /// The resources one invocation may use, and how many bytes of what a guest hands the host
        /// are kept. Each has a default and provhost's maximum; only the operator's `[limits]` can
        /// raise a default (up to the maximum), and a tenant's configuration, a plugin's manifest
        /// and the command line can only lower it (see [`Limits::resolve`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        #[serde(rename_all = "kebab-case")]
        pub struct Limits {
            $($(#[doc = $doc])* pub $field: $ty,)*
        }

        impl Default for Limits {
            fn default() -> Self {
                Self { $($field: $default,)* }
            }
        }

        impl Limits {
            /// provhost's own maxima: no operator, tenant or manifest may set more.
            pub const MAXIMUM: Limits = Limits { $($field: $max,)* };
        }

        /// Limits as one layer sets them (the operator's `[limits]`, a tenant's plugin, a manifest,
        /// the command line): unset ones leave the decision to the other layers.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        pub struct LimitSettings {
            $($(#[doc = $doc])* pub $field: Option<$ty>,)*
        }

        impl LimitSettings {
            /// Refuses a value above provhost's maximum, naming the field, the value and the maximum.
            pub fn validate(&self) -> Result<(), String> {
                $(if let Some(value) = self.$field && value > Limits::MAXIMUM.$field {
                    return Err(format!(
                        "`{}` = {value} is above provhost's maximum of {}",
                        stringify!($field).replace('_', "-"),
                        Limits::MAXIMUM.$field
                    ));
                })*
                Ok(())
            }

            /// Each limit this layer sets replaces the one in `limits`.
            pub fn replace(&self, mut limits: Limits) -> Limits {
                $(if let Some(value) = self.$field { limits.$field = value; })*
                limits
            }

            /// Each limit this layer sets lowers the one in `limits`, never raises it.
            pub fn lower(&self, mut limits: Limits) -> Limits {
                $(if let Some(value) = self.$field { limits.$field = limits.$field.min(value); })*
                limits
            }

        }

        #[cfg(test)]
        impl Limits {
            /// Each limit's name (as configured) and value.
            fn each(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($field), self.$field as u64),)*]
            }
        }

        #[cfg(test)]
        impl LimitSettings {
            /// A layer setting the one limit `name` to `value`.
            fn only(name: &str, value: u64) -> Self {
                let mut settings = Self::default();
                $(if name == stringify!($field) { settings.$field = Some(value as $ty); })*
                settings
            }
        }
    };
}

limits! {
    /// Fuel (roughly, wasm instructions) the plugin may burn.
    fuel: u64 = 5_000_000_000, max 1_000_000_000_000_000;
    /// Wall-clock deadline in milliseconds, covering instantiation, host calls and time blocked in
    /// WASI calls (sleep, poll) alike.
    timeout_ms: u64 = 5_000, max 600_000;
    /// Linear memory, in bytes, summed over all of the plugin's memories.
    memory_bytes: u64 = 256 << 20, max 1 << 30;
    /// Host calls (actions, queries, logs, notes, config reads) the plugin may make, refused ones
    /// included: each is counted before anything else about it is looked at.
    max_host_calls: u32 = 1_000, max 100_000;
    /// Actions the plugin may plan.
    max_actions: u32 = 200, max 10_000;
    /// The longest id (person, account, entitlement, action) a call may name, in bytes; a call
    /// naming a longer one is refused `invalid`.
    max_id_bytes: u32 = 256, max 256;
    /// The longest `reason` an action call may give, in bytes; a longer one is refused `invalid`.
    max_reason_bytes: u32 = 1024, max 1024;
    /// How much of the plugin's `summary` (on `ok`) or message (on `err`) is kept, in bytes; the
    /// rest is cut and the cut marked.
    max_summary_bytes: u32 = 4096, max 16_384;
    /// Audit notes per invocation; one more ends the invocation (nothing commits).
    max_notes: u32 = 100, max 1_000;
    /// Bytes of audit notes per invocation, all notes together; past them the invocation ends.
    max_note_bytes: u32 = 64 << 10, max 256 << 10;
    /// Bytes of log lines kept per invocation; later lines are dropped, and the drop marked.
    max_log_bytes: u32 = 64 << 10, max 256 << 10;
    /// Bytes of guest stdout and stderr kept per invocation; the rest is dropped and marked.
    max_output_bytes: u32 = 64 << 10, max 256 << 10;
    /// Bytes of the invocation's journal: every host call's record (its ids, decision, reason and
    /// planned actions), audit note and log line kept, together. Past it the invocation ends and
    /// nothing commits.
    max_journal_bytes: u32 = 1 << 20, max 4 << 20;
    /// WASI resources (streams, pollables) the instance may hold at once; past it the WASI call
    /// fails, the invocation ends and nothing commits.
    max_wasi_resources: u32 = 1024, max 16_384;
}

impl Limits {
    /// The limits an invocation runs under. Each starts at provhost's default, or at the
    /// operator's value where the operator's `[limits]` sets one (higher or lower, at most
    /// [`Limits::MAXIMUM`]); the tenant's configuration of the plugin and the plugin's manifest
    /// then only lower it: the smallest value wins. So the operator's value is also the ceiling,
    /// and nothing but the operator's `[limits]` raises a limit above provhost's default.
    pub fn resolve(operator: &LimitSettings, tenant: &LimitSettings, manifest: &LimitSettings) -> Limits {
        manifest.lower(tenant.lower(operator.replace(Limits::default())))
    }

    /// The deadline as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// `text` cut to at most `max` bytes (at a character boundary) with the cut marked, so a reader
/// knows it is not the whole of what the guest sent.
pub fn cut_to(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let whole = text.len();
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(&format!(" […cut: {cut} of {whole} bytes kept]"));
    text
}

/// Which limit ended an invocation, with the value that applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "limit", content = "value")]
pub enum LimitHit {
    /// Fuel ran out.
    Fuel(u64),
    /// The wall-clock deadline passed (milliseconds).
    Timeout(u64),
    /// Memory growth beyond the cap was refused (bytes).
    Memory(u64),
    /// Too many host calls.
    HostCalls(u32),
    /// Too many planned actions.
    Actions(u32),
    /// Too many audit notes.
    Notes(u32),
    /// Too many bytes of audit notes.
    NoteBytes(u32),
    /// Too many bytes of call records, notes and log lines together.
    JournalBytes(u32),
    /// Too many WASI resources held at once.
    WasiResources(u32),
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitHit::Fuel(n) => write!(f, "fuel limit of {n} units exhausted"),
            LimitHit::Timeout(ms) => write!(f, "wall-clock deadline of {ms} ms passed"),
            LimitHit::Memory(bytes) => write!(f, "memory limit of {bytes} bytes exceeded"),
            LimitHit::HostCalls(n) => write!(f, "host-call limit of {n} calls exceeded"),
            LimitHit::Actions(n) => write!(f, "planned-action limit of {n} actions exceeded"),
            LimitHit::Notes(n) => write!(f, "audit-note limit of {n} notes exceeded"),
            LimitHit::NoteBytes(n) => write!(f, "audit-note limit of {n} bytes exceeded"),
            LimitHit::JournalBytes(n) => write!(f, "journal limit of {n} bytes exceeded"),
            LimitHit::WasiResources(n) => write!(f, "WASI resource limit of {n} resources held at once exceeded"),
        }
    }
}

impl std::error::Error for LimitHit {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value above `default` (provhost's maximum where the default is the maximum too) and one
    /// below it, for every limit.
    fn above_and_below(name: &str, default: u64) -> (u64, u64) {
        let maximum = Limits::MAXIMUM.each().into_iter().find(|(n, _)| *n == name).unwrap().1;
        (maximum.min(default.saturating_mul(2)), default / 2)
    }

    fn value(limits: Limits, name: &str) -> u64 {
        limits.each().into_iter().find(|(n, _)| *n == name).unwrap().1
    }

    #[test]
    fn without_an_operator_value_a_tenant_and_a_manifest_only_lower_each_limit() {
        let none = LimitSettings::default();
        assert_eq!(Limits::resolve(&none, &none, &none), Limits::default());
        for (name, default) in Limits::default().each() {
            let (above, below) = above_and_below(name, default);
            let (up, down) = (LimitSettings::only(name, above), LimitSettings::only(name, below));
            assert_eq!(value(Limits::resolve(&none, &none, &up), name), default, "{name}: a manifest raising it");
            assert_eq!(value(Limits::resolve(&none, &up, &none), name), default, "{name}: a tenant raising it");
            assert_eq!(value(Limits::resolve(&none, &up, &up), name), default, "{name}: both raising it");
            assert_eq!(value(Limits::resolve(&none, &none, &down), name), below, "{name}: a manifest lowering it");
            assert_eq!(value(Limits::resolve(&none, &down, &none), name), below, "{name}: a tenant lowering it");
            assert_eq!(value(Limits::resolve(&none, &down, &up), name), below, "{name}: the smaller wins");
            assert_eq!(value(Limits::resolve(&none, &up, &down), name), below, "{name}: the smaller wins");
        }
    }

    #[test]
    fn the_operator_raises_or_lowers_each_default_and_caps_the_tenant_and_the_manifest() {
        let none = LimitSettings::default();
        for (name, default) in Limits::default().each() {
            let (above, below) = above_and_below(name, default);
            let maximum = value(Limits::MAXIMUM, name);
            // The operator raises the default to provhost's maximum: the plugin runs with it,
            // and a tenant or manifest asking for less than that gets less.
            let raised = LimitSettings::only(name, maximum);
            assert_eq!(value(Limits::resolve(&raised, &none, &none), name), maximum, "{name}: raised");
            let asked = LimitSettings::only(name, above);
            assert_eq!(value(Limits::resolve(&raised, &asked, &none), name), above, "{name}: lowered by the tenant");
            assert_eq!(value(Limits::resolve(&raised, &none, &asked), name), above, "{name}: lowered by the manifest");
            // The operator lowers the default: that is the ceiling, whatever the others ask.
            let lowered = LimitSettings::only(name, below);
            let up = LimitSettings::only(name, maximum);
            assert_eq!(value(Limits::resolve(&lowered, &none, &none), name), below, "{name}: lowered");
            assert_eq!(value(Limits::resolve(&lowered, &up, &up), name), below, "{name}: the ceiling holds");
            let under = LimitSettings::only(name, below / 2);
            assert_eq!(value(Limits::resolve(&lowered, &under, &up), name), below / 2, "{name}: still lowered");
        }
    }

    #[test]
    fn each_limit_is_resolved_on_its_own() {
        let manifest =
            LimitSettings { timeout_ms: Some(2_000), fuel: Some(Limits::MAXIMUM.fuel), ..Default::default() };
        let tenant = LimitSettings { timeout_ms: Some(9_000), max_actions: Some(10), ..Default::default() };
        let operator = LimitSettings { fuel: Some(1_000_000), max_host_calls: Some(5_000), ..Default::default() };
        let limits = Limits::resolve(&operator, &tenant, &manifest);
        assert_eq!(limits.timeout_ms, 2_000, "the manifest's smaller deadline wins over the tenant's");
        assert_eq!(limits.max_actions, 10);
        assert_eq!(limits.fuel, 1_000_000, "the operator's value caps what the manifest asked for");
        assert_eq!(limits.max_host_calls, 5_000, "the operator's value raises the default");
        assert_eq!(limits.memory_bytes, Limits::default().memory_bytes, "unset limits keep the default");
    }

    #[test]
    fn a_value_above_the_maximum_is_refused_with_its_field() {
        let absurd = LimitSettings { timeout_ms: Some(u64::MAX), ..Default::default() };
        assert_eq!(
            absurd.validate().unwrap_err(),
            "`timeout-ms` = 18446744073709551615 is above provhost's maximum of 600000"
        );
        let ids = LimitSettings { max_id_bytes: Some(257), ..Default::default() };
        assert!(ids.validate().unwrap_err().starts_with("`max-id-bytes` = 257"));
        assert!(LimitSettings { max_id_bytes: Some(16), ..Default::default() }.validate().is_ok());
    }

    #[test]
    fn each_limit_names_itself_and_its_value() {
        assert_eq!(LimitHit::Fuel(10).to_string(), "fuel limit of 10 units exhausted");
        assert_eq!(LimitHit::Timeout(250).to_string(), "wall-clock deadline of 250 ms passed");
        assert_eq!(LimitHit::HostCalls(5).to_string(), "host-call limit of 5 calls exceeded");
    }
}
