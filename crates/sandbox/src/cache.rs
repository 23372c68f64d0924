//! The compiled-component cache: `<dir>/<sha256>-<engine>.cwasm`, so that an unchanged plugin is
//! compiled once per engine configuration. A `.cwasm` is native code, so the cache is no way in:
//! each file ends with an HMAC-SHA256 under a key only this cache's owner can read
//! (`<dir>/cache.key`, 32 random bytes, mode 0600), over the component's digest and the engine's
//! tag as well as the code, so a valid file copied under another digest does not verify either; a
//! file whose tag does not verify is recompiled, and a cache directory that others can write to is
//! not used at all.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Bytes of the tag at the end of each cached file.
const TAG_LEN: usize = 32;

/// Bytes of the cache's key.
const KEY_LEN: usize = 32;

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
            self.mac(&key, sha256, &bytes)
                .verify_slice(&tag)
                .map_err(|_| anyhow::anyhow!("its tag does not verify"))?;
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
        // below computes, over this digest, this engine's tag and `Component::serialize` of the
        // component with this digest. wasmtime
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
        let tag = self.mac(&key, sha256, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        let tmp = self.dir.join(format!(".{sha256}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, self.path(sha256))?;
        Ok(())
    }

    /// The cache's key, after checking that the directory is the owner's alone; with `create`,
    /// the directory (mode 0700) and key (mode 0600) are made if missing, and a key file of the
    /// wrong length is replaced by a new key (so every file tagged under the old one is
    /// recompiled). Without `create`, a key of the wrong length is refused.
    fn key(&self, create: bool) -> anyhow::Result<Vec<u8>> {
        if create && !self.dir.exists() {
            std::fs::create_dir_all(&self.dir)?;
            restrict(&self.dir, 0o700)?;
        }
        private(&self.dir, 0o022, "others can write to it")?;
        let path = self.dir.join("cache.key");
        if create && !path.exists() {
            write_new_key(&path, &path)?;
        }
        private(&path, 0o077, "others can read or write it")?;
        let key = std::fs::read(&path)?;
        if key.len() == KEY_LEN {
            return Ok(key);
        }
        let found = key.len();
        if !create {
            anyhow::bail!("the cache key {} is {found} bytes, not {KEY_LEN}", path.display());
        }
        tracing::warn!(
            path = %path.display(),
            "the cache key is {found} bytes, not {KEY_LEN}: replacing it with a new key; plugins compiled under the old one are compiled again"
        );
        write_new_key(&self.dir.join(format!(".cache.key.{}.tmp", std::process::id())), &path)?;
        Ok(std::fs::read(&path)?)
    }

    /// The tag of a cached file: over the component's digest, the engine's tag and the code.
    fn mac(&self, key: &[u8], sha256: &str, code: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        for part in [sha256.as_bytes(), self.engine_tag.as_bytes()] {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac.update(code);
        mac
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Writes a new random key to `written` (created, mode 0600) and moves it to `key` if that is
/// another path.
fn write_new_key(written: &Path, key: &Path) -> anyhow::Result<()> {
    let mut bytes = vec![0u8; KEY_LEN];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no random source for the cache key: {e}"))?;
    let mut file = open_new_private(written)?;
    file.write_all(&bytes)?;
    if written != key {
        std::fs::rename(written, key)?;
    }
    Ok(())
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
        crate::engine::build_engine().unwrap()
    }

    /// A cache in a temporary directory holding one component, filed under `abc`.
    fn cached() -> (tempfile::TempDir, Engine, CompileCache) {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let cache = CompileCache::new(dir.path().join("cache"), &engine);
        cache.store("abc", &component(&engine));
        (dir, engine, cache)
    }

    #[test]
    fn a_cached_component_loads_only_while_its_tag_verifies() {
        let (dir, engine, cache) = cached();
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
    fn a_cached_file_copied_under_another_digest_does_not_verify() {
        let (_dir, engine, cache) = cached();
        std::fs::copy(cache.path("abc"), cache.path("def")).unwrap();
        assert!(cache.load(&engine, "abc").is_some());
        assert!(cache.load(&engine, "def").is_none(), "the tag covers the digest it is filed under");
    }

    #[test]
    fn a_short_key_is_refused_for_loading_and_replaced_on_the_next_store() {
        let (dir, engine, cache) = cached();
        let key = dir.path().join("cache/cache.key");
        std::fs::write(&key, b"x").unwrap();
        let err = cache.key(false).unwrap_err().to_string();
        assert!(err.ends_with("cache.key is 1 bytes, not 32"), "{err}");
        assert!(cache.load(&engine, "abc").is_none());
        cache.store("abc", &component(&engine));
        assert_eq!(std::fs::read(&key).unwrap().len(), 32, "a new key was made");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(cache.load(&engine, "abc").is_some(), "and the plugin cached again under it");
    }

    #[test]
    fn a_cache_directory_others_can_write_is_not_used() {
        let (dir, engine, cache) = cached();
        std::fs::set_permissions(dir.path().join("cache"), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(cache.load(&engine, "abc").is_none());
        let err = cache.key(true).unwrap_err().to_string();
        assert!(
            err.ends_with("has mode 777: others can write to it; make it the owner's alone (chmod go-rwx)"),
            "{err}"
        );
    }
}
