//! The optional config file: flat TOML whose keys are the variable names in lower
//! case, plus a `[plugins]` table that belongs to the plugin runtime.
//!
//! A misspelt key would silently fall back to a default — for `unsafe_skip_backup`
//! or `daemon_restart_after_upgrade` that is the difference between a working and a
//! broken upgrade at 3 a.m. — so unknown keys are errors that name the key.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Config, Problem, Setting, vars};

/// The flag that names the file, used as the "variable" of file-level problems.
pub const FLAG: &str = "--cosmovisor-config";

/// The table the plugin runtime parses.
pub const PLUGINS: &str = "plugins";

/// A parsed config file.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// Lower-case variable name → value.
    pub values: toml::Table,
    /// The `[plugins]` table, unparsed.
    pub plugins: toml::Table,
}

/// Reads and splits a config file; reports unknown keys all at once.
pub fn read(path: &Path) -> Result<ConfigFile, Vec<Problem>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![problem(format!(
            "cannot read {} ({e}); check the path given to {FLAG}",
            path.display()
        ))]
    })?;
    parse(path, &text)
}

/// Parses a config file's text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, Vec<Problem>> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|span| line_col(text, span.start))
            .unwrap_or_default();
        let msg = e.message().trim().replace('\n', " ");
        vec![problem(format!(
            "{} is not valid TOML{at}: {msg}; fix the file",
            path.display()
        ))]
    })?;

    let mut table = lower_case_keys(path, table)?;
    let plugins = match table.remove(PLUGINS) {
        None => toml::Table::new(),
        Some(toml::Value::Table(t)) => t,
        Some(other) => {
            return Err(vec![problem(format!(
                "in {}, `plugins` must be a table ([plugins] or [plugins.<name>]), not a {}",
                path.display(),
                other.type_str()
            ))]);
        }
    };

    let known: Vec<String> = vars::ALL.iter().map(|v| v.to_ascii_lowercase()).collect();
    let mut unknown: Vec<&str> = table
        .keys()
        .map(String::as_str)
        .filter(|k| !known.iter().any(|n| n == k))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(vec![problem(format!(
            "unknown key{} {} in {}; the file takes the variable names in lower case ({}) and a [plugins] table",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            path.display(),
            known.join(", "),
        ))]);
    }
    Ok(ConfigFile {
        path: path.to_owned(),
        values: table,
        plugins,
    })
}

/// Renders a configuration as a config file that loads back to the same values.
/// Unset optional values are left out (an empty duration would not load in cosmovisor).
pub fn render(config: &Config) -> String {
    let mut out = String::from(
        "# wasmvisor configuration (cosmovisor-compatible). Keys are the environment\n\
         # variable names in lower case; a set environment variable overrides a key.\n",
    );
    for (name, value) in config.entries() {
        let value = match value {
            Setting::Text(s) if s.is_empty() && name != vars::COSMOVISOR_TIMEFORMAT_LOGS => {
                continue;
            }
            Setting::Text(s) => toml::Value::String(s),
            Setting::Bool(b) => toml::Value::Boolean(b),
            Setting::Count(n) => toml::Value::Integer(i64::from(n)),
        };
        let _ = writeln!(out, "{} = {value}", name.to_ascii_lowercase());
    }
    if !config.plugins.is_empty() {
        let mut wrapper = toml::Table::new();
        wrapper.insert(
            PLUGINS.to_owned(),
            toml::Value::Table(config.plugins.clone()),
        );
        match toml::to_string(&wrapper) {
            Ok(plugins) => {
                out.push('\n');
                out.push_str(&plugins);
            }
            // A table that came out of a TOML file always serializes; keep the file
            // loadable even if that ever changes.
            Err(e) => {
                let _ = writeln!(out, "# the [plugins] table could not be written: {e}");
            }
        }
    }
    out
}

/// cosmovisor reads the file through viper, whose keys are case-insensitive, so
/// `DAEMON_NAME = "gaiad"` works there and must work here.
fn lower_case_keys(path: &Path, table: toml::Table) -> Result<toml::Table, Vec<Problem>> {
    let mut lowered = toml::Table::new();
    for (key, value) in table {
        let lower = key.to_ascii_lowercase();
        if lowered.contains_key(&lower) {
            return Err(vec![problem(format!(
                "{} sets {lower} twice (keys ignore case); keep one",
                path.display()
            ))]);
        }
        lowered.insert(lower, value);
    }
    Ok(lowered)
}

fn problem(message: String) -> Problem {
    Problem {
        variable: FLAG.to_owned(),
        message,
    }
}

fn line_col(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!(" at line {line}, column {col}")
}
