//! Per-invocation limits, what hitting one means, and the memory limiter that enforces the cap.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The resources one invocation may use. Each has a safe default and can be overridden per
/// tenant and plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) the plugin may burn.
    pub fuel: u64,
    /// Wall-clock deadline in milliseconds, covering time spent in host calls too.
    pub timeout_ms: u64,
    /// Linear memory, in bytes, summed over all of the plugin's memories.
    pub memory_bytes: u64,
    /// Host calls (actions, queries, logs, config) the plugin may make.
    pub max_host_calls: u32,
    /// Actions the plugin may plan.
    pub max_actions: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 5_000_000_000,
            timeout_ms: 5_000,
            memory_bytes: 256 << 20,
            max_host_calls: 1_000,
            max_actions: 200,
        }
    }
}

impl Limits {
    /// The deadline as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
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
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitHit::Fuel(n) => write!(f, "fuel limit of {n} units exhausted"),
            LimitHit::Timeout(ms) => write!(f, "wall-clock deadline of {ms} ms passed"),
            LimitHit::Memory(bytes) => write!(f, "memory limit of {bytes} bytes exceeded"),
            LimitHit::HostCalls(n) => write!(f, "host-call limit of {n} calls exceeded"),
            LimitHit::Actions(n) => write!(f, "planned-action limit of {n} actions exceeded"),
        }
    }
}

impl std::error::Error for LimitHit {}

/// Caps the total linear memory of one instance and remembers the peak and any refusal.
#[derive(Debug)]
pub struct MemoryLimiter {
    cap: u64,
    total: u64,
    /// The most memory the instance held at once, in bytes.
    pub peak: u64,
    /// Set when a growth was refused.
    pub refused: bool,
}

impl MemoryLimiter {
    /// A limiter allowing `cap` bytes in total.
    pub fn new(cap: u64) -> Self {
        Self { cap, total: 0, peak: 0, refused: false }
    }

    /// For another invocation of the same instance: a new cap, and the memory already held as
    /// the starting peak.
    pub fn renew(&mut self, cap: u64) {
        *self = Self { cap, total: self.total, peak: self.total, refused: false };
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let next = self.total + (desired.saturating_sub(current)) as u64;
        if next > self.cap {
            self.refused = true;
            return Ok(false);
        }
        self.total = next;
        self.peak = self.peak.max(next);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn memory_is_capped_in_total_across_memories_and_the_peak_kept() {
        let mut limiter = MemoryLimiter::new(3 << 16);
        assert!(limiter.memory_growing(0, 1 << 16, None).unwrap());
        assert!(limiter.memory_growing(0, 2 << 16, None).unwrap(), "a second memory counts towards the same cap");
        assert!(!limiter.memory_growing(2 << 16, 3 << 16, None).unwrap(), "one page past the cap is refused");
        assert!(limiter.refused);
        assert_eq!(limiter.peak, 3 << 16);
    }

    #[test]
    fn each_limit_names_itself_and_its_value() {
        assert_eq!(LimitHit::Fuel(10).to_string(), "fuel limit of 10 units exhausted");
        assert_eq!(LimitHit::Timeout(250).to_string(), "wall-clock deadline of 250 ms passed");
        assert_eq!(LimitHit::HostCalls(5).to_string(), "host-call limit of 5 calls exceeded");
    }
}
