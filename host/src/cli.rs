//! The command line: parsing, dispatch to `commands::*`, exit codes and errors.
//!
//! Exit codes mean something to systemd units and scripts: 0 ok, 1 a runtime
//! failure, 2 a usage or configuration error (fix the command or the environment,
//! retrying will not help), and `run` exits with the node's own status. Every error
//! ends in one line on stderr saying what failed and what to do.
//!
//! `run` is split by hand (see `run_args`): clap must never touch the app's
//! arguments. clap still knows `run`, so `wasmvisor help` lists it.

mod run_args;

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

pub use run_args::{RunArgs, detect as detect_run, split as split_run_args};

use crate::commands;
use crate::config::{self, ConfigError, LoadOptions};
use crate::logging::{self, LogSettings};

/// Exit code of a runtime failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;

/// A command line that cannot work as written; exits with code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

const ENV_HELP: &str = "\
Environment (cosmovisor's variables; a set variable overrides the config file):
  DAEMON_HOME                         required, absolute: holds cosmovisor/ and data/
  DAEMON_NAME                         required: the binary's file name in every bin/
  DAEMON_ALLOW_DOWNLOAD_BINARIES      false  download a missing upgrade binary
  DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM  false  refuse download URLs without ?checksum=
  DAEMON_RESTART_AFTER_UPGRADE        true   restart the node after an upgrade
  DAEMON_RESTART_DELAY                -      wait between node stop and the upgrade
  DAEMON_SHUTDOWN_GRACE               -      SIGTERM, wait this long, then SIGKILL
  DAEMON_POLL_INTERVAL                300ms  poll period for data/upgrade-info.json
  DAEMON_DATA_BACKUP_DIR              $DAEMON_HOME  where data backups go
  UNSAFE_SKIP_BACKUP                  false  upgrade without backing up data/
  DAEMON_PREUPGRADE_MAX_RETRIES       0      retries of `<app> pre-upgrade` (exit 31)
  DAEMON_GRPC_ADDRESS                 localhost:9090  the node's gRPC server, asked
                                             for its upgrade plan (prepare-upgrade)
  COSMOVISOR_DISABLE_LOGS             false  no supervisor log lines
  COSMOVISOR_COLOR_LOGS               true   colour log lines on a terminal
  COSMOVISOR_TIMEFORMAT_LOGS          kitchen  layout|ansic|unixdate|rubydate|rfc822|
                                      rfc822z|rfc850|rfc1123|rfc1123z|rfc3339|
                                      rfc3339nano|kitchen; empty = no timestamp
  COSMOVISOR_CUSTOM_PREUPGRADE        -      script in $DAEMON_HOME/cosmovisor/ run
                                             before the switch with <name> <height>
  COSMOVISOR_DISABLE_RECASE           false  keep the plan name's case for its folder
  WASMVISOR_LOG_FORMAT                text   text | json (one object per line)
  WASMVISOR_LOG_LEVEL                 info   debug | info | warn | error
  WASMVISOR_DISABLE_INOTIFY           false  poll only, like cosmovisor
  WASMVISOR_GRPC_POLL_INTERVAL        -      `run` asks DAEMON_GRPC_ADDRESS for the
                                             plan this often and pre-stages its binary
Booleans are true/false in any case; durations have a unit: 300ms, 20s, 1h30m.
Config file (-c/--cosmovisor-config): the same names in lower case, flat TOML,
plus a [plugins] table.";

const EXIT_HELP: &str = "\
Exit status: 0 ok; 1 a runtime failure (e.g. an upgrade failed; the log says what
to do); 2 a usage or configuration error; `run` exits with the node's own status.";

const ROOT_EXAMPLES: &str = "\
Examples:
  wasmvisor init /usr/local/bin/gaiad          set up $DAEMON_HOME/cosmovisor
  wasmvisor run start --home ~/.gaia           run the node under supervision
  wasmvisor add-upgrade v2 ./gaiad-v2 --upgrade-height 1200000
  wasmvisor prepare-upgrade                    fetch the scheduled upgrade's binary now
  wasmvisor config                             show the effective configuration";

