//! Facts read from disk and from the binaries themselves, never from memory.
//!
//! Each narrated claim ("current now points at upgrades/v2", "the backup holds
//! the data at the halt height") is backed by one of these reads, so the demo
//! fails instead of narrating something that did not happen.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Where `cosmovisor/current` points, as written in the symlink.
pub fn current_target(home: &Path) -> Result<String> {
    let link = home.join("cosmovisor").join("current");
    let target = fs::read_link(&link)
        .with_context(|| format!("cannot read the symlink {}", link.display()))?;
    Ok(target.display().to_string())
}

/// What `<binary> version` prints.
pub fn binary_version(binary: &Path) -> Result<String> {
    let out = Command::new(binary)
        .arg("version")
        .output()
        .with_context(|| format!("cannot run {} version", binary.display()))?;
    if !out.status.success() {
        bail!("{} version failed: {:?}", binary.display(), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The file's sha256, as hex.
pub fn sha256_hex(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The chain's height and the version of the binary that committed it, from
/// `fake-chaind status`.
pub struct ChainStatus {
    pub height: u64,
    pub version: String,
}

pub fn chain_status(fake_chaind: &Path, home: &Path) -> Result<ChainStatus> {
    let out = Command::new(fake_chaind)
        .arg("status")
        .arg("--home")
        .arg(home)
        .output()
        .context("cannot run fake-chaind status")?;
    if !out.status.success() {
        bail!(
            "fake-chaind status failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let doc: Value = serde_json::from_slice(&out.stdout).context("status is not JSON")?;
    let height = doc["sync_info"]["latest_block_height"]
        .as_str()
        .and_then(|h| h.parse().ok())
        .context("status has no sync_info.latest_block_height")?;
    let version = doc["node_info"]["version"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(ChainStatus { height, version })
}

/// The `data-backup-*` folders directly under `dir`.
pub fn backups(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("data-backup-")
            && entry.path().is_dir()
        {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// A JSON file's text (trimmed, to show verbatim) and its parsed value.
pub fn read_json(path: &Path) -> Result<(String, Value)> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    Ok((text.trim().to_owned(), value))
}

/// `path` relative to `base` when it is inside it, for short narration.
pub fn short(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
}
