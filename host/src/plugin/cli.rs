//! `wasmvisor plugin …`: what an operator needs before trusting a plugin (list,
//! inspect: kind, contract version, sha256, declared vs effective capabilities),
//! `export` of a bundled plugin, and offline calls for plugin authors (`resolve`,
//! `detect`, `hook`) that run a plugin exactly as the supervisor would — same
//! sandbox, same grants — without a node.
//!
//! Configuration is optional here: with `DAEMON_HOME`/`DAEMON_NAME` (or `-c`) set, the
//! operator's `[plugins]` table, state and cache are used; without, the plugin runs
//! with only what the command line grants (`--set`, `--grant-host`, `--grant-file`).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use sha2::{Digest, Sha256};

use super::contract::{PACKAGE, read_contract};
use super::{
    ComponentCache, HostOptions, LoadedPlugin, NodeContext, Platform, PluginHost, PluginSettings,
    PluginSource, PluginsConfig, bundled, source_of,
};
use crate::upgrade_info::Plan;

/// Grants and config values given on the command line (offline calls).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OfflineGrants {
    /// A config value for the plugin, KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Grant an HTTP host the plugin declares (repeatable).
    #[arg(long = "grant-host", value_name = "HOST")]
    pub grant_host: Vec<String>,
    /// Grant a file (relative to $DAEMON_HOME) the plugin declares (repeatable).
    #[arg(long = "grant-file", value_name = "PATH")]
    pub grant_file: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the bundled plugins and the ones the configuration loads
    List,
    /// Show a plugin's kind, WIT version, sha256, and declared vs effective capabilities
    #[command(
        after_help = "Examples:\n  wasmvisor plugin inspect log-scanner\n  wasmvisor plugin inspect ./my-resolver.wasm"
    )]
    Inspect {
        /// A .wasm file, a bundled plugin's name, or a [plugins.<name>] of the configuration.
        #[arg(value_name = "PATH|NAME")]
        plugin: String,
        #[command(flatten)]
        grants: OfflineGrants,
    },
    /// Write a bundled plugin to a file (to inspect, pin or modify it)
    #[command(after_help = "Example:\n  wasmvisor plugin export log-scanner ./log-scanner.wasm")]
    Export { name: String, file: PathBuf },
    /// Ask a resolver for a plan's artifacts and print them as JSON
    #[command(
        after_help = "Example:\n  wasmvisor plugin resolve ./my-resolver.wasm --plan plan.json --set bucket=my-bucket"
    )]
    Resolve {
        #[arg(value_name = "PATH|NAME")]
        plugin: String,
        /// A plan file, as data/upgrade-info.json.
        #[arg(long, value_name = "FILE")]
        plan: PathBuf,
        /// GOOS of the binary (default: this machine).
        #[arg(long)]
        os: Option<String>,
        /// GOARCH of the binary (default: this machine).
        #[arg(long)]
        arch: Option<String>,
        #[command(flatten)]
        grants: OfflineGrants,
    },
    /// Poll a detector once, or feed it log lines (from a file, or `-` for stdin)
    #[command(
        after_help = "Examples:\n  wasmvisor plugin detect ./my-detector.wasm\n  wasmvisor plugin detect log-scanner --log node.log\n  wasmvisor plugin detect rpc-poll --running-version v2.0.0 --grant-host 127.0.0.1:1317 --set preset=lava --set url=http://127.0.0.1:1317"
    )]
    Detect {
        #[arg(value_name = "PATH|NAME")]
        plugin: String,
        /// Feed these lines to on-log-line instead of polling.
        #[arg(long, value_name = "FILE|-")]
        log: Option<PathBuf>,
        /// The running binary's version the poll is told (as `<app> version` would
        /// print it); none by default.
        #[arg(long, value_name = "VERSION")]
        running_version: Option<String>,
        #[command(flatten)]
        grants: OfflineGrants,
    },
    /// Run a hook's pre-upgrade (or --post, or an event) for a plan
    #[command(
        after_help = "Examples:\n  wasmvisor plugin hook ./version-check.wasm --plan plan.json --binary ./gaiad-v2\n                        wasmvisor plugin hook webhook --plan plan.json --failed \"checksum mismatch\" --grant-host 127.0.0.1 --set url=http://127.0.0.1:9095/"
    )]
    Hook {
        #[arg(value_name = "PATH|NAME")]
        plugin: String,
        #[arg(long, value_name = "FILE")]
        plan: PathBuf,
        /// The binary `run-new-binary` runs (pre- and post-upgrade only).
        #[arg(long, value_name = "FILE", required_unless_present_any = ["detected", "failed"])]
        binary: Option<PathBuf>,
        /// Call post-upgrade instead of pre-upgrade.
        #[arg(long, conflicts_with_all = ["detected", "failed"])]
        post: bool,
        /// Call on-event with `detected` instead.
        #[arg(long, conflicts_with = "failed")]
        detected: bool,
        /// Call on-event with `failed` and this reason instead.
        #[arg(long, value_name = "REASON")]
        failed: Option<String>,
        #[command(flatten)]
        grants: OfflineGrants,
    },
}

