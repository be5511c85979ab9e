//! `wasmvisor config`: the effective configuration, as the supervisor would use it.
//!
//! Text output is `NAME=value` lines — valid for a systemd `EnvironmentFile` — so an
//! operator can see, and keep, exactly what environment, file and defaults add up to.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::{Output, load_config};
use crate::config::Config;

pub fn run(config_file: Option<PathBuf>, output: Output, out: &mut dyn Write) -> Result<ExitCode> {
    let config = load_config(config_file, false)?;
    write(&config, output, out)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the configuration in the requested form.
pub fn write(config: &Config, output: Output, out: &mut dyn Write) -> Result<()> {
    match output {
        Output::Text => {
            out.write_all(config.to_env_lines().as_bytes())?;
            if let Some(file) = &config.config_file {
                writeln!(out, "# config file: {}", file.display())?;
            }
            if !config.plugins.is_empty() {
                let mut wrapper = toml::Table::new();
                wrapper.insert("plugins".into(), toml::Value::Table(config.plugins.clone()));
                let plugins = toml::to_string(&wrapper).context("rendering the [plugins] table")?;
                writeln!(out, "# plugins (from the config file):")?;
                for line in plugins.lines() {
                    writeln!(out, "# {line}")?;
                }
            }
        }
        Output::Json => {
            let text = serde_json::to_string_pretty(&config.to_json())?;
            writeln!(out, "{text}")?;
        }
    }
    out.flush().context("writing to stdout")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_env_lines_and_json_parses() {
        let mut config = Config::new("/h", "gaiad");
        config.plugins = toml::from_str("[s3]\nbucket = \"b\"\n").unwrap();
        let mut text = Vec::new();
        write(&config, Output::Text, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.starts_with("DAEMON_HOME=/h\nDAEMON_NAME=gaiad\n"),
            "{text}"
        );
        assert!(text.contains("# [plugins.s3]"), "{text}");
        let mut json = Vec::new();
        write(&config, Output::Json, &mut json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["DAEMON_POLL_INTERVAL"], "300ms");
        assert_eq!(v["plugins"]["s3"]["bucket"], "b");
    }
}
