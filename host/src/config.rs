//! Configuration: cosmovisor's environment variables, then an optional flat TOML file.
//!
//! An operator swapping cosmovisor for wasmvisor keeps their unit file, so every
//! variable keeps cosmovisor's name, default and syntax. Two things are stricter or
//! kinder than cosmovisor on purpose: every problem is collected and reported at once
//! (one round trip to fix a unit file, not one per variable), and a config file may
//! leave keys out (they take their defaults instead of Go's zero values).
//!
//! Loading never touches the process environment directly: [`load_with`] takes a
//! lookup function, so tests (and `wasmvisor config`) can load from any map.

mod duration;
mod file;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use duration::{DurationError, format_go_duration, parse_go_duration};

use crate::layout::Layout;

/// The names of the variables, as the operator writes them.
pub mod vars {
    pub const DAEMON_HOME: &str = "DAEMON_HOME";
    pub const DAEMON_NAME: &str = "DAEMON_NAME";
    pub const DAEMON_ALLOW_DOWNLOAD_BINARIES: &str = "DAEMON_ALLOW_DOWNLOAD_BINARIES";
    pub const DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM: &str = "DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM";
    pub const DAEMON_RESTART_AFTER_UPGRADE: &str = "DAEMON_RESTART_AFTER_UPGRADE";
    pub const DAEMON_RESTART_DELAY: &str = "DAEMON_RESTART_DELAY";
    pub const DAEMON_SHUTDOWN_GRACE: &str = "DAEMON_SHUTDOWN_GRACE";
    pub const DAEMON_POLL_INTERVAL: &str = "DAEMON_POLL_INTERVAL";
    pub const DAEMON_DATA_BACKUP_DIR: &str = "DAEMON_DATA_BACKUP_DIR";
    pub const UNSAFE_SKIP_BACKUP: &str = "UNSAFE_SKIP_BACKUP";
    pub const DAEMON_PREUPGRADE_MAX_RETRIES: &str = "DAEMON_PREUPGRADE_MAX_RETRIES";
    pub const DAEMON_GRPC_ADDRESS: &str = "DAEMON_GRPC_ADDRESS";
    pub const COSMOVISOR_DISABLE_LOGS: &str = "COSMOVISOR_DISABLE_LOGS";
    pub const COSMOVISOR_COLOR_LOGS: &str = "COSMOVISOR_COLOR_LOGS";
    pub const COSMOVISOR_TIMEFORMAT_LOGS: &str = "COSMOVISOR_TIMEFORMAT_LOGS";
    pub const COSMOVISOR_CUSTOM_PREUPGRADE: &str = "COSMOVISOR_CUSTOM_PREUPGRADE";
    pub const COSMOVISOR_DISABLE_RECASE: &str = "COSMOVISOR_DISABLE_RECASE";
    pub const WASMVISOR_LOG_FORMAT: &str = "WASMVISOR_LOG_FORMAT";
    pub const WASMVISOR_LOG_LEVEL: &str = "WASMVISOR_LOG_LEVEL";
    pub const WASMVISOR_DISABLE_INOTIFY: &str = "WASMVISOR_DISABLE_INOTIFY";
    pub const WASMVISOR_GRPC_POLL_INTERVAL: &str = "WASMVISOR_GRPC_POLL_INTERVAL";

    /// Every variable, in the order `wasmvisor config` prints them.
    pub const ALL: [&str; 21] = [
        DAEMON_HOME,
        DAEMON_NAME,
        DAEMON_ALLOW_DOWNLOAD_BINARIES,
        DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM,
        DAEMON_RESTART_AFTER_UPGRADE,
        DAEMON_RESTART_DELAY,
        DAEMON_SHUTDOWN_GRACE,
        DAEMON_POLL_INTERVAL,
        UNSAFE_SKIP_BACKUP,
        DAEMON_DATA_BACKUP_DIR,
        DAEMON_PREUPGRADE_MAX_RETRIES,
        DAEMON_GRPC_ADDRESS,
        COSMOVISOR_DISABLE_LOGS,
        COSMOVISOR_COLOR_LOGS,
        COSMOVISOR_TIMEFORMAT_LOGS,
        COSMOVISOR_CUSTOM_PREUPGRADE,
        COSMOVISOR_DISABLE_RECASE,
        WASMVISOR_LOG_FORMAT,
        WASMVISOR_LOG_LEVEL,
        WASMVISOR_DISABLE_INOTIFY,
        WASMVISOR_GRPC_POLL_INTERVAL,
    ];
}