/// Runs one `wasmvisor plugin …` command. `config_file` is the global `-c`.
pub fn plugin_command(command: PluginCommand, config_file: Option<PathBuf>) -> Result<ExitCode> {
    plugin_command_to(command, config_file, &mut std::io::stdout().lock())
}

/// [`plugin_command`] writing its results to `out` (messages and logs go to stderr).
pub fn plugin_command_to(
    command: PluginCommand,
    config_file: Option<PathBuf>,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        match command {
            PluginCommand::List => list(config_file, out),
            PluginCommand::Export { name, file } => export(&name, &file, out),
            PluginCommand::Inspect { plugin, grants } => {
                inspect(&open(config_file, &plugin, &grants)?, out).await
            }
            PluginCommand::Resolve {
                plugin,
                plan,
                os,
                arch,
                grants,
            } => {
                let ctx = open(config_file, &plugin, &grants)?;
                let plan = read_plan(&plan)?;
                let here = Platform::current();
                let platform = Platform {
                    os: os.unwrap_or(here.os),
                    arch: arch.unwrap_or(here.arch),
                };
                let artifacts = ctx.plugin().resolve(&plan, &platform).await?;
                let json: Vec<serde_json::Value> = artifacts
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "url": a.url,
                            "checksum": a.checksum.as_ref().map(|c| c.to_string()),
                            "archive": a.archive.name(),
                            "path_in_archive": a.binary_path,
                            "headers": a.headers,
                        })
                    })
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
                Ok(ExitCode::SUCCESS)
            }
            PluginCommand::Detect {
                plugin,
                log,
                running_version,
                grants,
            } => {
                let opened = open(config_file, &plugin, &grants)?;
                let node = NodeContext {
                    running_version,
                    ..opened.node()
                };
                detect(&opened, &node, log, out).await
            }
            PluginCommand::Hook {
                plugin,
                plan,
                binary,
                post,
                detected,
                failed,
                grants,
            } => {
                let ctx = open(config_file, &plugin, &grants)?;
                let plan = read_plan(&plan)?;
                let node = ctx.node();
                let event = match (detected, failed) {
                    (true, _) => Some(crate::upgrade::UpgradeEvent::Detected),
                    (false, Some(reason)) => Some(crate::upgrade::UpgradeEvent::Failed(reason)),
                    (false, None) => None,
                };
                let call = match (event, binary) {
                    (Some(event), _) => {
                        ctx.plugin().on_event(&event, &plan, &node).await?;
                        "on-event"
                    }
                    (None, None) => bail!("--binary is needed for pre- and post-upgrade"),
                    (None, Some(binary)) => {
                        let binary = std::path::absolute(&binary).unwrap_or(binary);
                        if post {
                            ctx.plugin().post_upgrade(&plan, &node, &binary).await?;
                            "post-upgrade"
                        } else {
                            ctx.plugin().pre_upgrade(&plan, &node, &binary).await?;
                            "pre-upgrade"
                        }
                    }
                };
                writeln!(out, "{call} of {} passed", plan.name)?;
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// One plugin opened for a command, with the configuration it runs under.
struct Opened {
    host: PluginHost,
    configured: bool,
}

impl Opened {
    fn plugin(&self) -> &LoadedPlugin {
        &self.host.plugins()[0]
    }

    fn node(&self) -> NodeContext {
        NodeContext {
            daemon_name: self.host.daemon_name().to_string(),
            current_upgrade: None,
            running_version: None,
        }
    }
}

/// The operator's configuration when there is one (DAEMON_HOME or -c given).
fn configuration(config_file: Option<PathBuf>) -> Result<Option<crate::config::Config>> {
    let has_env = std::env::var_os("DAEMON_HOME").is_some();
    if config_file.is_none() && !has_env {
        return Ok(None);
    }
    Ok(Some(crate::cli::load_config(config_file, true)?))
}

fn open(config_file: Option<PathBuf>, spec: &str, grants: &OfflineGrants) -> Result<Opened> {
    let config = configuration(config_file)?;
    let (plugins_config, opts) = match &config {
        Some(c) => (
            PluginsConfig {
                // What the supervisor would pass (e.g. must-have-checksum).
                host_config: super::grants::host_config(c),
                ..PluginsConfig::from_table(&c.plugins).context("the [plugins] configuration")?
            },
            HostOptions {
                home: Some(c.home.clone()),
                daemon_name: c.name.clone(),
                cache: ComponentCache::under_home(&c.home),
            },
        ),
        None => (
            PluginsConfig::default(),
            HostOptions {
                home: None,
                daemon_name: "app".into(),
                cache: ComponentCache::disabled(),
            },
        ),
    };
    // A [plugins.<name>] table with a path or bundled name may be named directly.
    let source = match plugins_config.plugins.get(spec) {
        Some(PluginSettings { path: Some(p), .. }) => PluginSource::Path(p.clone()),
        Some(PluginSettings {
            bundled: Some(b), ..
        }) => source_of(b)?,
        _ => source_of(spec)?,
    };
    let mut settings = plugins_config
        .plugins
        .values()
        .find(|s| super::targets(s, &source))
        .cloned();
    let offline = offline_settings(grants)?;
    if offline != PluginSettings::default() {
        // Command-line grants add to the table that targets this plugin, if any
        // (a table found only by manifest name is then not consulted).
        let s = settings.get_or_insert_with(PluginSettings::default);
        s.hosts.extend(offline.hosts);
        s.files.extend(offline.files);
        s.config.extend(offline.config);
    }
    let host = PluginHost::single(plugins_config, source, settings, opts)?;
    Ok(Opened {
        host,
        configured: config.is_some(),
    })
}

fn offline_settings(grants: &OfflineGrants) -> Result<PluginSettings> {
    let mut s = PluginSettings {
        hosts: grants.grant_host.clone(),
        files: grants.grant_file.clone(),
        ..Default::default()
    };
    for kv in &grants.set {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--set {kv:?}: write KEY=VALUE"))?;
        s.config
            .insert(k.to_string(), toml::Value::String(v.to_string()));
    }
    Ok(s)
}

fn read_plan(path: &Path) -> Result<Plan> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the plan file {}", path.display()))?;
    crate::upgrade_info::parse(&bytes).with_context(|| format!("the plan file {}", path.display()))
}

