//! One throwaway node home per trial, laid out by hand the way `wasmvisor init` and
//! `add-upgrade` would leave it (so the bench does not depend on those commands):
//!
//! ```text
//! <home>/cosmovisor/genesis/bin/probed        the probe (hard link)
//! <home>/cosmovisor/upgrades/v2/bin/probed    the same probe, as the upgrade binary
//! <home>/cosmovisor/current -> genesis        relative symlink
//! <home>/data/
//! <home>/probe-events.log                     the probe's timestamps (outside data/,
//!                                             so the watch on data/ never sees them)
//! <home>/wasmvisor.log                        wasmvisor's stdout and stderr
//! ```
//!
//! A home that already went through the upgrade (`Stage::Upgraded`) is the steady
//! state of every node after its first upgrade: `current -> upgrades/v2`, the plan
//! recorded beside it, and the chain's `data/upgrade-info.json` still there.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::clock::now_ns;

/// `DAEMON_NAME` of the probe.
pub const DAEMON_NAME: &str = "probed";
/// The upgrade every upgrade trial performs.
pub const PLAN_NAME: &str = "v2";
pub const PLAN_HEIGHT: u64 = 100;

/// How far along its life a home is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Only the genesis binary.
    Genesis,
    /// The `v2` binary is in place, `current` is still genesis.
    UpgradeReady,
    /// Upgraded to `v2` earlier; `data/upgrade-info.json` names `v2`.
    Upgraded,
}

pub struct Home {
    pub dir: PathBuf,
}

impl Home {
    /// Lays out a home under `root` at `stage`.
    pub fn create(root: &Path, label: &str, probe: &Path, stage: Stage) -> Result<Home> {
        let home = Home {
            dir: root.join(label),
        };
        let cosmovisor = home.dir.join("cosmovisor");
        let upgrade_dir = cosmovisor.join("upgrades").join(PLAN_NAME);
        place_binary(probe, &cosmovisor.join("genesis/bin").join(DAEMON_NAME))?;
        if stage != Stage::Genesis {
            place_binary(probe, &upgrade_dir.join("bin").join(DAEMON_NAME))?;
        }
        std::fs::create_dir_all(home.dir.join("data")).context("creating data/")?;
        let current = if stage == Stage::Upgraded {
            std::fs::write(upgrade_dir.join("upgrade-info.json"), plan_json())
                .context("recording the applied plan")?;
            home.write_upgrade_info()?;
            format!("upgrades/{PLAN_NAME}")
        } else {
            "genesis".to_owned()
        };
        std::os::unix::fs::symlink(current, cosmovisor.join("current"))
            .context("creating the current symlink")?;
        Ok(home)
    }

    pub fn events_log(&self) -> PathBuf {
        self.dir.join("probe-events.log")
    }

    pub fn supervisor_log(&self) -> PathBuf {
        self.dir.join("wasmvisor.log")
    }

    pub fn genesis_bin(&self) -> PathBuf {
        self.dir.join("cosmovisor/genesis/bin").join(DAEMON_NAME)
    }

    /// Writes `data/upgrade-info.json` the way the Cosmos SDK does (`os.WriteFile`:
    /// create/truncate, write, close — not atomically) and returns the time taken
    /// just before the file was created.
    pub fn write_upgrade_info(&self) -> Result<u64> {
        let path = self.dir.join("data/upgrade-info.json");
        let json = plan_json();
        let t0 = now_ns();
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
        Ok(t0)
    }

    /// The last lines of wasmvisor's output, for error messages.
    pub fn supervisor_log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.supervisor_log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    pub fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn plan_json() -> String {
    format!(
        r#"{{"name":"{PLAN_NAME}","time":"0001-01-01T00:00:00Z","height":{PLAN_HEIGHT},"info":""}}"#
    )
}

/// Hard-links the probe into place (copies across filesystems).
fn place_binary(probe: &Path, to: &Path) -> Result<()> {
    let dir = to.parent().context("a binary path has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if std::fs::hard_link(probe, to).is_err() {
        std::fs::copy(probe, to)
            .with_context(|| format!("copying the probe to {}", to.display()))?;
    }
    Ok(())
}
