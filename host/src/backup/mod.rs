//! Backup of the node's `data/` before an upgrade, where cosmovisor puts it:
//! `$DAEMON_DATA_BACKUP_DIR/data-backup-<Y>-<M>-<D>` (no zero padding).
//!
//! cosmovisor copies byte by byte and a node's data takes hours; here each file is a
//! reflink (`FICLONE`: shared blocks, near-instant) where the filesystem can (XFS,
//! btrfs), otherwise an in-kernel `copy_file_range` as fast as `cp -a`, on a few
//! threads so thousands of small files are not copied one syscall round-trip at a
//! time. What `cp -a` keeps is kept (see `clone`); sockets and fifos cannot be
//! backed up and are named in a warning and in [`BackupReport::skipped`].
//!
//! Whole or clearly incomplete, never in between: the copy is written under a hidden
//! staging name (`.data-backup-2025-3-7.incomplete`), flushed to disk (`syncfs`),
//! and only then renamed to its final name. A run killed half-way leaves only the
//! staging directory, which the next run removes (with a warning naming it) before
//! it starts. A run that fails removes its own staging directory.
//!
//! Two backups on one day (two upgrades, or a retried one) never overwrite each
//! other: the second is `data-backup-2025-3-7.2`, then `.3`, … — cosmovisor would
//! copy over the first, mixing two states of the node in one folder.
//!
//! A backup directory inside the data directory is refused: the backup would copy
//! itself. Backups of one root are serialised by a lock file
//! (`.data-backup.lock`), so a run never removes another live run's staging directory.

mod clone;
mod naming;
mod queue;
mod walk;

use std::fs::{DirBuilder, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use indicatif::HumanBytes;
use nix::fcntl::{Flock, FlockArg};

pub use naming::{base_name, is_staging_name};

use crate::progress::{Progress, Unit};
use clone::{Cloner, Outcome};
use queue::Queue;

/// Name of the lock file in the backup root.
const LOCK_FILE: &str = ".data-backup.lock";

/// How the files' contents were copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Every non-empty file was reflinked (shares blocks with the data).
    Reflink,
    /// Every file was copied byte for byte (in the kernel).
    Copy,
    /// Some of each (e.g. a second filesystem mounted inside `data/`).
    Mixed,
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Reflink => "reflink",
            Method::Copy => "copy",
            Method::Mixed => "reflink and copy",
        })
    }
}

/// A finished backup.
#[derive(Debug, Clone)]
pub struct BackupReport {
    /// The backup's final path (`…/data-backup-2025-3-7` or `….2`, …).
    pub path: PathBuf,
    /// Regular files, symlinks and extra hard-link names written.
    pub files: u64,
    /// Bytes of regular files (a hard-linked file counted once).
    pub bytes: u64,
    pub method: Method,
    pub elapsed: Duration,
    /// Entries of `data/` that could not be backed up (sockets, fifos, devices),
    /// relative to the data directory; each was also logged as a warning.
    pub skipped: Vec<PathBuf>,
}

/// Refusals a caller may want to tell apart from I/O failures.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "the backup directory {backup_root} is inside the data directory {data_dir}, so the backup would copy itself; set DAEMON_DATA_BACKUP_DIR to a directory outside {data_dir}"
    )]
    InsideData {
        backup_root: PathBuf,
        data_dir: PathBuf,
    },
    #[error(
        "another backup is already running in {0} (it holds {LOCK_FILE}); wait for it to finish"
    )]
    Busy(PathBuf),
    #[error(
        "not enough space for the backup in {root}: it needs {} and {} is free; free some space, set DAEMON_DATA_BACKUP_DIR to a larger disk, or set UNSAFE_SKIP_BACKUP=true",
        HumanBytes(*needed), HumanBytes(*available)
    )]
    NoSpace {
        root: PathBuf,
        needed: u64,
        available: u64,
    },
}

/// Backs up `data_dir` into `backup_root` under today's name (see the module doc).
/// Synchronous and CPU/IO heavy: call it on a blocking thread. With `progress`, a bar
/// (or periodic log lines when stderr is not a terminal) shows the bytes done.
pub fn backup(
    data_dir: &Path,
    backup_root: &Path,
    today: NaiveDate,
    progress: bool,
) -> Result<BackupReport> {
    let started = Instant::now();
    let (data, root) = resolve_dirs(data_dir, backup_root)?;
    let _lock = lock_root(&root)?;
    remove_stale_staging(&root)?;
    let mut report = write_backup(&data, &root, today, progress)?;
    report.elapsed = started.elapsed();
    tracing::info!(
        "backup of {} done: {} ({} files, {}, by {}) in {:.1?}",
        data.display(),
        report.path.display(),
        report.files,
        HumanBytes(report.bytes),
        report.method,
        report.elapsed
    );
    Ok(report)
}

