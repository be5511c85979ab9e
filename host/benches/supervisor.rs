//! The supervisor's own cost, measured on the release `wasmvisor` with a probe node:
//!
//! - detection: `data/upgrade-info.json` written → the node receives SIGTERM
//!   (target p50 ≤ 5 ms, p99 ≤ 20 ms), beside the same with inotify off
//!   (`WASMVISOR_DISABLE_INOTIFY=true`, 300 ms polling: cosmovisor's behaviour);
//! - switchover: the old node exited → the new node exec'd, binary present, backup
//!   skipped (target median ≤ 20 ms);
//! - startup: `wasmvisor run` → node exec'd, against exec'ing the node directly
//!   (target ≤ 5 ms added, median);
//! - idle: CPU of the wasmvisor process over 60 s with the node running (≤ 0.1 %),
//!   its VmRSS and VmHWM (≤ 15 MiB) — in a fresh home and in one that already
//!   upgraded (where `data/upgrade-info.json` stays), poll-only beside each.
//!
//! The node is this very binary re-executed as a probe (see `probe.rs`): it stamps
//! its start and the arrival of SIGTERM on CLOCK_MONOTONIC, which is system-wide, so
//! the bench subtracts timestamps taken in different processes.
//!
//! `cargo bench -p wasmvisor --bench supervisor` (it builds the release wasmvisor
//! first). Environment: `WASMVISOR_BENCH_TRIALS` (default 50 per figure),
//! `WASMVISOR_BENCH_IDLE_SECS` (default 60), `WASMVISOR_BENCH_DIR` (where the homes
//! go; default the temp dir), `WASMVISOR_BENCH_BIN` / `WASMVISOR_BENCH_NO_BUILD`
//! (see `runner.rs`), `WASMVISOR_BENCH_STRICT=1` (exit 1 when a target is missed).

#[path = "supervisor/clock.rs"]
mod clock;
#[path = "supervisor/home.rs"]
mod home;
#[path = "supervisor/probe.rs"]
mod probe;
#[path = "supervisor/procfs.rs"]
mod procfs;
#[path = "supervisor/report.rs"]
mod report;
#[path = "supervisor/runner.rs"]
mod runner;
#[path = "supervisor/scenarios.rs"]
mod scenarios;
#[path = "supervisor/setup.rs"]
mod setup;
#[path = "supervisor/stats.rs"]
mod stats;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};

use home::Stage;
use runner::RunSettings;
use scenarios::{Bench, IdleCase};
use setup::{TRIALS_ENV, env_number, loadavg};

const IDLE_ENV: &str = "WASMVISOR_BENCH_IDLE_SECS";
const STRICT_ENV: &str = "WASMVISOR_BENCH_STRICT";
/// Idle: a fresh home and one that already upgraded (the chain's upgrade-info.json
/// stays in data/ forever after), each with inotify and, as the baseline, poll-only.
const IDLE_CASES: [IdleCase; 4] = [
    idle_case("genesis-inotify", Stage::Genesis, true),
    idle_case("genesis-poll", Stage::Genesis, false),
    idle_case("upgraded-inotify", Stage::Upgraded, true),
    idle_case("upgraded-poll", Stage::Upgraded, false),
];

const fn idle_case(label: &'static str, stage: Stage, inotify: bool) -> IdleCase {
    IdleCase {
        label,
        stage,
        settings: RunSettings { inotify },
    }
}

/// Warm-up runs (page cache, dynamic loader) before the counted startup trials.
const WARMUP: usize = 3;