/// The Go layout names COSMOVISOR_TIMEFORMAT_LOGS accepts (cosmovisor's list).
pub const TIME_FORMATS: [&str; 12] = [
    "layout",
    "ansic",
    "unixdate",
    "rubydate",
    "rfc822",
    "rfc822z",
    "rfc850",
    "rfc1123",
    "rfc1123z",
    "rfc3339",
    "rfc3339nano",
    "kitchen",
];

pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(300);
pub const DEFAULT_GRPC_ADDRESS: &str = "localhost:9090";
pub const DEFAULT_TIME_FORMAT: &str = "kitchen";

/// How supervisor log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// The least severe supervisor log line that is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// The effective configuration of one supervisor.
#[derive(Debug, Clone)]
pub struct Config {
    /// DAEMON_HOME (absolute).
    pub home: PathBuf,
    /// DAEMON_NAME.
    pub name: String,
    pub allow_download_binaries: bool,
    pub download_must_have_checksum: bool,
    pub restart_after_upgrade: bool,
    pub restart_delay: Option<Duration>,
    /// None (or unset): SIGKILL at once; Some(d): SIGTERM, wait d, then SIGKILL.
    pub shutdown_grace: Option<Duration>,
    pub poll_interval: Duration,
    /// DAEMON_DATA_BACKUP_DIR, defaulting to DAEMON_HOME.
    pub data_backup_dir: PathBuf,
    pub unsafe_skip_backup: bool,
    pub preupgrade_max_retries: u32,
    pub grpc_address: String,
    pub disable_logs: bool,
    pub color_logs: bool,
    /// COSMOVISOR_TIMEFORMAT_LOGS as a Go layout name; None = no timestamp.
    pub time_format_logs: Option<String>,
    /// COSMOVISOR_CUSTOM_PREUPGRADE: a file name under `$DAEMON_HOME/cosmovisor/`.
    pub custom_preupgrade: Option<String>,
    pub disable_recase: bool,
    /// WASMVISOR_LOG_FORMAT=json: one JSON object per supervisor log line.
    pub log_format: LogFormat,
    /// WASMVISOR_DISABLE_INOTIFY=true: poll only (cosmovisor's behaviour; for comparison).
    pub disable_inotify: bool,
    /// WASMVISOR_GRPC_POLL_INTERVAL: how often `run` asks the node (at
    /// DAEMON_GRPC_ADDRESS) for its upgrade plan, to pre-stage the binary. None
    /// (the default, like cosmovisor): never.
    pub grpc_poll_interval: Option<Duration>,
    /// WASMVISOR_LOG_LEVEL: the least severe supervisor line written (default info).
    pub log_level: LogLevel,
    /// The config file's `[plugins]` table, unparsed (the plugin runtime reads it).
    pub plugins: toml::Table,
    /// The config file this configuration was read from, if any.
    pub config_file: Option<PathBuf>,
}

impl Config {
    /// A configuration with every default, for a home and a daemon name.
    pub fn new(home: impl Into<PathBuf>, name: impl Into<String>) -> Config {
        let home = home.into();
        Config {
            data_backup_dir: home.clone(),
            home,
            name: name.into(),
            allow_download_binaries: false,
            download_must_have_checksum: false,
            restart_after_upgrade: true,
            restart_delay: None,
            shutdown_grace: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            unsafe_skip_backup: false,
            preupgrade_max_retries: 0,
            grpc_address: DEFAULT_GRPC_ADDRESS.to_owned(),
            disable_logs: false,
            color_logs: true,
            time_format_logs: Some(DEFAULT_TIME_FORMAT.to_owned()),
            custom_preupgrade: None,
            disable_recase: false,
            log_format: LogFormat::Text,
            disable_inotify: false,
            grpc_poll_interval: None,
            log_level: LogLevel::Info,
            plugins: toml::Table::new(),
            config_file: None,
        }
    }

    pub fn layout(&self) -> Layout {
        Layout::new(&self.home, &self.name, self.disable_recase)
    }

