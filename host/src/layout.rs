//! Where things live under `$DAEMON_HOME`, exactly as cosmovisor lays them out.
//!
//! Every path the supervisor touches is derived here, so the folder layout is stated
//! once. Plan names become folder names the way cosmovisor does it: lower-cased
//! (unless recasing is disabled) and then escaped like Go's `url.PathEscape`, so a
//! plan name can never climb out of `upgrades/`.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters Go's `url.PathEscape` leaves alone besides ASCII letters and digits.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b':')
    .remove(b'=')
    .remove(b'@');

pub const GENESIS: &str = "genesis";
pub const UPGRADES: &str = "upgrades";
pub const CURRENT: &str = "current";
pub const UPGRADE_INFO: &str = "upgrade-info.json";

/// The folder layout of one node home.
#[derive(Debug, Clone)]
pub struct Layout {
    home: PathBuf,
    daemon_name: String,
    disable_recase: bool,
}

impl Layout {
    pub fn new(
        home: impl Into<PathBuf>,
        daemon_name: impl Into<String>,
        disable_recase: bool,
    ) -> Self {
        Layout {
            home: home.into(),
            daemon_name: daemon_name.into(),
            disable_recase,
        }
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn daemon_name(&self) -> &str {
        &self.daemon_name
    }

    /// `$DAEMON_HOME/cosmovisor`
    pub fn root(&self) -> PathBuf {
        self.home.join("cosmovisor")
    }

    /// `$DAEMON_HOME/data`
    pub fn data_dir(&self) -> PathBuf {
        self.home.join("data")
    }

    /// `$DAEMON_HOME/data/upgrade-info.json`, written by the chain at the halt height.
    pub fn upgrade_info_file(&self) -> PathBuf {
        self.data_dir().join(UPGRADE_INFO)
    }

    /// `$DAEMON_HOME/data/upgrade-info.json.batch`
    pub fn batch_file(&self) -> PathBuf {
        self.data_dir().join("upgrade-info.json.batch")
    }

    pub fn genesis_dir(&self) -> PathBuf {
        self.root().join(GENESIS)
    }

    pub fn upgrades_dir(&self) -> PathBuf {
        self.root().join(UPGRADES)
    }

    pub fn current_link(&self) -> PathBuf {
        self.root().join(CURRENT)
    }

    /// The binary inside a version folder: `<dir>/bin/$DAEMON_NAME`.
    pub fn bin_in(&self, version_dir: &Path) -> PathBuf {
        version_dir.join("bin").join(&self.daemon_name)
    }

    /// The folder name of a plan: recased, then path-escaped.
    pub fn folder_name(&self, plan_name: &str) -> String {
        let name = if self.disable_recase {
            plan_name.to_owned()
        } else {
            plan_name.to_lowercase()
        };
        utf8_percent_encode(&name, PATH_SEGMENT).to_string()
    }

    /// `upgrades/<folder>` for a plan name.
    pub fn upgrade_dir(&self, plan_name: &str) -> PathBuf {
        self.upgrades_dir().join(self.folder_name(plan_name))
    }

    /// `upgrades/<folder>/bin/$DAEMON_NAME` for a plan name.
    pub fn upgrade_bin(&self, plan_name: &str) -> PathBuf {
        self.bin_in(&self.upgrade_dir(plan_name))
    }

    /// The relative symlink target for a plan (`upgrades/<folder>`).
    pub fn relative_upgrade_target(&self, plan_name: &str) -> PathBuf {
        Path::new(UPGRADES).join(self.folder_name(plan_name))
    }

    /// The directory `current` points to, resolved to an absolute path.
    /// Fails when `current` is missing or not a symlink.
    pub fn current_dir(&self) -> Result<PathBuf> {
        let link = self.current_link();
        let target = std::fs::read_link(&link)
            .with_context(|| format!("reading the symlink {}", link.display()))?;
        Ok(if target.is_absolute() {
            target
        } else {
            self.root().join(target)
        })
    }

    /// The binary `current` names.
    pub fn current_bin(&self) -> Result<PathBuf> {
        Ok(self.bin_in(&self.current_dir()?))
    }

    /// The plan recorded beside the current binary (`None` for genesis).
    pub fn current_plan_file(&self) -> Result<PathBuf> {
        Ok(self.current_dir()?.join(UPGRADE_INFO))
    }

    /// Makes sure `current` exists: creates `current -> genesis` when it is absent.
    /// A `current` that is not a symlink is an error the operator must fix by hand.
    pub fn ensure_current(&self) -> Result<()> {
        let link = self.current_link();
        match std::fs::symlink_metadata(&link) {
            Ok(meta) if meta.file_type().is_symlink() => Ok(()),
            Ok(_) => bail!(
                "{} exists but is not a symlink; move it away and run again (wasmvisor recreates it pointing to genesis)",
                link.display()
            ),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if !self.genesis_dir().is_dir() {
                    bail!(
                        "no genesis binary: {} is missing; create it with `wasmvisor init <path to {}>`",
                        self.bin_in(&self.genesis_dir()).display(),
                        self.daemon_name
                    );
                }
                crate::switch::point_current_at(self, Path::new(GENESIS))
            }
            Err(e) => Err(e).with_context(|| format!("inspecting {}", link.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_follow_cosmovisor() {
        let l = Layout::new("/h", "app", false);
        assert_eq!(l.folder_name("V2"), "v2");
        assert_eq!(l.folder_name("some spaces"), "some%20spaces");
        assert_eq!(l.folder_name("a/b"), "a%2Fb");
        assert_eq!(l.folder_name("../x"), "..%2Fx");
        assert_eq!(l.folder_name("v1.2.3-rc1+x@y"), "v1.2.3-rc1+x@y");
        let keep = Layout::new("/h", "app", true);
        assert_eq!(keep.folder_name("V2"), "V2");
    }

    #[test]
    fn paths_are_under_home() {
        let l = Layout::new("/h", "appd", false);
        assert_eq!(
            l.upgrade_bin("V2"),
            Path::new("/h/cosmovisor/upgrades/v2/bin/appd")
        );
        assert_eq!(
            l.upgrade_info_file(),
            Path::new("/h/data/upgrade-info.json")
        );
    }
}
