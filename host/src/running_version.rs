//! What the running node binary says it is, for detectors that compare it with what
//! the chain asks for (Lava's on-chain minimum/target protocol version, a release
//! tag): the first non-empty line of `<current binary> version`, trimmed.
//!
//! Running the binary costs a process start and the binary may hang, so it is done
//! once per binary file (cached by path, size and modification time), in the
//! background with a time limit and an output cap: the node starts at once, and a
//! detector waits for the answer (at most [`VERSION_TIMEOUT`]) only before its first
//! poll. A failure is logged and leaves the version unknown (`None`); it never stops
//! the node or the other detectors. The supervisor asks again for every run of the
//! node, so the version is the new binary's after a switch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

use crate::layout::Layout;

/// How long `<binary> version` may take before the version counts as unknown.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// At most this much of each output stream is read (the first line is all we keep).
pub const MAX_OUTPUT: u64 = 64 * 1024;

/// The running binary's version, being found out or known. Cheap to clone: every
/// detector of one run of the node shares it.
#[derive(Clone)]
pub struct RunningVersion {
    rx: watch::Receiver<Probe>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Probe {
    Pending,
    Done(Option<String>),
}

impl RunningVersion {
    /// A version already known (or known to be unknown): the CLI, tests.
    pub fn known(version: Option<String>) -> Self {
        let (_tx, rx) = watch::channel(Probe::Done(version));
        RunningVersion { rx }
    }

    /// The version of `current/bin/$DAEMON_NAME`, found out in the background.
    pub fn of_current(layout: &Layout) -> Self {
        match layout.current_bin() {
            Ok(bin) => RunningVersion::probe(bin),
            Err(e) => {
                tracing::debug!("running version unknown: {e:#}");
                RunningVersion::known(None)
            }
        }
    }

    /// Runs `bin version` on a background task of the current tokio runtime, unless
    /// this very file was asked before (then the cached answer, at once).
    pub fn probe(bin: PathBuf) -> Self {
        let id = BinaryId::of(&bin);
        if let Some(cached) = id.as_ref().and_then(cached) {
            return RunningVersion::known(cached);
        }
        let (tx, rx) = watch::channel(Probe::Pending);
        tokio::spawn(async move {
            let version = match query(&bin).await {
                Ok(v) => {
                    tracing::info!(binary = %bin.display(), version = %v, "running binary version");
                    Some(v)
                }
                Err(e) => {
                    tracing::warn!(binary = %bin.display(), "running binary version unknown: {e:#}");
                    None
                }
            };
            if let Some(id) = id {
                remember(id, version.clone());
            }
            // No receiver left (the node's run ended) is fine: the cache has it.
            let _ = tx.send(Probe::Done(version));
        });
        RunningVersion { rx }
    }

    /// The version if already known; `None` while the probe runs or when it failed.
    pub fn now(&self) -> Option<String> {
        match &*self.rx.borrow() {
            Probe::Done(v) => v.clone(),
            Probe::Pending => None,
        }
    }

    /// Waits until the probe is over (bounded by [`VERSION_TIMEOUT`] plus the time to
    /// start the process), then the version.
    pub async fn settled(&self) -> Option<String> {
        let mut rx = self.rx.clone();
        match rx.wait_for(|p| *p != Probe::Pending).await {
            Ok(p) => match &*p {
                Probe::Done(v) => v.clone(),
                Probe::Pending => None,
            },
            // The probing task is gone without an answer (runtime shutting down).
            Err(_) => None,
        }
    }
}

/// Runs `bin version` (no shell, stdin empty) and returns its first non-empty line.
pub async fn query(bin: &Path) -> Result<String> {
    let mut child = tokio::process::Command::new(bin)
        .arg("version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run `{} version`", bin.display()))?;
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let run = async {
        let (out, err) = tokio::join!(read_capped(stdout), read_capped(stderr));
        // Past the cap our end of the pipe is closed (the writer gets SIGPIPE); one
        // that survives that is stopped here rather than left to the time limit.
        let capped = out.len() as u64 >= MAX_OUTPUT || err.len() as u64 >= MAX_OUTPUT;
        if capped {
            let _ = child.start_kill();
        }
        let status = child.wait().await;
        (out, err, status, capped)
    };
    let (out, err, status, capped) =
        tokio::time::timeout(VERSION_TIMEOUT, run)
            .await
            .map_err(|_| {
                anyhow!(
                    "`{} version` did not finish within {VERSION_TIMEOUT:?}",
                    bin.display()
                )
            })?;
    let status = status.with_context(|| format!("waiting for `{} version`", bin.display()))?;
    let line = first_line(&out).or_else(|| first_line(&err));
    match line {
        // Cut short by us, it could not exit cleanly: its first line still counts.
        Some(line) if status.success() || capped => Ok(line),
        _ if !status.success() => bail!("`{} version` failed ({status})", bin.display()),
        _ => bail!("`{} version` printed nothing", bin.display()),
    }
}

