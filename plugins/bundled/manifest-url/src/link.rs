//! One download link of a plan: go-getter's query parameters `checksum=<type>:<hex>`
//! and `archive=<kind>` are instructions for the downloader, not part of the
//! resource, so they are read here and removed from the URL the host requests.
//! Done by hand (no URL crate): the plugin only needs the query, and every other
//! byte of the URL must reach the host exactly as the plan wrote it.

use wasmvisor_plugin_sdk::types::{ArchiveKind, Checksum, ChecksumAlgorithm};

/// A download URL with its downloader instructions taken out.
#[derive(Debug, Clone)]
pub struct Link {
    /// The URL without `checksum` and `archive` (other query parameters kept).
    pub url: String,
    pub checksum: Option<Checksum>,
    pub archive: ArchiveKind,
}

/// Splits `checksum` and `archive` out of an http(s) URL. The error says what is
/// wrong with the URL (the caller adds where it came from).
pub fn parse(raw: &str) -> Result<Link, String> {
    let raw = raw.trim();
    if !is_http_url(raw) {
        return Err(format!(
            "{raw:?} is not an http:// or https:// URL with a host"
        ));
    }
    let (before_fragment, fragment) = match raw.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (raw, None),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, q),
        None => (before_fragment, ""),
    };
    let mut link = Link {
        url: String::new(),
        checksum: None,
        archive: ArchiveKind::Auto,
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match percent_decode(key).as_str() {
            "checksum" => link.checksum = Some(parse_checksum(&percent_decode(value))?),
            "archive" => link.archive = parse_archive(&percent_decode(value))?,
            _ => kept.push(pair),
        }
    }
    link.url = base.to_string();
    if !kept.is_empty() {
        link.url.push('?');
        link.url.push_str(&kept.join("&"));
    }
    if let Some(f) = fragment {
        link.url.push('#');
        link.url.push_str(f);
    }
    Ok(link)
}

/// `http://` or `https://` (any case) followed by a non-empty host.
pub fn is_http_url(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &text[8..]
    } else if lower.starts_with("http://") {
        &text[7..]
    } else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    !authority.is_empty() && !text.chars().any(char::is_whitespace)
}

/// `sha256:<hex>` (md5, sha1, sha256, sha512), or bare hex whose length names the
/// algorithm — what go-getter accepts, so plans written for cosmovisor keep working.
pub fn parse_checksum(spec: &str) -> Result<Checksum, String> {
    let spec = spec.trim();
    let (algorithm, hex) = match spec.split_once(':') {
        Some((name, hex)) => {
            let algorithm = match name.to_ascii_lowercase().as_str() {
                "md5" => ChecksumAlgorithm::Md5,
                "sha1" => ChecksumAlgorithm::Sha1,
                "sha256" => ChecksumAlgorithm::Sha256,
                "sha512" => ChecksumAlgorithm::Sha512,
                other => {
                    return Err(format!(
                        "checksum type {other:?} is not one of md5, sha1, sha256, sha512"
                    ));
                }
            };
            (algorithm, hex)
        }
        None => {
            let algorithm = match spec.len() {
                32 => ChecksumAlgorithm::Md5,
                40 => ChecksumAlgorithm::Sha1,
                64 => ChecksumAlgorithm::Sha256,
                128 => ChecksumAlgorithm::Sha512,
                _ => {
                    return Err(format!(
                        "checksum {spec:?} has no type and its length fits none (write sha256:<hex>)"
                    ));
                }
            };
            (algorithm, spec)
        }
    };
    if hex.len() != hex_len(algorithm) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "checksum {spec:?}: a {} digest is {} hexadecimal digits",
            algorithm_name(algorithm),
            hex_len(algorithm)
        ));
    }
    Ok(Checksum {
        algorithm,
        hex: hex.to_ascii_lowercase(),
    })
}

