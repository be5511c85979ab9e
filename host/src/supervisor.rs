//! The run loop (being written by the lead).

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Result;

use crate::config::Config;

/// wasmvisor's own options for `run` (the flags before the app's args).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--plugin <path|bundled name>`, in the order given.
    pub plugins: Vec<String>,
}

/// Runs the node under supervision until it exits for good. Synchronous: it builds its
/// own runtime. The returned code is the one the process should exit with.
pub fn run(config: Config, opts: RunOptions, app_args: Vec<OsString>) -> Result<ExitCode> {
    let _ = (config, opts, app_args);
    anyhow::bail!("the run loop is not written yet")
}
