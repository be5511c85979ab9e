//! Carrying out one upgrade, step by step, with every step journaled.
//!
//! Order (DESIGN.md): the binary first (a missing or broken binary fails in seconds,
//! before an hour of backup), then the backup, then everything that may veto the
//! upgrade — custom script, hook plugins, the new binary's `pre-upgrade` — and only
//! then the plan is recorded beside the new binary and `current` is flipped in one
//! atomic rename. Any failure before the flip leaves the old binary current; the
//! journal keeps the completed steps so a retry does not redo a finished backup.

use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use futures_util::future::BoxFuture;

use crate::config::Config;
use crate::failpoint;
use crate::journal::{Entry, Journal, Step};
use crate::layout::Layout;
use crate::upgrade_info::Plan;

/// Gets a missing upgrade binary into `upgrades/<name>/bin/` (resolver plugins +
/// the installer). Used only when `DAEMON_ALLOW_DOWNLOAD_BINARIES=true`.
pub trait BinarySource: Send + Sync {
    fn fetch<'a>(&'a self, plan: &'a Plan, layout: &'a Layout) -> BoxFuture<'a, Result<()>>;
}

/// Policy checks around the switch (hook plugins). `pre_upgrade` may veto it.
pub trait UpgradeHooks: Send + Sync {
    fn pre_upgrade<'a>(
        &'a self,
        plan: &'a Plan,
        new_binary: &'a std::path::Path,
    ) -> BoxFuture<'a, Result<()>>;
    fn post_upgrade<'a>(&'a self, plan: &'a Plan) -> BoxFuture<'a, ()>;
    /// A notification (detected, failed): decides nothing, failures are only logged.
    fn on_event<'a>(&'a self, _event: &'a UpgradeEvent, _plan: &'a Plan) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// What hooks are told besides the checks around the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeEvent {
    /// The plan was accepted and is about to be carried out (once per plan).
    Detected,
    /// The attempt failed before the switch; the reason as shown to the operator.
    Failed(String),
}

/// What plugins add to the upgrade; empty when none is configured.
#[derive(Default)]
pub struct Extensions {
    pub binary_source: Option<Box<dyn BinarySource>>,
    pub hooks: Option<Box<dyn UpgradeHooks>>,
}

/// One upgrade of one node home.
pub struct Upgrade<'a> {
    config: &'a Config,
    layout: Layout,
    journal: Journal,
    ext: &'a Extensions,
    entry: Entry,
}

impl<'a> Upgrade<'a> {
    /// Starts (or, given the journal's entry for the same plan, resumes) an upgrade.
    /// The node must already be stopped.
    pub fn new(
        config: &'a Config,
        ext: &'a Extensions,
        plan: Plan,
        detector: Option<String>,
        resumed: Option<Entry>,
    ) -> Self {
        let layout = config.layout();
        let journal = Journal::new(&layout);
        let entry = match resumed {
            Some(e) if e.plan.same_name(&plan) && e.plan.height == plan.height => {
                tracing::info!(step = ?e.step, "resuming the interrupted upgrade {}", plan.name);
                e
            }
            _ => Entry {
                plan,
                step: Step::Stopped,
                backup: None,
                detector,
            },
        };
        Upgrade {
            config,
            layout,
            journal,
            ext,
            entry,
        }
    }

    fn plan(&self) -> &Plan {
        &self.entry.plan
    }

    fn advance(&mut self, step: Step, failpoint_name: &str) -> Result<()> {
        self.entry.step = step;
        self.journal.save(&self.entry)?;
        failpoint::hit(failpoint_name);
        Ok(())
    }