/// A cosmovisor drop-in: runs a Cosmos node and upgrades its binary when the chain
/// asks for it.
#[derive(Debug, Parser)]
#[command(
    name = "wasmvisor",
    version,
    about = "Runs a Cosmos node and upgrades its binary when the chain asks for it (a cosmovisor drop-in)",
    after_help = format!("{ROOT_EXAMPLES}\n\n{EXIT_HELP}\n\nRun `wasmvisor help <command>` for a command's details and `wasmvisor help run` for the environment."),
    after_long_help = format!("{ROOT_EXAMPLES}\n\n{ENV_HELP}\n\n{EXIT_HELP}"),
)]
pub struct Cli {
    /// A flat TOML config file (keys = the variable names in lower case); set
    /// environment variables override it.
    #[arg(
        short = 'c',
        long = "cosmovisor-config",
        value_name = "PATH",
        global = true
    )]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// Text or JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the node under supervision: `current/bin/$DAEMON_NAME <args…>`
    #[command(
        long_about = "Run the node under supervision: starts `$DAEMON_HOME/cosmovisor/current/bin/$DAEMON_NAME` with your arguments, \
watches data/upgrade-info.json, and at the upgrade height stops the node, backs up data/, switches `current` \
to the new binary and restarts it. wasmvisor's own flags go before the app's arguments; everything from the first \
other argument (or after `--`) is passed to the app untouched. `--cosmovisor-config <path>` is also taken out of \
the app's arguments wherever it appears, as cosmovisor does. Use `run -- --help` for the app's own help.",
        after_help = "Example:\n  wasmvisor run start --home ~/.gaia\n  wasmvisor run --plugin log-scanner -- start --home ~/.gaia",
        after_long_help = format!("Examples:\n  wasmvisor run start --home ~/.gaia\n  wasmvisor run --plugin log-scanner -- start --home ~/.gaia\n\n{ENV_HELP}\n\n{EXIT_HELP}"),
    )]
    Run {
        /// A plugin to load: a .wasm file or a bundled plugin's name (repeatable).
        #[arg(long, value_name = "PATH|NAME")]
        plugin: Vec<String>,
        /// The app's arguments, passed untouched.
        #[arg(
            value_name = "APP ARGS",
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        args: Vec<OsString>,
    },

    /// Set up $DAEMON_HOME/cosmovisor from the node binary you run today
    #[command(
        long_about = "Set up $DAEMON_HOME/cosmovisor: copies the binary to genesis/bin/$DAEMON_NAME (unless one is there), \
points `current` at genesis, and writes cosmovisor/config.toml with the effective configuration (asking before \
replacing an existing one when run on a terminal; otherwise the existing file is kept).",
        after_help = "Example:\n  DAEMON_HOME=~/.gaia DAEMON_NAME=gaiad wasmvisor init $(which gaiad)"
    )]
    Init {
        /// The node binary to start from.
        #[arg(value_name = "PATH TO EXECUTABLE")]
        path: PathBuf,
    },

    /// Install a binary for an upgrade, optionally staging it for a height
    #[command(
        long_about = "Install a binary for the named upgrade into upgrades/<name>/bin/$DAEMON_NAME, from a local file or an \
http(s)/file URL (downloaded, checksum-verified and unpacked if it is an archive). With --upgrade-height, also write \
data/upgrade-info.json so that the running supervisor upgrades when the node reaches that height.",
        after_help = "Examples:\n  wasmvisor add-upgrade v2 ./build/gaiad\n  wasmvisor add-upgrade v2 https://example.com/gaiad-v2.tar.gz --checksum sha256:ab12… --upgrade-height 1200000"
    )]
    AddUpgrade {
        /// The upgrade plan's name, as in the governance proposal.
        name: String,
        /// A local binary, or an http(s):// or file:// URL.
        #[arg(value_name = "PATH|URL")]
        source: String,
        /// Replace an existing binary for this upgrade, or a different pending plan.
        #[arg(long)]
        force: bool,
        /// Stage the upgrade for this block height (writes data/upgrade-info.json).
        #[arg(long, value_name = "HEIGHT", value_parser = clap::value_parser!(u64).range(1..))]
        upgrade_height: Option<u64>,
        /// Expected checksum of the file (or download): md5|sha1|sha256|sha512:<hex>.
        #[arg(long, value_name = "TYPE:HEX")]
        checksum: Option<String>,
    },

    /// Fetch the binary of the upgrade the node has scheduled, ahead of its height
    #[command(
        long_about = "Fetch the binary of the upgrade the node has scheduled, ahead of its height. Asks the running node \
for its current plan over gRPC (cosmos.upgrade.v1beta1 Query/CurrentPlan at DAEMON_GRPC_ADDRESS, default \
localhost:9090; enable the node's gRPC server in app.toml), resolves the plan's binary through the resolver plugins \
(those configured, those named with --plugin, then the bundled manifest-url, which reads the plan's info the way \
cosmovisor does), downloads it, verifies its checksum and installs it into upgrades/<name>/bin/$DAEMON_NAME. At the \
height, the upgrade then needs no download. Safe to repeat: a binary already in place is reported, not fetched again; \
a failed download leaves nothing behind. Exits 0 when the binary is installed, was already there, or no upgrade is \
scheduled (as cosmovisor); 1 when the node cannot be asked or the binary cannot be installed; 2 when \
DAEMON_GRPC_ADDRESS is not an address. `run` can do the same by itself, continuously: see WASMVISOR_GRPC_POLL_INTERVAL.",
        after_help = "Examples:\n  wasmvisor prepare-upgrade\n  DAEMON_GRPC_ADDRESS=127.0.0.1:9090 DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM=true wasmvisor prepare-upgrade\n  wasmvisor prepare-upgrade --plugin github-releases"
    )]
    PrepareUpgrade {
        /// A resolver plugin to ask first: a .wasm file or a bundled plugin's name (repeatable).
        #[arg(long, value_name = "PATH|NAME")]
        plugin: Vec<String>,
    },

    /// Back up data/ now, the way an upgrade would
    #[command(
        long_about = "Back up $DAEMON_HOME/data now into $DAEMON_DATA_BACKUP_DIR/data-backup-<Y>-<M>-<D>, the way an upgrade \
would (reflinks where the filesystem allows it). Prints the backup's path. Stop the node first for a consistent copy.",
        after_help = "Example:\n  wasmvisor backup"
    )]
    Backup,

    /// Show the plan in data/upgrade-info.json
    #[command(
        long_about = "Show the plan in data/upgrade-info.json (validated, pretty JSON on stdout), or say that there is none. \
A note on stderr says whether it is already applied and whether its binary is installed.",
        after_help = "Example:\n  wasmvisor show-upgrade-info"
    )]
    ShowUpgradeInfo,

    /// Print the effective configuration
    #[command(
        long_about = "Print the effective configuration (environment over config file over defaults) as NAME=value lines, \
or as JSON with -o json. Exits with 2 and lists every problem when the configuration is invalid.",
        after_help = "Examples:\n  wasmvisor config\n  wasmvisor -c ~/.gaia/cosmovisor/config.toml config -o json"
    )]
    Config {
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },

    /// Inspect, export and try plugins (list, inspect, export, resolve, detect, hook)
    #[command(
        long_about = "Inspect, export and try plugins: `list` the bundled and configured ones, `inspect` one \
(kind, WIT version, sha256, declared and effective capabilities), `export` a bundled one to a file, and run \
one offline as the supervisor would (`resolve`, `detect`, `hook`) — same sandbox, same grants.",
        after_help = "Examples:\n  wasmvisor plugin list\n  wasmvisor plugin inspect ./my-resolver.wasm\n  wasmvisor plugin resolve ./my-resolver.wasm --plan plan.json"
    )]
    Plugin {
        #[command(subcommand)]
        command: crate::plugin::cli::PluginCommand,
    },

    /// Print wasmvisor's version, then the app's
    #[command(
        long_about = "Print wasmvisor's version, then run `<current binary> version` and pass its output through. Works \
without any configuration (then only wasmvisor's version is printed).",
        after_help = "Examples:\n  wasmvisor version\n  wasmvisor version -o json\n  wasmvisor version --cosmovisor-only"
    )]
    Version {
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
        /// Print only wasmvisor's version (do not run the app).
        #[arg(long)]
        cosmovisor_only: bool,
    },
}

