//! Turning a downloaded file into a version folder: raw binary, gz/xz single file,
//! tar (plain, gz, xz) or zip — with the archive treated as hostile input.
//!
//! The archive comes from the network and is unpacked by a process that usually runs
//! as the validator's user, so nothing in it may reach outside the staging folder:
//! entries with `..` or absolute paths, symlinks and hard links (which would let a
//! later entry write through them), devices and fifos are refused outright, and
//! file modes are reduced to 0644/0755 (no setuid). Sizes in headers are not
//! trusted: the bytes actually written are counted against the limit, which is
//! what stops a decompression bomb, and the number of entries is capped as well.
//!
//! When the kind is `Auto`, the content decides (magic bytes; a tar is recognised
//! by its header checksum inside the decompressed first block); the URL's
//! extension only serves to explain a mismatch (a `.tar.gz` URL that served HTML).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use super::error::{InstallError, IoContext};
use crate::progress::Progress;

/// How the downloaded file is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchiveKind {
    /// Decide from the content (magic bytes).
    #[default]
    Auto,
    /// The file is the binary itself.
    Raw,
    /// A gzip-compressed single file (the binary).
    Gz,
    /// An xz-compressed single file (the binary).
    Xz,
    Tar,
    TarGz,
    TarXz,
    Zip,
}

impl ArchiveKind {
    /// Parses the names resolvers and go-getter's `?archive=` use.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => ArchiveKind::Auto,
            "raw" | "binary" | "false" | "none" => ArchiveKind::Raw,
            "gz" | "gzip" => ArchiveKind::Gz,
            "xz" => ArchiveKind::Xz,
            "tar" => ArchiveKind::Tar,
            "tar.gz" | "tgz" => ArchiveKind::TarGz,
            "tar.xz" | "txz" => ArchiveKind::TarXz,
            "zip" => ArchiveKind::Zip,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ArchiveKind::Auto => "auto",
            ArchiveKind::Raw => "raw",
            ArchiveKind::Gz => "gz",
            ArchiveKind::Xz => "xz",
            ArchiveKind::Tar => "tar",
            ArchiveKind::TarGz => "tar.gz",
            ArchiveKind::TarXz => "tar.xz",
            ArchiveKind::Zip => "zip",
        }
    }

    /// The kind a URL's file name suggests, if it names an archive.
    fn from_url_extension(url: &str) -> Option<Self> {
        let path = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .to_ascii_lowercase();
        [
            (".tar.gz", ArchiveKind::TarGz),
            (".tgz", ArchiveKind::TarGz),
            (".tar.xz", ArchiveKind::TarXz),
            (".txz", ArchiveKind::TarXz),
            (".tar", ArchiveKind::Tar),
            (".zip", ArchiveKind::Zip),
            (".gz", ArchiveKind::Gz),
            (".xz", ArchiveKind::Xz),
        ]
        .into_iter()
        .find(|(ext, _)| path.ends_with(ext))
        .map(|(_, k)| k)
    }
}

/// Caps on what unpacking may produce.
#[derive(Debug, Clone, Copy)]
pub struct UnpackLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

const TAR_BLOCK: usize = 512;

/// Decides the kind of `file` from its first bytes. Never returns `Auto`.
pub fn detect(file: &Path, url: &str) -> Result<ArchiveKind, InstallError> {
    let mut head = Vec::with_capacity(TAR_BLOCK);
    File::open(file)
        .and_then(|f| f.take(TAR_BLOCK as u64).read_to_end(&mut head))
        .ctx(|| format!("reading {}", file.display()))?;

    let kind = if head.starts_with(b"\x7fELF") {
        ArchiveKind::Raw
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        ArchiveKind::Zip
    } else if head.starts_with(&[0x1f, 0x8b]) {
        let block = first_block(flate2::read::MultiGzDecoder::new(reopen(file)?));
        if looks_like_tar(&block) {
            ArchiveKind::TarGz
        } else {
            ArchiveKind::Gz
        }
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        let block = first_block(liblzma::read::XzDecoder::new_multi_decoder(reopen(file)?));
        if looks_like_tar(&block) {
            ArchiveKind::TarXz
        } else {
            ArchiveKind::Xz
        }
    } else if looks_like_tar(&head) {
        ArchiveKind::Tar
    } else if let Some(claimed) = ArchiveKind::from_url_extension(url) {
        return Err(InstallError::BadArchive {
            kind: claimed.name(),
            reason: format!(
                "the URL names a .{} file but the content is not one (starts with {:?})",
                claimed.name(),
                String::from_utf8_lossy(&head[..head.len().min(16)])
            ),
        });
    } else {
        ArchiveKind::Raw
    };
    Ok(kind)
}