    /// Every variable with its effective value, in [`vars::ALL`] order. Unset optional
    /// values are empty text, which loads back as "unset".
    pub fn entries(&self) -> Vec<(&'static str, Setting)> {
        use Setting::{Bool, Count, Text};
        let opt_duration =
            |d: Option<Duration>| Text(d.map(format_go_duration).unwrap_or_default());
        vec![
            (vars::DAEMON_HOME, Text(self.home.display().to_string())),
            (vars::DAEMON_NAME, Text(self.name.clone())),
            (
                vars::DAEMON_ALLOW_DOWNLOAD_BINARIES,
                Bool(self.allow_download_binaries),
            ),
            (
                vars::DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM,
                Bool(self.download_must_have_checksum),
            ),
            (
                vars::DAEMON_RESTART_AFTER_UPGRADE,
                Bool(self.restart_after_upgrade),
            ),
            (vars::DAEMON_RESTART_DELAY, opt_duration(self.restart_delay)),
            (
                vars::DAEMON_SHUTDOWN_GRACE,
                opt_duration(self.shutdown_grace),
            ),
            (
                vars::DAEMON_POLL_INTERVAL,
                Text(format_go_duration(self.poll_interval)),
            ),
            (vars::UNSAFE_SKIP_BACKUP, Bool(self.unsafe_skip_backup)),
            (
                vars::DAEMON_DATA_BACKUP_DIR,
                Text(self.data_backup_dir.display().to_string()),
            ),
            (
                vars::DAEMON_PREUPGRADE_MAX_RETRIES,
                Count(self.preupgrade_max_retries),
            ),
            (vars::DAEMON_GRPC_ADDRESS, Text(self.grpc_address.clone())),
            (vars::COSMOVISOR_DISABLE_LOGS, Bool(self.disable_logs)),
            (vars::COSMOVISOR_COLOR_LOGS, Bool(self.color_logs)),
            (
                vars::COSMOVISOR_TIMEFORMAT_LOGS,
                Text(self.time_format_logs.clone().unwrap_or_default()),
            ),
            (
                vars::COSMOVISOR_CUSTOM_PREUPGRADE,
                Text(self.custom_preupgrade.clone().unwrap_or_default()),
            ),
            (vars::COSMOVISOR_DISABLE_RECASE, Bool(self.disable_recase)),
            (
                vars::WASMVISOR_LOG_FORMAT,
                Text(self.log_format.as_str().to_owned()),
            ),
            (
                vars::WASMVISOR_LOG_LEVEL,
                Text(self.log_level.as_str().to_owned()),
            ),
            (vars::WASMVISOR_DISABLE_INOTIFY, Bool(self.disable_inotify)),
            (
                vars::WASMVISOR_GRPC_POLL_INTERVAL,
                opt_duration(self.grpc_poll_interval),
            ),
        ]
    }

    /// `NAME=value` lines, one per variable (the `config` command's text output).
    pub fn to_env_lines(&self) -> String {
        self.entries()
            .into_iter()
            .map(|(name, value)| format!("{name}={value}\n"))
            .collect()
    }

    /// The effective configuration as a JSON object keyed by variable name, with the
    /// plugin table under `"plugins"`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (name, value) in self.entries() {
            let json = match value {
                Setting::Bool(b) => serde_json::Value::Bool(b),
                Setting::Count(n) => serde_json::Value::from(n),
                Setting::Text(s) => serde_json::Value::String(s),
            };
            map.insert(name.to_owned(), json);
        }
        if !self.plugins.is_empty() {
            let plugins = serde_json::to_value(&self.plugins).unwrap_or(serde_json::Value::Null);
            map.insert("plugins".to_owned(), plugins);
        }
        serde_json::Value::Object(map)
    }

    /// The configuration as a config file (`init` writes it); loads back to itself.
    pub fn to_toml(&self) -> String {
        file::render(self)
    }
}

/// One effective value, typed as the config file stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    Bool(bool),
    Count(u32),
    Text(String),
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Setting::Bool(b) => write!(f, "{b}"),
            Setting::Count(n) => write!(f, "{n}"),
            Setting::Text(s) => f.write_str(s),
        }
    }
}

