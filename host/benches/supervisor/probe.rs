//! The node stand-in: the bench binary itself, re-executed with `PROBE_LOG_ENV` set.
//!
//! It answers the commands wasmvisor runs around an upgrade the way a Cosmos node
//! does, fast, so the bench measures the supervisor and not the node:
//! - `status …`: CometBFT JSON with the height just below the plan's (the chain
//!   halts *in* the upgrade block with the one before it committed);
//! - `pre-upgrade`: exit 0;
//! - `version`: print a version and exit 0 at once (for whole-lifetime timing of
//!   `wasmvisor run version`, as `supervisor_trace.sh` does with `perf stat`);
//! - anything else (`start`): run until SIGTERM.
//!
//! Each event is one line `<kind> <CLOCK_MONOTONIC ns> <pid>` appended with a single
//! `write(2)` to an `O_APPEND` file, so lines from different processes never mix.
//! The SIGTERM time is taken inside the signal handler itself (clock_gettime and
//! write are async-signal-safe) to a descriptor opened before the start line is
//! written — once the bench sees `start`, the handler is armed.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::IntoRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::clock::now_ns;

/// Names the event log; its presence makes the bench binary act as the probe.
pub const PROBE_LOG_ENV: &str = "WASMVISOR_BENCH_PROBE_LOG";
/// The height `status` reports.
pub const PROBE_HEIGHT_ENV: &str = "WASMVISOR_BENCH_PROBE_HEIGHT";

/// The log descriptor the SIGTERM handler writes to.
static LOG_FD: AtomicI32 = AtomicI32::new(-1);

/// Runs the probe. `started_ns` is the first thing `main` did.
pub fn run(started_ns: u64, log: OsString) -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let command = args.first().and_then(|a| a.to_str()).unwrap_or("");
    match command {
        "status" => {
            append_event(&log, "status", started_ns);
            let height = std::env::var(PROBE_HEIGHT_ENV).unwrap_or_else(|_| "99".into());
            println!(r#"{{"sync_info":{{"latest_block_height":"{height}"}}}}"#);
            ExitCode::SUCCESS
        }
        "pre-upgrade" => {
            append_event(&log, "preupgrade", started_ns);
            ExitCode::SUCCESS
        }
        "version" => {
            println!("probed 0.0.0-bench");
            ExitCode::SUCCESS
        }
        _ => run_node(started_ns, &log),
    }
}

/// Appends one event line (for the short-lived commands; not signal-safe).
fn append_event(log: &OsString, kind: &str, ns: u64) {
    let line = format!("{kind} {ns} {}\n", std::process::id());
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("probe: cannot write {}: {e}", log.to_string_lossy());
    }
}

/// The long-running node: records its start, then waits for SIGTERM.
fn run_node(started_ns: u64, log: &OsString) -> ExitCode {
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("probe: cannot open {}: {e}", log.to_string_lossy());
            return ExitCode::FAILURE;
        }
    };
    LOG_FD.store(file.into_raw_fd(), Ordering::SeqCst);
    if let Err(e) = install_sigterm_handler() {
        eprintln!("probe: cannot install the SIGTERM handler: {e}");
        return ExitCode::FAILURE;
    }
    write_event_raw(b"start ", started_ns);
    loop {
        // SAFETY: pause has no preconditions; it returns after a handled signal.
        unsafe { libc::pause() };
    }
}

fn install_sigterm_handler() -> std::io::Result<()> {
    // SAFETY: the handler only calls async-signal-safe functions (clock_gettime,
    // getpid, write, _exit) and touches no locks or allocations.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigterm as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

extern "C" fn on_sigterm(_sig: libc::c_int) {
    write_event_raw(b"term ", now_ns());
    // SAFETY: _exit is async-signal-safe and ends the process without unwinding.
    unsafe { libc::_exit(0) };
}

/// Formats `<kind><ns> <pid>\n` on the stack and writes it with one `write(2)`.
/// Async-signal-safe: no allocation, no locks.
fn write_event_raw(kind: &[u8], ns: u64) {
    let mut buf = [0u8; 64];
    let mut len = 0;
    for &b in kind {
        buf[len] = b;
        len += 1;
    }
    len = put_decimal(&mut buf, len, ns);
    buf[len] = b' ';
    len += 1;
    // SAFETY: getpid is async-signal-safe and cannot fail.
    let pid = unsafe { libc::getpid() };
    len = put_decimal(&mut buf, len, pid as u64);
    buf[len] = b'\n';
    len += 1;
    let fd = LOG_FD.load(Ordering::SeqCst);
    // SAFETY: writes `len` initialised bytes of `buf` to a descriptor this process owns.
    unsafe { libc::write(fd, buf.as_ptr().cast(), len) };
}

/// Writes `v` in decimal at `buf[pos..]`; returns the new end.
fn put_decimal(buf: &mut [u8], mut pos: usize, mut v: u64) -> usize {
    let mut digits = [0u8; 20];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    while n > 0 {
        n -= 1;
        buf[pos] = digits[n];
        pos += 1;
    }
    pos
}

/// One line of the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub ns: u64,
    pub pid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Start,
    Term,
    Status,
    PreUpgrade,
}

/// Reads the event log (absent = no events yet; a torn last line is skipped).
pub fn read_events(log: &std::path::Path) -> Vec<Event> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().filter_map(parse_event).collect()
}

fn parse_event(line: &str) -> Option<Event> {
    let mut parts = line.split(' ');
    let kind = match parts.next()? {
        "start" => EventKind::Start,
        "term" => EventKind::Term,
        "status" => EventKind::Status,
        "preupgrade" => EventKind::PreUpgrade,
        _ => return None,
    };
    let ns = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    Some(Event { kind, ns, pid })
}
