//! The compiled-component cache: `<dir>/<sha256>-<engine>.cwasm`, so that an unchanged plugin is
//! compiled once per engine configuration. A `.cwasm` is native code, so the cache is no way in:
//! each file ends with an HMAC-SHA256 under a key only this cache's owner can read
//! (`<dir>/cache.key`, mode 0600), a file whose tag does not verify is recompiled, and a cache
//! directory that others can write to is not used at all.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Bytes of the tag at the end of each cached file.
const TAG_LEN: usize = 32;

/// Where compiled components are kept.
pub struct CompileCache {
    dir: PathBuf,
    engine_tag: String,
}

impl CompileCache {
    /// A cache in `dir` (created on first store) for components compiled by `engine`.
    pub fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self { dir, engine_tag: format!("{:016x}", hasher.finish()) }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_tag))
    }

    /// The component compiled earlier for this digest, if the cache has one that this cache's
    /// key vouches for.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        if !path.exists() {
            return None;
        }
        let verified = self.key(false).and_then(|key| {
            let mut bytes = std::fs::read(&path)?;
            let split = bytes.len().checked_sub(TAG_LEN).ok_or_else(|| anyhow::anyhow!("the file is too short"))?;
            let tag = bytes.split_off(split);
            mac(&key, &bytes).verify_slice(&tag).map_err(|_| anyhow::anyhow!("its tag does not verify"))?;
            Ok(bytes)
        });
        let bytes = match verified {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(path = %path.display(), "not loading the cached compiled plugin: {e:#}");
                return None;
            }
        };
        // SAFETY: the bytes carry a valid HMAC under this cache's private key, which only `store`
        // below computes, over `Component::serialize` of the component with this digest. wasmtime
        // still checks the header and the engine's compatibility; a file it rejects is recompiled.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize(engine, &bytes) };
        match loaded {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unusable compiled component: {e}");
                None
            }
        }
    }

    /// Keeps a compiled component. Written to a temporary file and renamed, so that a concurrent
    /// reader never sees half a file. A cache that cannot be written only costs a recompile.
    pub fn store(&self, sha256: &str, component: &Component) {
        if let Err(e) = self.try_store(sha256, component) {
            tracing::warn!(dir = %self.dir.display(), "could not cache the compiled plugin: {e:#}");
        }
    }

    fn try_store(&self, sha256: &str, component: &Component) -> anyhow::Result<()> {
        let key = self.key(true)?;
        let mut bytes = component.serialize()?;
        let tag = mac(&key, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        let tmp = self.dir.join(format!(".{sha256}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, self.path(sha256))?;
        Ok(())
    }

    /// The cache's key, after checking that the directory is the owner's alone; with `create`,
    /// the directory (mode 0700) and key (mode 0600) are made if missing.
    fn key(&self, create: bool) -> anyhow::Result<Vec<u8>> {
        if create && !self.dir.exists() {
            std::fs::create_dir_all(&self.dir)?;
            restrict(&self.dir, 0o700)?;
        }
        private(&self.dir, 0o022, "others can write to it")?;
        let path = self.dir.join("cache.key");
        if create && !path.exists() {
            let mut key = vec![0u8; 32];
            getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no random source for the cache key: {e}"))?;
            let mut file = open_new_private(&path)?;
            file.write_all(&key)?;
        }
        private(&path, 0o077, "others can read or write it")?;
        Ok(std::fs::read(&path)?)
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn mac(key: &[u8], bytes: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(bytes);
    mac
}

/// Refuses `path` if another user owns it or any of the `forbidden` permission bits are set.
#[cfg(unix)]
fn private(path: &Path, forbidden: u32, why: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let metadata = std::fs::metadata(path)?;
    // The process's own directory is owned by the user the process runs as.
    if let Ok(me) = std::fs::metadata("/proc/self")
        && me.uid() != metadata.uid()
    {
        anyhow::bail!("{} belongs to user {}, not to the user provhost runs as", path.display(), metadata.uid());
    }
    let mode = metadata.permissions().mode();
    if mode & forbidden != 0 {
        anyhow::bail!(
            "{} has mode {:o}: {why}; make it the owner's alone (chmod go-rwx)",
            path.display(),
            mode & 0o777
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn private(_: &Path, _: u32, _: &str) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

fn open_new_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn component(engine: &Engine) -> Component {
        Component::new(engine, wat::parse_str("(component)").unwrap()).unwrap()
    }

    fn engine() -> Engine {
        crate::runtime::engine::build_engine().unwrap()
    }

    #[test]
    fn a_cached_component_loads_only_while_its_tag_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let cache = CompileCache::new(dir.path().join("cache"), &engine);
        cache.store("abc", &component(&engine));
        assert!(cache.load(&engine, "abc").is_some());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("cache")), 0o700);
        assert_eq!(mode(&dir.path().join("cache/cache.key")), 0o600);

        // Someone swaps in native code of their own: it carries no valid tag.
        let path = cache.path("abc");
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(cache.load(&engine, "abc").is_none(), "a changed file is not loaded");
        std::fs::write(&path, component(&engine).serialize().unwrap()).unwrap();
        assert!(cache.load(&engine, "abc").is_none(), "an untagged file is not loaded");
    }

    #[test]
    fn a_cache_directory_others_can_write_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let cache = CompileCache::new(dir.path().join("cache"), &engine);
        cache.store("abc", &component(&engine));
        std::fs::set_permissions(dir.path().join("cache"), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(cache.load(&engine, "abc").is_none());
        let err = cache.key(true).unwrap_err().to_string();
        assert!(
            err.ends_with("has mode 777: others can write to it; make it the owner's alone (chmod go-rwx)"),
            "{err}"
        );
    }
}
