//! Warm instances, opt-in per tenant and plugin: an instance that served an event cleanly serves
//! the tenant's next events too, up to a set number, instead of a fresh instance per event.
//! Interpreted plugins (Python, JavaScript) spend most of an event starting their interpreter, so
//! this is where reuse pays. The plugin's globals then live on between those events; an instance
//! is dropped after a trap, a limit hit or its last allowed event, and a pool belongs to one
//! tenant's installation of one plugin, so nothing is ever shared across tenants.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use wasmtime::Store;

use super::CapturedOutput;
use crate::runtime::bindings::Plugin;
use crate::runtime::imports::HostState;

/// A live instance with its store, ready for another event.
pub(super) struct Instance {
    pub store: Store<HostState>,
    pub bindings: Plugin,
    pub output: CapturedOutput,
    /// Events served so far.
    pub served: u32,
}

/// How many warm instances may wait idle in all pools of one engine together, so that tenants
/// opting into warm instances cannot take the pool slots running events need.
pub const MAX_IDLE_INSTANCES: usize = 64;

/// The count of idle warm instances over every pool of one engine, shared by the pools.
#[derive(Debug, Clone, Default)]
pub struct IdleBudget(Arc<AtomicUsize>);

impl IdleBudget {
    /// Takes a place for one more idle instance, if there is one.
    fn reserve(&self) -> bool {
        self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_IDLE_INSTANCES).then_some(n + 1)).is_ok()
    }

    /// Gives back `n` places.
    fn release(&self, n: usize) {
        self.0.fetch_sub(n, Ordering::AcqRel);
    }
}

/// The idle warm instances of one plugin for one tenant.
pub struct WarmPool {
    idle: Mutex<Vec<Instance>>,
    events_per_instance: NonZeroU32,
    max_idle: usize,
    budget: IdleBudget,
}

impl WarmPool {
    /// A pool whose instances each serve at most `events_per_instance` events, keeping as many
    /// idle instances as events can run at once here (one per core), within the engine's `budget`.
    pub fn new(events_per_instance: NonZeroU32, budget: IdleBudget) -> Self {
        let max_idle = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self { idle: Mutex::new(Vec::new()), events_per_instance, max_idle, budget }
    }

    /// An idle instance, if one is waiting.
    pub(super) fn take(&self) -> Option<Instance> {
        let instance = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        if instance.is_some() {
            self.budget.release(1);
        }
        instance
    }

    /// Keeps `instance` for a later event, unless it has served its last one or enough are idle.
    pub(super) fn give_back(&self, instance: Instance) {
        if instance.served >= self.events_per_instance.get() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle && self.budget.reserve() {
            idle.push(instance);
        }
    }
}

impl Drop for WarmPool {
    fn drop(&mut self) {
        let idle = self.idle.get_mut().unwrap_or_else(|p| p.into_inner()).len();
        self.budget.release(idle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_budget_is_shared_and_given_back() {
        let budget = IdleBudget::default();
        let other = budget.clone();
        for _ in 0..MAX_IDLE_INSTANCES {
            assert!(budget.reserve());
        }
        assert!(!other.reserve(), "every pool of the engine draws on the same budget");
        other.release(1);
        assert!(budget.reserve());
    }
}
