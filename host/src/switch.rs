//! The atomic flip of `cosmovisor/current`.
//!
//! cosmovisor removes the link and creates a new one, so a crash in between leaves no
//! `current` at all. Here a new relative symlink is written beside `current` under a
//! temporary name and `rename(2)`d over it — the kernel swaps it in one step — and the
//! directory is fsynced so the new link survives a power cut.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};

use crate::layout::Layout;

/// Points `current` at `target`, a path relative to `$DAEMON_HOME/cosmovisor`
/// (`genesis` or `upgrades/<folder>`), atomically and durably.
pub fn point_current_at(layout: &Layout, target: &Path) -> Result<()> {
    let root = layout.root();
    let link = layout.current_link();
    let tmp = root.join(format!(".current.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).with_context(|| {
        format!(
            "creating the symlink {} -> {}",
            tmp.display(),
            target.display()
        )
    })?;
    if let Err(e) = std::fs::rename(&tmp, &link) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e)
            .with_context(|| format!("renaming {} over {}", tmp.display(), link.display()));
    }
    fsync_dir(&root)
}

/// Flushes a directory's entries (renames, new names) to disk.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing the directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_current_with_a_relative_target() {
        let home = tempfile::tempdir().unwrap();
        let layout = Layout::new(home.path(), "app", false);
        std::fs::create_dir_all(layout.genesis_dir().join("bin")).unwrap();
        std::fs::create_dir_all(layout.upgrade_dir("v2").join("bin")).unwrap();
        layout.ensure_current().unwrap();
        assert_eq!(
            std::fs::read_link(layout.current_link()).unwrap(),
            Path::new("genesis")
        );
        point_current_at(&layout, &layout.relative_upgrade_target("v2")).unwrap();
        assert_eq!(
            std::fs::read_link(layout.current_link()).unwrap(),
            Path::new("upgrades/v2")
        );
        assert_eq!(layout.current_dir().unwrap(), layout.upgrade_dir("v2"));
        let leftovers: Vec<_> = std::fs::read_dir(layout.root())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".current"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
