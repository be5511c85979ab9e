//! Splitting `wasmvisor run`'s arguments into wasmvisor's flags and the app's.
//!
//! The app's arguments must reach it untouched (`run start --home x --log_format
//! json`), so clap never sees them. wasmvisor's own flags are only recognised *before*
//! the app's first argument; `--` ends them explicitly. The one exception is
//! cosmovisor's `--cosmovisor-config <path>` pair, which cosmovisor removes from
//! anywhere in the arguments — existing unit files rely on that, so it is removed
//! here too (but never after a `--`, which means "everything else is the app's").

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use super::UsageError;

pub const CONFIG_FLAG: &str = "--cosmovisor-config";
pub const PLUGIN_FLAG: &str = "--plugin";

/// A `run` invocation, split.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunArgs {
    pub config_file: Option<PathBuf>,
    pub plugins: Vec<String>,
    pub app_args: Vec<OsString>,
    /// `run --help` / `run -h` before any app argument: wasmvisor's help for `run`.
    pub help: bool,
}

/// Recognises a `run` command line (`args` without the program name): global flags
/// (`-c/--cosmovisor-config <path>`) may come before `run`. `Ok(None)` when the
/// command is something else, for clap to parse.
pub fn detect(args: &[OsString]) -> Result<Option<RunArgs>, UsageError> {
    let mut config_file = None;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "run" {
            let mut run = split(&args[i + 1..])?;
            if let Some(global) = config_file {
                if run.config_file.is_some() {
                    return Err(given_twice());
                }
                run.config_file = Some(global);
            }
            return Ok(Some(run));
        }
        match flag_value(args, i, &["-c", CONFIG_FLAG])? {
            Some((value, next)) => {
                if config_file.replace(PathBuf::from(value)).is_some() {
                    return Err(given_twice());
                }
                i = next;
            }
            None => return Ok(None),
        }
    }
    Ok(None)
}

/// Splits the tokens after `run`.
pub fn split(args: &[OsString]) -> Result<RunArgs, UsageError> {
    let mut run = RunArgs::default();
    let mut i = 0;
    let mut explicit_end = false;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            explicit_end = true;
            i += 1;
            break;
        }
        if arg == "-h" || arg == "--help" {
            run.help = true;
            i += 1;
            continue;
        }
        if let Some((value, next)) = flag_value(args, i, &[CONFIG_FLAG])? {
            if run.config_file.replace(PathBuf::from(value)).is_some() {
                return Err(given_twice());
            }
            i = next;
            continue;
        }
        if let Some((value, next)) = flag_value(args, i, &[PLUGIN_FLAG])? {
            let value = value.to_str().ok_or_else(|| {
                UsageError(format!(
                    "{PLUGIN_FLAG} {value:?}: the plugin path or name must be valid UTF-8"
                ))
            })?;
            run.plugins.push(value.to_owned());
            i = next;
            continue;
        }
        break;
    }
    let rest = &args[i..];
    if explicit_end {
        run.app_args = rest.to_vec();
    } else {
        run.app_args = remove_config_pairs(rest, &mut run.config_file)?;
    }
    Ok(run)
}

/// Removes `--cosmovisor-config <path>` (and `--cosmovisor-config=<path>`) from the
/// app's arguments, up to the app's own `--`.
fn remove_config_pairs(
    args: &[OsString],
    config_file: &mut Option<PathBuf>,
) -> Result<Vec<OsString>, UsageError> {
    let mut kept = Vec::with_capacity(args.len());
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--" {
            kept.extend_from_slice(&args[i..]);
            break;
        }
        match flag_value(args, i, &[CONFIG_FLAG])? {
            Some((value, next)) => {
                if config_file.replace(PathBuf::from(value)).is_some() {
                    return Err(given_twice());
                }
                i = next;
            }
            None => {
                kept.push(args[i].clone());
                i += 1;
            }
        }
    }
    Ok(kept)
}

/// When `args[i]` is one of `names` (as `--name value` or `--name=value`), returns
/// its value and the index after it.
fn flag_value<'a>(
    args: &'a [OsString],
    i: usize,
    names: &[&str],
) -> Result<Option<(&'a OsStr, usize)>, UsageError> {
    let arg = args[i].as_encoded_bytes();
    for name in names {
        if arg == name.as_bytes() {
            return match args.get(i + 1) {
                Some(value) if !value.is_empty() => Ok(Some((value.as_os_str(), i + 2))),
                _ => Err(UsageError(format!(
                    "{name} needs a value, e.g. {name} {}",
                    example(name)
                ))),
            };
        }
        let prefix = format!("{name}=");
        if let Some(value) = arg.strip_prefix(prefix.as_bytes()) {
            if value.is_empty() {
                return Err(UsageError(format!(
                    "{name}= needs a value, e.g. {name}={}",
                    example(name)
                )));
            }
            // The value is a suffix after an ASCII `=`, so it is still valid OS-string
            // bytes; slicing the OsStr keeps non-UTF-8 paths intact.
            let os = &args[i];
            let value = os_suffix(os, prefix.len());
            return Ok(Some((value, i + 1)));
        }
    }
    Ok(None)
}

fn os_suffix(s: &OsStr, from: usize) -> &OsStr {
    use std::os::unix::ffi::OsStrExt as _;
    OsStr::from_bytes(&s.as_bytes()[from..])
}

