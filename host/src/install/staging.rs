//! The staging directory an install works in, and moving its result into place.
//!
//! Staging lives in `upgrades/.staging-<folder>-<pid>-<n>`: on the same filesystem as
//! its destination, so the final step is one `rename(2)`, and dot-prefixed, so
//! nothing ever mistakes it for an upgrade. Whatever happens, the staging directory
//! is removed when the install ends (the guard's `Drop`), and one left by a crashed
//! process is removed by the next attempt — a failed install never blocks a retry,
//! unlike cosmovisor, whose half-filled `upgrades/<name>` must be deleted by hand.
//! The per-process sequence number `<n>` and a registry of live staging directories
//! keep two installs in one process (a pre-staging and the upgrade itself) from
//! deleting each other's work.
//!
//! A destination folder that already exists (created by an operator, or holding
//! other files) is never replaced: the new entries are moved in beside what is
//! there, and the binary is moved last, so its presence means a complete install.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{InstallError, IoContext};

const PREFIX: &str = ".staging-";

/// Staging directories of this process that are in use.
static ACTIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn is_active(dir: &Path) -> bool {
    ACTIVE
        .lock()
        .map(|a| a.iter().any(|d| d == dir))
        .unwrap_or(false)
}

/// An install's private working directory; removed on drop.
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    /// Creates `upgrades/.staging-<folder>-<pid>-<n>` after removing stale ones.
    pub fn create(upgrades: &Path, folder: &str) -> Result<Self, InstallError> {
        fs::create_dir_all(upgrades).ctx(|| format!("creating {}", upgrades.display()))?;
        remove_stale(upgrades, folder);
        let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let dir = upgrades.join(format!("{PREFIX}{folder}-{}-{n}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .ctx(|| format!("removing the old staging directory {}", dir.display()))?;
        }
        fs::create_dir_all(dir.join("root")).ctx(|| format!("creating {}", dir.display()))?;
        if let Ok(mut active) = ACTIVE.lock() {
            active.push(dir.clone());
        }
        Ok(Staging { dir })
    }

    /// Where the fetched file is written.
    pub fn download(&self) -> PathBuf {
        self.dir.join("download")
    }

    /// The future version folder.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Moves the staged version folder to `target`, or its entries into an existing
    /// `target`; `binary` (inside the staged root) goes last. Returns the installed
    /// binary's path.
    pub fn commit(self, target: &Path, binary: &Path) -> Result<PathBuf, InstallError> {
        let root = self.root();
        let rel = binary.strip_prefix(&root).map_err(|_| {
            InstallError::io(
                "placing the binary",
                std::io::Error::other("the binary is outside the staging folder"),
            )
        })?;
        let installed = target.join(rel);
        fsync_dir(binary.parent().unwrap_or(&root))?;
        // `metadata` follows a symlinked version folder: operators do that to keep
        // binaries on another disk, and the install belongs where it points.
        match fs::metadata(target) {
            Err(e) if e.kind() == ErrorKind::NotFound => match fs::rename(&root, target) {
                Ok(()) => {}
                // Someone created the folder meanwhile: merge into it instead.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => {
                    merge(&root, target, binary)?;
                }
                Err(e) => {
                    return Err(InstallError::io(
                        format!("moving the new version to {}", target.display()),
                        e,
                    ));
                }
            },
            Ok(meta) if meta.is_dir() => merge(&root, target, binary)?,
            Ok(_) => {
                return Err(InstallError::io(
                    format!("installing into {}", target.display()),
                    std::io::Error::other(
                        "it exists and is not a directory; move it away and retry",
                    ),
                ));
            }
            Err(e) => {
                return Err(InstallError::io(
                    format!("inspecting {}", target.display()),
                    e,
                ));
            }
        }
        if let Some(parent) = target.parent() {
            fsync_dir(parent)?;
        }
        Ok(installed)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Ok(mut active) = ACTIVE.lock() {
            active.retain(|d| d != &self.dir);
        }
        if let Err(e) = fs::remove_dir_all(&self.dir)
            && e.kind() != ErrorKind::NotFound
        {
            tracing::warn!(
                "could not remove the staging directory {}: {e}; it will be removed by the next install",
                self.dir.display()
            );
        }
    }
}

/// Removes staging directories of `folder` whose process is gone. Our own pid counts
/// as gone unless the directory is in use: in a container wasmvisor is often pid 1
/// again after a crash.
fn remove_stale(upgrades: &Path, folder: &str) {
    let Ok(entries) = fs::read_dir(upgrades) else {
        return;
    };
    let prefix = format!("{PREFIX}{folder}-");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(staging_pid)
        else {
            continue;
        };
        let path = entry.path();
        let ours = pid == std::process::id() as i32;
        if (ours && is_active(&path)) || (!ours && process_alive(pid)) {
            continue;
        }
        match fs::remove_dir_all(&path) {
            Ok(()) => tracing::info!("removed {} left by an interrupted install", path.display()),
            Err(e) => tracing::warn!(
                "could not remove the stale staging directory {}: {e}",
                path.display()
            ),
        }
    }
}