fn list(config_file: Option<PathBuf>, out: &mut dyn Write) -> Result<ExitCode> {
    writeln!(
        out,
        "bundled plugins (use by name, e.g. --plugin log-scanner):"
    )?;
    for name in bundled::names() {
        let Some((_, bytes)) = bundled::get(name) else {
            continue;
        };
        let kind = read_contract(bytes)
            .map(|c| format!("{} ({PACKAGE}@{})", c.kind, c.version))
            .unwrap_or_else(|e| e.to_string());
        writeln!(out, "  {name:<20} {kind:<40} {} KiB", bytes.len() / 1024)?;
    }
    if let Some(config) = configuration(config_file)? {
        let plugins = PluginsConfig::from_table(&config.plugins)?;
        writeln!(out, "configured ([plugins] in the configuration):")?;
        if plugins.plugins.is_empty() {
            writeln!(out, "  none")?;
        }
        for (name, s) in &plugins.plugins {
            let source = match (&s.path, &s.bundled) {
                (Some(p), _) => p.display().to_string(),
                (None, Some(b)) => format!("bundled:{b}"),
                (None, None) => "(settings for a --plugin)".to_string(),
            };
            let state = if s.enabled { "enabled" } else { "disabled" };
            writeln!(
                out,
                "  {name:<20} {source}  [{state}, priority {}]",
                s.priority
            )?;
        }
        writeln!(out, "credential rules: {}", plugins.credentials.rules.len())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn export(name: &str, file: &Path, out: &mut dyn Write) -> Result<ExitCode> {
    let (_, bytes) = bundled::get(name).with_context(|| {
        format!(
            "no bundled plugin is named {name:?} (bundled: {})",
            bundled::names().join(", ")
        )
    })?;
    if file.exists() {
        bail!(
            "{} already exists; remove it or choose another file",
            file.display()
        );
    }
    std::fs::write(file, bytes).with_context(|| format!("writing {}", file.display()))?;
    writeln!(
        out,
        "{} ({} bytes, sha256 {})",
        file.display(),
        bytes.len(),
        hex::encode(Sha256::digest(bytes))
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn inspect(opened: &Opened, out: &mut dyn Write) -> Result<ExitCode> {
    let p = opened.plugin();
    let ready = p.ready().await?;
    let m = &ready.manifest;
    let g = &ready.ctx.grant;
    let l = &ready.ctx.limits;
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    writeln!(out, "name:         {} {}", m.name, m.version)?;
    writeln!(out, "kind:         {}", m.kind)?;
    writeln!(out, "contract:     {PACKAGE}@{}", p.contract.version)?;
    writeln!(out, "source:       {}", p.source)?;
    writeln!(out, "sha256:       {}", p.sha256)?;
    writeln!(out, "size:         {} bytes", p.size)?;
    if !m.description.is_empty() {
        writeln!(out, "description:  {}", m.description)?;
    }
    writeln!(out, "declared:")?;
    writeln!(
        out,
        "  http hosts:      {}",
        list(m.http_hosts.iter().map(|h| h.to_string()).collect())
    )?;
    writeln!(out, "  files:           {}", list(m.files.clone()))?;
    writeln!(out, "  config keys:     {}", list(m.config_keys.clone()))?;
    if m.kind == super::PluginKind::Detector {
        let poll = m
            .poll_interval_ms
            .map(|ms| format!("every {ms} ms"))
            .unwrap_or_else(|| "never".into());
        writeln!(out, "  poll:            {poll}")?;
        writeln!(
            out,
            "  log lines:       {}",
            match (m.wants_log_lines, m.log_line_filter.is_empty()) {
                (false, _) => "no".to_string(),
                (true, true) => "all (unfiltered)".to_string(),
                (true, false) => format!("containing {}", list(m.log_line_filter.clone())),
            }
        )?;
    }
    if m.kind == super::PluginKind::Hook {
        writeln!(
            out,
            "  binary commands: {}",
            list(m.binary_commands.iter().map(|c| c.join(" ")).collect())
        )?;
    }
    let origin = if opened.configured {
        "with this configuration"
    } else {
        "no configuration: command-line grants only"
    };
    writeln!(out, "effective ({origin}):")?;
    writeln!(
        out,
        "  http hosts:      {}",
        list(
            g.egress
                .allowed
                .iter()
                .map(|h| h.to_string())
                .chain(g.egress.plan_info.then(|| {
                    "{plan-info} (the hosts the plan's info names, read-only)".to_string()
                }))
                .collect()
        )
    )?;
    writeln!(out, "  files:           {}", list(g.files.clone()))?;
    writeln!(
        out,
        "  config:          {}",
        list(g.config.iter().map(|(k, v)| format!("{k}={v}")).collect())
    )?;
    if m.kind == super::PluginKind::Hook {
        writeln!(
            out,
            "  binary commands: {}",
            list(g.binary_commands.iter().map(|c| c.join(" ")).collect())
        )?;
    }
    for d in &g.denied {
        writeln!(out, "  denied:          {d}")?;
    }
    for u in &ready.unused_grants {
        writeln!(out, "  unused grant:    {u}")?;
    }
    writeln!(
        out,
        "limits:       {:?} per call, {} MiB memory, {} KiB result, {} KiB HTTP response",
        l.call_timeout,
        l.memory_bytes >> 20,
        l.max_result_bytes >> 10,
        l.max_http_response_bytes >> 10
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn detect(
    opened: &Opened,
    node: &NodeContext,
    log: Option<PathBuf>,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let p = opened.plugin();
    let mut found: Vec<Plan> = Vec::new();
    match log {
        None => {
            if let Some(plan) = p.poll(node).await? {
                found.push(plan);
            }
        }
        Some(path) => {
            let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::io::BufReader::new(
                    std::fs::File::open(&path)
                        .with_context(|| format!("cannot open {}", path.display()))?,
                ))
            };
            for line in reader.lines() {
                let line = line.context("reading the log")?;
                if let Some(plan) = p.on_log_line(&line).await? {
                    found.push(plan);
                }
            }
        }
    }
    let json: Vec<BTreeMap<&str, serde_json::Value>> = found
        .iter()
        .map(|plan| {
            BTreeMap::from([
                ("name", plan.name.clone().into()),
                ("height", plan.height.into()),
                ("info", plan.info.clone().into()),
            ])
        })
        .collect();
    writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        format!("{}/{name}.wasm", env!("WASMVISOR_FIXTURES_DIR"))
    }

    fn run(command: PluginCommand) -> (Result<ExitCode>, String) {
        let mut out = Vec::new();
        let result = plugin_command_to(command, None, &mut out);
        (result, String::from_utf8(out).unwrap())
    }

    fn grants(hosts: &[&str], set: &[&str]) -> OfflineGrants {
        OfflineGrants {
            set: set.iter().map(|s| s.to_string()).collect(),
            grant_host: hosts.iter().map(|s| s.to_string()).collect(),
            grant_file: Vec::new(),
        }
    }

    #[test]
    fn inspect_shows_kind_contract_hash_and_declared_vs_effective() {
        let (result, out) = run(PluginCommand::Inspect {
            plugin: fixture("fixture_resolver_hostile"),
            grants: grants(&["localhost"], &[]),
        });
        result.unwrap();
        for expected in [
            "name:         resolver-hostile 0.1.0",
            "kind:         resolver",
            "contract:     wasmvisor:plugin@0.1.0",
            "sha256:       ",
            "http hosts:      binaries.example.com, localhost",
            "http hosts:      localhost",
            "denied:          http host binaries.example.com: declared but not granted",
            "denied:          file data/upgrade-info.json",
        ] {
            assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
        }
    }

    #[test]
    fn export_writes_the_bundled_bytes_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scanner.wasm");
        let (result, out) = run(PluginCommand::Export {
            name: "log-scanner".into(),
            file: file.clone(),
        });
        result.unwrap();
        assert_eq!(
            std::fs::read(&file).unwrap(),
            bundled::get("log-scanner").unwrap().1
        );
        assert!(out.contains("sha256"), "{out}");
        let (again, _) = run(PluginCommand::Export {
            name: "log-scanner".into(),
            file,
        });
        assert!(format!("{:#}", again.unwrap_err()).contains("already exists"));
        let (unknown, _) = run(PluginCommand::Export {
            name: "nope".into(),
            file: dir.path().join("x.wasm"),
        });
        assert!(
            format!("{:#}", unknown.unwrap_err()).contains("log-scanner"),
            "lists the bundled names"
        );
    }

    #[test]
    fn resolve_prints_the_artifacts_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("plan.json");
        std::fs::write(&plan, r#"{"name":"v7","height":3,"info":""}"#).unwrap();
        let (result, out) = run(PluginCommand::Resolve {
            plugin: fixture("fixture_resolver_basic"),
            plan,
            os: Some("linux".into()),
            arch: Some("arm64".into()),
            grants: grants(&[], &["base-url=https://m.test"]),
        });
        result.unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            json[0]["url"],
            "https://m.test/v7/chaind-linux-arm64.tar.gz"
        );
        assert_eq!(json[0]["archive"], "tar.gz");
        assert_eq!(json[0]["path_in_archive"], "bin/chaind");
    }

    #[test]
    fn detect_feeds_log_lines_to_a_bundled_detector() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("node.log");
        std::fs::write(
            &log,
            "INF ok\nERR UPGRADE \"v3\" NEEDED at height: 77: \nINF after\n",
        )
        .unwrap();
        let (result, out) = run(PluginCommand::Detect {
            plugin: "log-scanner".into(),
            log: Some(log),
            running_version: None,
            grants: OfflineGrants::default(),
        });
        result.unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json[0]["name"], "v3");
        assert_eq!(json[0]["height"], 77);
    }

    /// A loopback Lava-style API: protocol params (target v2.1.0) and CometBFT status
    /// at height 41.
    fn lava_api() -> u16 {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let body = if request.contains("/status") {
                    r#"{"result":{"sync_info":{"latest_block_height":"41"}}}"#
                } else {
                    r#"{"params":{"version":{"provider_target":"v2.1.0","provider_min":"v2.0.0"}}}"#
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        port
    }

    #[test]
    fn detect_tells_the_poll_the_running_version_given() {
        let port = lava_api();
        let base = format!("http://127.0.0.1:{port}");
        let lava = |running_version: Option<&str>| {
            run(PluginCommand::Detect {
                plugin: "rpc-poll".into(),
                log: None,
                running_version: running_version.map(str::to_string),
                grants: grants(
                    &["127.0.0.1"],
                    &[
                        "preset=lava",
                        &format!("url={base}"),
                        &format!("height_url={base}"),
                    ],
                ),
            })
        };
        let (result, out) = lava(Some("v2.0.0"));
        result.unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json[0]["name"], "v2.1.0");
        assert_eq!(json[0]["height"], 42);
        let (result, out) = lava(Some("v2.1.0"));
        result.unwrap();
        assert_eq!(out.trim(), "[]");
        let (result, _) = lava(None);
        let e = format!("{:#}", result.unwrap_err());
        assert!(e.contains("--running-version"), "{e}");
    }

    #[test]
    fn hook_reports_a_refusal_as_an_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("plan.json");
        std::fs::write(&plan, r#"{"name":"v2","height":3}"#).unwrap();
        let binary = dir.path().join("chaind");
        std::fs::write(&binary, "#!/bin/sh\necho v1.0.0\n").unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        let hook = |expect: &str| PluginCommand::Hook {
            plugin: fixture("fixture_hook_basic"),
            plan: plan.clone(),
            binary: Some(binary.clone()),
            post: false,
            detected: false,
            failed: None,
            grants: grants(&[], &[&format!("expect={expect}")]),
        };
        let (ok, out) = run(hook("v1.0"));
        ok.unwrap();
        assert!(out.contains("pre-upgrade of v2 passed"), "{out}");
        let (refused, _) = run(hook("v2.0"));
        let msg = format!("{:#}", refused.unwrap_err());
        assert!(msg.contains("expected it to contain \"v2.0\""), "{msg}");
    }

    #[test]
    fn hook_events_need_no_binary_and_reach_on_event() {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("plan.json");
        std::fs::write(&plan, r#"{"name":"v2","height":3}"#).unwrap();
        let event = |detected: bool, failed: Option<&str>| PluginCommand::Hook {
            plugin: fixture("fixture_hook_basic"),
            plan: plan.clone(),
            binary: None,
            post: false,
            detected,
            failed: failed.map(str::to_string),
            grants: grants(&[], &[]),
        };
        for (detected, failed) in [(true, None), (false, Some("no binary"))] {
            let (ok, out) = run(event(detected, failed));
            ok.unwrap();
            assert!(out.contains("on-event of v2 passed"), "{out}");
        }
        let (missing, _) = run(event(false, None));
        assert!(format!("{:#}", missing.unwrap_err()).contains("--binary"));
    }
}