/// Resolves both directories (a `data` symlink is followed: the backup holds the
/// data, not the link) and refuses a backup root inside the data directory.
fn resolve_dirs(data_dir: &Path, backup_root: &Path) -> Result<(PathBuf, PathBuf)> {
    let data = data_dir.canonicalize().with_context(|| {
        format!(
            "the data directory {} cannot be read; the node's data must be there to back it up",
            data_dir.display()
        )
    })?;
    if !data.is_dir() {
        bail!(
            "the data directory {} is not a directory",
            data_dir.display()
        );
    }
    let root = backup_root.canonicalize().with_context(|| {
        format!(
            "the backup directory {} (DAEMON_DATA_BACKUP_DIR) does not exist or cannot be read; create it or point DAEMON_DATA_BACKUP_DIR elsewhere",
            backup_root.display()
        )
    })?;
    if !root.is_dir() {
        bail!(
            "the backup directory {} (DAEMON_DATA_BACKUP_DIR) is not a directory",
            backup_root.display()
        );
    }
    if root.starts_with(&data) {
        return Err(BackupError::InsideData {
            backup_root: root,
            data_dir: data,
        }
        .into());
    }
    Ok((data, root))
}

fn lock_root(root: &Path) -> Result<Flock<File>> {
    let path = root.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating the lock file {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| match errno {
        nix::errno::Errno::EWOULDBLOCK => BackupError::Busy(root.to_owned()).into(),
        e => anyhow::Error::new(e).context(format!("locking {}", path.display())),
    })
}

/// Removes staging directories that interrupted runs left behind.
fn remove_stale_staging(root: &Path) -> Result<()> {
    let entries = std::fs::read_dir(root).with_context(|| format!("listing {}", root.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", root.display()))?;
        if !is_staging_name(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        tracing::warn!(
            "removing {}: an incomplete backup left by an interrupted run (never a usable backup)",
            path.display()
        );
        remove_tree(&path).with_context(|| {
            format!(
                "removing the incomplete backup {}; remove it by hand",
                path.display()
            )
        })?;
    }
    Ok(())
}

/// Copies the tree to a staging directory, flushes it, and publishes it under the
/// day's first free name. On failure the staging directory is removed.
fn write_backup(
    data: &Path,
    root: &Path,
    today: NaiveDate,
    progress: bool,
) -> Result<BackupReport> {
    let staging = root.join(naming::staging_name(&naming::first_free_name(root, today)?));
    tracing::info!("backing up {} to {}", data.display(), root.display());
    let bar = if progress {
        Progress::new("backup", None, Unit::Bytes)
    } else {
        Progress::hidden()
    };
    let published = copy_tree(data, &staging, &bar)
        .and_then(|(method, tree)| Ok((method, tree, naming::publish(root, &staging, today)?)));
    let (method, tree, path) = match published {
        Ok(done) => done,
        Err(e) => {
            bar.abandon();
            discard(&staging);
            return Err(e);
        }
    };
    bar.finish();
    crate::switch::fsync_dir(root)?;
    Ok(BackupReport {
        path,
        files: tree.files + tree.hard_links.len() as u64,
        bytes: tree.bytes,
        method,
        elapsed: Duration::ZERO,
        skipped: tree.skipped.into_iter().map(|s| s.rel).collect(),
    })
}

/// Writes the whole tree under `staging` and flushes it to disk: the walk feeds a
/// few copying threads as it goes; hard links and directory metadata follow once
/// every file is in.
fn copy_tree(data: &Path, staging: &Path, progress: &Progress) -> Result<(Method, walk::Tree)> {
    let mut dirs = DirBuilder::new();
    dirs.mode(0o700);
    // Owner-only until the end: nothing reads a half backup, and a read-only source
    // directory must stay writable here until its contents are in.
    dirs.create(staging)
        .with_context(|| format!("creating {}", staging.display()))?;
    let cloner = Cloner::new();
    let counts = Counts::default();
    let queue = Queue::default();
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let fail = |e: anyhow::Error| {
        if let Ok(mut slot) = first_error.lock() {
            slot.get_or_insert(e);
        }
        queue.abort();
    };
    let walked = std::thread::scope(|s| {
        for _ in 0..worker_count() {
            s.spawn(|| {
                while let Some(entry) = queue.pop() {
                    if let Err(e) = copy_entry(&cloner, data, staging, &entry, progress, &counts) {
                        fail(e);
                    }
                }
            });
        }
        let walked = walk_into(&queue, data, staging, &dirs, &cloner, progress);
        match &walked {
            Ok(_) => queue.close(),
            Err(_) => queue.abort(),
        }
        walked
    });
    // A copy's failure first: it is what stopped the walk, if the walk stopped.
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let tree = walked?;
    for s in &tree.skipped {
        tracing::warn!(
            "not backed up: {} is a {}, which cannot be copied",
            data.join(&s.rel).display(),
            s.kind
        );
    }
    for link in &tree.hard_links {
        let (target, path) = (staging.join(&link.target), staging.join(&link.rel));
        std::fs::hard_link(&target, &path)
            .with_context(|| format!("linking {} to {}", path.display(), target.display()))?;
    }
    for d in tree.dirs.iter().rev() {
        cloner.finish_dir(&data.join(&d.rel), &staging.join(&d.rel), &d.meta)?;
    }
    sync_filesystem(staging)?;
    Ok((counts.method(), tree))
}

/// The walk, creating each directory's copy as it is found and queueing files;
/// then, with the total known, the progress bar's length and the free-space check.
fn walk_into(
    queue: &Queue,
    data: &Path,
    staging: &Path,
    dirs: &DirBuilder,
    cloner: &Cloner,
    progress: &Progress,
) -> Result<walk::Tree> {
    let mkdir = |d: &walk::Entry| {
        let path = staging.join(&d.rel);
        dirs.create(&path)
            .with_context(|| format!("creating {}", path.display()))
    };
    let tree = walk::walk(data, mkdir, |e| queue.push(e))
        .with_context(|| format!("reading the data directory {}", data.display()))?;
    progress.set_total(Some(tree.bytes));
    // Reflinks take no space; copies must fit in what is left.
    if !cloner.reflinking() {
        check_space(staging, tree.bytes.saturating_sub(cloner.bytes_done()))?;
    }
    Ok(tree)
}

#[derive(Default)]
struct Counts {
    reflinked: AtomicU64,
    copied: AtomicU64,
}

impl Counts {
    fn method(&self) -> Method {
        match (
            self.reflinked.load(Ordering::Relaxed),
            self.copied.load(Ordering::Relaxed),
        ) {
            (r, 0) if r > 0 => Method::Reflink,
            (r, c) if r > 0 && c > 0 => Method::Mixed,
            _ => Method::Copy,
        }
    }
}

/// Two threads per core (copies wait on the disk as much as on the CPU), 2 to 8.
fn worker_count() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get() * 2)
        .clamp(2, 8)
}

