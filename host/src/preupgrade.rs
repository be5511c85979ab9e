//! Everything that must succeed before the switch: the operator's custom script
//! (`COSMOVISOR_CUSTOM_PREUPGRADE`) and the new binary's own `pre-upgrade` command.
//!
//! Both run while `current` still names the old binary, so a failure leaves the node
//! exactly as it was (cosmovisor runs `pre-upgrade` after switching, and a failure
//! there leaves the new binary current). Exit codes of `pre-upgrade` follow the
//! Cosmos SDK convention: 0 done, 1 not implemented, 30 failed, 31 failed but may be
//! retried (up to `DAEMON_PREUPGRADE_MAX_RETRIES` extra attempts).

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, Result, bail};

use crate::config::Config;
use crate::upgrade_info::Plan;

/// Runs `$DAEMON_HOME/cosmovisor/<script> <name> <height>` with cwd `$DAEMON_HOME`.
pub async fn run_custom_script(config: &Config, script: &str, plan: &Plan) -> Result<()> {
    let path = config.layout().root().join(script);
    if !path.is_file() {
        bail!(
            "the custom pre-upgrade script {} does not exist; create it or unset COSMOVISOR_CUSTOM_PREUPGRADE",
            path.display()
        );
    }
    tracing::info!(script = %path.display(), "running the custom pre-upgrade script");
    let status = tokio::process::Command::new(&path)
        .arg(&plan.name)
        .arg(plan.height.to_string())
        .current_dir(&config.home)
        .stdin(Stdio::null())
        .status()
        .await
        .with_context(|| format!("starting the custom pre-upgrade script {}", path.display()))?;
    if !status.success() {
        bail!(
            "the custom pre-upgrade script {} failed ({status}); fix it and restart wasmvisor — the old binary stays current",
            path.display()
        );
    }
    Ok(())
}

/// What one `pre-upgrade` exit status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreUpgradeOutcome {
    Done,
    NotImplemented,
    Failed,
    Retry,
    Other(Option<i32>),
}

pub fn classify(code: Option<i32>) -> PreUpgradeOutcome {
    match code {
        Some(0) => PreUpgradeOutcome::Done,
        Some(1) => PreUpgradeOutcome::NotImplemented,
        Some(30) => PreUpgradeOutcome::Failed,
        Some(31) => PreUpgradeOutcome::Retry,
        other => PreUpgradeOutcome::Other(other),
    }
}

/// Runs `<new binary> pre-upgrade`, retrying exit code 31 up to `max_retries` times.
pub async fn run_binary_preupgrade(bin: &Path, home: &Path, max_retries: u32) -> Result<()> {
    for attempt in 0..=max_retries {
        let status = tokio::process::Command::new(bin)
            .arg("pre-upgrade")
            .env("DAEMON_HOME", home)
            .stdin(Stdio::null())
            .status()
            .await
            .with_context(|| format!("starting `{} pre-upgrade`", bin.display()))?;
        match classify(status.code()) {
            PreUpgradeOutcome::Done => {
                tracing::info!("pre-upgrade succeeded");
                return Ok(());
            }
            PreUpgradeOutcome::NotImplemented => {
                tracing::info!("the new binary has no pre-upgrade command (exit 1); continuing");
                return Ok(());
            }
            PreUpgradeOutcome::Failed => bail!(
                "`{} pre-upgrade` failed (exit 30); the old binary stays current — see the output above",
                bin.display()
            ),
            PreUpgradeOutcome::Retry if attempt < max_retries => {
                tracing::warn!(
                    attempt = attempt + 1,
                    of = max_retries + 1,
                    "pre-upgrade asked for a retry (exit 31)"
                );
            }
            PreUpgradeOutcome::Retry => bail!(
                "`{} pre-upgrade` kept failing with exit 31 after {} attempt(s); raise DAEMON_PREUPGRADE_MAX_RETRIES or fix the cause — the old binary stays current",
                bin.display(),
                max_retries + 1
            ),
            PreUpgradeOutcome::Other(code) => bail!(
                "`{} pre-upgrade` ended unexpectedly ({status}{}); the old binary stays current",
                bin.display(),
                code.map(|_| "").unwrap_or(", killed by a signal")
            ),
        }
    }
    unreachable!("the loop returns on its last attempt")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str) -> std::path::PathBuf {
        let p = dir.join("app");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[tokio::test(flavor = "current_thread")]
    async fn exit_codes_decide() {
        let dir = tempfile::tempdir().unwrap();
        for (code, ok) in [(0, true), (1, true), (30, false), (2, false)] {
            let bin = script(dir.path(), &format!("exit {code}"));
            assert_eq!(
                run_binary_preupgrade(&bin, dir.path(), 0).await.is_ok(),
                ok,
                "exit {code}"
            );
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn exit_31_is_retried_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("n");
        // Fails with 31 twice, then succeeds.
        let bin = script(
            dir.path(),
            &format!(
                "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; [ $n -ge 3 ] && exit 0; exit 31",
                c = counter.display()
            ),
        );
        let err = run_binary_preupgrade(&bin, dir.path(), 1)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exit 31"), "{err}");
        std::fs::remove_file(&counter).unwrap();
        run_binary_preupgrade(&bin, dir.path(), 2).await.unwrap();
    }
}
