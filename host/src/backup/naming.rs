//! Names of backups in `DAEMON_DATA_BACKUP_DIR`, and the one step that gives a backup
//! its final name.
//!
//! A backup is copied under a staging name (`.data-backup-2025-3-7.incomplete`) and
//! renamed to its final name only once it is whole and on disk, so no reader, and
//! no later run, can take a half backup for a whole one. The rename uses
//! `RENAME_NOREPLACE`: an existing backup of the same name is never replaced, not
//! even an empty directory (which a plain `rename(2)` would silently swap out).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{Datelike, NaiveDate};

/// Prefix of every complete backup's name.
pub const PREFIX: &str = "data-backup-";
/// Suffix of a staging directory; such a directory is never a usable backup.
pub const STAGING_SUFFIX: &str = ".incomplete";

/// How many same-day names are tried before giving up (`.2` … `.999`).
const MAX_SAME_DAY: u32 = 999;

/// cosmovisor's name for a day's backup: `data-backup-<Y>-<M>-<D>`, no zero padding
/// (Go's `2006-1-2` layout).
pub fn base_name(today: NaiveDate) -> String {
    format!("{PREFIX}{}-{}-{}", today.year(), today.month(), today.day())
}

/// The `n`-th backup of a day: the base name, then `.2`, `.3`, …
pub fn nth_name(today: NaiveDate, n: u32) -> String {
    let base = base_name(today);
    if n <= 1 { base } else { format!("{base}.{n}") }
}

/// The staging name for a final name: hidden, and marked incomplete.
pub fn staging_name(final_name: &str) -> String {
    format!(".{final_name}{STAGING_SUFFIX}")
}

/// Whether a directory entry of the backup root is a staging directory (left over
/// when a run was interrupted).
pub fn is_staging_name(name: &str) -> bool {
    name.starts_with(&format!(".{PREFIX}")) && name.ends_with(STAGING_SUFFIX)
}

/// The first name of the day not yet taken in `root`.
pub fn first_free_name(root: &Path, today: NaiveDate) -> Result<String> {
    (1..=MAX_SAME_DAY)
        .map(|n| nth_name(today, n))
        .find(|name| std::fs::symlink_metadata(root.join(name)).is_err())
        .with_context(|| {
            format!(
                "{MAX_SAME_DAY} backups named {}* already exist in {}; remove old ones",
                base_name(today),
                root.display()
            )
        })
}

/// Renames `staging` to the first free final name of the day in `root` and returns
/// it. Never replaces anything: a name taken in the meantime moves on to the next.
pub fn publish(root: &Path, staging: &Path, today: NaiveDate) -> Result<PathBuf> {
    for n in 1..=MAX_SAME_DAY {
        let target = root.join(nth_name(today, n));
        match rename_no_replace(staging, &target) {
            Ok(()) => return Ok(target),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY)) => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "renaming the finished backup {} to {}",
                        staging.display(),
                        target.display()
                    )
                });
            }
        }
    }
    bail!(
        "{MAX_SAME_DAY} backups named {}* already exist in {}; remove old ones",
        base_name(today),
        root.display()
    )
}

/// `renameat2(RENAME_NOREPLACE)`; on a filesystem without that flag, a check then a
/// plain rename (a race there needs two backups of one node at the same instant).
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    let c_from = CString::new(from.as_os_str().as_bytes())?;
    let c_to = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: both pointers are valid NUL-terminated strings for the whole call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            c_from.as_ptr(),
            libc::AT_FDCWD,
            c_to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
        return Err(err);
    }
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(io::Error::from_raw_os_error(libc::EEXIST));
    }
    std::fs::rename(from, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn names_have_no_zero_padding() {
        assert_eq!(base_name(day(2025, 3, 7)), "data-backup-2025-3-7");
        assert_eq!(base_name(day(2025, 12, 31)), "data-backup-2025-12-31");
        assert_eq!(base_name(day(2026, 1, 10)), "data-backup-2026-1-10");
        assert_eq!(nth_name(day(2025, 3, 7), 1), "data-backup-2025-3-7");
        assert_eq!(nth_name(day(2025, 3, 7), 2), "data-backup-2025-3-7.2");
    }

    #[test]
    fn staging_names_are_recognised_and_never_final() {
        let s = staging_name("data-backup-2025-3-7.2");
        assert_eq!(s, ".data-backup-2025-3-7.2.incomplete");
        assert!(is_staging_name(&s));
        assert!(!is_staging_name("data-backup-2025-3-7"));
        assert!(!is_staging_name(".data-backup-2025-3-7"));
        assert!(!is_staging_name("other.incomplete"));
    }

    #[test]
    fn publish_never_replaces_an_existing_backup() {
        let root = tempfile::tempdir().unwrap();
        let today = day(2025, 3, 7);
        // An empty directory is what a plain rename(2) would silently replace.
        std::fs::create_dir(root.path().join("data-backup-2025-3-7")).unwrap();
        let staging = root.path().join(staging_name("data-backup-2025-3-7"));
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(staging.join("f"), b"x").unwrap();
        let published = publish(root.path(), &staging, today).unwrap();
        assert_eq!(published, root.path().join("data-backup-2025-3-7.2"));
        assert!(published.join("f").is_file());
        assert!(!staging.exists());
        assert_eq!(
            std::fs::read_dir(root.path().join("data-backup-2025-3-7"))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(
            first_free_name(root.path(), today).unwrap(),
            "data-backup-2025-3-7.3"
        );
    }
}
