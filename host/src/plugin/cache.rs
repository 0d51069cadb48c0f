//! The on-disk cache of precompiled components, so that a restarted host
//! does not compile its plugins again.
//!
//! A file is named by the component's digest and the engine's compatibility
//! hash (wasmtime version, settings, CPU features), so an engine never reads
//! code compiled for another. Each file starts with the sha256 of the rest,
//! so a truncated or damaged file is recompiled rather than loaded.

use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

const CHECKSUM_LEN: usize = 32;

/// A directory of precompiled components for one engine configuration.
#[derive(Debug, Clone)]
pub struct PrecompiledCache {
    dir: PathBuf,
    engine_hash: String,
}

impl PrecompiledCache {
    /// Use (and create) `dir` for `engine`'s compiled code.
    pub fn new(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir: dir.to_path_buf(),
            engine_hash: format!("{:016x}", hasher.finish()),
        })
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_hash))
    }

    /// The precompiled component with this digest, if the cache has a sound
    /// copy for this engine.
    pub fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest);
        let bytes = std::fs::read(&path).ok()?;
        if bytes.len() < CHECKSUM_LEN
            || Sha256::digest(&bytes[CHECKSUM_LEN..]).as_slice() != &bytes[..CHECKSUM_LEN]
        {
            tracing::warn!(path = %path.display(), "damaged precompiled component; recompiling");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        // SAFETY: the bytes were produced by `Component::serialize` of an
        // engine with the same compatibility hash (it is in the file name),
        // written by this cache into its own directory, and are intact (the
        // checksum above matches).
        match unsafe { Component::deserialize(engine, &bytes[CHECKSUM_LEN..]) } {
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
        let mut contents = Vec::with_capacity(CHECKSUM_LEN + code.len());
        contents.extend_from_slice(&Sha256::digest(&code));
        contents.extend_from_slice(&code);
        // Write then rename, so a reader never sees half a file.
        let path = self.path(digest);
        let partial = path.with_extension(format!("partial-{}", std::process::id()));
        std::fs::write(&partial, &contents)?;
        std::fs::rename(&partial, &path)?;
        Ok(())
    }
}
