//! `wasmvisor init <path>`: set up `$DAEMON_HOME/cosmovisor` from today's binary.
//!
//! Safe to run again: an existing genesis binary is kept (it is what `current` may
//! be running), `current` is only created when missing, and an existing
//! `config.toml` is replaced only after a yes on a terminal.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::binary;
use crate::cli::load_config;
use crate::config::Config;

/// What `init` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    pub genesis_bin: PathBuf,
    /// False when a genesis binary was already there.
    pub copied: bool,
    pub config_file: PathBuf,
    /// False when an existing config file was kept.
    pub config_written: bool,
}

pub fn run(config_file: Option<PathBuf>, exe: &Path, out: &mut dyn Write) -> Result<ExitCode> {
    let config = load_config(config_file, true)?;
    let report = if std::io::stdin().is_terminal() {
        init(&config, exe, Some(&mut ask_on_terminal))?
    } else {
        init(&config, exe, None)?
    };
    writeln!(out, "{}", report.genesis_bin.display())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn ask_on_terminal(question: &str) -> bool {
    eprint!("{question} [y/N]: ");
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Sets up the folder layout. `confirm` is asked before replacing an existing
/// config file; without it (no terminal) the file is kept.
pub fn init(
    config: &Config,
    exe: &Path,
    confirm: Option<&mut dyn FnMut(&str) -> bool>,
) -> Result<InitReport> {
    binary::check_source(exe)?;
    let layout = config.layout();
    std::fs::create_dir_all(layout.upgrades_dir())
        .with_context(|| format!("creating {}", layout.upgrades_dir().display()))?;

    let genesis_bin = layout.bin_in(&layout.genesis_dir());
    let copied = if std::fs::symlink_metadata(&genesis_bin).is_ok() {
        tracing::info!(path = %genesis_bin.display(), "the genesis binary is already there; kept it (remove it first to replace it)");
        false
    } else {
        binary::copy_into_place(exe, &genesis_bin)?;
        tracing::info!(from = %exe.display(), to = %genesis_bin.display(), "copied the genesis binary");
        true
    };

    layout.ensure_current()?;
    let current = layout.current_dir()?;
    tracing::info!(current = %current.display(), "cosmovisor/current is in place");

    let config_file = layout.root().join("config.toml");
    let config_written = write_config(config, &config_file, confirm)?;
    Ok(InitReport {
        genesis_bin,
        copied,
        config_file,
        config_written,
    })
}

fn write_config(
    config: &Config,
    path: &Path,
    confirm: Option<&mut dyn FnMut(&str) -> bool>,
) -> Result<bool> {
    if path.exists() {
        let replace = match confirm {
            Some(ask) => ask(&format!(
                "{} already exists; replace it with the current configuration?",
                path.display()
            )),
            None => false,
        };
        if !replace {
            tracing::info!(path = %path.display(), "kept the existing config file");
            return Ok(false);
        }
    }
    crate::fsutil::write_durable(path, config.to_toml().as_bytes())?;
    tracing::info!(path = %path.display(), "wrote the config file (use it with -c / --cosmovisor-config)");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::binary::tests::script;
    use crate::config::{LoadOptions, load_with};

    fn setup() -> (tempfile::TempDir, Config, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let exe = dir.path().join("gaiad-build");
        script(&exe, "echo v1");
        (dir, Config::new(home, "gaiad"), exe)
    }

    #[test]
    fn sets_up_genesis_current_and_config() {
        let (_dir, config, exe) = setup();
        let report = init(&config, &exe, None).unwrap();
        let layout = config.layout();
        assert!(report.copied && report.config_written);
        assert_eq!(
            std::fs::read(&report.genesis_bin).unwrap(),
            std::fs::read(&exe).unwrap()
        );
        assert_eq!(
            std::fs::read_link(layout.current_link()).unwrap(),
            Path::new("genesis")
        );
        assert!(layout.upgrades_dir().is_dir());
        // The written file loads back to the same configuration.
        let opts = LoadOptions {
            file: Some(report.config_file.clone()),
            skip_dir_checks: false,
        };
        let loaded = load_with(|_| None, &opts).unwrap();
        assert_eq!(loaded.home, config.home);
        assert_eq!(loaded.name, "gaiad");
    }

    #[test]
    fn running_again_keeps_binary_and_config_unless_confirmed() {
        let (dir, config, exe) = setup();
        init(&config, &exe, None).unwrap();
        let other = dir.path().join("other");
        script(&other, "echo v9");
        std::fs::write(config.layout().root().join("config.toml"), "# mine\n").unwrap();

        let report = init(&config, &other, None).unwrap();
        assert!(!report.copied && !report.config_written);
        assert_eq!(
            std::fs::read_to_string(&report.genesis_bin).unwrap(),
            "#!/bin/sh\necho v1\n"
        );
        assert_eq!(
            std::fs::read_to_string(&report.config_file).unwrap(),
            "# mine\n"
        );

        let mut asked = Vec::new();
        let mut no = |q: &str| {
            asked.push(q.to_owned());
            false
        };
        assert!(!init(&config, &exe, Some(&mut no)).unwrap().config_written);
        assert_eq!(asked.len(), 1);
        let mut yes = |_: &str| true;
        let report = init(&config, &exe, Some(&mut yes)).unwrap();
        assert!(report.config_written);
        assert!(
            std::fs::read_to_string(&report.config_file)
                .unwrap()
                .contains("daemon_name = \"gaiad\"")
        );
    }

    #[test]
    fn refuses_a_non_executable_and_creates_nothing() {
        let (dir, config, _exe) = setup();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        let err = init(&config, &plain, None).unwrap_err();
        assert_eq!(crate::cli::exit_code_for(&err), 2);
        assert!(!config.layout().root().exists());
    }

    #[test]
    fn leaves_a_current_that_points_elsewhere() {
        let (_dir, config, exe) = setup();
        init(&config, &exe, None).unwrap();
        let layout = config.layout();
        script(&layout.upgrade_bin("v2"), "echo v2");
        crate::switch::point_current_at(&layout, &layout.relative_upgrade_target("v2")).unwrap();
        init(&config, &exe, None).unwrap();
        assert_eq!(layout.current_dir().unwrap(), layout.upgrade_dir("v2"));
    }
}
