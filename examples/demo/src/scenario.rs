//! The demo's world: a throw-away node home, the tools, and how to drive them.
//!
//! Everything wasmvisor and the node see is set here explicitly. Inherited
//! `DAEMON_*`, `COSMOVISOR_*`, `WASMVISOR_*` and `FAKECHAIND_*` variables are
//! removed first: an operator trying the demo on a validator machine must not
//! have it pick up (or touch) their real node's home.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::narrate::{self, Stream};
use crate::release_server::ReleaseServer;
use crate::supervisor::Supervisor;
use crate::tools::Tools;

pub const DAEMON_NAME: &str = "fake-chaind";
pub const BLOCK_TIME_MS: u64 = 50;
/// The first upgrade: a binary placed by `add-upgrade`.
pub const V2: &str = "v2";
pub const V2_HEIGHT: u64 = 8;
/// The second upgrade: a binary wasmvisor downloads from the plan's info.
pub const V3: &str = "v3";
pub const V3_HEIGHT: u64 = 16;
/// How long any one thing may take, by default, before the demo calls it a failure.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(30);

const ISOLATED_PREFIXES: [&str; 5] = [
    "DAEMON_",
    "COSMOVISOR_",
    "UNSAFE_SKIP_BACKUP",
    "WASMVISOR_",
    "FAKECHAIND_",
];

/// What the steps learn and later compare or summarise.
#[derive(Default)]
pub struct Notes {
    pub genesis_sha256: String,
    pub v2_binary: PathBuf,
    /// The v3 binary the release archive holds, its sha256, and the plan info
    /// naming the archive's URL and checksum.
    pub v3_binary_sha256: String,
    pub v3_info: String,
    pub current_before: String,
    /// `current` after each upgrade, in order.
    pub currents: Vec<String>,
    pub version_before: String,
    /// The current binary's version after each upgrade, in order.
    pub versions: Vec<String>,
    /// The backup made by each upgrade, in order.
    pub backups: Vec<PathBuf>,
    pub final_height: u64,
}

pub struct Demo {
    pub tools: Tools,
    /// Holds the node home and the "downloaded" releases.
    pub root: PathBuf,
    /// `$DAEMON_HOME`, also the node's `--home`.
    pub home: PathBuf,
    pub releases: PathBuf,
    pub supervisor: Option<Supervisor>,
    /// Serves the v3 release on 127.0.0.1 for the whole run.
    pub release_server: Option<ReleaseServer>,
    pub notes: Notes,
    /// How long `wait_until` waits for anything.
    pub patience: Duration,
}

impl Demo {
    pub fn new(tools: Tools, root: PathBuf, patience: Duration) -> Demo {
        Demo {
            tools,
            home: root.join("node"),
            releases: root.join("releases"),
            root,
            supervisor: None,
            release_server: None,
            notes: Notes::default(),
            patience,
        }
    }

    /// `wasmvisor <args>` with the demo's environment.
    pub fn wasmvisor<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> Command {
        let mut command = isolated(&self.tools.wasmvisor);
        command
            .args(args)
            .env("DAEMON_HOME", &self.home)
            .env("DAEMON_NAME", DAEMON_NAME)
            .env("DAEMON_RESTART_AFTER_UPGRADE", "true")
            // A graceful stop shows the node flushing its state before the switch.
            .env("DAEMON_SHUTDOWN_GRACE", "5s");
        command
    }

    /// `fake-chaind <args>` (the build's binary, not an installed one).
    pub fn fake_chaind<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> Command {
        let mut command = isolated(&self.tools.fake_chaind);
        command.args(args);
        command
    }

    /// Runs a short command to completion, showing its output; fails on a non-zero exit.
    pub fn run_tool(&self, mut command: Command, what: &str) -> Result<String> {
        let out = command
            .output()
            .with_context(|| format!("cannot run {what}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        for line in stdout.lines() {
            narrate::passthrough(Stream::Stdout, line);
        }
        for line in String::from_utf8_lossy(&out.stderr).lines() {
            narrate::passthrough(Stream::Stderr, line);
        }
        if !out.status.success() {
            bail!("{what} failed ({:?}); its output is above", out.status);
        }
        Ok(stdout)
    }

    /// Polls `check` until it yields a value; fails after `patience`, or at once
    /// if wasmvisor is supposed to run and has exited.
    pub fn wait_until<T>(
        &mut self,
        what: &str,
        mut check: impl FnMut(&mut Demo) -> Result<Option<T>>,
    ) -> Result<T> {
        let deadline = Instant::now() + self.patience;
        loop {
            if let Some(value) = check(self)? {
                return Ok(value);
            }
            if let Some(supervisor) = self.supervisor.as_mut() {
                supervisor
                    .ensure_running()
                    .with_context(|| format!("while waiting for {what}"))?;
            }
            if Instant::now() >= deadline {
                bail!(
                    "{what} did not happen within {}s",
                    self.patience.as_secs_f64()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn supervisor(&mut self) -> Result<&mut Supervisor> {
        self.supervisor
            .as_mut()
            .context("wasmvisor is not running (an earlier step did not start it)")
    }
}

fn isolated(program: &std::path::Path) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if ISOLATED_PREFIXES.iter().any(|p| name.starts_with(p)) {
            command.env_remove(&key);
        }
    }
    command
}
