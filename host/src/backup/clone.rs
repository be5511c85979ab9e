//! Copying one entry of the tree: contents by reflink or in-kernel copy, then what
//! `cp -a` keeps — owner (as root), mode, extended attributes, access and
//! modification times to the nanosecond, symlinks as symlinks.
//!
//! A reflink (`FICLONE`) shares the file's blocks with the copy, so it costs a few
//! metadata writes whatever the file's size; the filesystem (XFS, btrfs) copies a
//! block only when one side later writes it. Where the filesystem cannot, contents
//! move with `copy_file_range(2)` (via `std::io::copy`), which stays inside the
//! kernel as `cp` does. Which of the two to use is decided once per backup: the first
//! `FICLONE` the filesystem refuses turns reflinks off for every thread, rather
//! than a failing ioctl on every file.
//!
//! Where this differs from `cp -a`: holes of sparse files are written out as zeros
//! (node databases are not sparse), and device files, fifos and sockets are skipped
//! with a warning rather than recreated (see `walk`).

use std::ffi::CString;
use std::fs::{File, Metadata, OpenOptions, Permissions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::{Context, Result};

use crate::progress::Progress;

/// Bytes copied per `copy_file_range` round, so the progress bar moves during a big
/// file and not only after it.
const CHUNK: u64 = 64 << 20;

/// How a regular file's contents were copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Reflinked,
    Copied,
    /// Nothing to copy (an empty file).
    Empty,
}

/// State shared by all copying threads of one backup.
#[derive(Debug)]
pub struct Cloner {
    /// Cleared (once) when the filesystem turns out unable to reflink.
    try_reflink: AtomicBool,
    /// Whether to give copies the source's owner (only root may).
    as_root: bool,
    /// Bytes of regular files written so far (cloned or copied).
    done: AtomicU64,
}

impl Cloner {
    pub fn new() -> Self {
        Cloner {
            try_reflink: AtomicBool::new(true),
            as_root: is_root(),
            done: AtomicU64::new(0),
        }
    }

    /// Bytes of regular files written so far.
    pub fn bytes_done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Whether reflinks are still being attempted.
    pub fn reflinking(&self) -> bool {
        self.try_reflink.load(Ordering::Relaxed)
    }