/// The process entry point.
pub fn main() -> ExitCode {
    logging::init(LogSettings::from_env_lenient(|k| std::env::var(k).ok()));
    let args: Vec<OsString> = std::env::args_os().collect();
    match dispatch(&args) {
        Ok(code) => code,
        Err(err) => report(&err),
    }
}

/// Parses `args` (with the program name) and runs the command.
pub fn dispatch(args: &[OsString]) -> Result<ExitCode> {
    if let Some(run) = run_args::detect(args.get(1..).unwrap_or_default())? {
        if run.help {
            print_run_help()?;
            return Ok(ExitCode::SUCCESS);
        }
        return commands::run::run(run);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return Ok(if e.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            });
        }
    };
    let config_file = cli.config;
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Run { plugin, args } => commands::run::run(RunArgs {
            config_file,
            plugins: plugin,
            app_args: args,
            help: false,
        }),
        Command::Init { path } => commands::init::run(config_file, &path, &mut stdout),
        Command::AddUpgrade {
            name,
            source,
            force,
            upgrade_height,
            checksum,
        } => {
            let req = commands::add_upgrade::Request {
                name,
                source,
                force,
                upgrade_height,
                checksum,
            };
            commands::add_upgrade::run(config_file, &req, &mut stdout)
        }
        Command::PrepareUpgrade { plugin } => {
            commands::prepare_upgrade::run(config_file, &plugin, &mut stdout)
        }
        Command::Backup => commands::backup::run(config_file, &mut stdout),
        Command::ShowUpgradeInfo => commands::show_upgrade_info::run(config_file, &mut stdout),
        Command::Config { output } => commands::show_config::run(config_file, output, &mut stdout),
        Command::Version {
            output,
            cosmovisor_only,
        } => commands::version::run(config_file, output, cosmovisor_only, &mut stdout),
        Command::Plugin { command } => crate::plugin::cli::plugin_command(command, config_file),
    }
}

