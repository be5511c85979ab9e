//! CPU time and memory of one process, from /proc.
//!
//! `utime + stime` of `/proc/<pid>/stat` (all threads, in clock ticks — 10 ms at the
//! usual 100 Hz) is the figure the target is stated in; the sum of the threads'
//! `/proc/<pid>/task/*/schedstat` run times is printed beside it because it is
//! exact to the nanosecond, which matters when the whole idle minute costs a few ticks.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

/// CPU consumed by a process so far.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    pub ticks: u64,
    pub run_ns: u64,
    pub at_ns: u64,
}

/// Resident and peak resident memory, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

fn proc_dir(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}"))
}

pub fn cpu(pid: u32) -> Result<CpuSample> {
    let at_ns = crate::clock::now_ns();
    let stat = std::fs::read_to_string(proc_dir(pid).join("stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc/<pid>/stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    let (Some(utime), Some(stime)) = (fields.get(11), fields.get(12)) else {
        bail!("/proc/{pid}/stat has too few fields");
    };
    let ticks = utime.parse::<u64>()? + stime.parse::<u64>()?;
    Ok(CpuSample {
        ticks,
        run_ns: threads_run_ns(pid)?,
        at_ns,
    })
}

fn threads_run_ns(pid: u32) -> Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(proc_dir(pid).join("task"))? {
        let Ok(text) = std::fs::read_to_string(task?.path().join("schedstat")) else {
            continue; // a thread that just ended
        };
        total += text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

pub fn memory(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(proc_dir(pid).join("status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let kib = |key: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("/proc/{pid}/status has no {key}"))
    };
    Ok(Memory {
        rss_kib: kib("VmRSS:")?,
        hwm_kib: kib("VmHWM:")?,
    })
}

/// Clock ticks per second (`getconf CLK_TCK`).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 { v as u64 } else { 100 }
}

/// Threads of a process.
pub fn threads(pid: u32) -> usize {
    std::fs::read_dir(proc_dir(pid).join("task"))
        .map(|d| d.count())
        .unwrap_or(0)
}
