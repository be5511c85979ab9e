//! The walk of the data tree that comes before any copying.
//!
//! One pass of `lstat`s over the tree (cheap next to copying it) gives the total size
//! for the progress bar, a free-space check, and a work list the copy threads can
//! share: directories in parent-before-child order, files largest first (so the big
//! databases start at once and thousands of small files fill the gaps), extra names
//! of hard-linked files to link rather than copy again, and the special files that
//! cannot be backed up — each named, none dropped silently.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One entry of the tree, by its path relative to the data directory.
#[derive(Debug)]
pub struct Entry {
    pub rel: PathBuf,
    pub meta: Metadata,
}

/// A second (third, …) name of a regular file already in the plan.
#[derive(Debug)]
pub struct HardLink {
    pub rel: PathBuf,
    /// The path (relative) under which the file itself is copied.
    pub target: PathBuf,
}

/// An entry that is not backed up, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub rel: PathBuf,
    pub kind: &'static str,
}

/// Everything to do, found before anything is done.
#[derive(Debug, Default)]
pub struct Plan {
    /// Directories, parents before children; the first is the data directory itself.
    pub dirs: Vec<Entry>,
    /// Regular files (largest first), then symlinks.
    pub files: Vec<Entry>,
    pub hard_links: Vec<HardLink>,
    pub skipped: Vec<Skipped>,
    /// Bytes of regular files, each file counted once.
    pub bytes: u64,
}

/// Walks `root` (a directory, already resolved) without following symlinks.
pub fn walk(root: &Path) -> Result<Plan> {
    let meta =
        std::fs::symlink_metadata(root).with_context(|| format!("reading {}", root.display()))?;
    let mut plan = Plan {
        dirs: vec![Entry {
            rel: PathBuf::new(),
            meta,
        }],
        ..Plan::default()
    };
    let mut symlinks = Vec::new();
    let mut first_name_of: HashMap<(u64, u64), PathBuf> = HashMap::new();
    // Directories are pushed to `plan.dirs` when found, so parents always precede
    // their children; `pending` holds those whose contents are not read yet.
    let mut pending = vec![0usize];
    while let Some(index) = pending.pop() {
        let rel = plan.dirs[index].rel.clone();
        let dir = root.join(&rel);
        let read = std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
        for item in read {
            let item = item.with_context(|| format!("listing {}", dir.display()))?;
            let path = item.path();
            let meta = std::fs::symlink_metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let entry = Entry {
                rel: rel.join(item.file_name()),
                meta,
            };
            let kind = entry.meta.file_type();
            if kind.is_dir() {
                pending.push(plan.dirs.len());
                plan.dirs.push(entry);
            } else if kind.is_symlink() {
                symlinks.push(entry);
            } else if kind.is_file() {
                add_file(&mut plan, &mut first_name_of, entry);
            } else {
                plan.skipped.push(Skipped {
                    rel: entry.rel,
                    kind: special_kind(&entry.meta),
                });
            }
        }
    }
    plan.files.sort_by_key(|e| std::cmp::Reverse(e.meta.len()));
    plan.files.extend(symlinks);
    Ok(plan)
}

/// Adds a regular file, or a hard link to one already seen (as `cp -a` keeps them).
fn add_file(plan: &mut Plan, first_name_of: &mut HashMap<(u64, u64), PathBuf>, entry: Entry) {
    if entry.meta.nlink() > 1 {
        let key = (entry.meta.dev(), entry.meta.ino());
        if let Some(target) = first_name_of.get(&key) {
            plan.hard_links.push(HardLink {
                rel: entry.rel,
                target: target.clone(),
            });
            return;
        }
        first_name_of.insert(key, entry.rel.clone());
    }
    plan.bytes += entry.meta.len();
    plan.files.push(entry);
}

fn special_kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_socket() {
        "socket"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_char_device() {
        "character device"
    } else {
        "unknown file type"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parents_first_largest_first_and_names_specials() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::write(root.join("small"), b"1").unwrap();
        std::fs::write(root.join("a/b/big"), vec![0u8; 4096]).unwrap();
        std::fs::hard_link(root.join("a/b/big"), root.join("a/big-again")).unwrap();
        std::os::unix::fs::symlink("small", root.join("a/link")).unwrap();
        nix::unistd::mkfifo(&root.join("a/pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();

        let plan = walk(root).unwrap();
        let dirs: Vec<_> = plan.dirs.iter().map(|e| e.rel.clone()).collect();
        assert_eq!(
            dirs,
            [PathBuf::new(), "a".into(), "a/b".into(), "a/b/c".into()]
        );
        assert_eq!(plan.files.len(), 3);
        assert_eq!(plan.files[0].meta.len(), 4096);
        assert!(plan.files[2].meta.file_type().is_symlink());
        assert_eq!(plan.bytes, 4097, "a hard-linked file is counted once");
        assert_eq!(plan.hard_links.len(), 1);
        assert_eq!(
            plan.skipped,
            [Skipped {
                rel: "a/pipe".into(),
                kind: "fifo"
            }]
        );
    }
}
