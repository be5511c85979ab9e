//! Argument handling shaped like a Cosmos SDK daemon's.
//!
//! Supervisors pass the operator's arguments through untouched, so `start`
//! must accept flags it does not know (`--unsafe-skip-upgrades 5 6`,
//! `--x-crisis-skip-assert-invariants`, …) exactly as a real node does; only
//! `--home` and `version`'s output flags mean anything here. An unknown
//! *command*, on the other hand, is a usage error (exit 2).

use std::path::PathBuf;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Start { home: PathBuf },
    Status { home: PathBuf },
    PreUpgrade { home: PathBuf },
    Init { home: PathBuf },
    Version { json: bool },
    MakeVersion { name: String, out: PathBuf },
    Help,
}

pub const USAGE: &str = "\
fake-chaind: a fake Cosmos chain daemon with x/upgrade behaviour

Usage:
  fake-chaind start [--home <dir>] [other node flags, ignored]
  fake-chaind status [--home <dir>]
  fake-chaind pre-upgrade [--home <dir>]
  fake-chaind init [--home <dir>]
  fake-chaind version [--long] [-o text|json]
  fake-chaind make-version <name> <out-path>

The home is --home, else $FAKECHAIND_HOME, else $DAEMON_HOME, else ~/.fakechaind.
The schedule lives in <home>/config/fakechain.json; see the crate's README.";

/// Parses the arguments after the program name; `Err` is a usage error message.
pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Command, String> {
    let Some((command, rest)) = args.split_first() else {
        return Err("no command given".to_owned());
    };
    let home = || home_dir(rest, &env);
    match command.as_str() {
        "start" => Ok(Command::Start { home: home()? }),
        "status" => Ok(Command::Status { home: home()? }),
        "pre-upgrade" => Ok(Command::PreUpgrade { home: home()? }),
        "init" => Ok(Command::Init { home: home()? }),
        "version" => Ok(Command::Version {
            json: wants_json(rest),
        }),
        "make-version" => match rest {
            [name, out] => Ok(Command::MakeVersion {
                name: name.clone(),
                out: PathBuf::from(out),
            }),
            _ => Err("make-version takes exactly two arguments: <name> <out-path>".to_owned()),
        },
        "help" | "--help" | "-h" => Ok(Command::Help),
        other => Err(format!("unknown command {other:?}")),
    }
}

fn home_dir(args: &[String], env: &impl Fn(&str) -> Option<String>) -> Result<PathBuf, String> {
    if let Some(value) = flag_value(args, "--home") {
        return match value {
            Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
            _ => Err("--home needs a directory".to_owned()),
        };
    }
    let from_env = ["FAKECHAIND_HOME", "DAEMON_HOME"]
        .iter()
        .find_map(|key| env(key).filter(|v| !v.is_empty()));
    if let Some(dir) = from_env {
        return Ok(PathBuf::from(dir));
    }
    match env("HOME").filter(|v| !v.is_empty()) {
        Some(user_home) => Ok(PathBuf::from(user_home).join(".fakechaind")),
        None => Err("no home directory: pass --home <dir>".to_owned()),
    }
}

/// `Some(value)` when `flag` is present (as `--flag v` or `--flag=v`); the inner
/// `None` when it has no value.
fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<Option<&'a str>> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == flag {
            return Some(iter.next().map(String::as_str));
        }
        if let Some(value) = arg.strip_prefix(flag).and_then(|v| v.strip_prefix('=')) {
            return Some(Some(value));
        }
    }
    None
}

fn wants_json(args: &[String]) -> bool {
    let output = flag_value(args, "--output").or_else(|| flag_value(args, "-o"));
    match output {
        Some(Some(format)) => format.eq_ignore_ascii_case("json"),
        _ => args.iter().any(|a| a == "--long"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn start_ignores_node_flags_it_does_not_know() {
        let parsed = parse(
            &args(&[
                "start",
                "--unsafe-skip-upgrades",
                "5",
                "6",
                "--home",
                "/h",
                "--x-crisis-skip-assert-invariants",
            ]),
            no_env,
        );
        assert_eq!(parsed, Ok(Command::Start { home: "/h".into() }));
        let parsed = parse(&args(&["status", "--home=/x"]), no_env);
        assert_eq!(parsed, Ok(Command::Status { home: "/x".into() }));
    }

    #[test]
    fn home_falls_back_to_the_environment() {
        let env = |key: &str| match key {
            "DAEMON_HOME" => Some("/daemon".to_owned()),
            "HOME" => Some("/root".to_owned()),
            _ => None,
        };
        assert_eq!(
            parse(&args(&["pre-upgrade"]), env),
            Ok(Command::PreUpgrade {
                home: "/daemon".into()
            })
        );
        let only_user = |key: &str| (key == "HOME").then(|| "/root".to_owned());
        assert_eq!(
            parse(&args(&["start"]), only_user),
            Ok(Command::Start {
                home: "/root/.fakechaind".into()
            })
        );
        assert!(parse(&args(&["start", "--home"]), no_env).is_err());
    }

    #[test]
    fn version_output_formats() {
        let json = |list: &[&str]| parse(&args(list), no_env);
        assert_eq!(json(&["version"]), Ok(Command::Version { json: false }));
        assert_eq!(
            json(&["version", "--long"]),
            Ok(Command::Version { json: true })
        );
        assert_eq!(
            json(&["version", "-o", "json"]),
            Ok(Command::Version { json: true })
        );
        assert_eq!(
            json(&["version", "--output=json"]),
            Ok(Command::Version { json: true })
        );
        assert_eq!(
            json(&["version", "--long", "-o", "text"]),
            Ok(Command::Version { json: false })
        );
    }

    #[test]
    fn unknown_commands_and_bad_arity_are_usage_errors() {
        assert!(parse(&args(&["frobnicate"]), no_env).is_err());
        assert!(parse(&args(&[]), no_env).is_err());
        assert!(parse(&args(&["make-version", "v2"]), no_env).is_err());
        assert_eq!(
            parse(&args(&["make-version", "v2", "/tmp/x"]), no_env),
            Ok(Command::MakeVersion {
                name: "v2".into(),
                out: "/tmp/x".into()
            })
        );
    }
}
