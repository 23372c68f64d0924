//! The deadline of the work running on this thread, if it has one: a plugin's invocation sets it
//! for as long as it runs, and blocking calls made on its behalf (a platform's REST API, reached
//! from a query or action the plugin makes) wait no longer than what is left of it.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    static CURRENT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// While alive, work on this thread runs under a deadline; dropping it restores the one before.
pub struct Scope {
    previous: Option<Instant>,
}

/// Runs the rest of the caller's scope on this thread under `deadline`.
pub fn scope(deadline: Instant) -> Scope {
    Scope { previous: CURRENT.replace(Some(deadline)) }
}

impl Drop for Scope {
    fn drop(&mut self) {
        CURRENT.set(self.previous);
    }
}

/// What is left of this thread's deadline, if work on it has one (zero once it passed).
pub fn remaining() -> Option<Duration> {
    CURRENT.get().map(|deadline| deadline.saturating_duration_since(Instant::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_sets_the_deadline_for_its_thread_only_and_restores_the_one_before() {
        assert_eq!(remaining(), None);
        {
            let _outer = scope(Instant::now() + Duration::from_secs(60));
            assert!(remaining().unwrap() > Duration::from_secs(59));
            {
                let _inner = scope(Instant::now());
                assert_eq!(remaining(), Some(Duration::ZERO));
            }
            assert!(remaining().unwrap() > Duration::from_secs(59));
            std::thread::spawn(|| assert_eq!(remaining(), None)).join().unwrap();
        }
        assert_eq!(remaining(), None);
    }
}
