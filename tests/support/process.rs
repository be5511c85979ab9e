//! A running `wasmvisor`, its captured output, and cleanup that cannot be skipped.
//!
//! stdout and stderr go to files in the test's temporary directory (the node
//! inherits them, so its lines land there too), which lets a test read them
//! while the process runs and print them when an assertion fails. The
//! supervisor gets its own process group and `PR_SET_PDEATHSIG`: dropping the
//! handle — also while a test panics — SIGKILLs the whole group (supervisor,
//! node, any `status` call in flight), and if the test process itself dies the
//! kernel kills the supervisor. No test leaves a process behind.

use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::wait::wait_for;

/// How a finished process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    fn of(status: ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(sig)) => Exit::Signal(sig),
            _ => unreachable!("an exit status is a code or a signal"),
        }
    }
}

/// A spawned wasmvisor (or any command) with captured output.
pub struct Running {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    exit: Option<Exit>,
}

impl Running {
    /// Spawns `cmd` with stdout/stderr redirected to `<log_dir>/<label>.{stdout,stderr}`.
    pub fn spawn(mut cmd: Command, log_dir: &Path, label: &str) -> Running {
        let stdout = log_dir.join(format!("{label}.stdout"));
        let stderr = log_dir.join(format!("{label}.stderr"));
        cmd.stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("create the stdout capture"))
            .stderr(File::create(&stderr).expect("create the stderr capture"))
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Running {
            child,
            stdout,
            stderr,
            exit: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Both captures, labelled, for failure messages (the node's routine block
    /// lines left out, and only the last lines of each: the full files are named).
    pub fn output(&self) -> String {
        format!(
            "--- stdout ({}) ---\n{}\n--- stderr ({}) ---\n{}",
            self.stdout.display(),
            tail(&self.stdout()),
            self.stderr.display(),
            tail(&self.stderr())
        )
    }

    /// Sends `sig` to the process itself (not its group), as an operator or
    /// systemd's `KillMode=process` would.
    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid() as i32), sig).expect("signal the supervisor");
    }

    /// The exit, if it happened already.
    pub fn try_exit(&mut self) -> Option<Exit> {
        if self.exit.is_none() {
            let status = self.child.try_wait().expect("poll the child");
            self.exit = status.map(Exit::of);
        }
        self.exit
    }

    /// Waits for the process to end; panics with its output after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Exit {
        let stdout = self.stdout.clone();
        let stderr = self.stderr.clone();
        wait_for(
            "wasmvisor to exit",
            timeout,
            || self.try_exit(),
            || {
                format!(
                    "--- stdout ---\n{}\n--- stderr ---\n{}",
                    tail(&std::fs::read_to_string(stdout).unwrap_or_default()),
                    tail(&std::fs::read_to_string(stderr).unwrap_or_default())
                )
            },
        )
    }

    /// Asserts that the process is still running.
    pub fn assert_running(&mut self) {
        if let Some(exit) = self.try_exit() {
            panic!(
                "wasmvisor exited ({exit:?}) but should still run\n{}",
                self.output()
            );
        }
    }

    /// The `fake-chaind start` process this supervisor runs right now, if any.
    pub fn node_pid(&self) -> Option<u32> {
        crate::procfs::children(self.pid())
            .into_iter()
            .find(|pid| crate::procfs::cmdline(*pid).iter().any(|a| a == "start"))
    }
}

/// The last 60 interesting lines of `text`: routine "committed state" lines are
/// summarised, they would drown what a failing test needs to show.
fn tail(text: &str) -> String {
    const KEEP: usize = 60;
    let mut routine = 0;
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            let skip = l.contains("INF committed state height=");
            routine += usize::from(skip);
            !skip
        })
        .collect();
    let start = lines.len().saturating_sub(KEEP);
    let mut out = String::new();
    if start > 0 {
        out.push_str(&format!("[… {start} earlier lines]\n"));
    }
    out.push_str(&lines[start..].join("\n"));
    if routine > 0 {
        let last = text
            .lines()
            .rev()
            .find(|l| l.contains("INF committed state height="));
        out.push_str(&format!(
            "\n[{routine} block lines left out; last: {}]",
            last.unwrap_or("")
        ));
    }
    out
}

impl Drop for Running {
    fn drop(&mut self) {
        // The group id is the supervisor's pid (process_group(0)); the node and any
        // helper it started share it, even once the supervisor is gone.
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}
