//! Small state files (journal, recorded and staged plans) written so that a crash
//! leaves the old or the new content, never a torn one: a temporary name, then
//! `rename(2)` over the target.
//!
//! Two strengths, because an fsync costs 1–10 ms here and an upgrade writes several
//! files: `write_atomic` survives a killed process (the page cache is kept) and is
//! used where losing the latest version to a power cut only repeats an idempotent
//! step; `write_durable` also fsyncs the file and its directory, for what an
//! operator wrote by hand and expects to stick.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Atomically replaces `path` with `bytes` (crash-safe, not power-cut durable).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write(path, bytes, false)
}

/// Atomically and durably replaces `path` with `bytes`.
pub fn write_durable(path: &Path, bytes: &[u8]) -> Result<()> {
    write(path, bytes, true)
}

fn write(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let dir = path
        .parent()
        .context("a state file needs a parent directory")?;
    let name = path
        .file_name()
        .context("a state file needs a file name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if durable { f.sync_data() } else { Ok(()) }
    };
    if let Err(e) = write().and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    if durable {
        crate::switch::fsync_dir(dir)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write_atomic(&p, b"one").unwrap();
        write_durable(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