fn copy_entry(
    cloner: &Cloner,
    data: &Path,
    staging: &Path,
    entry: &walk::Entry,
    progress: &Progress,
    counts: &Counts,
) -> Result<()> {
    #[cfg(test)]
    tests::pause_or_fail_if_asked(&entry.rel)?;
    let (src, dst) = (data.join(&entry.rel), staging.join(&entry.rel));
    if entry.meta.file_type().is_symlink() {
        return cloner.copy_symlink(&src, &dst, &entry.meta);
    }
    match cloner.copy_file(&src, &dst, &entry.meta, progress)? {
        Outcome::Reflinked => counts.reflinked.fetch_add(1, Ordering::Relaxed),
        Outcome::Copied => counts.copied.fetch_add(1, Ordering::Relaxed),
        Outcome::Empty => 0,
    };
    Ok(())
}

fn check_space(dir: &Path, needed: u64) -> Result<()> {
    let stat = nix::sys::statvfs::statvfs(dir)
        .with_context(|| format!("reading the free space of {}", dir.display()))?;
    let available = stat.blocks_available().saturating_mul(stat.fragment_size());
    if available < needed {
        let root = dir.parent().unwrap_or(dir).to_owned();
        return Err(BackupError::NoSpace {
            root,
            needed,
            available,
        }
        .into());
    }
    Ok(())
}

/// Flushes the whole backup (data and metadata) with one `syncfs(2)` — one call
/// instead of an fsync per file — so the final name never points at files a power
/// cut could still empty.
fn sync_filesystem(dir: &Path) -> Result<()> {
    let d = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    // SAFETY: a valid open descriptor.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("flushing {} to disk", dir.display()));
    }
    Ok(())
}

/// Best-effort removal of a failed run's staging directory (the next run removes
/// it anyway, so a failure here is only logged).
fn discard(staging: &Path) {
    if std::fs::symlink_metadata(staging).is_err() {
        return;
    }
    if let Err(e) = remove_tree(staging) {
        tracing::warn!(
            "could not remove the incomplete backup {}: {e:#}; the next backup removes it",
            staging.display()
        );
    }
}

/// `remove_dir_all`, making read-only directories writable first when needed (a
/// staging copy of a read-only source directory may be one).
fn remove_tree(path: &Path) -> Result<()> {
    if std::fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    make_dirs_writable(path)?;
    std::fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))
}

fn make_dirs_writable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_dir() {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} writable", path.display()))?;
    for entry in std::fs::read_dir(path).with_context(|| format!("listing {}", path.display()))? {
        make_dirs_writable(
            &entry
                .with_context(|| format!("listing {}", path.display()))?
                .path(),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