fn example(flag: &str) -> &'static str {
    if flag == PLUGIN_FLAG {
        "log-scanner"
    } else {
        "$DAEMON_HOME/cosmovisor/config.toml"
    }
}

fn given_twice() -> UsageError {
    UsageError(format!("{CONFIG_FLAG} is given twice; give it once"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn run(v: &[&str]) -> RunArgs {
        detect(&os(v)).unwrap().expect("a run command line")
    }

    #[test]
    fn app_args_pass_untouched() {
        let r = run(&["run", "start", "--home", "x", "--log_format", "json"]);
        assert_eq!(
            r.app_args,
            os(&["start", "--home", "x", "--log_format", "json"])
        );
        assert_eq!(r.config_file, None);
        assert!(r.plugins.is_empty() && !r.help);
    }

    #[test]
    fn our_flags_only_before_the_app_args() {
        let r = run(&[
            "run",
            "--plugin",
            "log-scanner",
            "--plugin=/p/x.wasm",
            "start",
            "--plugin",
            "y",
        ]);
        assert_eq!(r.plugins, ["log-scanner", "/p/x.wasm"]);
        assert_eq!(r.app_args, os(&["start", "--plugin", "y"]));
    }

    #[test]
    fn double_dash_ends_our_flags_and_protects_the_rest() {
        let r = run(&[
            "run",
            "--plugin",
            "a",
            "--",
            "--help",
            "--cosmovisor-config",
            "c.toml",
        ]);
        assert_eq!(r.plugins, ["a"]);
        assert!(!r.help);
        assert_eq!(r.app_args, os(&["--help", "--cosmovisor-config", "c.toml"]));
        assert_eq!(r.config_file, None);
    }

    #[test]
    fn config_pair_is_removed_anywhere() {
        let r = run(&[
            "run",
            "start",
            "--cosmovisor-config",
            "/c.toml",
            "--home",
            "h",
        ]);
        assert_eq!(r.config_file, Some(PathBuf::from("/c.toml")));
        assert_eq!(r.app_args, os(&["start", "--home", "h"]));
        let r = run(&["run", "start", "--cosmovisor-config=/c.toml"]);
        assert_eq!(r.config_file, Some(PathBuf::from("/c.toml")));
        assert_eq!(r.app_args, os(&["start"]));
        let r = run(&["run", "start", "--", "--cosmovisor-config", "/c.toml"]);
        assert_eq!(
            r.config_file, None,
            "the app's own -- protects what follows"
        );
        assert_eq!(
            r.app_args,
            os(&["start", "--", "--cosmovisor-config", "/c.toml"])
        );
    }

    #[test]
    fn global_config_flag_before_run() {
        let r = run(&["-c", "/a.toml", "run", "start"]);
        assert_eq!(r.config_file, Some(PathBuf::from("/a.toml")));
        let r = run(&["--cosmovisor-config=/a.toml", "run", "version"]);
        assert_eq!(r.config_file, Some(PathBuf::from("/a.toml")));
        assert_eq!(r.app_args, os(&["version"]));
        let err = detect(&os(&[
            "-c",
            "/a.toml",
            "run",
            "--cosmovisor-config",
            "/b.toml",
        ]))
        .unwrap_err();
        assert!(err.0.contains("twice"), "{err}");
    }

    #[test]
    fn help_before_app_args_is_ours_after_is_the_apps() {
        assert!(run(&["run", "--help"]).help);
        assert!(run(&["run", "-h"]).help);
        let r = run(&["run", "start", "--help"]);
        assert!(!r.help);
        assert_eq!(r.app_args, os(&["start", "--help"]));
    }

    #[test]
    fn other_commands_are_left_to_clap() {
        assert_eq!(detect(&os(&["version"])).unwrap(), None);
        assert_eq!(detect(&os(&["-c", "x", "config"])).unwrap(), None);
        assert_eq!(detect(&os(&["--help"])).unwrap(), None);
        assert_eq!(detect(&os(&[])).unwrap(), None);
        assert_eq!(
            detect(&os(&["add-upgrade", "run", "/bin/x"])).unwrap(),
            None
        );
    }

    #[test]
    fn missing_values_are_usage_errors() {
        let err = detect(&os(&["run", "--plugin"])).unwrap_err();
        assert!(err.0.contains("--plugin needs a value"), "{err}");
        let err = detect(&os(&["run", "start", "--cosmovisor-config"])).unwrap_err();
        assert!(err.0.contains("--cosmovisor-config needs a value"), "{err}");
        assert!(detect(&os(&["run", "--plugin="])).is_err());
        assert!(detect(&os(&["-c"])).is_err());
    }

    #[test]
    fn run_with_no_app_args() {
        let r = run(&["run"]);
        assert!(r.app_args.is_empty());
    }

    #[test]
    fn non_utf8_paths_survive() {
        use std::os::unix::ffi::OsStringExt as _;
        let mut v = os(&["run", "start"]);
        v.push(OsString::from_vec(
            b"--cosmovisor-config=/c\xff.toml".to_vec(),
        ));
        v.push(OsString::from_vec(b"--weird\xfe".to_vec()));
        let r = detect(&v).unwrap().unwrap();
        assert_eq!(
            r.config_file.unwrap().as_os_str().as_encoded_bytes(),
            b"/c\xff.toml"
        );
        assert_eq!(r.app_args[1].as_encoded_bytes(), b"--weird\xfe");
    }
}
