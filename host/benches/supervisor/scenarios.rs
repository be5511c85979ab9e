//! The measured scenarios. Every trial gets its own home and its own `wasmvisor`
//! process, so no trial inherits state (journal, recorded plan, page-cache luck of a
//! long-lived process) from the previous one.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::clock::now_ns;
use crate::home::{Home, Stage};
use crate::probe::{Event, EventKind};
use crate::procfs;
use crate::runner::{
    self, Reaped, RunSettings, direct_command, stop_supervisor, supervisor_command, wait_events,
    wait_restarted, wait_started,
};

const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What every scenario needs.
pub struct Bench {
    pub wasmvisor: PathBuf,
    /// Holds the homes.
    pub root: PathBuf,
    /// The probe, copied once; every home hard-links it.
    pub probe: PathBuf,
    rng: u64,
}

impl Bench {
    pub fn new(wasmvisor: PathBuf, root: PathBuf, probe: PathBuf) -> Self {
        Bench {
            wasmvisor,
            root,
            probe,
            rng: now_ns() | 1,
        }
    }

    /// Uniform in `0..bound` (xorshift64; statistical quality is irrelevant here).
    fn random_below(&mut self, bound: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % bound.max(1)
    }
}

/// One upgrade, timed on the probe's clock.
#[derive(Debug, Clone, Copy)]
pub struct UpgradeTrial {
    /// `upgrade-info.json` written → the old node's SIGTERM handler ran.
    pub detect_ns: u64,
    /// written → `status` started (wasmvisor noticed the file and asked the height).
    pub to_status_ns: Option<u64>,
    /// The old node exited (its handler's last act) → the new node's first instruction.
    pub switchover_ns: u64,
    /// old exit → `<new bin> pre-upgrade` started.
    pub exit_to_preupgrade_ns: Option<u64>,
    /// `pre-upgrade` started → the new node started.
    pub preupgrade_to_start_ns: Option<u64>,
}

/// Starts wasmvisor over a fresh home, waits a random part of the poll period (so
/// the write falls at a uniformly random phase of the poll timer), writes the plan,
/// and times the stop and the restart from the probe's events.
pub fn upgrade_trial(
    bench: &mut Bench,
    label: &str,
    settings: RunSettings,
) -> Result<UpgradeTrial> {
    let home = Home::create(&bench.root, label, &bench.probe, Stage::UpgradeReady)?;
    let mut wv = Reaped(
        supervisor_command(&bench.wasmvisor, &home, settings)?
            .spawn()
            .context("starting wasmvisor")?,
    );
    let old_pid = wait_started(&home, &mut wv.0, EVENT_TIMEOUT)?;
    let phase_ms = 20 + bench.random_below(300);
    std::thread::sleep(Duration::from_millis(phase_ms));
    let t0 = home.write_upgrade_info()?;
    let events = wait_restarted(&home, &mut wv.0, EVENT_TIMEOUT, old_pid)?;
    stop_supervisor(&home, &mut wv.0, STOP_GRACE)?;
    let trial = timeline(&events, old_pid, t0).with_context(|| {
        format!(
            "trial {label}: unexpected event sequence {events:?}; wasmvisor output:\n{}",
            home.supervisor_log_tail()
        )
    })?;
    home.remove();
    Ok(trial)
}

fn timeline(events: &[Event], old_pid: u32, t0: u64) -> Result<UpgradeTrial> {
    let find = |kind: EventKind, after: u64, pid: Option<u32>| {
        events
            .iter()
            .find(|e| e.kind == kind && e.ns >= after && pid.is_none_or(|p| p == e.pid))
            .map(|e| e.ns)
    };
    let term =
        find(EventKind::Term, t0, Some(old_pid)).context("no SIGTERM reached the old node")?;
    let new_start = events
        .iter()
        .find(|e| e.kind == EventKind::Start && e.pid != old_pid)
        .map(|e| e.ns)
        .context("the new node never started")?;
    let status = find(EventKind::Status, t0, None);
    let pre = find(EventKind::PreUpgrade, term, None);
    Ok(UpgradeTrial {
        detect_ns: term.saturating_sub(t0),
        to_status_ns: status.map(|s| s.saturating_sub(t0)),
        switchover_ns: new_start.saturating_sub(term),
        exit_to_preupgrade_ns: pre.map(|p| p.saturating_sub(term)),
        preupgrade_to_start_ns: pre.map(|p| new_start.saturating_sub(p)),
    })
}