    /// Copies the regular file `src` to the new path `dst` with its metadata.
    pub fn copy_file(
        &self,
        src: &Path,
        dst: &Path,
        meta: &Metadata,
        progress: &Progress,
    ) -> Result<Outcome> {
        let mut from = File::open(src).with_context(|| format!("opening {}", src.display()))?;
        let mode = meta.mode() & 0o7777;
        // Created with its final permission bits (the staging directory is
        // owner-only, so nobody else sees them early): on XFS or btrfs each chown or
        // chmod is a journal transaction, and skipping the ones not needed is a
        // good part of a reflink backup's time.
        let to = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o777)
            .open(dst)
            .with_context(|| format!("creating {}", dst.display()))?;
        let outcome = self
            .copy_contents(&mut from, &to, meta.len(), progress)
            .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        let made = to
            .metadata()
            .with_context(|| format!("reading {}", dst.display()))?;
        let chowned = self.as_root && (made.uid(), made.gid()) != (meta.uid(), meta.gid());
        if chowned {
            std::os::unix::fs::fchown(&to, Some(meta.uid()), Some(meta.gid()))
                .with_context(|| format!("setting the owner of {}", dst.display()))?;
        }
        copy_xattrs(&from, &to, dst)?;
        // Needed when the umask cleared bits, or for set-uid/set-gid/sticky bits
        // (never given at creation, so always set here, after the chown that would
        // clear them).
        if made.mode() & 0o7777 != mode {
            to.set_permissions(Permissions::from_mode(mode))
                .with_context(|| format!("setting the mode of {}", dst.display()))?;
        }
        to.set_times(file_times(meta))
            .with_context(|| format!("setting the times of {}", dst.display()))?;
        Ok(outcome)
    }

    fn copy_contents(
        &self,
        from: &mut File,
        to: &File,
        len: u64,
        progress: &Progress,
    ) -> io::Result<Outcome> {
        if len == 0 {
            return Ok(Outcome::Empty);
        }
        if self.reflinking() {
            match ficlone(from, to) {
                Ok(()) => {
                    self.done.fetch_add(len, Ordering::Relaxed);
                    progress.inc(len);
                    return Ok(Outcome::Reflinked);
                }
                Err(e) if cannot_reflink(&e) => {
                    self.try_reflink.store(false, Ordering::Relaxed);
                    tracing::debug!("reflink not possible here ({e}); copying instead");
                }
                Err(e) => return Err(e),
            }
        }
        // Up to the size the walk saw (the node is stopped; nothing grows), so a
        // small file takes one copy_file_range call and no extra call to find EOF.
        let (mut to, mut done) = (to, 0);
        while done < len {
            let n = io::copy(&mut Read::by_ref(from).take(CHUNK.min(len - done)), &mut to)?;
            if n == 0 {
                break;
            }
            done += n;
            self.done.fetch_add(n, Ordering::Relaxed);
            progress.inc(n);
        }
        Ok(Outcome::Copied)
    }

    /// Recreates the symlink `src` at `dst` (same target text) with its owner and times.
    pub fn copy_symlink(&self, src: &Path, dst: &Path, meta: &Metadata) -> Result<()> {
        let target = std::fs::read_link(src)
            .with_context(|| format!("reading the symlink {}", src.display()))?;
        std::os::unix::fs::symlink(&target, dst)
            .with_context(|| format!("creating the symlink {}", dst.display()))?;
        self.set_owner(
            || std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid())),
            dst,
        )?;
        set_times_nofollow(dst, meta)
            .with_context(|| format!("setting the times of the symlink {}", dst.display()))
    }

    /// Gives the directory `dst` the owner, attributes, mode and times of `src`. Runs
    /// after everything inside `dst` is written, or the writes would change its times
    /// (and a read-only mode would block them).
    pub fn finish_dir(&self, src: &Path, dst: &Path, meta: &Metadata) -> Result<()> {
        let dir = File::open(dst).with_context(|| format!("opening {}", dst.display()))?;
        self.set_owner(
            || std::os::unix::fs::fchown(&dir, Some(meta.uid()), Some(meta.gid())),
            dst,
        )?;
        let src_dir = File::open(src).with_context(|| format!("opening {}", src.display()))?;
        copy_xattrs(&src_dir, &dir, dst)?;
        dir.set_permissions(Permissions::from_mode(meta.mode() & 0o7777))
            .with_context(|| format!("setting the mode of {}", dst.display()))?;
        dir.set_times(file_times(meta))
            .with_context(|| format!("setting the times of {}", dst.display()))
    }

    fn set_owner(&self, chown: impl FnOnce() -> io::Result<()>, dst: &Path) -> Result<()> {
        if self.as_root {
            chown().with_context(|| format!("setting the owner of {}", dst.display()))?;
        }
        Ok(())
    }
}

/// Whether this process may give files any owner.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `ioctl(FICLONE)`: makes `to` share all of `from`'s blocks.
fn ficlone(from: &File, to: &File) -> io::Result<()> {
    // SAFETY: FICLONE takes the source descriptor as its argument; both are open.
    let rc = unsafe { libc::ioctl(to.as_raw_fd(), libc::FICLONE, from.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Errors that mean "this filesystem (or this pair of filesystems) cannot reflink",
/// as opposed to a real failure such as a full disk.
fn cannot_reflink(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP | libc::EXDEV | libc::EINVAL | libc::ENOTTY | libc::ENOSYS)
    )
}

fn file_times(meta: &Metadata) -> std::fs::FileTimes {
    let mut times = std::fs::FileTimes::new();
    if let Ok(a) = meta.accessed() {
        times = times.set_accessed(a);
    }
    if let Ok(m) = meta.modified() {
        times = times.set_modified(m);
    }
    times
}

/// `utimensat(AT_SYMLINK_NOFOLLOW)`: std has no way to set a symlink's own times.
fn set_times_nofollow(path: &Path, meta: &Metadata) -> io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())?;
    let times = [
        libc::timespec {
            tv_sec: meta.atime() as libc::time_t,
            tv_nsec: meta.atime_nsec() as _,
        },
        libc::timespec {
            tv_sec: meta.mtime() as libc::time_t,
            tv_nsec: meta.mtime_nsec() as _,
        },
    ];
    // SAFETY: a valid C string and a two-element timespec array, as utimensat wants.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Copies extended attributes as `cp -a` does: the ones the filesystem and our
