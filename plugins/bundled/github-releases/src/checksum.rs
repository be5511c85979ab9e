//! Where an asset's checksum comes from: GitHub's own `digest` field, else a
//! checksum file published in the same release (`<asset>.sha256`, `SHA256SUMS`,
//! `checksums.txt`, goreleaser's `<project>_<version>_checksums.txt`). A checksum
//! file that exists but cannot be fetched is an error, never "no checksum": a
//! network failure must not turn into an unverified install.

use wasmvisor_plugin_sdk::types::{Checksum, ChecksumAlgorithm, Error};

use crate::github::{self, Asset, Release};

/// For error messages: what was looked for.
pub const SEARCHED: &str = "looked for <asset>.sha256, SHA256SUMS, checksums.txt, *checksums.txt";

/// Whether an asset (lower-case name) is a checksum list rather than a binary.
pub fn is_checksum_file(name: &str) -> bool {
    name.ends_with(".sha256")
        || name.ends_with(".sha256sum")
        || name.starts_with("sha256sums")
        || name.ends_with("checksums.txt")
}

pub fn for_asset(release: &Release, asset: &Asset) -> Result<Option<Checksum>, Error> {
    if let Some(digest) = asset.digest.as_deref().filter(|d| !d.is_empty()) {
        return parse_digest(digest, &asset.name).map(Some);
    }
    let own = [
        format!("{}.sha256", asset.name),
        format!("{}.sha256sum", asset.name),
    ];
    if let Some(file) = release.assets.iter().find(|a| own.contains(&a.name)) {
        let text = fetch_text(file)?;
        // Either the bare digest or a `sha256sum` line for this asset.
        let sum = find_in_list(&text, &asset.name)
            .or_else(|| {
                text.split_whitespace()
                    .next()
                    .filter(|h| is_sha256(h))
                    .map(str::to_string)
            })
            .ok_or_else(|| bad_file(file, &asset.name))?;
        return Ok(Some(sha256(sum)));
    }
    for file in release.assets.iter().filter(|a| is_list(&a.name)) {
        let text = fetch_text(file)?;
        if let Some(sum) = find_in_list(&text, &asset.name) {
            return Ok(Some(sha256(sum)));
        }
    }
    Ok(None)
}

/// `SHA256SUMS`, `checksums.txt` and the like (lists of many assets).
fn is_list(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "sha256sums" || name == "sha256sums.txt" || name.ends_with("checksums.txt")
}

/// GitHub's `digest`: `sha256:<hex>`.
fn parse_digest(digest: &str, asset: &str) -> Result<Checksum, Error> {
    match digest.split_once(':') {
        Some(("sha256", hex)) if is_sha256(hex) => Ok(sha256(hex.to_string())),
        Some(("sha512", hex)) if hex.len() == 128 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Checksum {
                algorithm: ChecksumAlgorithm::Sha512,
                hex: hex.to_ascii_lowercase(),
            })
        }
        _ => Err(Error::InvalidInput(format!(
            "github-releases: asset {asset} has a digest {digest:?} that is not sha256:<64 hex digits>"
        ))),
    }
}

/// The digest of `name` in `sha256sum` output (`<hex>  [*]name`) or BSD style
/// (`SHA256 (name) = <hex>`).
fn find_in_list(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("SHA256 (") {
            let (file, hex) = rest.split_once(") = ")?;
            return (file == name && is_sha256(hex.trim())).then(|| hex.trim().to_string());
        }
        let (hex, file) = line.split_once(char::is_whitespace)?;
        let file = file.trim_start();
        let file = file.strip_prefix('*').unwrap_or(file);
        let file = file.strip_prefix("./").unwrap_or(file);
        (file == name && is_sha256(hex)).then(|| hex.to_string())
    })
}

fn fetch_text(file: &Asset) -> Result<String, Error> {
    let bytes = github::download_small(file).map_err(|e| match e {
        Error::Unavailable(m) => {
            Error::Unavailable(format!("cannot read the checksum file {}: {m}", file.name))
        }
        other => other,
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn bad_file(file: &Asset, asset: &str) -> Error {
    Error::InvalidInput(format!(
        "github-releases: the checksum file {} holds no sha256 digest for {asset}",
        file.name
    ))
}

fn is_sha256(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn sha256(hex: String) -> Checksum {
    Checksum {
        algorithm: ChecksumAlgorithm::Sha256,
        hex: hex.to_ascii_lowercase(),
    }
}
