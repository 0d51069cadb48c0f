//! The on-disk cache of precompiled components, so that a restarted host
//! does not compile its plugins again.
//!
//! A file is named by the component's digest and the engine's compatibility
//! hash (wasmtime version, settings, CPU features), so an engine never reads
//! code compiled for another. Deserializing is loading native code, so each
//! file starts with an HMAC-SHA256, under a key only the host knows, of the
//! file's name (digest and engine hash) and the code: a truncated, damaged
//! or planted file, or one copied from another component's name, fails the
//! check and is recompiled, never deserialized. The host derives the key
//! from its master key; a runtime given none (`omnify plugin run
//! --cache-dir`) keeps a random one in the cache directory. The directory is
//! 0700 and its files 0600.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

const TAG_LEN: usize = 32;

/// The key that authenticates a cache's files. Its `Debug` never shows the
/// bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct CacheKey([u8; TAG_LEN]);

impl CacheKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; TAG_LEN]) -> Self {
        Self(bytes)
    }

    /// A fresh random key.
    fn random() -> std::io::Result<Self> {
        let mut bytes = [0u8; TAG_LEN];
        getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Self(bytes))
    }

    fn as_bytes(&self) -> &[u8; TAG_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

/// The key file of a cache that was given no key.
pub const CACHE_KEY_FILE: &str = "cache.key";

/// A directory of precompiled components for one engine configuration.
#[derive(Debug, Clone)]
pub struct PrecompiledCache {
    dir: PathBuf,
    engine_hash: String,
    key: CacheKey,
}

/// Create `dir` if needed and make it private to its owner (0700).
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Write `bytes` to a new file at `path` readable only by its owner (0600).
fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The key in `dir`'s key file, made at random on first use.
fn key_in(dir: &Path) -> std::io::Result<CacheKey> {
    let path = dir.join(CACHE_KEY_FILE);
    if let Ok(bytes) = std::fs::read(&path)
        && let Ok(bytes) = <[u8; TAG_LEN]>::try_from(bytes.as_slice())
    {
        return Ok(CacheKey::from_bytes(bytes));
    }
    let key = CacheKey::random()?;
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    write_private_file(&partial, key.as_bytes())?;
    std::fs::rename(&partial, &path)?;
    Ok(key)
}

impl PrecompiledCache {
    /// Use (and create, 0700) `dir` for `engine`'s compiled code, with
    /// files authenticated under `key` (or the key kept in `dir` if none).
    pub fn new(dir: &Path, engine: &Engine, key: Option<CacheKey>) -> std::io::Result<Self> {
        private_dir(dir)?;
        let key = match key {
            Some(key) => key,
            None => key_in(dir)?,
        };
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir: dir.to_path_buf(),
            engine_hash: format!("{:016x}", hasher.finish()),
            key,
        })
    }

    fn file_name(&self, digest: &str) -> String {
        format!("{digest}-{}.cwasm", self.engine_hash)
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(self.file_name(digest))
    }

    fn mac(&self, digest: &str, code: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"omnify-precompiled-v1\0");
        mac.update(self.file_name(digest).as_bytes());
        mac.update(b"\0");
        mac.update(code);
        mac
    }

    /// The precompiled component with this digest, if the cache has a copy
    /// for this engine that this host wrote for this digest.
    pub fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest);
        let bytes = std::fs::read(&path).ok()?;
        let authentic = bytes.len() >= TAG_LEN && {
            let (tag, code) = bytes.split_at(TAG_LEN);
            self.mac(digest, code).verify_slice(tag).is_ok()
        };
        if !authentic {
            tracing::warn!(
                path = %path.display(),
                "precompiled component not written by this host for this digest (damaged, planted or \
                 copied); recompiling"
            );
            let _ = std::fs::remove_file(&path);
            return None;
        }
        // SAFETY: the bytes carry a valid HMAC under a key only this host
        // knows, over this file's name (the digest and the engine's
        // compatibility hash) and the code, so they are exactly what this
        // host's `Component::serialize` produced for this component on an
        // engine with the same compatibility hash.
        match unsafe { Component::deserialize(engine, &bytes[TAG_LEN..]) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "unusable precompiled component; recompiling");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Save a compiled component. Failures are logged, not fatal: the cache
    /// only saves time.
    pub fn store(&self, digest: &str, component: &Component) {
        if let Err(error) = self.try_store(digest, component) {
            tracing::warn!(%error, digest, "cannot save the precompiled component");
        }
    }

    fn try_store(&self, digest: &str, component: &Component) -> wasmtime::Result<()> {
        let code = component.serialize()?;
        let mut contents = Vec::with_capacity(TAG_LEN + code.len());
        contents.extend_from_slice(&self.mac(digest, &code).finalize().into_bytes());
        contents.extend_from_slice(&code);
        // Write then rename, so a reader never sees half a file.
        let path = self.path(digest);
        let partial = path.with_extension(format!("partial-{}", std::process::id()));
        write_private_file(&partial, &contents)?;
        std::fs::rename(&partial, &path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(engine: &Engine) -> Component {
        // The binary of an empty component: the preamble alone.
        Component::new(engine, b"\0asm\x0d\0\x01\0").expect("an empty component")
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn only_files_this_host_wrote_for_the_digest_are_loaded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = Engine::default();
        let key = CacheKey::from_bytes([7; 32]);
        let cache = PrecompiledCache::new(dir.path(), &engine, Some(key.clone())).expect("cache");
        cache.store("aaaa", &component(&engine));
        assert!(cache.load(&engine, "aaaa").is_some(), "its own file loads");

        // A valid file copied to another digest's name is refused.
        std::fs::copy(cache.path("aaaa"), cache.path("bbbb")).expect("copy");
        assert!(cache.load(&engine, "bbbb").is_none());
        assert!(!cache.path("bbbb").exists(), "and removed");

        // A file written under another key (another host) is refused.
        let other =
            PrecompiledCache::new(dir.path(), &engine, Some(CacheKey::from_bytes([8; 32]))).expect("cache");
        other.store("cccc", &component(&engine));
        assert!(cache.load(&engine, "cccc").is_none());

        // Garbage with the right name is refused.
        std::fs::write(cache.path("dddd"), vec![0u8; 100]).expect("plant");
        assert!(cache.load(&engine, "dddd").is_none());
        assert!(cache.load(&engine, "aaaa").is_some(), "the good file still loads");
    }

    #[cfg(unix)]
    #[test]
    fn the_directory_and_its_files_are_private() {
        let parent = tempfile::tempdir().expect("temp dir");
        let dir = parent.path().join("precompiled");
        let engine = Engine::default();
        let cache = PrecompiledCache::new(&dir, &engine, None).expect("cache");
        cache.store("aaaa", &component(&engine));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&cache.path("aaaa")), 0o600);
        assert_eq!(mode(&dir.join(CACHE_KEY_FILE)), 0o600);
        let again = PrecompiledCache::new(&dir, &engine, None).expect("cache");
        assert!(again.load(&engine, "aaaa").is_some(), "the kept key is reused");
    }
}
