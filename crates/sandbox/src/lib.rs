//! Running plugins: the engine, the compiled-component cache, loading a plugin into an
//! `InstancePre`, and one sandboxed invocation per event.

mod bindings;
mod cache;
mod compiled;
mod engine;
mod footprint;
mod imports;
mod inspect;
mod invocation;
mod memory;
mod output;
#[cfg(feature = "guest-profile")]
mod profile;
mod share;
mod versions;
mod warm;

pub use compiled::CompiledCounts;
pub use engine::{PER_COMPONENT, POOL};
pub use footprint::{Footprint, footprint};
pub use inspect::{InspectError, Inspection, SUPPORTED_API_VERSIONS, import_status, inspect, interface};
pub use invocation::{Invocation, InvocationOutcome, Usage};
pub use output::CapturedOutput;
#[cfg(feature = "guest-profile")]
pub use profile::GuestProfile;
pub use warm::{IdleInstances, MAX_IDLE_INSTANCES, WarmPool};

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use imports::HostState;
use provhost_config::Capacity;
use versions::PluginPre;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read plugin {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a loadable provhost plugin.
    #[error("plugin {path} {source}")]
    NotAPlugin {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        source: InspectError,
    },
    /// The file changed between reading its digest and reading it to compile.
    #[error("plugin {path} changed while it was being loaded; load it again once it is written")]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// The file does not match the sha256 the configuration pins.
    #[error(
        "plugin {path} has sha256 {actual}, but the configuration pins {pinned}; the file was changed or the pin is stale: check the file, then update `sha256`"
    )]
    PinMismatch {
        /// The file.
        path: PathBuf,
        /// The file's digest.
        actual: String,
        /// The pinned digest.
        pinned: String,
    },
    /// One instance of the component would hold more of the engine's instance pool than one
    /// component may, so that a tenant's plugin cannot take the slots other tenants need.
    #[error(
        "plugin {path} needs {count} {what} per instance; provhost allows at most {max} per component, so that one plugin cannot hold the instance pool every tenant shares: build it with fewer"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// What it needs too many of.
        what: &'static str,
        /// How many one instance needs.
        count: u32,
        /// How many one component may have.
        max: u32,
    },
    /// Compiling or linking failed, e.g. it imports something provhost does not provide.
    #[error("plugin {path} cannot be loaded: {reason}")]
    Link {
        /// The file.
        path: PathBuf,
        /// wasmtime's explanation.
        reason: String,
    },
}

/// Why an invocation could not be run at all, as opposed to running and failing.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The event's failed action could not be looked up.
    #[error(transparent)]
    Backend(#[from] provhost_platforms::BackendError),
    /// Every instance slot of the engine is taken: the host is out of capacity, which is not the
    /// plugin's failure and is not recorded as one.
    #[error("provhost has no instance free to run the plugin ({0}); try again shortly")]
    Busy(String),
}

/// A plugin compiled and linked, ready to be instantiated once per event.
pub struct LoadedPlugin {
    /// The plugin's name (its file name without extension).
    pub name: String,
    /// The sha256 of the component, hex; the plugin's identity.
    pub sha256: String,
    /// The provhost API version it was built against.
    pub api_version: String,
    /// Whether this load compiled it (false: it came from the compile cache, or was in memory
    /// already for another tenant).
    pub compiled: bool,
    /// What one instance of it holds of the engine's instance pool.
    pub footprint: Footprint,
    code: Arc<compiled::Compiled>,
    warm: Option<WarmPool>,
    idle: IdleInstances,
    /// Where its invocations are sampled, while it is being profiled.
    #[cfg(feature = "guest-profile")]
    profile: Option<std::sync::Arc<profile::GuestProfile>>,
}

impl LoadedPlugin {
    /// Opts this loaded plugin into warm instances: an instance that served an event cleanly
    /// serves the next ones too, up to `events_per_instance` in all, for the same tenant under
    /// the same API key grants only.
    pub fn with_warm_instances(mut self, events_per_instance: NonZeroU32) -> Self {
        self.warm = (events_per_instance.get() > 1).then(|| WarmPool::new(events_per_instance, self.idle.clone()));
        self
    }
}

/// A plugin's name from its file: `propagate_mail.wasm` is `propagate-mail`.
pub fn plugin_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().replace('_', "-")).unwrap_or_else(|| "plugin".into())
}

/// The sha256 of a file, hex, read in small pieces.
fn file_digest(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Owns the engine, the linker with provhost's imports, the compile cache, the compiled components
/// every tenant shares, the epoch ticker, the executor that drives invocations, the idle warm
/// instances and each tenant's share of the pool.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: cache::CompileCache,
    compiled: compiled::CompiledComponents,
    sandbox: engine::SandboxExecutor,
    idle: IdleInstances,
    share: Arc<share::PoolShare>,
    _ticker: engine::EpochTicker,
}