/// The compressed file from its start; the decoder reads only as much of it as one
/// decompressed block needs (which may be far more than 512 compressed bytes, e.g.
/// with stored deflate blocks or a large gzip header).
fn reopen(file: &Path) -> Result<BufReader<File>, InstallError> {
    File::open(file)
        .map(BufReader::new)
        .ctx(|| format!("reading {}", file.display()))
}

/// As much of the first tar block as the decompressed stream yields.
fn first_block(mut decoder: impl Read) -> Vec<u8> {
    let mut block = vec![0u8; TAR_BLOCK];
    let mut filled = 0;
    while filled < TAR_BLOCK {
        match decoder.read(&mut block[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    block.truncate(filled);
    block
}

/// A tar header block: "ustar" magic, or (old v7 tars) a valid header checksum.
fn looks_like_tar(block: &[u8]) -> bool {
    if block.len() < TAR_BLOCK {
        return false;
    }
    if &block[257..262] == b"ustar" {
        return true;
    }
    let field = &block[148..156];
    let digits: String = field
        .iter()
        .map(|&b| b as char)
        .filter(|c| c.is_digit(8))
        .collect();
    let Ok(stored) = u32::from_str_radix(&digits, 8) else {
        return false;
    };
    let sum: u32 = block[..TAR_BLOCK]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(b)
            }
        })
        .sum();
    stored != 0 && stored == sum
}

/// Unpacks `archive` of `kind` into `root`. Single-file kinds become `root/<single>`.
/// `archive` is consumed (moved or left for the caller to delete).
pub fn unpack(
    kind: ArchiveKind,
    archive: &Path,
    root: &Path,
    single: &Path,
    limits: UnpackLimits,
    progress: &Progress,
) -> Result<(), InstallError> {
    let kind = match kind {
        ArchiveKind::Auto => detect(archive, "")?,
        known => known,
    };
    let mut out = Budget::new(root, limits, progress);
    let open = || -> Result<BufReader<File>, InstallError> {
        let f = File::open(archive).ctx(|| format!("opening {}", archive.display()))?;
        Ok(BufReader::with_capacity(1 << 16, f))
    };
    match kind {
        ArchiveKind::Auto | ArchiveKind::Raw => {
            let dest = root.join(single);
            create_parent(&dest)?;
            fs::rename(archive, &dest).ctx(|| format!("moving the download to {}", dest.display()))
        }
        ArchiveKind::Gz => out.file(
            single,
            &mut flate2::read::MultiGzDecoder::new(open()?),
            0o755,
            kind,
        ),
        ArchiveKind::Xz => out.file(
            single,
            &mut liblzma::read::XzDecoder::new_multi_decoder(open()?),
            0o755,
            kind,
        ),
        ArchiveKind::Tar => out.tar(open()?, kind),
        ArchiveKind::TarGz => out.tar(flate2::read::MultiGzDecoder::new(open()?), kind),
        ArchiveKind::TarXz => out.tar(liblzma::read::XzDecoder::new_multi_decoder(open()?), kind),
        ArchiveKind::Zip => {
            let f = File::open(archive).ctx(|| format!("opening {}", archive.display()))?;
            out.zip(f)
        }
    }
}

/// Writes entries under `root`, counting bytes and entries against the limits.
struct Budget<'a> {
    root: &'a Path,
    limits: UnpackLimits,
    bytes: u64,
    entries: u64,
    buf: Vec<u8>,
    progress: &'a Progress,
}

impl<'a> Budget<'a> {
    fn new(root: &'a Path, limits: UnpackLimits, progress: &'a Progress) -> Self {
        Budget {
            root,
            limits,
            bytes: 0,
            entries: 0,
            buf: vec![0u8; 1 << 18],
            progress,
        }
    }

