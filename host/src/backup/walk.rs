//! The walk of the data tree.
//!
//! One pass of `lstat`s, streamed to the copying threads as it goes (see `queue`):
//! directories are announced before anything inside them, so their copies exist
//! before any file is written into them; files and symlinks go to the copiers;
//! extra names of a hard-linked file are kept aside to be linked, not copied again
//! (as `cp -a` does); special files that cannot be backed up are named, none
//! dropped silently. The totals arrive at the end, for the progress bar and the
//! free-space check.

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

/// A second (third, …) name of a regular file passed on already.
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

/// What the walk found besides the files it passed on.
#[derive(Debug, Default)]
pub struct Tree {
    /// Directories, parents before children; the first is the data directory itself.
    pub dirs: Vec<Entry>,
    pub hard_links: Vec<HardLink>,
    pub skipped: Vec<Skipped>,
    /// Regular files (each once) and symlinks passed on.
    pub files: u64,
    /// Bytes of those regular files.
    pub bytes: u64,
}

/// Walks `root` (a directory, already resolved) without following symlinks.
/// `dir_found` sees every directory below `root` before anything inside it;
/// `file_found` gets every regular file and symlink, and returns false to stop the
/// walk early (the copy failed).
pub fn walk(
    root: &Path,
    mut dir_found: impl FnMut(&Entry) -> Result<()>,
    mut file_found: impl FnMut(Entry) -> bool,
) -> Result<Tree> {
    let meta =
        std::fs::symlink_metadata(root).with_context(|| format!("reading {}", root.display()))?;
    let mut tree = Tree {
        dirs: vec![Entry {
            rel: PathBuf::new(),
            meta,
        }],
        ..Tree::default()
    };
    let mut first_name_of: HashMap<(u64, u64), PathBuf> = HashMap::new();
    // Directories are pushed to `tree.dirs` when found, so parents always precede
    // their children; `pending` holds those whose contents are not read yet.
    let mut pending = vec![0usize];
    while let Some(index) = pending.pop() {
        let rel = tree.dirs[index].rel.clone();
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
                dir_found(&entry)?;
                pending.push(tree.dirs.len());
                tree.dirs.push(entry);
            } else if kind.is_file() || kind.is_symlink() {
                let Some(entry) = first_name(&mut tree, &mut first_name_of, entry) else {
                    continue;
                };
                tree.files += 1;
                if kind.is_file() {
                    tree.bytes += entry.meta.len();
                }
                if !file_found(entry) {
                    return Ok(tree);
                }
            } else {
                tree.skipped.push(Skipped {
                    rel: entry.rel,
                    kind: special_kind(&entry.meta),
                });
            }
        }
    }
    Ok(tree)
}

/// The entry itself, or `None` when it is another name of a regular file already
/// passed on (then it is recorded as a hard link).
fn first_name(
    tree: &mut Tree,
    first_name_of: &mut HashMap<(u64, u64), PathBuf>,
    entry: Entry,
) -> Option<Entry> {
    if !entry.meta.is_file() || entry.meta.nlink() < 2 {
        return Some(entry);
    }
    let key = (entry.meta.dev(), entry.meta.ino());
    if let Some(target) = first_name_of.get(&key) {
        tree.hard_links.push(HardLink {
            rel: entry.rel,
            target: target.clone(),
        });
        return None;
    }
    first_name_of.insert(key, entry.rel.clone());
    Some(entry)
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
    fn announces_parents_first_links_once_and_names_specials() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::write(root.join("small"), b"1").unwrap();
        std::fs::write(root.join("a/b/big"), vec![0u8; 4096]).unwrap();
        std::fs::hard_link(root.join("a/b/big"), root.join("a/big-again")).unwrap();
        std::os::unix::fs::symlink("small", root.join("a/link")).unwrap();
        nix::unistd::mkfifo(&root.join("a/pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();

        let announced: std::cell::RefCell<Vec<PathBuf>> = Default::default();
        let parent_announced = |rel: &Path| {
            let parent = rel.parent().unwrap_or(Path::new(""));
            parent.as_os_str().is_empty() || announced.borrow().iter().any(|a| a == parent)
        };
        let mut files: Vec<PathBuf> = Vec::new();
        let tree = walk(
            root,
            |d| {
                assert!(parent_announced(&d.rel), "{:?} before its parent", d.rel);
                announced.borrow_mut().push(d.rel.clone());
                Ok(())
            },
            |e| {
                assert!(parent_announced(&e.rel), "{:?} before its directory", e.rel);
                files.push(e.rel);
                true
            },
        )
        .unwrap();
        let announced = announced.into_inner();
        assert_eq!(
            announced,
            [PathBuf::from("a"), "a/b".into(), "a/b/c".into()]
        );
        let dirs: Vec<_> = tree.dirs.iter().map(|e| e.rel.clone()).collect();
        assert_eq!(
            dirs,
            [PathBuf::new(), "a".into(), "a/b".into(), "a/b/c".into()]
        );
        files.sort();
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(files.contains(&"small".into()) && files.contains(&"a/link".into()));
        assert_eq!(
            (tree.files, tree.bytes),
            (3, 4097),
            "a hard-linked file is passed on once"
        );
        assert_eq!(tree.hard_links.len(), 1);
        assert_eq!(
            tree.skipped,
            [Skipped {
                rel: "a/pipe".into(),
                kind: "fifo"
            }]
        );
    }

    #[test]
    fn stops_when_told() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..10 {
            std::fs::write(d.path().join(i.to_string()), b"x").unwrap();
        }
        let mut seen = 0;
        let tree = walk(
            d.path(),
            |_| Ok(()),
            |_| {
                seen += 1;
                seen < 3
            },
        )
        .unwrap();
        assert_eq!((seen, tree.files), (3, 3));
    }
}
