//! Warm instances, opt-in per tenant and plugin: an instance that served an event cleanly serves
//! the tenant's next events too, up to a set number, instead of a fresh instance per event.
//! Interpreted plugins (Python, JavaScript) spend most of an event starting their interpreter, so
//! this is where reuse pays. The plugin's globals then live on between those events, so an
//! instance only ever serves events of the tenant and the API key grants it was warmed under: a
//! narrower key never runs on an instance that read what a broader one may read. An instance is
//! dropped after a trap, a limit hit, its last allowed event, or an event that left it holding
//! WASI resources; idle instances give their pool slots back whenever an instantiation needs
//! them, and once they have waited idle for long (`[capacity] warm-idle-ms`), their memory too.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::Store;

use super::CapturedOutput;
use super::share::Slots;
use crate::imports::{HostState, WARM_RESOURCES};
use crate::versions::Plugin;
use provhost_core::policy::Grants;
use provhost_gate::TenantContext;

/// A live instance with its store, ready for another event.
pub(super) struct Instance {
    pub store: Store<HostState>,
    pub bindings: Plugin,
    pub output: CapturedOutput,
    /// Events served so far.
    pub served: u32,
    /// The pool slots it holds, counted against its tenant's share.
    pub slots: Slots,
}

/// Whose events an instance may serve: one tenant's, under one set of API key grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WarmKey {
    /// The tenant.
    pub tenant: String,
    grants: Grants,
}

impl WarmKey {
    /// The key of an invocation running in `context`.
    pub fn of(context: &TenantContext) -> Self {
        Self { tenant: context.parts.tenant.clone(), grants: context.permission.key.clone() }
    }
}

/// How many warm instances may wait idle over every plugin of one engine together, so that
/// tenants opting into warm instances cannot take the pool slots running events need.
pub const MAX_IDLE_INSTANCES: usize = 64;

/// One idle instance, with the pool it belongs to, whose events it serves, and since when it
/// waits.
struct Idle {
    pool: u64,
    key: WarmKey,
    since: Instant,
    instance: Instance,
}

/// The idle warm instances of every plugin of one engine.
#[derive(Clone, Default)]
pub struct IdleInstances(Arc<Mutex<Vec<Idle>>>);

impl IdleInstances {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops every idle instance `which` picks, giving its pool slots back; how many were
    /// dropped. They are dropped after the lock is released.
    pub(super) fn evict(&self, which: impl Fn(u64, &WarmKey) -> bool) -> usize {
        self.drop_where(|i| which(i.pool, &i.key))
    }

    /// Drops every instance that has waited idle for `idle_for` or longer, giving back its pool
    /// slots and its memory; how many were dropped.
    pub(super) fn evict_idle_for(&self, idle_for: Duration) -> usize {
        let now = Instant::now();
        self.drop_where(|i| now.saturating_duration_since(i.since) >= idle_for)
    }

    fn drop_where(&self, which: impl Fn(&Idle) -> bool) -> usize {
        let evicted: Vec<Idle> = {
            let mut idle = self.lock();
            let (evicted, kept) = std::mem::take(&mut *idle).into_iter().partition(|i| which(i));
            *idle = kept;
            evicted
        };
        evicted.len()
    }

    /// How many instances are idle.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The source of pool ids, so that instances of one loaded plugin are never taken for another's.
static NEXT_POOL: AtomicU64 = AtomicU64::new(0);

/// The idle warm instances of one loaded plugin.
pub struct WarmPool {
    id: u64,
    events_per_instance: NonZeroU32,
    max_idle: usize,
    idle: IdleInstances,
}

impl WarmPool {
    /// A pool whose instances each serve at most `events_per_instance` events, keeping for each
    /// tenant and key grants as many idle instances as events can run at once here (one per
    /// core), within the engine's [`MAX_IDLE_INSTANCES`].
    pub fn new(events_per_instance: NonZeroU32, idle: IdleInstances) -> Self {
        let max_idle = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self { id: NEXT_POOL.fetch_add(1, Ordering::Relaxed), events_per_instance, max_idle, idle }
    }

    /// An idle instance that may serve `key`'s events, if one is waiting.
    pub(super) fn take(&self, key: &WarmKey) -> Option<Instance> {
        let mut idle = self.idle.lock();
        let at = idle.iter().rposition(|i| i.pool == self.id && i.key == *key)?;
        Some(idle.swap_remove(at).instance)
    }

    /// Keeps `instance` for a later event of `key`, unless it has served its last one, holds WASI
    /// resources from this one, or enough are idle already.
    pub(super) fn give_back(&self, key: WarmKey, mut instance: Instance) {
        if instance.served >= self.events_per_instance.get()
            || instance.store.data_mut().resources_held() > WARM_RESOURCES
        {
            return;
        }
        let mut idle = self.idle.lock();
        let same = idle.iter().filter(|i| i.pool == self.id && i.key == key).count();
        if same < self.max_idle && idle.len() < MAX_IDLE_INSTANCES {
            idle.push(Idle { pool: self.id, key, since: Instant::now(), instance });
        }
    }
}

impl Drop for WarmPool {
    fn drop(&mut self) {
        let id = self.id;
        self.idle.evict(|pool, _| pool == id);
    }
}