impl Runtime {
    /// A runtime caching compiled components in `cache_dir`, each tenant holding at most
    /// [`Capacity::DEFAULT_TENANT_POOL_SHARE`] percent of the instance pool.
    pub fn new(cache_dir: PathBuf) -> anyhow::Result<Self> {
        let engine = engine::build_engine()?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        versions::add_to_linker(&mut linker)?;
        Ok(Self {
            cache: cache::CompileCache::new(cache_dir, &engine),
            compiled: compiled::CompiledComponents::default(),
            sandbox: engine::SandboxExecutor::start()?,
            idle: IdleInstances::default(),
            share: Arc::new(share::PoolShare::new(Capacity::DEFAULT_TENANT_POOL_SHARE)),
            _ticker: engine::EpochTicker::start(&engine),
            engine,
            linker,
        })
    }

    /// Holds each tenant's live instances to `percent` of the instance pool (at least one
    /// instance of the largest component provhost loads).
    pub fn with_tenant_pool_share(mut self, percent: u8) -> Self {
        self.share = Arc::new(share::PoolShare::new(percent));
        self
    }

    /// What one tenant's live instances may hold of the instance pool.
    pub fn tenant_share(&self) -> Footprint {
        self.share.share()
    }

    /// Drops every warm instance that has waited idle for `idle_for` or longer, giving back its
    /// pool slots and its memory; how many were dropped.
    pub fn evict_idle(&self, idle_for: Duration) -> usize {
        self.idle.evict_idle_for(idle_for)
    }

    /// How the loads so far found their compiled components (compiled, from the compile cache, or
    /// shared with another loaded plugin of the same digest), and how many are in memory now.
    pub fn compiled_counts(&self) -> CompiledCounts {
        self.compiled.counts()
    }

    /// The directory compiled components are cached in.
    pub fn cache_dir(&self) -> &Path {
        self.cache.dir()
    }

    /// Loads a plugin file. With `pinned`, a file whose sha256 differs is refused before anything
    /// else. A plugin of the same digest loaded already shares its compiled copy; otherwise the
    /// file is checked to be a provhost plugin of a supported API version whose instances fit
    /// [`PER_COMPONENT`], then compiled (or read from the compile cache) and pre-linked.
    pub fn load(&self, path: &Path, pinned: Option<&str>) -> Result<LoadedPlugin, LoadError> {
        let sha256 = file_digest(path).map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
        if let Some(pinned) = pinned.filter(|p| !p.eq_ignore_ascii_case(&sha256)) {
            return Err(LoadError::PinMismatch { path: path.to_owned(), actual: sha256, pinned: pinned.to_owned() });
        }
        let (code, compiled) = self.compiled.get_or_load(&sha256, || self.compile(path, &sha256))?;
        Ok(LoadedPlugin {
            name: plugin_name(path),
            sha256,
            api_version: code.api_version.clone(),
            compiled,
            footprint: code.footprint,
            code,
            warm: None,
            idle: self.idle.clone(),
            #[cfg(feature = "guest-profile")]
            profile: None,
        })
    }

    /// Reads the component in `path`, whose digest was `sha256`, checks it, and compiles it (or
    /// reads it from the compile cache) and pre-links it; and whether it compiled it.
    fn compile(&self, path: &Path, sha256: &str) -> Result<(compiled::Compiled, bool), LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
        if hex::encode(Sha256::digest(&bytes)) != sha256 {
            return Err(LoadError::Changed { path: path.to_owned() });
        }
        let inspection = inspect(&bytes).map_err(|source| LoadError::NotAPlugin { path: path.to_owned(), source })?;
        let link = |e: wasmtime::Error| LoadError::Link { path: path.to_owned(), reason: format!("{e:#}") };
        let footprint = footprint::footprint(&bytes).map_err(|e| link(e.into()))?;
        if let Some((what, count, max)) = footprint.over(&PER_COMPONENT) {
            return Err(LoadError::TooLarge { path: path.to_owned(), what, count, max });
        }
        let (component, compiled) = match self.cache.load(&self.engine, sha256) {
            Some(component) => (component, false),
            None => {
                let component = Component::new(&self.engine, &bytes).map_err(link)?;
                self.cache.store(sha256, &component);
                (component, true)
            }
        };
        let pre = self.linker.instantiate_pre(&component).map_err(link)?;
        let pre = PluginPre::new(&inspection.api_version, pre).map_err(link)?;
        Ok((compiled::Compiled { pre, api_version: inspection.api_version, footprint }, compiled))
    }
}
