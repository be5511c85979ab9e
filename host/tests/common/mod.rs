//! Shared by the plugin integration tests (`host/tests/plugin_*.rs`): a throwaway node
//! home, and plugins loaded into it from the TOML an operator would write.
// Each test crate uses a part of this module.
#![allow(dead_code)]

use std::path::Path;

use wasmvisor::plugin::{ComponentCache, HostOptions, PluginHost, PluginsConfig};

/// A temporary `$DAEMON_HOME` with `data/`, `config/` and `cosmovisor/`.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["data", "config", "cosmovisor"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Home { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A plugin host for this home (daemon `chaind`) with `config`, plus the plugins
    /// `specs` names (paths or bundled names).
    pub fn load_plugins(
        &self,
        config: PluginsConfig,
        specs: &[String],
    ) -> anyhow::Result<PluginHost> {
        PluginHost::load_with(
            config,
            specs,
            HostOptions {
                home: Some(self.path().to_path_buf()),
                daemon_name: "chaind".into(),
                cache: ComponentCache::under_home(self.path()),
            },
        )
    }
}

/// The `[plugins]` table of a config file's text (empty when it has none).
pub fn plugins_table(toml_text: &str) -> toml::Table {
    let doc: toml::Table = toml::from_str(toml_text).unwrap();
    doc.get("plugins")
        .and_then(|p| p.as_table())
        .cloned()
        .unwrap_or_default()
}
