//! Compiled components in memory, one per digest: every tenant that loads a component shares one
//! compiled, pre-linked copy of it (its native code and its memory images), however many tenants
//! load it. A copy lives as long as some loaded plugin holds it; the next load of that digest
//! after the last one is dropped reads it from the compile cache again. Only the code is shared:
//! each event still gets its own store and instance, so sharing changes nothing a plugin can see.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use serde::Serialize;

use super::footprint::Footprint;
use super::versions::PluginPre;

/// A component compiled and pre-linked, with what was read from it before compiling; shared by
/// every loaded plugin of its digest.
pub(super) struct Compiled {
    /// Ready to instantiate.
    pub pre: PluginPre,
    /// The provhost API version it was built against.
    pub api_version: String,
    /// What one instance of it holds of the engine's instance pool.
    pub footprint: Footprint,
}

/// What the loads of one runtime did, and what it holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CompiledCounts {
    /// Loads that compiled their component.
    pub compiled: u64,
    /// Loads that read their compiled component from the compile cache on disk.
    pub from_cache: u64,
    /// Loads that shared a compiled copy already in memory.
    pub shared: u64,
    /// Distinct compiled components in memory now.
    pub in_memory: usize,
}

/// The compiled components in memory, by digest.
#[derive(Default)]
pub(super) struct CompiledComponents {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_digest: HashMap<String, Weak<Compiled>>,
    counts: CompiledCounts,
}

impl CompiledComponents {
    /// The copy in memory of the component with digest `sha256`, or else the one `load` makes
    /// (with whether it compiled it rather than reading the compile cache), kept for the next
    /// load of that digest; and whether this load compiled it. Loads wait for each other, so
    /// that two tenants loading the same component at once compile or read it once.
    pub fn get_or_load<E>(
        &self,
        sha256: &str,
        load: impl FnOnce() -> Result<(Compiled, bool), E>,
    ) -> Result<(Arc<Compiled>, bool), E> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(shared) = inner.by_digest.get(sha256).and_then(Weak::upgrade) {
            inner.counts.shared += 1;
            return Ok((shared, false));
        }
        let (code, compiled) = load()?;
        let code = Arc::new(code);
        inner.by_digest.retain(|_, copy| copy.strong_count() > 0);
        inner.by_digest.insert(sha256.to_owned(), Arc::downgrade(&code));
        if compiled {
            inner.counts.compiled += 1;
        } else {
            inner.counts.from_cache += 1;
        }
        Ok((code, compiled))
    }

    /// What the loads did so far, and how many copies are in memory now.
    pub fn counts(&self) -> CompiledCounts {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let in_memory = inner.by_digest.values().filter(|copy| copy.strong_count() > 0).count();
        CompiledCounts { in_memory, ..inner.counts }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::Runtime;

    fn built(name: &str) -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins/target/wasm32-wasip2/release")).join(name)
    }

    #[test]
    fn loads_of_one_digest_share_one_copy_and_another_digest_gets_its_own() {
        let cache = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(cache.path().to_owned()).unwrap();
        let noop = built("noop.wasm");
        let first = runtime.load(&noop, None).expect("the test plugins are built (scripts/build-plugins.sh)");
        let second = runtime.load(&noop, None).unwrap();
        assert!(first.compiled && !second.compiled);
        assert!(Arc::ptr_eq(&first.code, &second.code), "one compiled copy for both");
        let counts = runtime.compiled_counts();
        assert_eq!(counts, CompiledCounts { compiled: 1, from_cache: 0, shared: 1, in_memory: 1 });

        let other = runtime.load(&built("propagate_mail.wasm"), None).unwrap();
        assert!(!Arc::ptr_eq(&first.code, &other.code), "a different digest is never shared");
        let counts = runtime.compiled_counts();
        assert_eq!(counts, CompiledCounts { compiled: 2, from_cache: 0, shared: 1, in_memory: 2 });

        drop((first, second));
        assert_eq!(runtime.compiled_counts().in_memory, 1, "a copy no loaded plugin holds is dropped");
        let again = runtime.load(&noop, None).unwrap();
        assert!(!again.compiled);
        let counts = runtime.compiled_counts();
        assert_eq!(counts, CompiledCounts { compiled: 2, from_cache: 1, shared: 1, in_memory: 2 }, "{counts:?}");
    }
}