/// The pid in `<pid>-<n>` (or `<pid>`); `None` for anything else, such as the
/// staging directory of a folder whose name merely starts the same way.
fn staging_pid(rest: &str) -> Option<i32> {
    let (pid, n) = rest.split_once('-').unwrap_or((rest, "0"));
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

fn process_alive(pid: i32) -> bool {
    use nix::errno::Errno;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        // EPERM: it exists but belongs to someone else.
        Err(_) => true,
    }
}

/// Moves entries of `from` that `into` lacks (recursing into directories both have),
/// then the binary, replacing whatever was at its place.
fn merge(from: &Path, into: &Path, binary: &Path) -> Result<(), InstallError> {
    merge_dir(from, into, binary)?;
    let rel = binary.strip_prefix(from).unwrap_or(binary);
    let dest = into.join(rel);
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).ctx(|| format!("creating {}", parent.display()))?;
    }
    if fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
        return Err(InstallError::io(
            format!("installing {}", dest.display()),
            std::io::Error::other(
                "a directory is in the way of the binary; move it away and retry",
            ),
        ));
    }
    fs::rename(binary, &dest).ctx(|| format!("moving the binary to {}", dest.display()))?;
    if let Some(parent) = dest.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}

fn merge_dir(from: &Path, into: &Path, binary: &Path) -> Result<(), InstallError> {
    fs::create_dir_all(into).ctx(|| format!("creating {}", into.display()))?;
    for entry in fs::read_dir(from).ctx(|| format!("listing {}", from.display()))? {
        let entry = entry.ctx(|| format!("listing {}", from.display()))?;
        let src = entry.path();
        if src == binary {
            continue;
        }
        let dest = into.join(entry.file_name());
        // The binary's own folder is merged entry by entry so the binary can go last.
        if binary.starts_with(&src) {
            merge_dir(&src, &dest, binary)?;
            continue;
        }
        match fs::symlink_metadata(&dest) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                fs::rename(&src, &dest)
                    .ctx(|| format!("moving {} to {}", src.display(), dest.display()))?;
            }
            Ok(meta) if meta.is_dir() && src.is_dir() => merge_dir(&src, &dest, binary)?,
            // The operator's file stays; the archive's copy is dropped with the staging dir.
            Ok(_) => tracing::info!("keeping the existing {}", dest.display()),
            Err(e) => {
                return Err(InstallError::io(
                    format!("inspecting {}", dest.display()),
                    e,
                ));
            }
        }
    }
    Ok(())
}

fn fsync_dir(dir: &Path) -> Result<(), InstallError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx(|| format!("flushing the directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_staging_of_dead_processes_is_removed_and_live_kept() {
        let dir = tempfile::tempdir().unwrap();
        let up = dir.path();
        // pid_max is at most 4194304, so this pid cannot be alive.
        let dead = up.join(".staging-v2-4194399-0");
        fs::create_dir_all(dead.join("root")).unwrap();
        let live = up.join(".staging-v2-1-3");
        fs::create_dir_all(&live).unwrap();
        let other_plan = up.join(".staging-v3-4194399-0");
        fs::create_dir_all(&other_plan).unwrap();
        // Folder "v2-5" is another plan, not a staging dir of "v2" with pid 5.
        let lookalike = up.join(".staging-v2-5-4194399-0");
        fs::create_dir_all(&lookalike).unwrap();

        let s = Staging::create(up, "v2").unwrap();
        assert!(!dead.exists());
        assert!(live.exists(), "pid 1 is alive; its staging dir must stay");
        assert!(other_plan.exists());
        assert!(lookalike.exists());
        assert!(s.root().is_dir());
        // A second install of the same plan in this process leaves the first alone.
        let second = Staging::create(up, "v2").unwrap();
        assert!(s.root().is_dir());
        assert_ne!(second.dir, s.dir);
        drop(second);
        let own = s.dir.clone();
        drop(s);
        assert!(!own.exists(), "the guard removes its directory");
    }

    #[test]
    fn commit_into_an_existing_folder_keeps_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("v2");
        fs::create_dir_all(target.join("bin")).unwrap();
        fs::write(target.join("notes.txt"), "mine").unwrap();
        fs::write(target.join("bin/helper"), "mine too").unwrap();

        let s = Staging::create(dir.path(), "v2").unwrap();
        let root = s.root();
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::create_dir_all(root.join("lib")).unwrap();
        fs::write(root.join("bin/appd"), "new").unwrap();
        fs::write(root.join("bin/helper"), "theirs").unwrap();
        fs::write(root.join("lib/libwasmvm.so"), "lib").unwrap();
        fs::write(root.join("notes.txt"), "theirs").unwrap();
        let bin = s.commit(&target, &root.join("bin/appd")).unwrap();

        assert_eq!(bin, target.join("bin/appd"));
        assert_eq!(fs::read_to_string(&bin).unwrap(), "new");
        assert_eq!(
            fs::read_to_string(target.join("notes.txt")).unwrap(),
            "mine"
        );
        assert_eq!(
            fs::read_to_string(target.join("bin/helper")).unwrap(),
            "mine too"
        );
        assert_eq!(
            fs::read_to_string(target.join("lib/libwasmvm.so")).unwrap(),
            "lib"
        );
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("v2")],
            "staging removed"
        );
    }
}