/// privileges allow (e.g. not `security.*` as a normal user); others are logged.
fn copy_xattrs(from: &File, to: &File, dst: &Path) -> Result<()> {
    let names = match xattr_names(from) {
        Ok(names) => names,
        Err(e) if is_unsupported_xattr(&e) => return Ok(()),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("listing extended attributes for {}", dst.display()));
        }
    };
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let c_name = CString::new(name).context("an extended attribute name with a NUL byte")?;
        let value = match xattr_value(from, &c_name) {
            Ok(v) => v,
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => continue,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading extended attributes for {}", dst.display()));
            }
        };
        // SAFETY: valid descriptor, C string and buffer of the given length.
        let rc = unsafe {
            libc::fsetxattr(
                to.as_raw_fd(),
                c_name.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if rc != 0 {
            let e = io::Error::last_os_error();
            tracing::warn!(
                "extended attribute {} not kept on {}: {e}",
                String::from_utf8_lossy(name),
                dst.display()
            );
        }
    }
    Ok(())
}

fn is_unsupported_xattr(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOSYS))
}

/// The NUL-separated attribute names of a file (usually none: one cheap syscall).
fn xattr_names(file: &File) -> io::Result<Vec<u8>> {
    read_sized(|buf, len| {
        // SAFETY: `buf` points to `len` writable bytes (or is null with len 0).
        unsafe { libc::flistxattr(file.as_raw_fd(), buf.cast(), len) }
    })
}

fn xattr_value(file: &File, name: &CString) -> io::Result<Vec<u8>> {
    read_sized(|buf, len| {
        // SAFETY: as above; `name` is a valid C string.
        unsafe { libc::fgetxattr(file.as_raw_fd(), name.as_ptr(), buf.cast(), len) }
    })
}

/// The size-then-read dance of the xattr calls, retried if the value grows between.
fn read_sized(call: impl Fn(*mut u8, usize) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let size = call(std::ptr::null_mut(), 0);
        if size < 0 {
            return Err(io::Error::last_os_error());
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size as usize];
        let got = call(buf.as_mut_ptr(), buf.len());
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_contents_mode_times_and_xattrs() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        let data: Vec<u8> = (0..(3 * 1024 * 1024 + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&src, &data).unwrap();
        std::fs::set_permissions(&src, Permissions::from_mode(0o4751)).unwrap();
        let f = File::options().write(true).open(&src).unwrap();
        let when = std::time::UNIX_EPOCH + std::time::Duration::new(1_500_000_000, 123_456_789);
        f.set_times(
            std::fs::FileTimes::new()
                .set_modified(when)
                .set_accessed(when),
        )
        .unwrap();
        let name = CString::new("user.wasmvisor").unwrap();
        // SAFETY: valid fd, name and value.
        let xattr_ok =
            unsafe { libc::fsetxattr(f.as_raw_fd(), name.as_ptr(), b"v1".as_ptr().cast(), 2, 0) }
                == 0;
        drop(f);

        let meta = std::fs::symlink_metadata(&src).unwrap();
        let dst = d.path().join("dst");
        let progress = Progress::hidden();
        let outcome = Cloner::new()
            .copy_file(&src, &dst, &meta, &progress)
            .unwrap();
        assert_ne!(outcome, Outcome::Empty);
        // Metadata first: reading the contents moves the atime (relatime).
        let got = std::fs::symlink_metadata(&dst).unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), data);
        assert_eq!(got.mode() & 0o7777, 0o4751);
        assert_eq!(
            (got.mtime(), got.mtime_nsec()),
            (1_500_000_000, 123_456_789)
        );
        assert_eq!(
            (got.atime(), got.atime_nsec()),
            (1_500_000_000, 123_456_789)
        );
        if xattr_ok {
            let copied = xattr_value(&File::open(&dst).unwrap(), &name).unwrap();
            assert_eq!(copied, b"v1");
        }
    }

    #[test]
    fn an_existing_destination_is_an_error_not_overwritten() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), b"new").unwrap();
        std::fs::write(d.path().join("b"), b"old").unwrap();
        let meta = std::fs::symlink_metadata(d.path().join("a")).unwrap();
        let r = Cloner::new().copy_file(
            &d.path().join("a"),
            &d.path().join("b"),
            &meta,
            &Progress::hidden(),
        );
        assert!(r.is_err());
        assert_eq!(std::fs::read(d.path().join("b")).unwrap(), b"old");
    }
}
