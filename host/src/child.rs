//! The node process.
//!
//! Spawned with inherited stdio — the node writes straight to the operator's terminal
//! or journal, no copying through the supervisor. It asks the kernel for SIGTERM when
//! the supervisor dies (`PR_SET_PDEATHSIG`), so a killed supervisor never leaves a
//! node running unsupervised beside the next one. Only when a detector plugin reads
//! the node's output do its stdout and stderr go through pipes (see `log_tap`).

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{ExitCode, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::log_tap::{LineSink, Pipe, own_stream, spawn_copier};

/// A running node.
pub struct NodeProcess {
    child: tokio::process::Child,
    pid: Pid,
    /// Threads copying a tapped node's output; they end at the pipes' end-of-file.
    copiers: Vec<std::thread::JoinHandle<()>>,
}

/// How long, after the node exited, its output may take to drain. Only a process
/// the node left behind that still holds its stdout can make it wait that long.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

impl NodeProcess {
    /// Starts `bin` with `args`, stdio inherited.
    pub fn spawn(bin: &Path, args: &[OsString]) -> Result<Self> {
        Self::spawn_with_output(bin, args, None)
    }

    /// Starts `bin` with `args`; with a tap, its stdout and stderr are copied to the
    /// supervisor's own (byte for byte) and each line is offered to the sink.
    pub fn spawn_with_output(
        bin: &Path,
        args: &[OsString],
        tap: Option<(LineSink, usize)>,
    ) -> Result<Self> {
        let parent = std::process::id();
        let mut cmd = std::process::Command::new(bin);
        cmd.args(args).stdin(Stdio::inherit());
        let mut copiers = Vec::new();
        match tap {
            None => {
                cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
            }
            Some((sink, max_line)) => {
                let (out, err) = (Pipe::new()?, Pipe::new()?);
                cmd.stdout(Stdio::from(out.write))
                    .stderr(Stdio::from(err.write));
                copiers.push((out.read, own_stream(1)?, sink.clone(), max_line));
                copiers.push((err.read, own_stream(2)?, sink, max_line));
            }
        }
        // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) run between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The supervisor may have died before prctl took effect.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        // The command (holding the pipes' write ends) is dropped right after the spawn,
        // so the copiers see end-of-file when the node exits.
        let child = tokio::process::Command::from(cmd)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let copiers = copiers
            .into_iter()
            .map(|(from, to, sink, max_line)| spawn_copier(from, to, sink, max_line))
            .collect::<Result<Vec<_>>>()?;
        let pid = child
            .id()
            .map(|p| Pid::from_raw(p as i32))
            .context("the node exited at once")?;
        Ok(NodeProcess {
            child,
            pid,
            copiers,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// Sends `sig` to the node (ignoring a node that already exited).
    pub fn signal(&self, sig: Signal) {
        let _ = kill(self.pid, sig);
    }

    /// Waits for the node to exit.
    /// Waits for the node to exit and, for a tapped node, for its last output to be
    /// copied out, so nothing the node wrote is lost when the supervisor acts next.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        let status = self.child.wait().await.context("waiting for the node")?;
        self.drain_output().await;
        Ok(status)
    }

    async fn drain_output(&mut self) {
        let deadline = tokio::time::Instant::now() + OUTPUT_DRAIN;
        while self.copiers.iter().any(|t| !t.is_finished()) {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    "the node's output is still open after it exited (a process it left behind?); not waiting for it"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for t in self.copiers.drain(..) {
            let _ = t.join();
        }
    }

    /// Stops the node: with no grace, SIGKILL at once (cosmovisor's default); with a
    /// grace period, SIGTERM, then SIGKILL when it has not exited in time.
    pub async fn stop(&mut self, grace: Option<Duration>) -> Result<ExitStatus> {
        match grace {
            None => self.signal(Signal::SIGKILL),
            Some(grace) => {
                self.signal(Signal::SIGTERM);
                if let Ok(status) = tokio::time::timeout(grace, self.child.wait()).await {
                    return status.context("waiting for the node");
                }
                tracing::warn!(grace = ?grace, "the node did not stop within DAEMON_SHUTDOWN_GRACE; killing it");
                self.signal(Signal::SIGKILL);
            }
        }
        self.wait().await
    }
}

/// The exit code a shell would report for `status` (128 + signal for a killed node).
pub fn exit_code_of(status: ExitStatus) -> ExitCode {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code.clamp(0, 255) as u8),
        (None, Some(sig)) => ExitCode::from((128 + sig).clamp(0, 255) as u8),
        _ => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn graceful_stop_sends_sigterm_then_kills() {
        // `sleep` dies on SIGTERM at once.
        let mut p = NodeProcess::spawn(Path::new("/bin/sleep"), &["30".into()]).unwrap();
        let status = p.stop(Some(Duration::from_secs(5))).await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM));

        // A node that ignores SIGTERM is killed after the grace period.
        let args: Vec<OsString> = ["-c", "trap '' TERM; sleep 30"].map(Into::into).to_vec();
        let mut p = NodeProcess::spawn(Path::new("/bin/sh"), &args).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = std::time::Instant::now();
        let status = p.stop(Some(Duration::from_millis(200))).await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(t.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_tapped_node_offers_its_lines() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink: LineSink = {
            let seen = seen.clone();
            std::sync::Arc::new(move |l: &[u8]| {
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(l).into_owned())
            })
        };
        let args: Vec<OsString> = ["-c", "echo out; echo err >&2"].map(Into::into).to_vec();
        let mut p = NodeProcess::spawn_with_output(Path::new("/bin/sh"), &args, Some((sink, 1024)))
            .unwrap();
        assert!(p.wait().await.unwrap().success());
        for _ in 0..100 {
            if seen.lock().unwrap().len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut lines = seen.lock().unwrap().clone();
        lines.sort();
        assert_eq!(lines, vec!["err".to_string(), "out".to_string()]);
    }

    #[test]
    fn exit_codes_follow_shell_conventions() {
        assert_eq!(
            exit_code_of(ExitStatus::from_raw(3 << 8)),
            ExitCode::from(3)
        );
        assert_eq!(
            exit_code_of(ExitStatus::from_raw(libc::SIGTERM)),
            ExitCode::from(143)
        );
    }
}
