//! Noticing a new `data/upgrade-info.json` within milliseconds.
//!
//! cosmovisor polls the file every 300 ms, so an upgrade waits 150 ms on average
//! before anything happens. Here inotify (through `notify`, watching `data/` itself,
//! not recursively, so the node's database writes below it cost nothing) wakes the
//! supervisor at once, and a poll at `DAEMON_POLL_INTERVAL` remains as a safety net
//! for filesystems where inotify is blind (NFS, some overlay setups). The watcher only
//! says "look again"; reading and judging the file is the caller's business.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode, MetadataKind, ModifyKind};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};

/// Identity of a file version, as far as `stat` can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        ino: m.ino(),
        size: m.size(),
        mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
    })
}

/// Watches one file for changes.
pub struct FileWatcher {
    file: PathBuf,
    events: mpsc::UnboundedReceiver<()>,
    _inotify: Option<notify::RecommendedWatcher>,
    poll: Interval,
    last: Option<Stamp>,
}

impl FileWatcher {
    /// Watches `file` (its parent directory must exist). `inotify = false` polls only.
    pub fn new(file: &Path, poll_interval: Duration, inotify: bool) -> Result<Self> {
        let (tx, events) = mpsc::unbounded_channel();
        let inotify = if inotify {
            Some(start_inotify(file, tx)?)
        } else {
            None
        };
        let mut poll = tokio::time::interval(poll_interval);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ok(FileWatcher {
            file: file.to_owned(),
            events,
            _inotify: inotify,
            poll,
            last: stamp(file),
        })
    }

    /// Returns when the file may have changed since the last call (or since creation).
    pub async fn changed(&mut self) {
        loop {
            tokio::select! {
                Some(()) = self.events.recv() => {
                    while self.events.try_recv().is_ok() {}
                    self.last = stamp(&self.file);
                    return;
                }
                _ = self.poll.tick() => {
                    let now = stamp(&self.file);
                    if now != self.last {
                        self.last = now;
                        return;
                    }
                }
            }
        }
    }
}

/// Whether an event may mean new content. Opening and reading the file are events
/// too (notify subscribes to them): counting those, the supervisor's own read of the
/// file would wake it again, forever.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(access) => *access == AccessKind::Close(AccessMode::Write),
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        _ => true,
    }
}

fn start_inotify(file: &Path, tx: mpsc::UnboundedSender<()>) -> Result<notify::RecommendedWatcher> {
    let dir = file
        .parent()
        .context("the watched file has no parent directory")?
        .to_owned();
    let name = file
        .file_name()
        .context("the watched file has no name")?
        .to_owned();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let relevant = match &res {
            Ok(ev) => {
                is_change(&ev.kind)
                    && ev
                        .paths
                        .iter()
                        .any(|p| p.file_name() == Some(name.as_os_str()))
            }
            // An error (e.g. queue overflow) may hide our event: look again.
            Err(_) => true,
        };
        if relevant {
            let _ = tx.send(());
        }
    })
    .context("starting inotify")?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", dir.display()))?;
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sees_a_write(inotify: bool, within: Duration) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("upgrade-info.json");
        let mut w = FileWatcher::new(&file, Duration::from_millis(300), inotify).unwrap();
        // The first poll tick fires at once and finds nothing changed.
        let writer = {
            let file = file.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                std::fs::write(&file, "{}").unwrap();
            })
        };
        tokio::time::timeout(within, w.changed())
            .await
            .expect("the change was noticed");
        writer.await.unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn inotify_notices_a_new_file_quickly() {
        sees_a_write(true, Duration::from_millis(250)).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn reading_the_file_does_not_wake_the_watcher() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("upgrade-info.json");
        std::fs::write(&file, "{}").unwrap();
        let mut w = FileWatcher::new(&file, Duration::from_millis(100), true).unwrap();
        let reader = {
            let file = file.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    let _ = std::fs::read(&file).unwrap();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        let woke = tokio::time::timeout(Duration::from_millis(400), w.changed()).await;
        assert!(
            woke.is_err(),
            "opening and reading the file woke the watcher"
        );
        reader.await.unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn polling_alone_notices_it_too() {
        sees_a_write(false, Duration::from_millis(1000)).await;
    }
}
