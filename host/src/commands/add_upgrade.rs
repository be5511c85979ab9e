//! `wasmvisor add-upgrade <name> <path|url>`: install an upgrade's binary ahead of
//! time, and optionally stage the plan for a height.
//!
//! Staging writes `data/upgrade-info.json` exactly as the chain would, so the running
//! supervisor picks it up through its normal watch; the plan is also marked as staged
//! (see `detect`) so that it waits for the node to reach the height instead of
//! switching at once. A different plan that is still pending is never overwritten
//! without `--force`: it may be the one the chain itself wrote.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::binary;
use crate::cli::{UsageError, load_config};
use crate::config::Config;
use crate::detect;
use crate::install::{self, Artifact, Checksum, InstallError, InstallOptions};
use crate::layout::Layout;
use crate::upgrade_info::{self, Plan};

/// What the operator asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub name: String,
    /// A local path, or an http(s):// / file:// URL.
    pub source: String,
    pub force: bool,
    pub upgrade_height: Option<u64>,
    /// `type:hex`, checked against the file or download.
    pub checksum: Option<String>,
}

pub fn run(config_file: Option<PathBuf>, req: &Request, out: &mut dyn Write) -> Result<ExitCode> {
    let config = load_config(config_file, true)?;
    let bin = add_upgrade(&config, req)?;
    writeln!(out, "{}", bin.display())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Installs the binary (and stages the plan); returns the installed binary's path.
pub fn add_upgrade(config: &Config, req: &Request) -> Result<PathBuf> {
    let name = req.name.trim();
    if name.is_empty() {
        return Err(
            UsageError("the upgrade name is empty; give the plan's name, e.g. v2".into()).into(),
        );
    }
    let layout = config.layout();
    let plan = req.upgrade_height.map(|height| Plan {
        name: name.to_owned(),
        height,
        info: String::new(),
    });
    // Refuse a conflicting plan before touching anything.
    if let Some(plan) = &plan {
        check_can_stage(&layout, plan, req.force)?;
    }
    let checksum = req
        .checksum
        .as_deref()
        .map(Checksum::parse)
        .transpose()
        .map_err(|e| UsageError(format!("--checksum: {e}")))?;

    let dest = layout.upgrade_bin(name);
    let exists = std::fs::symlink_metadata(&dest).is_ok();
    if exists && !req.force {
        return Err(UsageError(format!(
            "{} already exists; add --force to replace it",
            dest.display()
        ))
        .into());
    }
    if is_url(&req.source) {
        install_url(config, &layout, name, &req.source, checksum, &dest)?;
    } else {
        let src = Path::new(&req.source);
        binary::check_source(src)?;
        if let Some(c) = &checksum {
            binary::verify_checksum(src, c)?;
        }
        binary::copy_into_place(src, &dest)?;
    }
    tracing::info!(name, path = %dest.display(), "installed the upgrade binary");

    if let Some(plan) = &plan {
        stage(&layout, plan)?;
        tracing::info!(
            name,
            height = plan.height,
            file = %layout.upgrade_info_file().display(),
            "staged the upgrade: the supervisor switches binaries when the node reaches the height"
        );
    }
    Ok(dest)
}

fn is_url(source: &str) -> bool {
    ["http://", "https://", "file://"]
        .iter()
        .any(|p| source.starts_with(p))
}

/// Downloads (or copies from a file:// URL) through the installer: checksum checked
/// while streaming, archives unpacked, the result checked and moved into place.
fn install_url(
    config: &Config,
    layout: &Layout,
    name: &str,
    url: &str,
    checksum: Option<Checksum>,
    dest: &Path,
) -> Result<()> {
    let mut artifact = Artifact::from_url_with_query(url).map_err(|e| UsageError(e.to_string()))?;
    if let Some(c) = checksum {
        if artifact.checksum.as_ref().is_some_and(|q| q != &c) {
            return Err(UsageError(
                "--checksum differs from the URL's ?checksum=; give one of them".into(),
            )
            .into());
        }
        artifact = artifact.with_checksum(c);
    }
    let opts = InstallOptions {
        must_have_checksum: config.download_must_have_checksum,
        ..InstallOptions::default()
    };
    // The installer keeps a binary that is already there, so a forced replacement
    // moves the old one aside first and puts it back if the install fails.
    let aside = set_aside(dest)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(install::install(layout, name, &artifact, &opts));
    match (result, aside) {
        (Ok(_), Some(old)) => {
            let _ = std::fs::remove_file(old);
            Ok(())
        }
        (Ok(_), None) => Ok(()),
        (Err(e), aside) => {
            if let Some(old) = aside {
                let _ = std::fs::rename(&old, dest);
            }
            let context = format!("installing {name} from {}", artifact.url);
            // A URL or checksum that can never work is the command's fault (exit 2);
            // a failed download or a wrong file is a runtime failure (exit 1).
            let refused = matches!(
                e,
                InstallError::BadUrl { .. }
                    | InstallError::BadChecksum { .. }
                    | InstallError::ChecksumRequired { .. }
            );
            if refused {
                return Err(anyhow::Error::new(UsageError(format!("{context}: {e}"))));
            }
            Err(anyhow::Error::new(e).context(context))
        }
    }
}

fn set_aside(dest: &Path) -> Result<Option<PathBuf>> {
    if std::fs::symlink_metadata(dest).is_err() {
        return Ok(None);
    }
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = dest.with_file_name(format!(".{name}.replaced-{}", std::process::id()));
    std::fs::rename(dest, &aside)
        .with_context(|| format!("moving the old {} aside", dest.display()))?;
    Ok(Some(aside))
}

/// Refuses to clobber a different plan that is still pending (or an unreadable one).
fn check_can_stage(layout: &Layout, plan: &Plan, force: bool) -> Result<()> {
    let data = layout.data_dir();
    if !data.is_dir() {
        return Err(UsageError(format!(
            "{} does not exist; initialise the node first (the plan is written there)",
            data.display()
        ))
        .into());
    }
    if force {
        return Ok(());
    }
    let path = layout.upgrade_info_file();
    match upgrade_info::read(&path) {
        Ok(None) => Ok(()),
        Ok(Some(existing)) if existing.same_name(plan) && existing.height == plan.height => Ok(()),
        Ok(Some(existing)) => {
            let applied = detect::current_plan(layout).is_some_and(|cur| cur.same_name(&existing));
            if applied {
                return Ok(());
            }
            Err(UsageError(format!(
                "{} holds another plan that is not applied yet ({} at height {}); add --force to replace it",
                path.display(),
                existing.name,
                existing.height
            ))
            .into())
        }
        Err(e) => Err(UsageError(format!(
            "{} cannot be read as a plan ({e}); add --force to replace it",
            path.display()
        ))
        .into()),
    }
}

/// Marks the plan as staged, then writes it where the chain would (atomically).
fn stage(layout: &Layout, plan: &Plan) -> Result<()> {
    detect::mark_staged(layout, plan)?;
    crate::fsutil::write_durable(&layout.upgrade_info_file(), plan.to_json().as_bytes())
}

#[cfg(test)]
mod tests;
