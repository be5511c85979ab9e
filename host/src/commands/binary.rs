//! Putting an operator-supplied binary in place (`init`, `add-upgrade`).
//!
//! The copy is written under a temporary name beside its destination, checked (a
//! regular file this machine can execute), made 0755, flushed, and renamed into
//! place, so `bin/$DAEMON_NAME` is either absent or complete — a supervisor that
//! finds it mid-copy never runs half a binary.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::UsageError;
use crate::install::Checksum;
use crate::install::binary_check::check_and_seal;
use crate::install::checksum::StreamHasher;

/// Checks that `path` names a regular, executable file (a symlink to one is fine).
pub fn check_source(path: &Path) -> Result<(), UsageError> {
    let meta = fs::metadata(path).map_err(|e| {
        UsageError(format!(
            "{} cannot be used ({e}); give the path of the node binary",
            path.display()
        ))
    })?;
    if !meta.is_file() {
        return Err(UsageError(format!(
            "{} is not a regular file; give the path of the node binary",
            path.display()
        )));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(UsageError(format!(
            "{} is not executable; make it so (chmod +x {}) or give the right file",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

/// Verifies `path` against `checksum` (`sha256:<hex>` …).
pub fn verify_checksum(path: &Path, checksum: &Checksum) -> Result<()> {
    let mut hasher = StreamHasher::new(checksum.algo);
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    checksum
        .verify(&hasher.finish_hex())
        .map_err(|e| UsageError(format!("{}: {e}", path.display())).into())
}

/// Copies `src` to `dest` atomically (see the module doc), creating `dest`'s folder.
pub fn copy_into_place(src: &Path, dest: &Path) -> Result<()> {
    let dir = dest
        .parent()
        .context("the destination has no parent folder")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = dest
        .file_name()
        .context("the destination has no file name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<()> {
        fs::copy(src, &tmp)
            .with_context(|| format!("copying {} to {}", src.display(), tmp.display()))?;
        check_and_seal(&tmp).map_err(|e| UsageError(format!("{}: {e}", src.display())))?;
        fs::rename(&tmp, dest).with_context(|| format!("moving the copy to {}", dest.display()))?;
        crate::switch::fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes an executable shell script (a valid "binary" for the checks).
    pub fn script(path: &Path, body: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn refuses_what_is_not_an_executable_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        assert!(check_source(&p).unwrap_err().0.contains("cannot be used"));
        assert!(
            check_source(dir.path())
                .unwrap_err()
                .0
                .contains("not a regular file")
        );
        fs::write(&p, "#!/bin/sh\n").unwrap();
        assert!(check_source(&p).unwrap_err().0.contains("chmod +x"));
        script(&p, "true");
        check_source(&p).unwrap();
    }

    #[test]
    fn copies_sealed_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        script(&src, "echo hi");
        let dest = dir.path().join("a/bin/appd");
        copy_into_place(&src, &dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), fs::read(&src).unwrap());
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(fs::read_dir(dest.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn a_file_this_machine_cannot_run_never_lands() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::write(&src, b"MZ not an elf").unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o755)).unwrap();
        let dest = dir.path().join("bin/appd");
        assert!(copy_into_place(&src, &dest).is_err());
        assert_eq!(fs::read_dir(dest.parent().unwrap()).unwrap().count(), 0);
    }

    #[test]
    fn checksum_is_verified() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, b"abc").unwrap();
        let good = Checksum::parse(
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        )
        .unwrap();
        verify_checksum(&p, &good).unwrap();
        let bad = Checksum::parse(
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        )
        .unwrap();
        assert!(verify_checksum(&p, &bad).is_err());
    }
}