/// Time from just before `spawn` to the probe's first instruction in `main`.
fn time_to_start(home: &Home, mut cmd: std::process::Command, what: &str) -> Result<u64> {
    let t0 = now_ns();
    let mut child = Reaped(cmd.spawn().with_context(|| format!("starting {what}"))?);
    let events = wait_events(home, &mut child.0, EVENT_TIMEOUT, "the node started", |e| {
        e.iter().any(|ev| ev.kind == EventKind::Start)
    })?;
    let status = runner::terminate(&mut child.0, STOP_GRACE)?;
    if !status.success() {
        bail!(
            "{what} exited with {status} after SIGTERM; output:\n{}",
            home.supervisor_log_tail()
        );
    }
    Ok(events[0].ns.saturating_sub(t0))
}

/// `wasmvisor run start` and `probed start`, each in its own home, in the given order.
/// Returns (through wasmvisor, direct).
pub fn startup_pair(bench: &Bench, label: &str, direct_first: bool) -> Result<(u64, u64)> {
    let home = |side: &str| {
        Home::create(
            &bench.root,
            &format!("{label}-{side}"),
            &bench.probe,
            Stage::Genesis,
        )
    };
    let (via_home, direct_home) = (home("via")?, home("direct")?);
    let settings = RunSettings { inotify: true };
    let via = || {
        time_to_start(
            &via_home,
            supervisor_command(&bench.wasmvisor, &via_home, settings)?,
            "wasmvisor",
        )
    };
    let direct = || time_to_start(&direct_home, direct_command(&direct_home)?, "the probe");
    let (v, d) = if direct_first {
        let d = direct()?;
        (via()?, d)
    } else {
        let v = via()?;
        (v, direct()?)
    };
    via_home.remove();
    direct_home.remove();
    Ok((v, d))
}

/// One idle configuration.
#[derive(Debug, Clone, Copy)]
pub struct IdleCase {
    pub label: &'static str,
    pub stage: Stage,
    pub settings: RunSettings,
}

/// CPU and memory of one idle wasmvisor (node running, no upgrade).
#[derive(Debug, Clone, Copy)]
pub struct Idle {
    pub case: IdleCase,
    pub window_s: f64,
    pub cpu_percent_ticks: f64,
    pub cpu_percent_exact: f64,
    pub memory: procfs::Memory,
    pub threads: usize,
}

/// Runs every case side by side over the same window (idle processes barely
/// compete, and one window instead of one per case keeps the bench short).
pub fn idle(bench: &Bench, window: Duration, cases: &[IdleCase]) -> Result<Vec<Idle>> {
    let mut running = Vec::new();
    for case in cases {
        let home = Home::create(
            &bench.root,
            &format!("idle-{}", case.label),
            &bench.probe,
            case.stage,
        )?;
        let mut wv = Reaped(
            supervisor_command(&bench.wasmvisor, &home, case.settings)?
                .spawn()
                .context("starting wasmvisor")?,
        );
        wait_started(&home, &mut wv.0, EVENT_TIMEOUT)?;
        running.push((*case, home, wv));
    }
    // Start-up work (runtime, inotify thread) is not idle time.
    std::thread::sleep(Duration::from_secs(1));
    let before = running
        .iter()
        .map(|(_, _, wv)| procfs::cpu(wv.0.id()))
        .collect::<Result<Vec<_>>>()?;
    std::thread::sleep(window);
    let mut out = Vec::new();
    for ((case, home, mut wv), before) in running.into_iter().zip(before) {
        let pid = wv.0.id();
        let after = procfs::cpu(pid)?;
        let memory = procfs::memory(pid)?;
        let threads = procfs::threads(pid);
        if let Some(status) = wv.0.try_wait()? {
            bail!(
                "wasmvisor ({}) exited ({status}) during the idle window; output:\n{}",
                case.label,
                home.supervisor_log_tail()
            );
        }
        // Idle means idle: one node start and nothing else (no `status`, no upgrade).
        let events = crate::probe::read_events(&home.events_log());
        if events.len() != 1 {
            bail!(
                "wasmvisor ({}) was not idle: the probe saw {events:?}; output:\n{}",
                case.label,
                home.supervisor_log_tail()
            );
        }
        runner::terminate(&mut wv.0, STOP_GRACE)?;
        home.remove();
        let wall_s = (after.at_ns - before.at_ns) as f64 / 1e9;
        let ticks = (after.ticks - before.ticks) as f64 / procfs::ticks_per_second() as f64;
        out.push(Idle {
            case,
            window_s: wall_s,
            cpu_percent_ticks: ticks / wall_s * 100.0,
            cpu_percent_exact: (after.run_ns - before.run_ns) as f64 / 1e9 / wall_s * 100.0,
            memory,
            threads,
        });
    }
    Ok(out)
}
