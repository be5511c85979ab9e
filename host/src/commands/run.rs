//! `wasmvisor run`: load the configuration, then hand over to the supervisor.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{RunArgs, load_config};
use crate::supervisor::{self, RunOptions};

/// Runs the node under supervision; the exit code is the node's (or the
/// supervisor's when it fails).
pub fn run(args: RunArgs) -> Result<ExitCode> {
    let config = load_config(args.config_file, false)?;
    tracing::debug!(app_args = ?args.app_args, plugins = ?args.plugins, "starting the supervisor");
    supervisor::run(
        config,
        RunOptions {
            plugins: args.plugins,
        },
        args.app_args,
    )
}
