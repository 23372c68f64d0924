//! Warm instances, opt-in per tenant and plugin: an instance that served an event cleanly serves
//! the tenant's next events too, up to a set number, instead of a fresh instance per event.
//! Interpreted plugins (Python, JavaScript) spend most of an event starting their interpreter, so
//! this is where reuse pays. The plugin's globals then live on between those events; an instance
//! is dropped after a trap, a limit hit or its last allowed event, and a pool belongs to one
//! tenant's installation of one plugin, so nothing is ever shared across tenants.

use std::num::NonZeroU32;
use std::sync::Mutex;

use wasmtime::Store;

use super::CapturedOutput;
use crate::bindings::Plugin;
use crate::imports::HostState;

/// A live instance with its store, ready for another event.
pub(super) struct Instance {
    pub store: Store<HostState>,
    pub bindings: Plugin,
    pub output: CapturedOutput,
    /// Events served so far.
    pub served: u32,
}

/// The idle warm instances of one plugin for one tenant.
pub struct WarmPool {
    idle: Mutex<Vec<Instance>>,
    events_per_instance: NonZeroU32,
    max_idle: usize,
}

impl WarmPool {
    /// A pool whose instances each serve at most `events_per_instance` events, keeping as many
    /// idle instances as events can run at once here (one per core).
    pub fn new(events_per_instance: NonZeroU32) -> Self {
        let max_idle = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self { idle: Mutex::new(Vec::new()), events_per_instance, max_idle }
    }

    /// An idle instance, if one is waiting.
    pub(super) fn take(&self) -> Option<Instance> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    /// Keeps `instance` for a later event, unless it has served its last one or enough are idle.
    pub(super) fn give_back(&self, instance: Instance) {
        if instance.served >= self.events_per_instance.get() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push(instance);
        }
    }
}