/// One thing wrong with the configuration: which variable, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The variable name (`DAEMON_HOME`), or `--cosmovisor-config` for the file itself.
    pub variable: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// Every problem found while loading the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl ConfigError {
    /// Whether some problem concerns `variable`.
    pub fn mentions(&self, variable: &str) -> bool {
        self.problems.iter().any(|p| p.variable == variable)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "invalid configuration: {one}"),
            many => {
                write!(f, "invalid configuration ({} problems):", many.len())?;
                for p in many {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// What to load besides the environment, and how strictly.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--cosmovisor-config <path>`: a flat TOML file; set variables override it.
    pub file: Option<PathBuf>,
    /// Do not require DAEMON_DATA_BACKUP_DIR to exist yet (for `init`, which may run
    /// before the node created its home).
    pub skip_dir_checks: bool,
}

/// Loads the configuration from the process environment (and the file, if given).
pub fn load(opts: &LoadOptions) -> Result<Config, ConfigError> {
    load_with(|name| std::env::var_os(name), opts)
}

/// Loads the configuration from `lookup` (a variable name → its value, if set) and
/// the file named in `opts`. All problems are reported together.
pub fn load_with(
    lookup: impl Fn(&str) -> Option<OsString>,
    opts: &LoadOptions,
) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();
    let file = match &opts.file {
        Some(path) => match file::read(path) {
            Ok(f) => Some(f),
            Err(mut file_problems) => {
                problems.append(&mut file_problems);
                None
            }
        },
        None => None,
    };
    let mut src = Sources {
        lookup: &lookup,
        file: file.as_ref(),
        problems,
    };
    let config = build(&mut src, opts);
    match config {
        Some(config) if src.problems.is_empty() => Ok(config),
        _ => Err(ConfigError {
            problems: src.problems,
        }),
    }
}

/// Reads every variable; `None` when a required one is missing (already reported).
fn build(src: &mut Sources<'_>, opts: &LoadOptions) -> Option<Config> {
    let home = src.home();
    let name = src.daemon_name();
    let unsafe_skip_backup = src.boolean(vars::UNSAFE_SKIP_BACKUP, false);
    let backup_dir = src.path(vars::DAEMON_DATA_BACKUP_DIR);

    let mut config = Config::new(
        home.clone().unwrap_or_default(),
        name.clone().unwrap_or_default(),
    );
    config.allow_download_binaries = src.boolean(vars::DAEMON_ALLOW_DOWNLOAD_BINARIES, false);
    config.download_must_have_checksum =
        src.boolean(vars::DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM, false);
    config.restart_after_upgrade = src.boolean(vars::DAEMON_RESTART_AFTER_UPGRADE, true);
    config.restart_delay = src.duration(vars::DAEMON_RESTART_DELAY);
    config.shutdown_grace = src.duration(vars::DAEMON_SHUTDOWN_GRACE);
    config.poll_interval = src
        .duration(vars::DAEMON_POLL_INTERVAL)
        .unwrap_or(DEFAULT_POLL_INTERVAL);
    config.unsafe_skip_backup = unsafe_skip_backup;
    config.preupgrade_max_retries = src.count(vars::DAEMON_PREUPGRADE_MAX_RETRIES);
    config.grpc_address = src
        .text(vars::DAEMON_GRPC_ADDRESS)
        .unwrap_or_else(|| DEFAULT_GRPC_ADDRESS.to_owned());
    config.disable_logs = src.boolean(vars::COSMOVISOR_DISABLE_LOGS, false);
    config.color_logs = src.boolean(vars::COSMOVISOR_COLOR_LOGS, true);
    config.time_format_logs = src.time_format();
    config.custom_preupgrade = src.text(vars::COSMOVISOR_CUSTOM_PREUPGRADE);
    config.disable_recase = src.boolean(vars::COSMOVISOR_DISABLE_RECASE, false);
    config.log_format = src.choice(
        vars::WASMVISOR_LOG_FORMAT,
        &[("text", LogFormat::Text), ("json", LogFormat::Json)],
    );
    config.log_level = src.choice(
        vars::WASMVISOR_LOG_LEVEL,
        &[
            ("debug", LogLevel::Debug),
            ("info", LogLevel::Info),
            ("warn", LogLevel::Warn),
            ("error", LogLevel::Error),
        ],
    );
    config.disable_inotify = src.boolean(vars::WASMVISOR_DISABLE_INOTIFY, false);
    config.grpc_poll_interval = src.duration(vars::WASMVISOR_GRPC_POLL_INTERVAL);
    if let Some(file) = src.file {
        config.plugins = file.plugins.clone();
        config.config_file = Some(file.path.clone());
    }

    let home = home?;
    config.data_backup_dir = backup_dir.unwrap_or_else(|| home.clone());
    if !unsafe_skip_backup {
        src.check_backup_dir(&config.data_backup_dir, opts.skip_dir_checks);
    }
    name?;
    Some(config)
}

/// Where a value came from, for messages that point at the right place to fix it.
enum Origin<'a> {
    Env,
    File(&'a Path),
}