pub fn algorithm_name(a: ChecksumAlgorithm) -> &'static str {
    match a {
        ChecksumAlgorithm::Md5 => "md5",
        ChecksumAlgorithm::Sha1 => "sha1",
        ChecksumAlgorithm::Sha256 => "sha256",
        ChecksumAlgorithm::Sha512 => "sha512",
    }
}

fn hex_len(a: ChecksumAlgorithm) -> usize {
    match a {
        ChecksumAlgorithm::Md5 => 32,
        ChecksumAlgorithm::Sha1 => 40,
        ChecksumAlgorithm::Sha256 => 64,
        ChecksumAlgorithm::Sha512 => 128,
    }
}

/// go-getter's `archive=` values; `false` means "the file is the binary".
fn parse_archive(value: &str) -> Result<ArchiveKind, String> {
    Ok(match value.to_ascii_lowercase().as_str() {
        "zip" => ArchiveKind::Zip,
        "tar.gz" | "tgz" => ArchiveKind::TarGz,
        "tar.xz" | "txz" => ArchiveKind::TarXz,
        "gz" | "gzip" => ArchiveKind::Gzip,
        "false" => ArchiveKind::Raw,
        // A plain tar: the host recognises it from its first bytes.
        "tar" => ArchiveKind::Auto,
        other => {
            return Err(format!(
                "archive={other:?} is not one of zip, tar.gz, tgz, tar.xz, txz, gz, tar, false"
            ));
        }
    })
}

/// `%3A` → `:`; `+` stays `+` (hex digests never contain one). Invalid escapes are
/// kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn checksum_is_taken_out_of_the_query_and_other_parameters_stay() {
        let link = parse(&format!(
            "https://dl.example.com/v2/appd.tar.gz?x=1&checksum=sha256:{SHA256}&y=2"
        ))
        .unwrap();
        assert_eq!(link.url, "https://dl.example.com/v2/appd.tar.gz?x=1&y=2");
        let c = link.checksum.unwrap();
        assert_eq!(c.algorithm, ChecksumAlgorithm::Sha256);
        assert_eq!(c.hex, SHA256);
    }

    #[test]
    fn a_url_with_only_a_checksum_loses_its_question_mark() {
        let link = parse(&format!(
            "http://127.0.0.1:8080/a?checksum=SHA256%3A{SHA256}"
        ))
        .unwrap();
        assert_eq!(link.url, "http://127.0.0.1:8080/a");
        assert!(link.checksum.is_some());
    }

    #[test]
    fn bare_hex_checksums_are_typed_by_length() {
        assert_eq!(
            parse_checksum(SHA256).unwrap().algorithm,
            ChecksumAlgorithm::Sha256
        );
        assert_eq!(
            parse_checksum(&"a".repeat(32)).unwrap().algorithm,
            ChecksumAlgorithm::Md5
        );
        assert!(parse_checksum("abc").is_err());
    }

    #[test]
    fn bad_checksums_are_errors() {
        for bad in [
            "sha256:abc",
            "crc32:deadbeef",
            "sha1:zz3456789012345678901234567890123456789z",
        ] {
            assert!(parse_checksum(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn archive_parameter_sets_the_kind() {
        let link = parse("https://x.org/appd?archive=false").unwrap();
        assert_eq!(link.archive, ArchiveKind::Raw);
        assert_eq!(link.url, "https://x.org/appd");
        assert!(parse("https://x.org/appd?archive=rar").is_err());
    }

    #[test]
    fn no_checksum_means_none_and_auto() {
        let link = parse("https://x.org/appd.zip#frag").unwrap();
        assert_eq!(link.url, "https://x.org/appd.zip#frag");
        assert!(link.checksum.is_none());
        assert_eq!(link.archive, ArchiveKind::Auto);
    }

    #[test]
    fn only_http_urls_with_a_host_are_links() {
        for bad in [
            "file:///etc/passwd",
            "ftp://x.org/a",
            "https://",
            "x.org/a",
            "https://a b",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(is_http_url("HTTPS://x.org"));
    }
}