fn main() -> ExitCode {
    // First, before anything else: when this process is the probe, this is its start.
    let started_ns = clock::now_ns();
    if let Some(log) = std::env::var_os(probe::PROBE_LOG_ENV) {
        return probe::run(started_ns, log);
    }
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) if std::env::var_os(STRICT_ENV).is_some() => ExitCode::FAILURE,
        Ok(false) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("supervisor bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool> {
    let trials = env_number(TRIALS_ENV, 50)? as usize;
    let idle_secs = env_number(IDLE_ENV, 60)?;
    let wasmvisor = runner::wasmvisor_binary()?;
    let scratch = setup::scratch("wasmvisor-supervisor-bench-")?;
    let root = scratch.dir.path();
    print_setup(&wasmvisor, root, trials, idle_secs);
    if trials < 50 {
        eprintln!("note: {trials} trials per figure; the targets are stated over >= 50");
    }
    let mut bench = Bench::new(wasmvisor, root.to_owned(), scratch.probe.clone());

    eprintln!("bench: startup, {trials} x (wasmvisor run, direct exec), alternating");
    let (startup_via, startup_direct) = startup(&bench, trials)?;
    eprintln!("bench: upgrade with inotify, {trials} trials");
    let upgrades_inotify = upgrades(&mut bench, trials, RunSettings { inotify: true })?;
    eprintln!("bench: upgrade with polling only (WASMVISOR_DISABLE_INOTIFY=true), {trials} trials");
    let upgrades_poll = upgrades(&mut bench, trials, RunSettings { inotify: false })?;
    eprintln!("bench: idle for {idle_secs} s (4 homes side by side)");
    let idle = scenarios::idle(&bench, Duration::from_secs(idle_secs), &IDLE_CASES)?;
    let all_met = report::print(&report::Results {
        upgrades_inotify,
        upgrades_poll,
        startup_via,
        startup_direct,
        idle,
    });
    println!("\nload average at the end: {}", loadavg());
    Ok(all_met)
}

fn startup(bench: &Bench, trials: usize) -> Result<(Vec<u64>, Vec<u64>)> {
    let (mut via, mut direct) = (Vec::new(), Vec::new());
    for i in 0..WARMUP + trials {
        let (v, d) = scenarios::startup_pair(bench, &format!("startup-{i}"), i % 2 == 0)?;
        if i >= WARMUP {
            via.push(v);
            direct.push(d);
        }
    }
    Ok((via, direct))
}

fn upgrades(
    bench: &mut Bench,
    trials: usize,
    settings: RunSettings,
) -> Result<Vec<scenarios::UpgradeTrial>> {
    let tag = if settings.inotify { "inotify" } else { "poll" };
    let mut out = Vec::with_capacity(trials);
    for i in 0..trials {
        out.push(scenarios::upgrade_trial(
            bench,
            &format!("{tag}-{i}"),
            settings,
        )?);
    }
    if out.is_empty() {
        bail!("no upgrade trial ran");
    }
    Ok(out)
}

fn print_setup(wasmvisor: &Path, root: &Path, trials: usize, idle_secs: u64) {
    let size = std::fs::metadata(wasmvisor).map(|m| m.len()).unwrap_or(0);
    println!("wasmvisor supervisor bench");
    println!(
        "  binary:      {} ({:.1} MiB)",
        wasmvisor.display(),
        size as f64 / 1048576.0
    );
    println!("  homes in:    {} ({})", root.display(), filesystem(root));
    println!(
        "  machine:     {} CPUs, Linux {}, load average {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        loadavg()
    );
    println!(
        "  trials:      {trials} per figure; idle window {idle_secs} s; wasmvisor env: DAEMON_SHUTDOWN_GRACE=5s UNSAFE_SKIP_BACKUP=true, default DAEMON_POLL_INTERVAL (300ms)"
    );
}

/// The filesystem type of `dir` (fsyncs in the switchover depend on it).
fn filesystem(dir: &Path) -> &'static str {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return "?";
    };
    // SAFETY: statfs writes only into the struct we pass; `c` is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return "?";
    }
    match st.f_type as i64 {
        0xEF53 => "ext4",
        0x0102_1994 => "tmpfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x794C_7630 => "overlayfs",
        _ => "other",
    }
}
