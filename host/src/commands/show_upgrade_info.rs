//! `wasmvisor show-upgrade-info`: the plan in `data/upgrade-info.json`.
//!
//! cosmovisor prints the file raw; here it is validated (a malformed file is the
//! thing an operator most needs to hear about before the halt height) and printed as
//! pretty JSON on stdout, with a note on stderr saying whether the plan was already
//! applied and whether its binary is installed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};

use crate::cli::load_config;
use crate::detect;
use crate::layout::Layout;
use crate::upgrade_info::{self, Plan, PlanError};

pub fn run(config_file: Option<PathBuf>, out: &mut dyn Write) -> Result<ExitCode> {
    let config = load_config(config_file, true)?;
    show(&config.layout(), out)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the plan (or that there is none) and logs its status.
pub fn show(layout: &Layout, out: &mut dyn Write) -> Result<Option<Plan>> {
    let path = layout.upgrade_info_file();
    let plan = match upgrade_info::read(&path) {
        Ok(Some(plan)) => plan,
        Ok(None) => {
            writeln!(
                out,
                "No upgrade info found: {} does not exist",
                path.display()
            )?;
            out.flush()?;
            return Ok(None);
        }
        Err(PlanError::Empty) => {
            return Err(anyhow!(
                "{} is empty: the chain may be writing it right now; run this again in a moment",
                path.display()
            ));
        }
        Err(e) => {
            return Err(anyhow!(e)).with_context(|| {
                format!("{} is not a valid plan; fix it or remove it (the supervisor ignores it until then)", path.display())
            });
        }
    };
    let value: serde_json::Value =
        serde_json::from_str(&plan.to_json()).context("re-reading the plan")?;
    writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    out.flush()?;
    log_status(layout, &plan);
    Ok(Some(plan))
}

fn log_status(layout: &Layout, plan: &Plan) {
    let applied = detect::current_plan(layout).is_some_and(|cur| cur.same_name(plan));
    let status = if applied {
        "already applied: current runs this upgrade's binary"
    } else if detect::is_staged(layout, plan) {
        "staged by add-upgrade: the upgrade happens when the node reaches the height"
    } else {
        "pending: the supervisor upgrades at this height"
    };
    let bin = layout.upgrade_bin(&plan.name);
    let binary = if bin.is_file() {
        "installed"
    } else {
        "not installed (downloaded at the upgrade if allowed)"
    };
    tracing::info!(name = %plan.name, height = plan.height, binary, path = %bin.display(), "{status}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "appd", false);
        std::fs::create_dir_all(layout.data_dir()).unwrap();
        (dir, layout)
    }

    #[test]
    fn prints_a_valid_plan_pretty() {
        let (_dir, layout) = home();
        std::fs::write(
            layout.upgrade_info_file(),
            br#"{"name":"v2","height":120,"info":"x","extra":1}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        let plan = show(&layout, &mut out).unwrap().unwrap();
        assert_eq!(plan.name, "v2");
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\n  \"height\": 120,"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["name"], "v2");
        assert_eq!(v["time"], "0001-01-01T00:00:00Z");
    }

    #[test]
    fn says_when_there_is_none() {
        let (_dir, layout) = home();
        let mut out = Vec::new();
        assert!(show(&layout, &mut out).unwrap().is_none());
        assert!(
            String::from_utf8(out)
                .unwrap()
                .starts_with("No upgrade info found")
        );
    }

    #[test]
    fn invalid_and_empty_files_are_errors_with_advice() {
        let (_dir, layout) = home();
        std::fs::write(layout.upgrade_info_file(), br#"{"name":"v2","height":0}"#).unwrap();
        let err = format!("{:#}", show(&layout, &mut Vec::new()).unwrap_err());
        assert!(
            err.contains("not a valid plan") && err.contains("height"),
            "{err}"
        );
        std::fs::write(layout.upgrade_info_file(), b"").unwrap();
        let err = format!("{:#}", show(&layout, &mut Vec::new()).unwrap_err());
        assert!(err.contains("empty"), "{err}");
    }
}
