//! The version marker: what makes `v2` and `v3` distinct binaries.
//!
//! Real chain upgrades swap one release for another file with its own checksum.
//! To reproduce that without compiling the daemon once per version, the binary
//! carries a fixed-size marker (`FAKECHAIND_VERSION_MARKER:` + 64 NUL-padded
//! bytes, `v1` by default) in a static. `make-version` copies the running
//! executable with those bytes rewritten, so each version is a real file with
//! a different sha256 that reports its own version at run time. The marker is
//! read with a volatile load: the compiler must not fold the default value into
//! the code, because the bytes change after linking.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

const PREFIX: &[u8; 26] = b"FAKECHAIND_VERSION_MARKER:";
/// Longest version name the marker can hold, in bytes.
pub const MAX_NAME_LEN: usize = 64;
const MARKER_LEN: usize = PREFIX.len() + MAX_NAME_LEN;

/// The version a freshly compiled binary reports: the chain's genesis binary.
pub const GENESIS_VERSION: &str = "v1";

#[used]
static MARKER: [u8; MARKER_LEN] = marker_bytes(GENESIS_VERSION.as_bytes());

/// Builds the marker for `name` (which must fit; checked by the callers).
const fn marker_bytes(name: &[u8]) -> [u8; MARKER_LEN] {
    let mut out = [0u8; MARKER_LEN];
    let mut i = 0;
    while i < PREFIX.len() {
        out[i] = PREFIX[i];
        i += 1;
    }
    let mut j = 0;
    while j < name.len() && j < MAX_NAME_LEN {
        out[PREFIX.len() + j] = name[j];
        j += 1;
    }
    out
}

/// The version this executable was stamped with.
pub fn own_version() -> String {
    // SAFETY: MARKER is a valid, aligned, immutable static; a volatile read of it
    // is an ordinary read that the optimiser may not replace by the initial value.
    let bytes = unsafe { std::ptr::read_volatile(&raw const MARKER) };
    decode_name(&bytes[PREFIX.len()..])
}

fn decode_name(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

/// Checks that `name` can be stamped into a binary.
pub fn validate_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        bail!("version name is empty: give a name such as v2");
    }
    if name.len() > MAX_NAME_LEN {
        bail!(
            "version name {name:?} is {} bytes long; the marker holds at most {MAX_NAME_LEN}",
            name.len()
        );
    }
    if name.chars().any(char::is_control) {
        bail!("version name {name:?} contains control characters; use printable text");
    }
    Ok(())
}

/// Rewrites the marker in `image` (an executable's bytes) from `current` to `new`.
///
/// Exactly one complete marker naming `current` must be present: anything else
/// means the image is not a fake-chaind binary of that version, and patching a
/// guess would produce a corrupt executable.
pub fn patch_image(image: &mut [u8], current: &str, new: &str) -> Result<()> {
    validate_name(new)?;
    let expected = marker_bytes(current.as_bytes());
    let found: Vec<usize> = image
        .windows(MARKER_LEN)
        .enumerate()
        .filter(|(_, window)| *window == expected)
        .map(|(at, _)| at)
        .collect();
    let at = match found.as_slice() {
        [at] => *at,
        [] => bail!("no version marker for {current:?} found in the executable"),
        many => bail!(
            "{} version markers for {current:?} found in the executable; refusing to guess",
            many.len()
        ),
    };
    image[at..at + MARKER_LEN].copy_from_slice(&marker_bytes(new.as_bytes()));
    Ok(())
}

/// Writes a copy of the running executable stamped with version `name` to `out`
/// (mode 0755, written beside `out` then renamed, so a reader never sees half a file).
pub fn make_version(name: &str, out: &Path) -> Result<()> {
    validate_name(name)?;
    let exe = std::env::current_exe().context("cannot locate the running executable")?;
    let mut image =
        fs::read(&exe).with_context(|| format!("cannot read the executable {}", exe.display()))?;
    patch_image(&mut image, &own_version(), name)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the directory {}", parent.display()))?;
    }
    let file_name = out
        .file_name()
        .with_context(|| format!("output path {} has no file name", out.display()))?;
    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&image)?;
        file.set_permissions(fs::Permissions::from_mode(0o755))?;
        file.sync_all()?;
        fs::rename(&tmp, out)?;
        Ok(())
    };
    write().map_err(|err| {
        let _ = fs::remove_file(&tmp);
        err.context(format!("cannot write {}", out.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_with(name: &str) -> Vec<u8> {
        let mut image = b"\x7fELF some code before".to_vec();
        image.extend_from_slice(&marker_bytes(name.as_bytes()));
        image.extend_from_slice(b"and some data after");
        image
    }

    #[test]
    fn the_running_binary_reports_genesis() {
        assert_eq!(own_version(), GENESIS_VERSION);
    }

    #[test]
    fn patching_rewrites_only_the_payload() {
        let mut image = image_with("v1");
        let before = image.clone();
        patch_image(&mut image, "v1", "v2").unwrap();
        assert_eq!(image.len(), before.len());
        let at = image
            .windows(PREFIX.len())
            .position(|w| w == PREFIX)
            .unwrap();
        assert_eq!(
            decode_name(&image[at + PREFIX.len()..at + MARKER_LEN]),
            "v2"
        );
        assert_eq!(&image[..at], &before[..at]);
        assert_eq!(&image[at + MARKER_LEN..], &before[at + MARKER_LEN..]);
    }

    #[test]
    fn a_longer_name_replaced_by_a_shorter_one_leaves_no_tail() {
        let mut image = image_with("v10-long-name");
        patch_image(&mut image, "v10-long-name", "v3").unwrap();
        let at = image
            .windows(PREFIX.len())
            .position(|w| w == PREFIX)
            .unwrap();
        let payload = &image[at + PREFIX.len()..at + MARKER_LEN];
        assert_eq!(decode_name(payload), "v3");
        assert!(payload[2..].iter().all(|&b| b == 0));
    }

    #[test]
    fn patching_needs_the_current_version_marker() {
        let mut image = image_with("v1");
        let err = patch_image(&mut image, "v2", "v3").unwrap_err();
        assert!(err.to_string().contains("no version marker"), "{err}");
    }

    #[test]
    fn two_markers_are_refused() {
        let mut image = image_with("v1");
        image.extend_from_slice(&marker_bytes(b"v1"));
        let err = patch_image(&mut image, "v1", "v2").unwrap_err();
        assert!(err.to_string().contains("2 version markers"), "{err}");
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(validate_name("").is_err());
        assert!(validate_name("  ").is_err());
        assert!(validate_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(validate_name("v2\nv3").is_err());
        assert!(validate_name(&"x".repeat(MAX_NAME_LEN)).is_ok());
        assert!(validate_name("some spaces").is_ok());
    }
}
