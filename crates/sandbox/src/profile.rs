//! Guest profiles (feature `guest-profile`): wasmtime's guest profiler sampling the stacks of a
//! loaded plugin's instances, fresh or warm, at every epoch tick while guest code runs, over as
//! many invocations as it is attached for, and written out as a Firefox-profiler JSON document
//! (<https://profiler.firefox.com/>). Only the plugin's own modules appear in the stacks: host
//! frames, provhost's imports among them, are left out, so a profile shows what the guest did.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::{AsContext, GuestProfiler, Store, UpdateDeadline};

use super::engine::EPOCH_TICK;
use super::imports::HostState;
use super::{LoadedPlugin, Runtime};

/// The samples taken of one plugin's invocations so far.
pub struct GuestProfile {
    profiler: Mutex<Option<GuestProfiler>>,
}

impl GuestProfile {
    /// Starts profiling `plugin`'s component, recorded under `name`.
    pub fn new(runtime: &Runtime, plugin: &LoadedPlugin, name: &str) -> wasmtime::Result<Arc<Self>> {
        let component = plugin.code.pre.component().clone();
        let profiler = GuestProfiler::new_component(&runtime.engine, name, EPOCH_TICK, component, [])?;
        Ok(Arc::new(Self { profiler: Mutex::new(Some(profiler)) }))
    }

    /// Adds a sample of the guest stack in `store`; none once the profile is finished.
    pub(super) fn sample(&self, store: impl AsContext) {
        if let Some(profiler) = self.profiler.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            profiler.sample(store, Duration::ZERO);
        }
    }

    /// Ends the profile and writes it to `out` as Firefox-profiler JSON; samples taken later are
    /// dropped. Fails when it was finished already or writing failed.
    pub fn finish(&self, out: impl std::io::Write) -> wasmtime::Result<()> {
        let profiler = self.profiler.lock().unwrap_or_else(|p| p.into_inner()).take();
        match profiler {
            Some(profiler) => profiler.finish(out),
            None => wasmtime::bail!("the guest profile was finished already"),
        }
    }
}

/// Makes guest code in `store` take a sample into `profile` at every epoch tick, and stop once
/// `deadline` passes.
pub(super) fn arm(store: &mut Store<HostState>, profile: Arc<GuestProfile>, deadline: Instant) {
    store.epoch_deadline_callback(move |store| {
        profile.sample(&store);
        Ok(if Instant::now() >= deadline { UpdateDeadline::Interrupt } else { UpdateDeadline::Continue(1) })
    });
    store.set_epoch_deadline(1);
}

impl LoadedPlugin {
    /// Samples every invocation of this loaded plugin into `profile`, at every epoch tick
    /// instead of at every yield; the deadline still holds.
    pub fn with_guest_profile(mut self, profile: Arc<GuestProfile>) -> Self {
        self.profile = Some(profile);
        self
    }
}
