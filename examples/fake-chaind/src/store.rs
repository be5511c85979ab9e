//! Everything the node persists under `<home>/data/`.
//!
//! The supervisor backs up, inspects and watches this directory, so the files
//! here follow the real node's contract where one exists (`upgrade-info.json`)
//! and are plain JSON otherwise. Every write goes to a temporary file in the
//! same directory and is renamed over the target: a reader (the supervisor's
//! watcher, `status`, a backup) sees the old content or the new, never half.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::schedule::Plan;

/// The chain state that survives restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ChainState {
    /// Height of the last committed block (0: nothing committed yet).
    pub height: u64,
    /// RFC 3339 time of the last committed block (empty before the first).
    #[serde(default)]
    pub time: String,
    /// Version of the binary that committed the last block.
    #[serde(default)]
    pub version: String,
}

/// The x/upgrade file, field for field as the SDK writes it.
#[derive(Debug, Serialize)]
struct UpgradeInfo<'a> {
    name: &'a str,
    time: &'a str,
    height: u64,
    info: &'a str,
}

#[derive(Debug, Serialize, Deserialize, Default)]
struct PreUpgradeCalls {
    calls: usize,
}

pub fn data_dir(home: &Path) -> PathBuf {
    home.join("data")
}

pub fn state_path(home: &Path) -> PathBuf {
    data_dir(home).join("fakechain_state.json")
}

pub fn upgrade_info_path(home: &Path) -> PathBuf {
    data_dir(home).join("upgrade-info.json")
}

fn pre_upgrade_path(home: &Path) -> PathBuf {
    data_dir(home).join("fakechain_pre_upgrade.json")
}

/// Reads the persisted state; a node that never ran is at height 0.
pub fn load_state(home: &Path) -> Result<ChainState> {
    read_json(&state_path(home)).map(Option::unwrap_or_default)
}

pub fn save_state(home: &Path, state: &ChainState) -> Result<()> {
    write_atomically(&state_path(home), &serde_json::to_vec(state)?)
}

/// Writes `data/upgrade-info.json` for `plan`, as x/upgrade does when it halts.
pub fn write_upgrade_info(home: &Path, plan: &Plan) -> Result<()> {
    let info = UpgradeInfo {
        name: &plan.name,
        time: "0001-01-01T00:00:00Z",
        height: plan.height,
        info: &plan.info,
    };
    write_atomically(&upgrade_info_path(home), &serde_json::to_vec(&info)?)
}

/// Counts one more `pre-upgrade` call and returns its 0-based index.
pub fn next_pre_upgrade_call(home: &Path) -> Result<usize> {
    let path = pre_upgrade_path(home);
    let done = read_json::<PreUpgradeCalls>(&path)?.unwrap_or_default();
    let record = PreUpgradeCalls {
        calls: done.calls + 1,
    };
    write_atomically(&path, &serde_json::to_vec(&record)?)?;
    Ok(done.calls)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| {
            format!(
                "{} is corrupt: restore it from a backup or delete it",
                path.display()
            )
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Replaces `path` with `bytes` through a temporary file and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // Not ending in .json, so nobody watching the directory mistakes it for the real file.
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        fs::rename(&tmp, path)
    };
    write().map_err(|err| {
        let _ = fs::remove_file(&tmp);
        anyhow::Error::new(err).context(format!("cannot write {}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_defaults_to_height_zero() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(load_state(home.path()).unwrap().height, 0);
        let state = ChainState {
            height: 12,
            time: "2026-01-01T00:00:00.000Z".into(),
            version: "v2".into(),
        };
        save_state(home.path(), &state).unwrap();
        assert_eq!(load_state(home.path()).unwrap(), state);
        let leftovers: Vec<_> = fs::read_dir(data_dir(home.path()))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec!["fakechain_state.json"]);
    }

    #[test]
    fn upgrade_info_has_the_sdk_shape() {
        let home = tempfile::tempdir().unwrap();
        let plan = Plan {
            name: "v2".into(),
            height: 10,
            info: "{\"binaries\":{}}".into(),
            time: None,
        };
        write_upgrade_info(home.path(), &plan).unwrap();
        let text = fs::read_to_string(upgrade_info_path(home.path())).unwrap();
        assert_eq!(
            text,
            r#"{"name":"v2","time":"0001-01-01T00:00:00Z","height":10,"info":"{\"binaries\":{}}"}"#
        );
    }

    #[test]
    fn pre_upgrade_calls_are_counted_across_processes() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(next_pre_upgrade_call(home.path()).unwrap(), 0);
        assert_eq!(next_pre_upgrade_call(home.path()).unwrap(), 1);
        assert_eq!(next_pre_upgrade_call(home.path()).unwrap(), 2);
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_not_height_zero() {
        let home = tempfile::tempdir().unwrap();
        fs::create_dir_all(data_dir(home.path())).unwrap();
        fs::write(state_path(home.path()), "{not json").unwrap();
        let err = load_state(home.path()).unwrap_err();
        assert!(format!("{err:#}").contains("corrupt"), "{err:#}");
    }
}
