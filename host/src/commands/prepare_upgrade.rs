//! `wasmvisor prepare-upgrade`: fetch the binary of the upgrade the chain has
//! scheduled, now, while the node still runs.
//!
//! As cosmovisor: the plan comes from the node over gRPC (`DAEMON_GRPC_ADDRESS`).
//! Unlike cosmovisor, the binary goes through the same road as at upgrade time — the
//! resolver chain (configured plugins, `--plugin`, then the bundled `manifest-url`
//! for the plan's `info`) and the installer (checksum verified before unpacking,
//! nothing left behind on failure) — so a problem shows up days before the height,
//! not at it. Running it again is harmless: an installed binary is reported, not
//! fetched again. The operator asked for a download, so it does not depend on
//! `DAEMON_ALLOW_DOWNLOAD_BINARIES`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::cli::{UsageError, load_config};
use crate::config::Config;
use crate::node_plan::{self, NodePlanError};
use crate::plugin::{PluginBinarySource, PluginHost};
use crate::upgrade::BinarySource;
use crate::upgrade_info::Plan;

/// What `prepare-upgrade` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The node has no upgrade scheduled.
    NoPlan { address: String },
    /// The node's plan is the one the current binary already runs.
    AlreadyApplied(Plan),
    /// The binary was already in `upgrades/<name>/bin/`.
    AlreadyInstalled(Plan, PathBuf),
    /// The binary was resolved, downloaded, verified and installed now.
    Installed(Plan, PathBuf),
}

pub fn run(
    config_file: Option<PathBuf>,
    plugins: &[String],
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let config = load_config(config_file, true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = rt.block_on(prepare(&config, plugins))?;
    writeln!(out, "{}", describe(&outcome))?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Asks the node for its plan and installs the plan's binary unless it is there.
pub async fn prepare(config: &Config, plugins: &[String]) -> Result<Outcome> {
    let address = node_plan::endpoint_uri(&config.grpc_address).map_err(usage)?;
    let plan = match node_plan::current_plan(&config.grpc_address, node_plan::DEFAULT_TIMEOUT).await
    {
        Ok(Some(plan)) => plan,
        Ok(None) => return Ok(Outcome::NoPlan { address }),
        Err(e @ NodePlanError::BadAddress { .. }) => return Err(usage(e)),
        Err(e) => return Err(e).context("asking the node for its upgrade plan"),
    };
    tracing::info!(name = %plan.name, height = plan.height, "the node has an upgrade scheduled");
    let layout = config.layout();
    let current = crate::detect::current_plan_for(&layout, &plan);
    if !crate::detect::is_request(&plan, current.as_ref(), None) {
        return Ok(Outcome::AlreadyApplied(plan));
    }
    let bin = layout.upgrade_bin(&plan.name);
    if usable(&bin) {
        return Ok(Outcome::AlreadyInstalled(plan, bin));
    }
    fetch(config, plugins, &plan).await?;
    Ok(Outcome::Installed(plan, bin))
}

/// Resolves and installs through the same plugins and installer as `run` would.
async fn fetch(config: &Config, plugins: &[String], plan: &Plan) -> Result<()> {
    let resolving = Config {
        allow_download_binaries: true,
        ..config.clone()
    };
    let host = PluginHost::load(&resolving, plugins).context(
        "loading the resolver plugins; fix or disable the plugin named above (`wasmvisor plugin inspect <name>` shows what it asks for)",
    )?;
    let source = PluginBinarySource::new(Arc::new(host), config);
    source
        .fetch(plan, &config.layout())
        .await
        .with_context(|| {
            format!(
                "preparing upgrade {:?} (height {}) failed and nothing was installed; fix the plan's download information (or the resolver's settings) and run prepare-upgrade again, or install the binary yourself with `wasmvisor add-upgrade {} <path|url>`",
                plan.name, plan.height, plan.name
            )
        })
}

/// A regular executable file (what the upgrade's binary step accepts).
fn usable(bin: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(bin).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn usage(e: NodePlanError) -> anyhow::Error {
    UsageError(e.to_string()).into()
}

/// The line printed on stdout.
pub fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::NoPlan { address } => {
            format!("no upgrade is scheduled on the node at {address}; nothing to prepare")
        }
        Outcome::AlreadyApplied(plan) => format!(
            "upgrade {} (height {}) is already applied: the current binary runs it; nothing to prepare",
            plan.name, plan.height
        ),
        Outcome::AlreadyInstalled(plan, bin) => format!(
            "upgrade {} (height {}) is already prepared: {}",
            plan.name,
            plan.height,
            bin.display()
        ),
        Outcome::Installed(plan, bin) => format!(
            "prepared upgrade {} (height {}): installed {}",
            plan.name,
            plan.height,
            bin.display()
        ),
    }
}
