//! `wasmvisor version`: ours, then the app's.
//!
//! It must work with no configuration at all (cosmovisor #19439): wasmvisor's version
//! is printed first, and the app's is added only when DAEMON_HOME and DAEMON_NAME say
//! where the binary is. It never creates or changes anything under the home.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};

use crate::cli::{Output, load_config};
use crate::layout::Layout;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn run(
    config_file: Option<PathBuf>,
    output: Output,
    only_ours: bool,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let app = if only_ours {
        None
    } else {
        app_binary(config_file)
    };
    match output {
        Output::Text => text(app.as_deref(), out)?,
        Output::Json => json(app.as_deref(), out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The binary to ask, when the configuration names one; otherwise says why not.
fn app_binary(config_file: Option<PathBuf>) -> Option<PathBuf> {
    let config = match load_config(config_file, true) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!("the app's version is not shown: {e}");
            return None;
        }
    };
    let bin = current_or_genesis(&config.layout());
    if bin.is_none() {
        tracing::warn!(
            home = %config.home.display(),
            "the app's version is not shown: no binary under cosmovisor/current or cosmovisor/genesis; run `wasmvisor init <path>`"
        );
    }
    bin
}

/// `current/bin/$DAEMON_NAME`, or genesis when `current` is missing (read-only: the
/// link is not created here).
fn current_or_genesis(layout: &Layout) -> Option<PathBuf> {
    let current = layout.current_bin().ok().filter(|p| p.is_file());
    current.or_else(|| Some(layout.bin_in(&layout.genesis_dir())).filter(|p| p.is_file()))
}

fn text(app: Option<&Path>, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "wasmvisor version: {VERSION}")?;
    out.flush()?;
    let Some(bin) = app else { return Ok(()) };
    // The app writes straight to our stdout: its output passes through unchanged.
    let status = Command::new(bin)
        .arg("version")
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {} version", bin.display()))?;
    if !status.success() {
        bail!(
            "{} version failed ({status}); check that the binary runs on this machine",
            bin.display()
        );
    }
    Ok(())
}

fn json(app: Option<&Path>, out: &mut dyn Write) -> Result<()> {
    let mut doc = serde_json::Map::new();
    doc.insert("wasmvisor_version".into(), VERSION.into());
    if let Some(bin) = app {
        let output = Command::new(bin)
            .args(["version", "--long", "--output", "json"])
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running {} version", bin.display()))?;
        if !output.status.success() {
            bail!(
                "{} version --long --output json failed ({}); check that the binary runs on this machine",
                bin.display(),
                output.status
            );
        }
        // An app without JSON output still gets its text shown rather than lost.
        let app_version = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        });
        doc.insert("app_version".into(), app_version);
    }
    writeln!(out, "{}", serde_json::Value::Object(doc))?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn fake_app(layout: &Layout, script: &str) {
        let bin = layout.bin_in(&layout.genesis_dir());
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::write(&bin, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn ours_only_without_an_app() {
        let mut out = Vec::new();
        text(None, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("wasmvisor version: {VERSION}\n")
        );
        let mut out = Vec::new();
        json(None, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, serde_json::json!({"wasmvisor_version": VERSION}));
    }

    #[test]
    fn json_embeds_the_apps_json_and_text_falls_back_to_a_string() {
        let home = tempfile::tempdir().unwrap();
        let layout = Layout::new(home.path(), "appd", false);
        fake_app(
            &layout,
            r#"[ "$2" = "--long" ] && [ "$4" = json ] && echo '{"name":"appd","version":"1.2.3"}'"#,
        );
        let bin = current_or_genesis(&layout).unwrap();
        let mut out = Vec::new();
        json(Some(&bin), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["app_version"]["version"], "1.2.3");

        fake_app(&layout, "echo 1.2.3");
        let mut out = Vec::new();
        json(Some(&bin), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["app_version"], "1.2.3");
    }

    #[test]
    fn a_failing_app_is_an_error() {
        let home = tempfile::tempdir().unwrap();
        let layout = Layout::new(home.path(), "appd", false);
        fake_app(&layout, "exit 3");
        let bin = current_or_genesis(&layout).unwrap();
        let err = text(Some(&bin), &mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("version failed"), "{err}");
    }

    #[test]
    fn prefers_current_over_genesis() {
        let home = tempfile::tempdir().unwrap();
        let layout = Layout::new(home.path(), "appd", false);
        assert_eq!(current_or_genesis(&layout), None);
        fake_app(&layout, "true");
        assert_eq!(
            current_or_genesis(&layout),
            Some(layout.bin_in(&layout.genesis_dir()))
        );
        let v2 = layout.upgrade_bin("v2");
        std::fs::create_dir_all(v2.parent().unwrap()).unwrap();
        std::fs::write(&v2, "").unwrap();
        crate::switch::point_current_at(&layout, &layout.relative_upgrade_target("v2")).unwrap();
        assert_eq!(current_or_genesis(&layout), Some(v2));
    }
}