/// A set value, before it is interpreted.
enum Raw<'a> {
    Text(String, Origin<'a>),
    Toml(&'a toml::Value, &'a Path),
}

struct Sources<'a> {
    lookup: &'a dyn Fn(&str) -> Option<OsString>,
    file: Option<&'a file::ConfigFile>,
    problems: Vec<Problem>,
}

impl<'a> Sources<'a> {
    fn problem(&mut self, variable: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            variable: variable.to_owned(),
            message: message.into(),
        });
    }

    /// The value of `var`: a non-empty environment variable wins over the file; an
    /// empty one counts as unset (except where `empty_is_a_value`).
    fn raw(&mut self, var: &str, empty_is_a_value: bool) -> Option<Raw<'a>> {
        if let Some(value) = (self.lookup)(var)
            && (empty_is_a_value || !value.is_empty())
        {
            return match value.into_string() {
                Ok(s) => Some(Raw::Text(s, Origin::Env)),
                Err(_) => {
                    self.problem(var, "is not valid UTF-8; write it in plain text");
                    None
                }
            };
        }
        let file = self.file?;
        let value = file.values.get(&var.to_ascii_lowercase())?;
        Some(Raw::Toml(value, &file.path))
    }

    /// A set value as text: environment text, or a TOML string (other TOML types
    /// are reported as problems). `None` when empty or of the wrong type.
    fn as_text(&mut self, var: &str, raw: Raw<'a>, expected: &str) -> Option<(String, Origin<'a>)> {
        match raw {
            Raw::Text(s, origin) => Some((s, origin)),
            Raw::Toml(toml::Value::String(s), _) if s.is_empty() => None,
            Raw::Toml(toml::Value::String(s), path) => Some((s.clone(), Origin::File(path))),
            Raw::Toml(other, path) => {
                self.problem(var, wrong_type(var, other, path, expected));
                None
            }
        }
    }

    fn raw_text(&mut self, var: &str, expected: &str) -> Option<(String, Origin<'a>)> {
        let raw = self.raw(var, false)?;
        self.as_text(var, raw, expected)
    }

    fn report(&mut self, var: &str, value: &str, origin: &Origin<'_>, why: &str) {
        let place = match origin {
            Origin::Env => "in the environment".to_owned(),
            Origin::File(path) => format!("{} in {}", var.to_ascii_lowercase(), path.display()),
        };
        self.problem(var, format!("{value:?} ({place}): {why}"));
    }

    fn boolean(&mut self, var: &str, default: bool) -> bool {
        let raw = match self.raw(var, false) {
            None => return default,
            Some(Raw::Toml(toml::Value::Boolean(b), _)) => return *b,
            Some(raw) => raw,
        };
        let Some((text, origin)) = self.as_text(var, raw, "true or false") else {
            return default;
        };
        match text.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                self.report(var, &text, &origin, "not a boolean; write true or false");
                default
            }
        }
    }

    fn duration(&mut self, var: &str) -> Option<Duration> {
        let raw = match self.raw(var, false)? {
            // cosmovisor's `config`/`init` write durations as integer nanoseconds, and
            // 0 for "unset"; such files must keep loading.
            Raw::Toml(toml::Value::Integer(n), path) => {
                return match u64::try_from(*n) {
                    Ok(0) => None,
                    Ok(nanos) => Some(Duration::from_nanos(nanos)),
                    Err(_) => {
                        let why = "must be greater than 0; write e.g. \"5s\"";
                        self.report(var, &n.to_string(), &Origin::File(path), why);
                        None
                    }
                };
            }
            raw => raw,
        };
        let (text, origin) = self.as_text(var, raw, "a duration such as \"300ms\" or \"1m30s\"")?;
        match duration::parse_positive(&text) {
            Ok(d) => Some(d),
            Err(why) => {
                self.report(var, &text, &origin, &why);
                None
            }
        }
    }

    fn count(&mut self, var: &str) -> u32 {
        let raw = match self.raw(var, false) {
            None => return 0,
            Some(Raw::Toml(toml::Value::Integer(n), path)) => {
                return u32::try_from(*n).unwrap_or_else(|_| {
                    let why = "write a whole number from 0 to 4294967295";
                    self.report(var, &n.to_string(), &Origin::File(path), why);
                    0
                });
            }
            Some(raw) => raw,
        };
        let Some((text, origin)) = self.as_text(var, raw, "a whole number") else {
            return 0;
        };
        text.trim().parse().unwrap_or_else(|_| {
            self.report(var, &text, &origin, "not a whole number; write e.g. 0 or 3");
            0
        })
    }

    fn text(&mut self, var: &str) -> Option<String> {
        self.raw_text(var, "a string").map(|(s, _)| s)
    }

    fn path(&mut self, var: &str) -> Option<PathBuf> {
        // Paths are taken as bytes from the environment: a non-UTF-8 home is legal.
        if let Some(value) = (self.lookup)(var)
            && !value.is_empty()
        {
            return Some(PathBuf::from(value));
        }
        self.text(var).map(PathBuf::from)
    }

    fn home(&mut self) -> Option<PathBuf> {
        let var = vars::DAEMON_HOME;
        let Some(home) = self.path(var) else {
            self.problem(
                var,
                "is not set; set it to the node's home directory (the one holding data/ and cosmovisor/), e.g. DAEMON_HOME=$HOME/.gaiad",
            );
            return None;
        };
        if !home.is_absolute() {
            self.problem(
                var,
                format!("{:?} is not an absolute path; write the full path from /, e.g. DAEMON_HOME=$HOME/.gaiad", home),
            );
            return None;
        }
        Some(home)
    }

    fn daemon_name(&mut self) -> Option<String> {
        let var = vars::DAEMON_NAME;
        let Some(name) = self.text(var) else {
            self.problem(
                var,
                "is not set; set it to the file name of the node binary, e.g. DAEMON_NAME=gaiad",
            );
            return None;
        };
        if name.contains('/') || name == "." || name == ".." || name.contains('\0') {
            self.problem(
                var,
                format!("{name:?} is not a file name; write only the binary's name (e.g. gaiad), not a path"),
            );
            return None;
        }
        Some(name)
    }

    fn time_format(&mut self) -> Option<String> {
        let var = vars::COSMOVISOR_TIMEFORMAT_LOGS;
        // Set-but-empty means "no timestamp", so an empty value is a value here.
        let (text, origin) = match self.raw(var, true) {
            None => return Some(DEFAULT_TIME_FORMAT.to_owned()),
            Some(Raw::Text(s, origin)) => (s, origin),
            Some(Raw::Toml(toml::Value::String(s), path)) => (s.clone(), Origin::File(path)),
            Some(Raw::Toml(other, path)) => {
                self.problem(
                    var,
                    wrong_type(var, other, path, "a time format name such as \"kitchen\""),
                );
                return Some(DEFAULT_TIME_FORMAT.to_owned());
            }
        };
        if text.is_empty() {
            return None;
        }
        if TIME_FORMATS.contains(&text.as_str()) {
            return Some(text);
        }
        let why = format!(
            "not a known time format; write one of {}, or set it empty for no timestamp",
            TIME_FORMATS.join(", ")
        );
        self.report(var, &text, &origin, &why);
        Some(DEFAULT_TIME_FORMAT.to_owned())
    }

    fn choice<T: Copy + Default>(&mut self, var: &str, options: &[(&str, T)]) -> T {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let expected = names.join(" or ");
        let Some((text, origin)) = self.raw_text(var, &expected) else {
            return T::default();
        };
        let lower = text.to_ascii_lowercase();
        if let Some((_, value)) = options.iter().find(|(n, _)| *n == lower) {
            return *value;
        }
        self.report(var, &text, &origin, &format!("write {expected}"));
        T::default()
    }

    fn check_backup_dir(&mut self, dir: &Path, skip_existence: bool) {
        let var = vars::DAEMON_DATA_BACKUP_DIR;
        if !dir.is_absolute() {
            self.problem(
                var,
                format!("{dir:?} is not an absolute path; write the full path from /, or set UNSAFE_SKIP_BACKUP=true"),
            );
            return;
        }
        if skip_existence {
            return;
        }
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => self.problem(
                var,
                format!("{dir:?} is not a directory; point it at an existing directory for backups"),
            ),
            Err(e) => self.problem(
                var,
                format!(
                    "{dir:?} cannot be used ({e}); create it (mkdir -p {}) or set UNSAFE_SKIP_BACKUP=true",
                    dir.display()
                ),
            ),
        }
    }
}

fn wrong_type(var: &str, value: &toml::Value, path: &Path, expected: &str) -> String {
    format!(
        "{} = {value} in {} has the wrong type ({}); write {expected}",
        var.to_ascii_lowercase(),
        path.display(),
        value.type_str()
    )
}

#[cfg(test)]
mod tests;
