//! The memory cap of one instance.

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
}
