//! Compiled plugins on disk, so that a restart loads a plugin in a millisecond instead
//! of compiling it again (tens of ms in release, seconds in a debug build).
//!
//! Location: `$DAEMON_HOME/cosmovisor/.plugin-cache/` — nothing is written outside
//! DAEMON_HOME. Key: the component's sha256, the wasmtime version and a hash of the
//! engine's compilation settings; a `.cwasm` from another wasmtime or another engine
//! configuration therefore has another name and is never even opened. Files are
//! written to a temporary name and renamed into place, so a crash leaves no torn
//! entry. A cache entry that fails to load is treated as absent and rewritten:
//! the cache can always be deleted.
//!
//! Trust: deserializing a `.cwasm` runs native code, so the directory must be as
//! protected as the wasmvisor binary itself (it lives beside the node's binaries,
//! which have the same property). Entries are created with mode 0600.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where and how compiled components are kept.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

/// How a component was obtained (for logs and benchmarks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cache,
    Compiled,
}

impl ComponentCache {
    /// A cache under `<home>/cosmovisor/.plugin-cache`.
    pub fn under_home(home: &Path) -> Self {
        ComponentCache {
            dir: Some(home.join("cosmovisor").join(".plugin-cache")),
        }
    }

    /// A cache in an explicit directory.
    pub fn in_dir(dir: PathBuf) -> Self {
        ComponentCache { dir: Some(dir) }
    }

    /// No disk cache: always compile (offline CLI calls without a home).
    pub fn disabled() -> Self {
        ComponentCache { dir: None }
    }

    fn entry(&self, engine: &Engine, sha256: &str) -> Option<PathBuf> {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_hash = h.finish();
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!(
            "{sha256}-wasmtime{}-{engine_hash:016x}.cwasm",
            wasmtime_version()
        )))
    }

    /// The compiled component, from the cache or compiled now (and then cached).
    /// Cache problems are logged, never fatal: compiling is always possible.
    pub fn load(&self, engine: &Engine, bytes: &[u8], sha256: &str) -> Result<(Component, Origin)> {
        let entry = self.entry(engine, sha256);
        if let Some(path) = &entry
            && let Ok(data) = std::fs::read(path)
        {
            // SAFETY: the entry was written by `Component::serialize` of an engine with the
            // same compatibility hash (part of the file name), into a directory only
            // wasmvisor writes (see the module doc on trust); wasmtime still checks the
            // header and rejects a mismatched or damaged file with an error.
            match unsafe { Component::deserialize(engine, &data) } {
                Ok(component) => return Ok((component, Origin::Cache)),
                Err(e) => tracing::warn!(
                    "ignoring the damaged plugin cache entry {}: {e:#}",
                    path.display()
                ),
            }
        }
        let component = Component::new(engine, bytes)
            .map_err(anyhow::Error::from)
            .context("compiling the plugin")?;
        if let Some(path) = &entry
            && let Err(e) = store(path, &component)
        {
            tracing::warn!(
                "could not cache the compiled plugin at {}: {e:#}",
                path.display()
            );
        }
        Ok((component, Origin::Compiled))
    }
}

fn store(path: &Path, component: &Component) -> Result<()> {
    let data = component.serialize().map_err(anyhow::Error::from)?;
    let dir = path.parent().context("cache entry without a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)?;
    Ok(())
}

fn wasmtime_version() -> &'static str {
    // The crate version pinned in Cargo.lock; bumping wasmtime changes the cache key.
    env!("WASMVISOR_WASMTIME_VERSION")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::engine::Runtime;

    /// The smallest component: the component-model preamble and nothing else.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn second_load_comes_from_the_cache_and_stays_inside_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ComponentCache::in_dir(dir.path().join("c"));
        let engine = &Runtime::shared().unwrap().engine;
        let (_, first) = cache.load(engine, EMPTY_COMPONENT, "ab").unwrap();
        let (_, second) = cache.load(engine, EMPTY_COMPONENT, "ab").unwrap();
        assert_eq!((first, second), (Origin::Compiled, Origin::Cache));
        let entries: Vec<_> = std::fs::read_dir(dir.path().join("c")).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn a_damaged_entry_is_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ComponentCache::in_dir(dir.path().to_path_buf());
        let engine = &Runtime::shared().unwrap().engine;
        cache.load(engine, EMPTY_COMPONENT, "cd").unwrap();
        let entry = cache.entry(engine, "cd").unwrap();
        std::fs::write(&entry, b"garbage").unwrap();
        let (_, origin) = cache.load(engine, EMPTY_COMPONENT, "cd").unwrap();
        assert_eq!(origin, Origin::Compiled);
    }
}
