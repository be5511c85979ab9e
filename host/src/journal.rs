//! The upgrade journal: which step of which upgrade is done.
//!
//! `cosmovisor/upgrade-journal.json` is rewritten atomically after every step. It is
//! not fsynced: a killed process loses nothing (the page cache survives it), and a
//! power cut can only roll the journal back to an earlier step, whose work is
//! idempotent and simply done again. The one durable point is the switch itself.
//! A supervisor killed at any instant finds it on its next start and resumes the same
//! upgrade where it stopped: a finished backup is not redone, a switch already made is
//! recognised, and `current` always names a complete binary because the switch is the
//! single atomic rename that commits the upgrade.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;
use crate::layout::Layout;
use crate::upgrade_info::Plan;

/// Upgrade steps, in the order they complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The plan was accepted; the node is being stopped.
    Accepted,
    /// The node is stopped.
    Stopped,
    /// `upgrades/<name>/bin/$DAEMON_NAME` is in place and checked.
    BinaryReady,
    /// `data/` is backed up (or the backup is skipped by configuration).
    BackedUp,
    /// Custom script, hooks and the binary's `pre-upgrade` all succeeded.
    PreUpgradeDone,
    /// The plan is recorded in `upgrades/<name>/upgrade-info.json`.
    Recorded,
    /// `current` points to the new binary.
    Switched,
}

/// One upgrade in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub plan: Plan,
    pub step: Step,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<PathBuf>,
    /// The detector plugin that asked for this upgrade; `None` = `data/upgrade-info.json`.
    /// A plan from a file is abandoned when the file no longer asks for it; a plan
    /// from a detector has no file, so its journal alone carries it across a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<String>,
}

/// The journal file of one node home.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn new(layout: &Layout) -> Self {
        Journal {
            path: layout.root().join("upgrade-journal.json"),
        }
    }

    /// The interrupted upgrade, if any. A journal that cannot be parsed is an error:
    /// guessing could switch to a binary that was never checked.
    pub fn load(&self) -> Result<Option<Entry>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| {
                format!(
                    "the upgrade journal {} is unreadable; inspect it, then delete it to start over",
                    self.path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.path.display())),
        }
    }

    /// Records `entry` durably.
    pub fn save(&self, entry: &Entry) -> Result<()> {
        let json = serde_json::to_vec_pretty(entry).context("encoding the journal")?;
        write_atomic(&self.path, &json)
    }

    /// Removes the journal once the upgrade is complete.
    pub fn clear(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", self.path.display()))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_loads_and_clears() {
        let home = tempfile::tempdir().unwrap();
        let layout = Layout::new(home.path(), "app", false);
        std::fs::create_dir_all(layout.root()).unwrap();
        let j = Journal::new(&layout);
        assert_eq!(j.load().unwrap(), None);
        let e = Entry {
            plan: Plan {
                name: "v2".into(),
                height: 5,
                info: String::new(),
            },
            step: Step::BackedUp,
            backup: Some("/b".into()),
            detector: None,
        };
        j.save(&e).unwrap();
        assert_eq!(j.load().unwrap(), Some(e));
        j.clear().unwrap();
        assert_eq!(j.load().unwrap(), None);
    }

    #[test]
    fn steps_are_ordered() {
        assert!(Step::Stopped < Step::BackedUp && Step::Recorded < Step::Switched);
    }

    #[test]
    fn a_corrupt_journal_is_a_clear_error() {
        let home = tempfile::tempdir().unwrap();
        let layout = Layout::new(home.path(), "app", false);
        std::fs::create_dir_all(layout.root()).unwrap();
        std::fs::write(layout.root().join("upgrade-journal.json"), "{").unwrap();
        let err = format!("{:#}", Journal::new(&layout).load().unwrap_err());
        assert!(err.contains("delete it to start over"), "{err}");
    }
}
