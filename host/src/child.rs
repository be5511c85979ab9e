//! The node process.
//!
//! Spawned with inherited stdio — the node writes straight to the operator's terminal
//! or journal, no copying through the supervisor. It asks the kernel for SIGTERM when
//! the supervisor dies (`PR_SET_PDEATHSIG`), so a killed supervisor never leaves a
//! node running unsupervised beside the next one.

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{ExitCode, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A running node.
pub struct NodeProcess {
    child: tokio::process::Child,
    pid: Pid,
}

impl NodeProcess {
    /// Starts `bin` with `args`, stdio inherited.
    pub fn spawn(bin: &Path, args: &[OsString]) -> Result<Self> {
        let parent = std::process::id();
        let mut cmd = std::process::Command::new(bin);
        cmd.args(args)
            .stdin(Stdio::inherit())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
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
        let child = tokio::process::Command::from(cmd)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child
            .id()
            .map(|p| Pid::from_raw(p as i32))
            .context("the node exited at once")?;
        Ok(NodeProcess { child, pid })
    }

    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// Sends `sig` to the node (ignoring a node that already exited).
    pub fn signal(&self, sig: Signal) {
        let _ = kill(self.pid, sig);
    }

    /// Waits for the node to exit.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        self.child.wait().await.context("waiting for the node")
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