    fn count_entry(&mut self) -> Result<(), InstallError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(InstallError::TooLarge {
                what: "number of archive entries",
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    fn dir(&mut self, rel: &Path) -> Result<(), InstallError> {
        self.count_entry()?;
        let dest = self.root.join(rel);
        fs::create_dir_all(&dest).ctx(|| format!("creating {}", dest.display()))
    }

    /// Writes one regular file; `mode` from the archive only decides executable or not.
    fn file(
        &mut self,
        rel: &Path,
        data: &mut dyn Read,
        mode: u32,
        kind: ArchiveKind,
    ) -> Result<(), InstallError> {
        self.count_entry()?;
        let dest = self.root.join(rel);
        create_parent(&dest)?;
        self.progress.set_message(rel.display().to_string());
        let perm = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
        let mut out = create_fresh(&dest, perm)?;
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(damaged(kind, e)),
            };
            self.bytes += n as u64;
            if self.bytes > self.limits.max_bytes {
                return Err(InstallError::TooLarge {
                    what: "unpacked archive",
                    limit: self.limits.max_bytes,
                });
            }
            out.write_all(&self.buf[..n])
                .ctx(|| format!("writing {}", dest.display()))?;
            self.progress.inc(n as u64);
        }
        Ok(())
    }

    fn tar(&mut self, reader: impl Read, kind: ArchiveKind) -> Result<(), InstallError> {
        use tar::EntryType as T;
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|e| damaged(kind, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| damaged(kind, e))?;
            let raw_path = entry.path().map_err(|e| damaged(kind, e))?.into_owned();
            let ty = entry.header().entry_type();
            let name = raw_path.display().to_string();
            match ty {
                T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => continue,
                T::Symlink | T::Link => {
                    return Err(InstallError::HostileArchive(format!(
                        "entry {name:?} is a link"
                    )));
                }
                T::Char | T::Block | T::Fifo => {
                    return Err(InstallError::HostileArchive(format!(
                        "entry {name:?} is a device or fifo"
                    )));
                }
                _ => {}
            }
            let Some(rel) = safe_relative(&raw_path)? else {
                continue;
            };
            match ty {
                T::Directory => self.dir(&rel)?,
                T::Regular | T::Continuous => {
                    let mode = entry.header().mode().unwrap_or(0o644);
                    self.file(&rel, &mut entry, mode, kind)?;
                }
                other => {
                    return Err(InstallError::HostileArchive(format!(
                        "entry {name:?} has the unsupported type {other:?}"
                    )));
                }
            }
        }
        Ok(())
    }

    fn zip(&mut self, file: File) -> Result<(), InstallError> {
        const S_IFMT: u32 = 0o170_000;
        const S_IFREG: u32 = 0o100_000;
        const S_IFDIR: u32 = 0o040_000;
        const S_IFLNK: u32 = 0o120_000;
        let kind = ArchiveKind::Zip;
        let mut archive = zip::ZipArchive::new(file).map_err(|e| damaged(kind, e))?;
        if archive.len() as u64 > self.limits.max_entries {
            return Err(InstallError::TooLarge {
                what: "number of archive entries",
                limit: self.limits.max_entries,
            });
        }
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(|e| damaged(kind, e))?;
            let name = entry.name().to_owned();
            let mode = entry.unix_mode();
            let ty = mode.map(|m| m & S_IFMT).filter(|&t| t != 0);
            if entry.is_symlink() || ty == Some(S_IFLNK) {
                return Err(InstallError::HostileArchive(format!(
                    "entry {name:?} is a link"
                )));
            }
            if ty.is_some_and(|t| t != S_IFREG && t != S_IFDIR) {
                return Err(InstallError::HostileArchive(format!(
                    "entry {name:?} is a device, fifo or socket"
                )));
            }
            let Some(rel) = safe_relative(Path::new(&name))? else {
                continue;
            };
            if entry.is_dir() || ty == Some(S_IFDIR) {
                self.dir(&rel)?;
            } else {
                self.file(&rel, &mut entry, mode.unwrap_or(0o644), kind)?;
            }
        }
        Ok(())
    }
}

/// The entry's path with `.` removed; refuses `..` and absolute paths. `None` for
/// the archive's root itself (`./`).
pub(crate) fn safe_relative(path: &Path) -> Result<Option<PathBuf>, InstallError> {
    let mut rel = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => rel.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(InstallError::HostileArchive(format!(
                    "entry {:?} climbs out of the target with ..",
                    path.display().to_string()
                )));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(InstallError::HostileArchive(format!(
                    "entry {:?} has an absolute path",
                    path.display().to_string()
                )));
            }
        }
    }
    Ok((!rel.as_os_str().is_empty()).then_some(rel))
}

