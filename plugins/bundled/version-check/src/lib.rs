//! Bundled hook `version-check`: before `current` is switched, run the new binary's
//! `version` (through the host: a hook cannot exec anything itself) and refuse the
//! upgrade unless it reports the version the plan names. A binary placed by hand in
//! `upgrades/<name>/bin` — or fetched from a wrong URL — is the commonest way an
//! upgrade goes wrong; this catches it while the old binary is still current.
//!
//! Config (`[plugins.<name>.config]`, all optional):
//! - `expected`: what the binary must report, a template over `{name}` (the plan name),
//!   `{version}` (the plan name without a leading `v`) and `{height}`; default `{name}`.
//! - `match`: `exact` (default: equal, ignoring one leading `v` on either side) or
//!   `contains` (the output contains the expected text).
//! - `long`: `true` runs `version --long` and compares its `version:` field
//!   (`contains` mode: the whole output).

use wasmvisor_plugin_sdk::hook::{CommandOutput, Hook, UpgradeEvent, run_new_binary};
use wasmvisor_plugin_sdk::host;
use wasmvisor_plugin_sdk::types::*;

struct VersionCheck;

impl Hook for VersionCheck {
    fn describe() -> Manifest {
        Manifest::new("version-check", env!("CARGO_PKG_VERSION"), PluginKind::Hook)
            .description("refuses an upgrade whose new binary's `version` is not the plan's")
            .config_keys(&["expected", "match", "long"])
            .binary_command(&["version"])
            .binary_command(&["version", "--long"])
    }

    fn pre_upgrade(plan: Plan, ctx: HookContext) -> Result<(), Error> {
        let settings = Settings::read()?;
        let expected = expand(settings.expected.as_deref().unwrap_or("{name}"), &plan);
        if expected.trim().is_empty() {
            return Err(Error::InvalidInput(
                "config `expected` expands to an empty text; set it to the version the new binary prints, e.g. \"{name}\"".to_string(),
            ));
        }
        let args: Vec<String> = if settings.long {
            vec!["version".into(), "--long".into()]
        } else {
            vec!["version".into()]
        };
        let out = run_new_binary(&args)?;
        check_exit(&out, &args, &ctx.daemon_name)?;
        let reported = reported_versions(&out, settings.long);
        if reported
            .iter()
            .any(|r| settings.mode.accepts(r, expected.trim()))
        {
            host::info(&format!(
                "new binary for {} reports version {}",
                plan.name,
                reported.first().map(String::as_str).unwrap_or("")
            ));
            return Ok(());
        }
        Err(Error::Failed(mismatch(
            &plan,
            &ctx,
            &expected,
            &reported,
            settings.mode,
        )))
    }

    fn post_upgrade(_plan: Plan, _ctx: HookContext) -> Result<(), Error> {
        Ok(())
    }

    /// A check, not a notifier: events need nothing from it.
    fn on_event(_event: UpgradeEvent, _plan: Plan, _ctx: HookContext) -> Result<(), Error> {
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Equal, ignoring one leading `v`/`V` on either side.
    Exact,
    Contains,
}

impl Mode {
    fn accepts(self, reported: &str, expected: &str) -> bool {
        match self {
            Mode::Exact => reported == expected || strip_v(reported) == strip_v(expected),
            Mode::Contains => reported.contains(expected),
        }
    }
}

struct Settings {
    expected: Option<String>,
    mode: Mode,
    long: bool,
}

impl Settings {
    fn read() -> Result<Settings, Error> {
        let mode = match host::config_get("match").as_deref().map(str::trim) {
            None | Some("") | Some("exact") => Mode::Exact,
            Some("contains") => Mode::Contains,
            Some(other) => {
                return Err(Error::InvalidInput(format!(
                    "config `match` is {other:?}; use \"exact\" or \"contains\""
                )));
            }
        };
        let long = match host::config_get("long").as_deref().map(str::trim) {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(Error::InvalidInput(format!(
                    "config `long` is {other:?}; use \"true\" or \"false\""
                )));
            }
        };
        Ok(Settings {
            expected: host::config_get("expected"),
            mode,
            long,
        })
    }
}

fn strip_v(s: &str) -> &str {
    s.strip_prefix(['v', 'V']).unwrap_or(s)
}

/// `{name}`, `{version}`, `{height}` → the plan's values.
fn expand(template: &str, plan: &Plan) -> String {
    template
        .replace("{name}", &plan.name)
        .replace("{version}", strip_v(&plan.name))
        .replace("{height}", &plan.height.to_string())
}

fn check_exit(out: &CommandOutput, args: &[String], daemon: &str) -> Result<(), Error> {
    if out.exit_code == Some(0) {
        return Ok(());
    }
    let how = match out.exit_code {
        Some(code) => format!("exited with status {code}"),
        None => "was killed (signal or time limit)".to_string(),
    };
    Err(Error::Failed(format!(
        "`{daemon} {}` of the new binary {how}: {}; the old binary stays current",
        args.join(" "),
        first_line(&out.stderr).unwrap_or("(no error output)")
    )))
}

/// What the binary says its version is: stdout first, then stderr (Cosmos SDK
/// versions before 0.47 printed `version` on stderr). With `--long`, the value of
/// the `version:` line when there is one, else the whole output.
fn reported_versions(out: &CommandOutput, long: bool) -> Vec<String> {
    [&out.stdout, &out.stderr]
        .into_iter()
        .map(|text| {
            let text = text.trim();
            if long {
                long_version_field(text).unwrap_or(text).to_string()
            } else {
                text.to_string()
            }
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// `version: v2.0.0` (YAML) or `"version":"v2.0.0"` (JSON) in `version --long` output.
fn long_version_field(text: &str) -> Option<&str> {
    text.lines().find_map(|line| {
        let line = line.trim().trim_end_matches(',');
        let rest = line
            .strip_prefix("version:")
            .or_else(|| line.strip_prefix("\"version\":"))?;
        Some(rest.trim().trim_matches('"'))
    })
}

fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| !l.is_empty())
}

fn mismatch(
    plan: &Plan,
    ctx: &HookContext,
    expected: &str,
    reported: &[String],
    mode: Mode,
) -> String {
    let shown = match reported.first() {
        Some(r) => format!("{:?}", first_line(r).unwrap_or(r)),
        None => "nothing".to_string(),
    };
    let wanted = match mode {
        Mode::Exact => format!("the plan names {:?}", expected.trim()),
        Mode::Contains => format!("the plan expects it to contain {:?}", expected.trim()),
    };
    format!(
        "the new binary reports version {shown} but {wanted}; the old binary stays current — check the binary you placed in upgrades/{}/bin/{}",
        plan.name.to_lowercase(),
        ctx.daemon_name
    )
}

wasmvisor_plugin_sdk::export_hook!(VersionCheck);
