//! Finding the node binary in an unpacked artifact and checking it can run here.
//!
//! The search follows cosmovisor so existing release archives keep working:
//! `bin/$DAEMON_NAME`, else `$DAEMON_NAME` at the top (moved into `bin/`), else the
//! only file in the tree; a resolver that knows the path inside the archive says so
//! and that path wins. The check goes further than cosmovisor's chmod: the file
//! must be a regular file and an ELF executable for this machine's architecture
//! (or a `#!` script), so an HTML error page or an arm64 build is refused now, at
//! download time, instead of failing to start at the upgrade height.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::error::{InstallError, IoContext};

/// Finds the binary under `root` and moves it to `root/bin/<daemon>` if needed.
pub fn locate(root: &Path, daemon: &str, hint: Option<&str>) -> Result<PathBuf, InstallError> {
    let wanted = root.join("bin").join(daemon);
    let found = match hint {
        Some(inside) => {
            // The hint comes from a plugin: confine it like an archive entry, so
            // "/etc/passwd" or "../x" can never name a file outside the staging folder.
            let candidate = super::unpack::safe_relative(Path::new(inside))
                .ok()
                .flatten()
                .map(|rel| root.join(rel))
                .filter(|p| is_regular(p));
            match candidate {
                Some(c) => Some(c),
                None => {
                    return Err(no_binary(
                        root,
                        daemon,
                        &format!("the resolver named {inside:?}, which is not a file in it"),
                    ));
                }
            }
        }
        None if is_regular(&wanted) => Some(wanted.clone()),
        None if is_regular(&root.join(daemon)) => Some(root.join(daemon)),
        None => {
            let files = list_files(root)?;
            match files.as_slice() {
                [only] => Some(root.join(only)),
                _ => None,
            }
        }
    };
    let Some(found) = found else {
        return Err(no_binary(root, daemon, ""));
    };
    if found != wanted {
        let bin = root.join("bin");
        fs::create_dir_all(&bin).ctx(|| format!("creating {}", bin.display()))?;
        fs::rename(&found, &wanted)
            .ctx(|| format!("moving {} to {}", found.display(), wanted.display()))?;
    }
    Ok(wanted)
}

