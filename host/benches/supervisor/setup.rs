//! What a run of the supervisor or pre-staging bench sets up before its trials: its
//! knobs from the environment, a scratch directory holding the probe (a copy of
//! this very bench executable, see `probe.rs`), and the machine's load, printed
//! beside the figures.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Trials per figure (each bench has its own default).
pub const TRIALS_ENV: &str = "WASMVISOR_BENCH_TRIALS";
/// Where the scratch directory goes; default the temp dir.
pub const DIR_ENV: &str = "WASMVISOR_BENCH_DIR";

/// A positive whole number from `name`, or `default` when it is unset.
pub fn env_number(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("{name}={v:?} is not a positive whole number")),
        Err(_) => Ok(default),
    }
}

/// The directory the homes go in (removed on drop) and the probe inside it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    /// Copied once; every home hard-links it.
    pub probe: PathBuf,
}

/// A fresh `<prefix>…` directory under `WASMVISOR_BENCH_DIR` with the probe in it.
pub fn scratch(prefix: &str) -> Result<Scratch> {
    let parent = std::env::var_os(DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&parent)
        .with_context(|| format!("creating a directory in {}", parent.display()))?;
    let probe = dir.path().join("probe");
    std::fs::copy(
        std::env::current_exe().context("locating the bench executable")?,
        &probe,
    )
    .context("copying the probe")?;
    Ok(Scratch { dir, probe })
}

/// `/proc/loadavg`'s 1, 5 and 15 minute figures.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