fn print_run_help() -> Result<()> {
    let mut cmd = Cli::command();
    // Building fills in the subcommand's full name (`wasmvisor run`) for its usage line.
    cmd.build();
    let help = cmd
        .find_subcommand_mut("run")
        .map(|run| run.render_long_help().to_string())
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{help}")?;
    Ok(())
}

/// Loads the configuration from the environment and `file`, then applies its
/// logging settings.
pub fn load_config(
    file: Option<PathBuf>,
    skip_dir_checks: bool,
) -> Result<config::Config, ConfigError> {
    let config = config::load(&LoadOptions {
        file,
        skip_dir_checks,
    })?;
    logging::init_from_config(&config);
    Ok(config)
}

/// The exit code an error deserves: 2 for usage and configuration errors, else 1.
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    let usage = err
        .chain()
        .any(|e| e.is::<UsageError>() || e.is::<ConfigError>());
    if usage { EXIT_USAGE } else { EXIT_FAILURE }
}

/// Prints an error for the operator and returns the exit code. A configuration
/// error prints one line per problem, each naming its variable.
pub fn report(err: &anyhow::Error) -> ExitCode {
    match err.chain().find_map(|e| e.downcast_ref::<ConfigError>()) {
        Some(config_err) => {
            for p in &config_err.problems {
                logging::report_error(&format!("invalid configuration: {p}"));
            }
        }
        None => logging::report_error(&format!("{err:#}")),
    }
    ExitCode::from(exit_code_for(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("wasmvisor").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn subcommands_parse() {
        let cli = parse(&[
            "-c",
            "/c.toml",
            "add-upgrade",
            "v2",
            "/b",
            "--force",
            "--upgrade-height",
            "10",
        ])
        .unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("/c.toml")));
        match cli.command {
            Command::AddUpgrade {
                name,
                source,
                force,
                upgrade_height,
                checksum,
            } => {
                assert_eq!(
                    (
                        name.as_str(),
                        source.as_str(),
                        force,
                        upgrade_height,
                        checksum
                    ),
                    ("v2", "/b", true, Some(10), None)
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["version", "-o", "json", "--cosmovisor-only"])
                .unwrap()
                .command,
            Command::Version {
                output: Output::Json,
                cosmovisor_only: true
            }
        ));
        assert!(matches!(
            parse(&["config", "--cosmovisor-config", "/x"])
                .unwrap()
                .command,
            Command::Config {
                output: Output::Text
            }
        ));
        assert!(parse(&["add-upgrade", "v2", "/b", "--upgrade-height", "0"]).is_err());
        assert!(parse(&["add-batch-upgrade"]).is_err());
    }

    #[test]
    fn help_lists_every_command_and_the_environment() {
        let long = Cli::command().render_long_help().to_string();
        for needle in [
            "run",
            "init",
            "add-upgrade",
            "prepare-upgrade",
            "backup",
            "show-upgrade-info",
            "config",
            "version",
            "DAEMON_HOME",
            "Exit status",
        ] {
            assert!(long.contains(needle), "{needle} missing from help");
        }
        let mut cmd = Cli::command();
        let run = cmd
            .find_subcommand_mut("run")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            run.contains("DAEMON_POLL_INTERVAL") && run.contains("--plugin"),
            "{run}"
        );
    }

    #[test]
    fn exit_codes_by_error_kind() {
        let usage = anyhow::Error::new(UsageError("bad".into())).context("while parsing");
        assert_eq!(exit_code_for(&usage), 2);
        let config = anyhow::Error::new(ConfigError { problems: vec![] });
        assert_eq!(exit_code_for(&config), 2);
        assert_eq!(exit_code_for(&anyhow::anyhow!("upgrade failed")), 1);
    }

    #[test]
    fn clap_usage_errors_exit_2_and_help_exits_0() {
        let code = |args: &[&str]| {
            let args: Vec<OsString> = std::iter::once("wasmvisor")
                .chain(args.iter().copied())
                .map(OsString::from)
                .collect();
            dispatch(&args).unwrap()
        };
        assert_eq!(code(&["no-such-command"]), ExitCode::from(2));
        assert_eq!(code(&["--help"]), ExitCode::SUCCESS);
        assert_eq!(code(&["run", "--help"]), ExitCode::SUCCESS);
    }
}
