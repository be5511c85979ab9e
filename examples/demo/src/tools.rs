//! The executables the demo drives, found beside the demo itself.
//!
//! `cargo build --release --workspace` puts `wasmvisor`, `fake-chaind` and
//! `wasmvisor-demo` in the same directory, so the demo never depends on PATH
//! or on an installed cosmovisor setup.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub struct Tools {
    pub wasmvisor: PathBuf,
    pub fake_chaind: PathBuf,
}

impl Tools {
    pub fn beside_this_executable() -> Result<Tools> {
        let exe = std::env::current_exe().context("cannot locate the demo's own executable")?;
        let dir = exe
            .parent()
            .with_context(|| format!("{} has no parent directory", exe.display()))?;
        Ok(Tools {
            wasmvisor: sibling(dir, "wasmvisor")?,
            fake_chaind: sibling(dir, "fake-chaind")?,
        })
    }
}

fn sibling(dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "{name} not found in {}: build the whole workspace first with \
             `cargo build --release --workspace`",
            dir.display()
        );
    }
    Ok(path)
}