fn create_parent(dest: &Path) -> Result<(), InstallError> {
    match dest.parent() {
        Some(parent) => fs::create_dir_all(parent).ctx(|| format!("creating {}", parent.display())),
        None => Ok(()),
    }
}

/// Creates `dest` anew. A regular file left by an earlier entry of the same name is
/// replaced (later entries win, as with tar); anything else in the way is an error.
fn create_fresh(dest: &Path, mode: u32) -> Result<File, InstallError> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(dest)
    };
    match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta =
                fs::symlink_metadata(dest).ctx(|| format!("inspecting {}", dest.display()))?;
            if !meta.is_file() {
                return Err(InstallError::HostileArchive(format!(
                    "entry {:?} collides with a directory of the same name",
                    dest.display().to_string()
                )));
            }
            fs::remove_file(dest).ctx(|| format!("replacing {}", dest.display()))?;
            open().ctx(|| format!("creating {}", dest.display()))
        }
        other => other.ctx(|| format!("creating {}", dest.display())),
    }
}

fn damaged(kind: ArchiveKind, e: impl std::fmt::Display) -> InstallError {
    InstallError::BadArchive {
        kind: kind.name(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for k in [
            ArchiveKind::Auto,
            ArchiveKind::Raw,
            ArchiveKind::Gz,
            ArchiveKind::Xz,
            ArchiveKind::Tar,
            ArchiveKind::TarGz,
            ArchiveKind::TarXz,
            ArchiveKind::Zip,
        ] {
            assert_eq!(ArchiveKind::parse(k.name()), Some(k));
        }
        assert_eq!(ArchiveKind::parse("TGZ"), Some(ArchiveKind::TarGz));
        assert_eq!(ArchiveKind::parse("rar"), None);
        assert_eq!(
            ArchiveKind::from_url_extension("https://x/a.TAR.GZ?x=1"),
            Some(ArchiveKind::TarGz)
        );
        assert_eq!(ArchiveKind::from_url_extension("https://x/appd"), None);
    }

    #[test]
    fn paths_are_confined() {
        assert_eq!(
            safe_relative(Path::new("./bin/appd")).unwrap(),
            Some(PathBuf::from("bin/appd"))
        );
        assert_eq!(safe_relative(Path::new("./")).unwrap(), None);
        for bad in ["../x", "bin/../../x", "/etc/passwd"] {
            assert!(
                matches!(
                    safe_relative(Path::new(bad)),
                    Err(InstallError::HostileArchive(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn tar_headers_are_recognised_with_or_without_magic() {
        let mut header = tar::Header::new_old();
        header.set_path("appd").unwrap();
        header.set_size(0);
        header.set_cksum();
        assert!(looks_like_tar(header.as_bytes()));
        let mut gnu = tar::Header::new_gnu();
        gnu.set_path("appd").unwrap();
        gnu.set_cksum();
        assert!(looks_like_tar(gnu.as_bytes()));
        assert!(!looks_like_tar(&[0u8; 512]));
        assert!(!looks_like_tar(&[b'x'; 512]));
    }

    #[test]
    fn a_tar_gz_of_stored_deflate_blocks_is_a_tarball() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o755);
        b.append_data(&mut h, "bin/appd", &b"\x7fELF"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        enc.write_all(&tar).unwrap();
        let gz = enc.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("download");
        fs::write(&file, gz).unwrap();
        // The first 512 compressed bytes decompress to less than a tar block.
        assert_eq!(detect(&file, "").unwrap(), ArchiveKind::TarGz);
    }

    #[test]
    fn detects_content_and_blames_a_lying_url() {
        let dir = tempfile::tempdir().unwrap();
        let html = dir.path().join("page");
        fs::write(&html, "<html>not found</html>").unwrap();
        assert_eq!(detect(&html, "https://x/appd").unwrap(), ArchiveKind::Raw);
        let err = detect(&html, "https://x/appd.tar.gz").unwrap_err();
        assert!(
            matches!(err, InstallError::BadArchive { kind: "tar.gz", .. }),
            "{err}"
        );
    }
}
