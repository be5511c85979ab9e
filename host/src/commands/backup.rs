//! `wasmvisor backup`: back up `data/` now, exactly as an upgrade would.
//!
//! Useful before risky manual work, and to learn how long an upgrade's backup takes
//! on this machine before the halt height makes it matter.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::backup::{self, BackupReport};
use crate::cli::load_config;
use crate::config::Config;

pub fn run(config_file: Option<PathBuf>, out: &mut dyn Write) -> Result<ExitCode> {
    let config = load_config(config_file, false)?;
    let report = backup_now(&config, true)?;
    writeln!(out, "{}", report.path.display())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Backs up `$DAEMON_HOME/data` into DAEMON_DATA_BACKUP_DIR under today's name.
pub fn backup_now(config: &Config, progress: bool) -> Result<BackupReport> {
    if config.unsafe_skip_backup {
        tracing::info!(
            "UNSAFE_SKIP_BACKUP is set, so upgrades skip this step; backing up anyway, as asked"
        );
    }
    let data = config.layout().data_dir();
    let today = chrono::Local::now().date_naive();
    backup::backup(&data, &config.data_backup_dir, today, progress).with_context(|| {
        format!(
            "backing up {} into {}",
            data.display(),
            config.data_backup_dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_up_data_under_todays_name() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(dir.path(), "appd");
        let data = config.layout().data_dir();
        std::fs::create_dir_all(data.join("application.db")).unwrap();
        std::fs::write(data.join("application.db/000001.log"), b"blocks").unwrap();
        std::fs::write(data.join("priv_validator_state.json"), b"{}").unwrap();

        let report = backup_now(&config, false).unwrap();
        let today = chrono::Local::now().date_naive();
        let name = report
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with(&crate::backup::base_name(today)), "{name}");
        assert_eq!(
            std::fs::read(report.path.join("application.db/000001.log")).unwrap(),
            b"blocks"
        );
        assert_eq!(
            std::fs::read(report.path.join("priv_validator_state.json")).unwrap(),
            b"{}"
        );

        let second = backup_now(&config, false).unwrap();
        assert_ne!(
            second.path, report.path,
            "a second backup the same day gets its own name"
        );
    }

    #[test]
    fn a_missing_data_dir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(dir.path(), "appd");
        let err = format!("{:#}", backup_now(&config, false).unwrap_err());
        assert!(err.contains("backing up"), "{err}");
    }
}
