//! Finding the release `wasmvisor`, starting it (or the probe alone) over a home, and
//! waiting for the probe's events.
//!
//! `cargo bench` builds the bench in the release profile but does not build the
//! package's binaries, so the bench runs `cargo build --release -p wasmvisor --bin
//! wasmvisor` itself (into the same target dir, after cargo has released its lock)
//! and uses `<target>/release/wasmvisor`. `WASMVISOR_BENCH_BIN=<path>` uses another
//! binary and skips the build; `WASMVISOR_BENCH_NO_BUILD=1` uses the existing one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::home::{DAEMON_NAME, Home};
use crate::probe::{Event, EventKind, PROBE_LOG_ENV, read_events};

pub const BIN_ENV: &str = "WASMVISOR_BENCH_BIN";
pub const NO_BUILD_ENV: &str = "WASMVISOR_BENCH_NO_BUILD";

/// The release `wasmvisor` to measure, built first unless told otherwise.
pub fn wasmvisor_binary() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os(BIN_ENV) {
        let bin = PathBuf::from(bin);
        if !bin.is_file() {
            bail!("{BIN_ENV}={} is not a file", bin.display());
        }
        return Ok(bin);
    }
    let target_dir = target_dir()?;
    let bin = target_dir.join("release/wasmvisor");
    if std::env::var_os(NO_BUILD_ENV).is_none() {
        build_release(&target_dir)?;
    }
    if !bin.is_file() {
        bail!(
            "{} does not exist; build it with `cargo build --release -p wasmvisor` (or set {BIN_ENV})",
            bin.display()
        );
    }
    Ok(bin)
}

/// The target dir this bench was built into: `<target>/<profile>/deps/supervisor-<hash>`.
fn target_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the bench executable")?;
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .with_context(|| format!("{} is not inside a cargo target dir", exe.display()))
}

fn build_release(target_dir: &Path) -> Result<()> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the wasmvisor crate is inside the workspace")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: cargo build --release -p wasmvisor --bin wasmvisor (the binary under test)");
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "wasmvisor",
            "--bin",
            "wasmvisor",
        ])
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", target_dir)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release -p wasmvisor failed ({status})");
    }
    Ok(())
}

/// Settings for one `wasmvisor run`.
#[derive(Debug, Clone, Copy)]
pub struct RunSettings {
    /// `false` sets `WASMVISOR_DISABLE_INOTIFY=true` (poll only, like cosmovisor).
    pub inotify: bool,
}

/// `wasmvisor run start` over `home`, output to `home/wasmvisor.log`.
pub fn supervisor_command(wasmvisor: &Path, home: &Home, settings: RunSettings) -> Result<Command> {
    let mut cmd = Command::new(wasmvisor);
    cmd.args(["run", "start"]);
    clear_supervisor_env(&mut cmd);
    cmd.env("DAEMON_HOME", &home.dir)
        .env("DAEMON_NAME", DAEMON_NAME)
        // A grace period makes wasmvisor send SIGTERM (unset means SIGKILL, which
        // the probe could not timestamp).
        .env("DAEMON_SHUTDOWN_GRACE", "5s")
        .env("UNSAFE_SKIP_BACKUP", "true")
        .env("DAEMON_RESTART_AFTER_UPGRADE", "true")
        .env("COSMOVISOR_COLOR_LOGS", "false")
        .env(
            "WASMVISOR_DISABLE_INOTIFY",
            if settings.inotify { "false" } else { "true" },
        )
        .env(PROBE_LOG_ENV, home.events_log());
    redirect_output(&mut cmd, home)?;
    Ok(cmd)
}

/// The probe started directly (the baseline for startup), as wasmvisor would start it.
pub fn direct_command(home: &Home) -> Result<Command> {
    let mut cmd = Command::new(home.genesis_bin());
    cmd.arg("start");
    clear_supervisor_env(&mut cmd);
    cmd.env(PROBE_LOG_ENV, home.events_log());
    redirect_output(&mut cmd, home)?;
    Ok(cmd)
}

/// Keeps the caller's configuration (a DAEMON_POLL_INTERVAL in the shell, say) out
/// of the measurement: every run gets exactly the variables set above.
fn clear_supervisor_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if ["DAEMON_", "COSMOVISOR_", "UNSAFE_", "WASMVISOR_"]
            .iter()
            .any(|p| k.starts_with(p))
        {
            cmd.env_remove(&key);
        }
    }
}

fn redirect_output(cmd: &mut Command, home: &Home) -> Result<()> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.supervisor_log())
        .context("creating the output log")?;
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().context("duplicating the log")?)
        .stderr(log);
    Ok(())
}

/// Polls the probe's event log until `done` holds, failing when `child` exits first
/// or `timeout` passes (with wasmvisor's last output in the error).
pub fn wait_events(
    home: &Home,
    child: &mut Child,
    timeout: Duration,
    what: &str,
    done: impl Fn(&[Event]) -> bool,
) -> Result<Vec<Event>> {
    let deadline = Instant::now() + timeout;
    loop {
        let events = read_events(&home.events_log());
        if done(&events) {
            return Ok(events);
        }
        if let Some(status) = child.try_wait().context("checking the process")? {
            bail!(
                "the process exited ({status}) before {what}; events {events:?}; its output:\n{}",
                home.supervisor_log_tail()
            );
        }
        if Instant::now() > deadline {
            let _ = terminate(child, Duration::from_secs(2));
            bail!(
                "timed out after {timeout:?} waiting for {what}; events {events:?}; output:\n{}",
                home.supervisor_log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// SIGTERM, then SIGKILL after `grace`. Returns the exit status.
pub fn terminate(child: &mut Child, grace: Duration) -> Result<ExitStatus> {
    let pid = Pid::from_raw(child.id() as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    loop {
        if let Some(status) = child.try_wait().context("waiting for the process")? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = kill(pid, Signal::SIGKILL);
            let status = child.wait().context("waiting for the killed process")?;
            bail!("the process ignored SIGTERM for {grace:?} and was killed ({status})");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Kills the process if a trial fails half-way, so no supervisor outlives the bench.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Waits for the first node start; returns that node's pid.
pub fn wait_started(home: &Home, child: &mut Child, timeout: Duration) -> Result<u32> {
    let events = wait_events(home, child, timeout, "the node started", |e| {
        e.iter().any(|ev| ev.kind == EventKind::Start)
    })?;
    Ok(events[0].pid)
}

/// Waits until a node other than `old_pid` started; returns every event so far.
pub fn wait_restarted(
    home: &Home,
    child: &mut Child,
    timeout: Duration,
    old_pid: u32,
) -> Result<Vec<Event>> {
    wait_events(home, child, timeout, "the upgraded node started", |e| {
        e.iter()
            .any(|ev| ev.kind == EventKind::Start && ev.pid != old_pid)
    })
}

/// Stops wasmvisor with SIGTERM and requires exit 0: it forwards the signal and
/// the probe exits 0.
pub fn stop_supervisor(home: &Home, child: &mut Child, grace: Duration) -> Result<()> {
    let status = terminate(child, grace)?;
    if !status.success() {
        bail!(
            "wasmvisor exited with {status} after SIGTERM (expected 0: it forwards the signal and the probe exits 0); output:\n{}",
            home.supervisor_log_tail()
        );
    }
    Ok(())
}