/// The first non-empty line, trimmed (invalid UTF-8 replaced).
pub fn first_line(output: &[u8]) -> Option<String> {
    String::from_utf8_lossy(output)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

async fn read_capped(stream: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(stream) = stream {
        // A read error leaves what was read; the exit status tells the rest.
        let _ = stream.take(MAX_OUTPUT).read_to_end(&mut buf).await;
    }
    buf
}

/// One binary file as it is now: replaced or rebuilt in place, it is asked again.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct BinaryId {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

impl BinaryId {
    fn of(bin: &Path) -> Option<BinaryId> {
        let path = std::fs::canonicalize(bin).ok()?;
        let meta = std::fs::metadata(&path).ok()?;
        Some(BinaryId {
            path,
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

fn cache() -> &'static Mutex<HashMap<BinaryId, Option<String>>> {
    static CACHE: OnceLock<Mutex<HashMap<BinaryId, Option<String>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn cached(id: &BinaryId) -> Option<Option<String>> {
    cache().lock().ok()?.get(id).cloned()
}

fn remember(id: BinaryId, version: Option<String>) {
    if let Ok(mut map) = cache().lock() {
        map.insert(id, version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Instant;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn the_first_non_empty_line_trimmed() {
        assert_eq!(
            first_line(b"\n  v17.2.0  \nbuild: abc\n").as_deref(),
            Some("v17.2.0")
        );
        assert_eq!(first_line(b"\n \n"), None);
        assert_eq!(first_line(b""), None);
    }

    #[tokio::test]
    async fn reads_stdout_or_else_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let out = script(
            dir.path(),
            "out",
            "[ \"$1\" = version ] && echo ' v2.1.0' && echo extra",
        );
        assert_eq!(query(&out).await.unwrap(), "v2.1.0");
        // Older Cosmos SDK binaries print their version on stderr.
        let err = script(dir.path(), "err", "echo 0.47.3 >&2");
        assert_eq!(query(&err).await.unwrap(), "0.47.3");
    }

    #[tokio::test]
    async fn a_failing_or_silent_binary_has_no_version() {
        let dir = tempfile::tempdir().unwrap();
        let failing = script(dir.path(), "failing", "echo 'unknown command' >&2; exit 1");
        let e = query(&failing).await.unwrap_err().to_string();
        assert!(e.contains("failed"), "{e}");
        let silent = script(dir.path(), "silent", "exit 0");
        let e = query(&silent).await.unwrap_err().to_string();
        assert!(e.contains("printed nothing"), "{e}");
        let missing = dir.path().join("missing");
        assert!(query(&missing).await.is_err());
    }

    #[tokio::test]
    async fn a_huge_output_is_capped_and_still_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let chatty = script(dir.path(), "chatty", "echo v9.9.9; yes 0123456789abcdef");
        let started = Instant::now();
        assert_eq!(query(&chatty).await.unwrap(), "v9.9.9");
        assert!(started.elapsed() < VERSION_TIMEOUT, "killed, not timed out");
    }

    #[tokio::test]
    async fn the_probe_runs_in_the_background_once_per_binary() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let slow = script(
            dir.path(),
            "slow",
            &format!("echo run >> {}; sleep 0.3; echo v3.0.0", count.display()),
        );
        let started = Instant::now();
        let probe = RunningVersion::probe(slow.clone());
        assert_eq!(probe.now(), None, "not known while the binary runs");
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "probe() does not wait"
        );
        assert_eq!(probe.settled().await.as_deref(), Some("v3.0.0"));
        assert_eq!(probe.now().as_deref(), Some("v3.0.0"));
        // Same file: the cached answer, at once, without running it again.
        let again = RunningVersion::probe(slow.clone());
        assert_eq!(again.now().as_deref(), Some("v3.0.0"));
        assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 1);
        // The file replaced (another size): asked again.
        std::fs::write(&slow, "#!/bin/sh\necho v4.0.0-rc1\n").unwrap();
        let replaced = RunningVersion::probe(slow);
        assert_eq!(replaced.settled().await.as_deref(), Some("v4.0.0-rc1"));
    }
}