    /// Runs the remaining steps up to and including the switch.
    pub async fn run(mut self) -> Result<()> {
        if self.entry.step == Step::Stopped {
            self.advance(Step::Stopped, "after-stop")?;
        }
        if self.entry.step < Step::BinaryReady {
            self.ensure_binary().await?;
            self.advance(Step::BinaryReady, "after-binary")?;
        }
        if self.entry.step < Step::BackedUp {
            self.entry.backup = self.back_up().await?;
            self.advance(Step::BackedUp, "after-backup")?;
        }
        if self.entry.step < Step::PreUpgradeDone {
            self.pre_upgrade().await?;
            self.advance(Step::PreUpgradeDone, "after-pre-upgrade")?;
        }
        if self.entry.step < Step::Recorded {
            let dir = self.layout.upgrade_dir(&self.plan().name);
            crate::fsutil::write_atomic(
                &dir.join(crate::layout::UPGRADE_INFO),
                self.plan().to_json().as_bytes(),
            )?;
            self.advance(Step::Recorded, "after-record")?;
        }
        if self.entry.step < Step::Switched {
            let target = self.layout.relative_upgrade_target(&self.plan().name);
            crate::switch::point_current_at(&self.layout, &target)?;
            tracing::info!(current = %target.display(), "switched to the {} binary", self.plan().name);
            self.advance(Step::Switched, "after-switch")?;
        }
        crate::detect::clear_staged(&self.layout)?;
        self.journal.clear()
    }

    fn new_binary(&self) -> PathBuf {
        self.layout.upgrade_bin(&self.plan().name)
    }

    async fn ensure_binary(&self) -> Result<()> {
        let bin = self.new_binary();
        if !bin.exists() {
            match (&self.ext.binary_source, self.config.allow_download_binaries) {
                (Some(source), true) => {
                    tracing::info!(
                        "the {} binary is not here yet; resolving it",
                        self.plan().name
                    );
                    source.fetch(self.plan(), &self.layout).await?;
                }
                _ => bail!(
                    "the binary for upgrade {:?} is missing: {}. Place it with `wasmvisor add-upgrade {} <path>`{} and restart wasmvisor; the old binary stays current",
                    self.plan().name,
                    bin.display(),
                    self.plan().name,
                    if self.config.allow_download_binaries {
                        ""
                    } else {
                        " (or allow downloads with DAEMON_ALLOW_DOWNLOAD_BINARIES=true)"
                    }
                ),
            }
        }
        check_executable(&bin)?;
        tracing::info!(binary = %bin.display(), "the new binary is ready");
        Ok(())
    }

    async fn back_up(&self) -> Result<Option<PathBuf>> {
        if self.config.unsafe_skip_backup {
            tracing::info!("skipping the data backup (UNSAFE_SKIP_BACKUP=true)");
            return Ok(None);
        }
        let data = self.layout.data_dir();
        let root = self.config.data_backup_dir.clone();
        let progress = std::io::stderr().is_terminal() && !self.config.disable_logs;
        tracing::info!(from = %data.display(), to = %root.display(), "backing up the data directory");
        let today = chrono::Local::now().date_naive();
        let report = tokio::task::spawn_blocking(move || crate::backup::backup(&data, &root, today, progress))
            .await
            .context("the backup task failed")?
            .context("backing up the data directory failed; the old binary stays current (set UNSAFE_SKIP_BACKUP=true to upgrade without one)")?;
        tracing::info!(
            path = %report.path.display(),
            files = report.files,
            bytes = report.bytes,
            method = ?report.method,
            elapsed = ?report.elapsed,
            "backup complete"
        );
        Ok(Some(report.path))
    }

    async fn pre_upgrade(&self) -> Result<()> {
        if let Some(script) = &self.config.custom_preupgrade {
            crate::preupgrade::run_custom_script(self.config, script, self.plan()).await?;
        }
        if let Some(hooks) = &self.ext.hooks {
            hooks.pre_upgrade(self.plan(), &self.new_binary()).await?;
        }
        crate::preupgrade::run_binary_preupgrade(
            &self.new_binary(),
            &self.config.home,
            self.config.preupgrade_max_retries,
        )
        .await
    }
}

/// A binary must be a regular file with an execute bit.
fn check_executable(bin: &std::path::Path) -> Result<()> {
    let meta = std::fs::metadata(bin).with_context(|| format!("inspecting {}", bin.display()))?;
    if !meta.is_file() {
        bail!(
            "{} is not a regular file; replace it with the node binary",
            bin.display()
        );
    }
    if meta.permissions().mode() & 0o111 == 0 {
        bail!(
            "{} is not executable; run `chmod +x {}`",
            bin.display(),
            bin.display()
        );
    }
    Ok(())
}
