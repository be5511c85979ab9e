//! A release as a chain team publishes one: the binary packed as a tar.gz
//! (`bin/<daemon>`, mode 0755), its sha256, and the plan `info` that points at it.
//!
//! The info is cosmovisor's inline form, `{"binaries":{"<os>/<arch>":"<url>?checksum=sha256:<hex>"}}`,
//! keyed by Go's platform names, so what the demo shows is what an operator finds in
//! a real governance proposal.

use std::path::Path;

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::json;
use sha2::{Digest, Sha256};

/// `binary` packed as `bin/<daemon_name>` in a tar.gz.
pub fn tar_gz(binary: &Path, daemon_name: &str) -> Result<Vec<u8>> {
    let bytes =
        std::fs::read(binary).with_context(|| format!("cannot read {}", binary.display()))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    let mut archive = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    archive
        .append_data(&mut header, format!("bin/{daemon_name}"), bytes.as_slice())
        .context("cannot pack the release archive")?;
    let gz = archive
        .into_inner()
        .context("cannot finish the release archive")?;
    gz.finish().context("cannot compress the release archive")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// This machine in Go's `GOOS/GOARCH` naming, as plan infos key their binaries.
pub fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

/// The plan info naming `url` (with its checksum) for this machine.
pub fn plan_info(url: &str, sha256: &str) -> String {
    json!({"binaries": {platform(): format!("{url}?checksum=sha256:{sha256}")}}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_archive_holds_the_binary_as_bin_daemon_executable() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("fake-chaind-v3");
        std::fs::write(&binary, b"\x7fELF pretend").unwrap();
        let gz = tar_gz(&binary, "fake-chaind").unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz.as_slice()));
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str(), Some("bin/fake-chaind"));
        assert_eq!(entry.header().mode().unwrap(), 0o755);
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert_eq!(content, b"\x7fELF pretend");
        assert!(entries.next().is_none());
    }

    #[test]
    fn the_plan_info_keys_the_url_by_platform_with_its_checksum() {
        let info: serde_json::Value =
            serde_json::from_str(&plan_info("http://127.0.0.1:9/v3.tar.gz", "ab12")).unwrap();
        let url = &info["binaries"][platform()];
        assert_eq!(url, "http://127.0.0.1:9/v3.tar.gz?checksum=sha256:ab12");
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
