//! A circuit breaker per platform: after enough consecutive failures it opens and refuses every
//! request for a cool-down, then lets one trial request through (half-open); the trial's result
//! closes it or opens it again. A failing platform gets no retry storm.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where the breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests go through; counts consecutive failures.
    Closed {
        /// Consecutive failures so far.
        failures: u32,
    },
    /// Requests are refused until the instant.
    Open {
        /// When a trial request may go through.
        until: Instant,
    },
    /// One trial request is in flight; others are refused until it ends.
    HalfOpen,
}

/// A circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    failures_to_open: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

impl Breaker {
    /// A closed breaker that opens after `failures_to_open` consecutive failures for `cooldown`.
    pub fn new(failures_to_open: u32, cooldown: Duration) -> Self {
        Self {
            failures_to_open: failures_to_open.max(1),
            cooldown,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    /// Where it is now.
    pub fn state(&self) -> BreakerState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a request may go out at `now`; if not, how long until a trial may.
    pub fn admit(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match *state {
            BreakerState::Closed { .. } => Ok(()),
            BreakerState::Open { until } if now >= until => {
                *state = BreakerState::HalfOpen;
                Ok(())
            }
            BreakerState::Open { until } => Err(until - now),
            BreakerState::HalfOpen => Err(Duration::ZERO),
        }
    }

    /// Records how an admitted request ended.
    pub fn record(&self, succeeded: bool, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *state = match (*state, succeeded) {
            (_, true) => BreakerState::Closed { failures: 0 },
            (BreakerState::Closed { failures }, false) if failures + 1 < self.failures_to_open => {
                BreakerState::Closed { failures: failures + 1 }
            }
            (_, false) => BreakerState::Open { until: now + self.cooldown },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_a_success_resets_the_count() {
        let breaker = Breaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        breaker.record(false, t0);
        breaker.record(false, t0);
        breaker.record(true, t0);
        breaker.record(false, t0);
        breaker.record(false, t0);
        assert_eq!(breaker.admit(t0), Ok(()));
        breaker.record(false, t0);
        assert_eq!(breaker.state(), BreakerState::Open { until: t0 + Duration::from_secs(10) });
        assert_eq!(breaker.admit(t0 + Duration::from_secs(4)), Err(Duration::from_secs(6)));
    }

    #[test]
    fn after_the_cool_down_one_trial_goes_through_and_decides() {
        let breaker = Breaker::new(1, Duration::from_secs(10));
        let t0 = Instant::now();
        breaker.record(false, t0);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(breaker.admit(later), Ok(()));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.admit(later).is_err(), "a second request waits for the trial");
        breaker.record(false, later);
        assert_eq!(breaker.state(), BreakerState::Open { until: later + Duration::from_secs(10) });
        let again = later + Duration::from_secs(10);
        assert_eq!(breaker.admit(again), Ok(()));
        breaker.record(true, again);
        assert_eq!(breaker.state(), BreakerState::Closed { failures: 0 });
        assert_eq!(breaker.admit(again), Ok(()));
    }
}