fn is_regular(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

fn no_binary(root: &Path, daemon: &str, note: &str) -> InstallError {
    const SHOWN: usize = 20;
    let files = list_files(root).unwrap_or_default();
    let mut found = if files.is_empty() {
        "no files".to_owned()
    } else {
        let shown: Vec<String> = files
            .iter()
            .take(SHOWN)
            .map(|p| p.display().to_string())
            .collect();
        let more = files.len().saturating_sub(SHOWN);
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    if !note.is_empty() {
        found = format!("{found} ({note})");
    }
    InstallError::NoBinary {
        daemon: daemon.to_owned(),
        found,
    }
}

/// Regular files under `root`, relative, sorted.
fn list_files(root: &Path) -> Result<Vec<PathBuf>, InstallError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for entry in fs::read_dir(&dir).ctx(|| format!("listing {}", dir.display()))? {
            let entry = entry.ctx(|| format!("listing {}", dir.display()))?;
            let kind = entry
                .file_type()
                .ctx(|| format!("inspecting {}", entry.path().display()))?;
            let child = rel.join(entry.file_name());
            if kind.is_dir() {
                stack.push(child);
            } else if kind.is_file() {
                out.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The ELF identity this build runs as: (class, machine, name).
fn this_machine() -> Option<(u8, u16, &'static str)> {
    if cfg!(target_arch = "x86_64") {
        Some((2, 62, "x86-64"))
    } else if cfg!(target_arch = "aarch64") {
        Some((2, 183, "aarch64"))
    } else if cfg!(target_arch = "riscv64") {
        Some((2, 243, "riscv64"))
    } else if cfg!(target_arch = "x86") {
        Some((1, 3, "x86 (32-bit)"))
    } else if cfg!(target_arch = "arm") {
        Some((1, 40, "arm (32-bit)"))
    } else {
        None
    }
}

fn machine_name(class: u8, machine: u16) -> String {
    let bits = if class == 1 { "32-bit" } else { "64-bit" };
    let name = match machine {
        3 => "x86",
        8 => "mips",
        20 => "powerpc",
        21 => "powerpc64",
        40 => "arm",
        62 => "x86-64",
        183 => "aarch64",
        243 => "riscv",
        other => return format!("ELF machine type {other} ({bits})"),
    };
    format!("{name} ({bits})")
}

/// Checks that `path` is a regular file this machine can execute, makes it 0755 and
/// flushes it to disk (it is about to become a binary a node depends on).
pub fn check_and_seal(path: &Path) -> Result<(), InstallError> {
    let meta = fs::symlink_metadata(path).ctx(|| format!("inspecting {}", path.display()))?;
    if !meta.is_file() {
        return Err(not_exec(path, "it is not a regular file"));
    }
    let mut head = [0u8; 64];
    let mut file = File::open(path).ctx(|| format!("opening {}", path.display()))?;
    let n = read_up_to(&mut file, &mut head).ctx(|| format!("reading {}", path.display()))?;
    check_header(path, &head[..n])?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .ctx(|| format!("making {} executable", path.display()))?;
    file.sync_all()
        .ctx(|| format!("flushing {} to disk", path.display()))
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn check_header(path: &Path, head: &[u8]) -> Result<(), InstallError> {
    if head.starts_with(b"#!") {
        return Ok(());
    }
    if !head.starts_with(b"\x7fELF") {
        let preview = String::from_utf8_lossy(&head[..head.len().min(24)]).into_owned();
        return Err(not_exec(
            path,
            &format!("not an ELF executable nor a #! script (it starts with {preview:?})"),
        ));
    }
    if head.len() < 20 {
        return Err(not_exec(path, "a truncated ELF header"));
    }
    let class = head[4];
    let little = head[5] == 1;
    let e_type = if little {
        u16::from_le_bytes([head[16], head[17]])
    } else {
        u16::from_be_bytes([head[16], head[17]])
    };
    let machine = if little {
        u16::from_le_bytes([head[18], head[19]])
    } else {
        u16::from_be_bytes([head[18], head[19]])
    };
    // ET_EXEC or ET_DYN (PIE executables); relocatable objects and core dumps are not programs.
    if e_type != 2 && e_type != 3 {
        return Err(not_exec(
            path,
            &format!("an ELF file of type {e_type}, not an executable"),
        ));
    }
    if let Some((want_class, want_machine, want_name)) = this_machine()
        && (class != want_class
            || machine != want_machine
            || little != cfg!(target_endian = "little"))
    {
        return Err(InstallError::WrongArch {
            path: path.to_owned(),
            found: machine_name(class, machine),
            expected: want_name.to_owned(),
        });
    }
    Ok(())
}

fn not_exec(path: &Path, reason: &str) -> InstallError {
    InstallError::NotExecutable {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn true_binary() -> Vec<u8> {
        fs::read("/bin/true").expect("the tests need /bin/true")
    }

    #[test]
    fn this_machines_binary_passes_and_becomes_0755() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("appd");
        fs::write(&p, true_binary()).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        check_and_seal(&p).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    #[test]
    fn wrong_arch_and_non_elf_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("appd");
        let mut elf = true_binary();
        let other: u16 = if cfg!(target_arch = "aarch64") {
            62
        } else {
            183
        };
        elf[18..20].copy_from_slice(&other.to_le_bytes());
        fs::write(&p, &elf).unwrap();
        let err = check_and_seal(&p).unwrap_err();
        assert!(matches!(err, InstallError::WrongArch { .. }), "{err}");

        fs::write(&p, "<html>404</html>").unwrap();
        let err = check_and_seal(&p).unwrap_err();
        assert!(matches!(err, InstallError::NotExecutable { .. }), "{err}");
        assert!(err.to_string().contains("<html>"), "{err}");

        fs::write(&p, "#!/bin/sh\necho hi\n").unwrap();
        check_and_seal(&p).unwrap();
    }

    #[test]
    fn directory_named_like_the_binary_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("appd");
        fs::create_dir(&p).unwrap();
        assert!(matches!(
            check_and_seal(&p),
            Err(InstallError::NotExecutable { .. })
        ));
    }

    #[test]
    fn locate_follows_cosmovisor_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // A lone file anywhere becomes bin/appd.
        fs::create_dir_all(root.join("release/x")).unwrap();
        fs::write(root.join("release/x/thing"), "a").unwrap();
        let bin = locate(root, "appd", None).unwrap();
        assert_eq!(bin, root.join("bin/appd"));
        assert_eq!(fs::read(&bin).unwrap(), b"a");

        // $DAEMON_NAME at the top beats other files.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("appd"), "top").unwrap();
        fs::write(root.join("README"), "r").unwrap();
        assert_eq!(
            fs::read(locate(root, "appd", None).unwrap()).unwrap(),
            b"top"
        );

        // Several files and none of the expected names: the error lists them.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("a"), "").unwrap();
        fs::write(root.join("b"), "").unwrap();
        let err = locate(root, "appd", None).unwrap_err().to_string();
        assert!(err.contains("a, b"), "{err}");

        // A resolver's hint wins.
        fs::create_dir_all(root.join("dist")).unwrap();
        fs::write(root.join("dist/appd-linux"), "hinted").unwrap();
        assert_eq!(
            fs::read(locate(root, "appd", Some("dist/appd-linux")).unwrap()).unwrap(),
            b"hinted"
        );
        assert!(locate(root, "appd", Some("../etc/passwd")).is_err());
        assert!(locate(root, "appd", Some("/etc/passwd")).is_err());
        assert!(
            Path::new("/etc/passwd").exists(),
            "an absolute hint must never move a system file"
        );
    }
}
