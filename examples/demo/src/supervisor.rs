//! The running `wasmvisor run …`: its output, shown live and kept for checks.
//!
//! The node inherits wasmvisor's stdout/stderr, so both processes' lines
//! arrive on the two pipes read here. Each line is printed as it comes (the
//! reader sees the upgrade happen) and stored, so the demo can wait for a line
//! as evidence. If the demo dies, the kernel sends wasmvisor SIGTERM
//! (`PR_SET_PDEATHSIG`), and wasmvisor stops the node: nothing is left running.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::narrate::{self, Stream};

pub struct Supervisor {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Supervisor {
    pub fn spawn(mut command: Command) -> Result<Supervisor> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {command:?}"))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(pump(out, Stream::Stdout, Arc::clone(&lines)));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(pump(err, Stream::Stderr, Arc::clone(&lines)));
        }
        Ok(Supervisor {
            child,
            lines,
            readers,
        })
    }

    /// The first line seen so far that contains `needle`.
    pub fn line_containing(&self, needle: &str) -> Option<String> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().find(|line| line.contains(needle)).cloned()
    }

    /// How many lines seen so far contain `needle`.
    pub fn count_containing(&self, needle: &str) -> usize {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().filter(|line| line.contains(needle)).count()
    }

    /// The last line seen so far that contains `needle`.
    pub fn last_line_containing(&self, needle: &str) -> Option<String> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines
            .iter()
            .rev()
            .find(|line| line.contains(needle))
            .cloned()
    }

    /// Fails if wasmvisor has exited: everything the demo waits for needs it running.
    pub fn ensure_running(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => bail!(
                "wasmvisor exited unexpectedly ({}); its last lines are above",
                describe(status)
            ),
        }
    }

    /// Sends SIGTERM, as systemd would, and waits for wasmvisor to exit.
    pub fn terminate(&mut self, within: Duration) -> Result<ExitStatus> {
        self.signal(libc::SIGTERM)?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!(
                    "wasmvisor did not exit within {}s of SIGTERM",
                    within.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn signal(&self, signal: libc::c_int) -> Result<()> {
        let pid = libc::pid_t::try_from(self.child.id()).context("process id out of range")?;
        // SAFETY: kill(2) on our own child's pid, which it keeps until we reap it.
        if unsafe { libc::kill(pid, signal) } != 0 {
            bail!(
                "cannot signal wasmvisor: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }
}

impl Drop for Supervisor {
    /// On an early return (a failed step), stop wasmvisor the graceful way first
    /// so it stops the node, then make sure.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.terminate(Duration::from_secs(10));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "unknown status".to_owned(),
    }
}

fn pump(
    stream: impl Read + Send + 'static,
    kind: Stream,
    lines: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            narrate::passthrough(kind, &line);
            lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    })
}
