//! Per-invocation limits: the defaults, provhost's maximum, how a ceiling, a tenant and a
//! manifest combine, and what hitting one means.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Declares [`Limits`] and [`LimitSettings`] from one table: each limit's type, default,
/// provhost's maximum (a setting above it is refused at load) and documentation.
macro_rules! limits {
    ($($(#[doc = $doc:literal])* $field:ident: $ty:ty = $default:expr, max $max:expr;)*) => {
        /// The resources one invocation may use, and how many bytes of what a guest hands the host
        /// are kept. Each has a default and provhost's maximum; an operator's ceiling, a tenant's
        /// configuration and a plugin's manifest can only lower them (see [`Limits::resolve`]).
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
            /// provhost's own maxima: no ceiling, tenant or manifest may set more.
            pub const MAXIMUM: Limits = Limits { $($field: $max,)* };
        }

        /// Limits as one layer sets them (the operator's ceiling, a tenant's plugin, a manifest,
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

            /// The smaller of this layer's and `other`'s value for each limit either sets.
            pub fn narrowed(&self, other: &LimitSettings) -> LimitSettings {
                LimitSettings { $($field: match (self.$field, other.$field) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },)* }
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
    /// Host calls (actions, queries, logs, notes, config) the plugin may make.
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
}

impl Limits {
    /// The limits an invocation runs under: provhost's defaults, lowered by the manifest and the
    /// tenant's configuration of the plugin (the smaller wins), and by the operator's ceiling.
    /// Neither a manifest nor a tenant can raise a limit; only the operator can, up to
    /// [`Limits::MAXIMUM`], by setting a higher ceiling and a tenant or command-line value.
    pub fn resolve(ceiling: &LimitSettings, tenant: &LimitSettings, manifest: &LimitSettings) -> Limits {
        let requested = tenant.narrowed(manifest);
        ceiling.lower(requested.replace(Limits::default()))
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
        }
    }
}

impl std::error::Error for LimitHit {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_and_a_manifest_only_lower_limits_and_the_ceiling_caps_them_all() {
        let manifest =
            LimitSettings { timeout_ms: Some(2_000), fuel: Some(Limits::MAXIMUM.fuel), ..Default::default() };
        let tenant = LimitSettings { timeout_ms: Some(9_000), max_actions: Some(10), ..Default::default() };
        let ceiling = LimitSettings { fuel: Some(1_000_000), ..Default::default() };
        let limits = Limits::resolve(&ceiling, &tenant, &manifest);
        assert_eq!(limits.timeout_ms, 2_000, "the manifest's smaller deadline wins over the tenant's");
        assert_eq!(limits.max_actions, 10);
        assert_eq!(limits.fuel, 1_000_000, "the ceiling caps what the manifest asked for");
        assert_eq!(limits.memory_bytes, Limits::default().memory_bytes, "unset limits keep the default");
        let none = LimitSettings::default();
        assert_eq!(Limits::resolve(&none, &none, &none), Limits::default());
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
