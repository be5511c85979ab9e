//! Reading an object's expected sha256 from what S3 offers: user metadata
//! (`x-amz-meta-sha256`, hex — what `aws s3 cp --metadata sha256=…` writes), S3's
//! own additional checksum (`x-amz-checksum-sha256`, base64 of the digest, returned
//! by HEAD with `x-amz-checksum-mode: ENABLED`), or a sidecar object `<key>.sha256`
//! (`sha256sum` output or the bare digest). A value that is present but malformed
//! is an error, never "no checksum": a typo must not become an unverified install.

use wasmvisor_plugin_sdk::types::{Checksum, ChecksumAlgorithm, Error};

pub const META_HEADER: &str = "x-amz-meta-sha256";
pub const S3_HEADER: &str = "x-amz-checksum-sha256";
const S3_TYPE_HEADER: &str = "x-amz-checksum-type";

/// The digest in a HEAD answer's headers (names in lower case), if any.
pub fn from_headers(headers: &[(String, String)], key: &str) -> Result<Option<Checksum>, Error> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    };
    if let Some(value) = get(META_HEADER) {
        let hex = value.strip_prefix("sha256:").unwrap_or(value);
        return if is_sha256(hex) {
            Ok(Some(sha256(hex)))
        } else {
            Err(Error::InvalidInput(format!(
                "s3: object {key} has metadata {META_HEADER} = {value:?}, which is not 64 hexadecimal digits"
            )))
        };
    }
    // A multipart upload's checksum is a checksum of the parts' checksums
    // (`…-<parts>`, type COMPOSITE): not the digest of the file.
    let composite = get(S3_TYPE_HEADER).is_some_and(|t| t.eq_ignore_ascii_case("COMPOSITE"));
    match get(S3_HEADER) {
        Some(value) if !composite && !value.contains('-') => match base64_decode(value) {
            Some(bytes) if bytes.len() == 32 => Ok(Some(sha256(&to_hex(&bytes)))),
            _ => Err(Error::InvalidInput(format!(
                "s3: object {key} has {S3_HEADER} = {value:?}, which is not the base64 of a sha256 digest"
            ))),
        },
        _ => Ok(None),
    }
}

/// The digest in a sidecar file: the bare digest, or `sha256sum` lines (`<hex>
/// [*]name`); with several lines, the one naming the object's file name.
pub fn from_sidecar(text: &str, key: &str, sidecar_key: &str) -> Result<Checksum, Error> {
    let file_name = key.rsplit('/').next().unwrap_or(key);
    let lines: Vec<(&str, &str)> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((hex, name)) => (hex, name.trim_start().trim_start_matches('*')),
            None => (l, ""),
        })
        .collect();
    let chosen = match lines.as_slice() {
        [(hex, _)] => Some(*hex),
        many => many.iter().find_map(|(hex, name)| {
            let name = name.strip_prefix("./").unwrap_or(name);
            (name == file_name || name.rsplit('/').next() == Some(file_name)).then_some(*hex)
        }),
    };
    match chosen {
        Some(hex) if is_sha256(hex) => Ok(sha256(hex)),
        _ => Err(Error::InvalidInput(format!(
            "s3: the checksum object {sidecar_key} holds no sha256 digest for {file_name} \
             (expected 64 hexadecimal digits, optionally followed by the file name)"
        ))),
    }
}

fn is_sha256(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn sha256(hex: &str) -> Checksum {
    Checksum {
        algorithm: ChecksumAlgorithm::Sha256,
        hex: hex.to_ascii_lowercase(),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Standard base64 with padding (RFC 4648 §4), as S3 writes checksums. None when
/// anything is off.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let last = i == bytes.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sha256("hello").
    const HELLO: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    const HELLO_B64: &str = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=";

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn user_metadata_hex_is_read_first() {
        let h = headers(&[(META_HEADER, &HELLO.to_uppercase()), (S3_HEADER, "AAAA")]);
        assert_eq!(from_headers(&h, "k").unwrap().unwrap().hex, HELLO);
        let prefixed = headers(&[(META_HEADER, &format!("sha256:{HELLO}"))]);
        assert_eq!(from_headers(&prefixed, "k").unwrap().unwrap().hex, HELLO);
    }

    #[test]
    fn s3_checksum_base64_is_decoded() {
        let h = headers(&[(S3_HEADER, HELLO_B64), (S3_TYPE_HEADER, "FULL_OBJECT")]);
        assert_eq!(from_headers(&h, "k").unwrap().unwrap().hex, HELLO);
    }

    #[test]
    fn composite_checksums_and_absent_headers_are_no_checksum() {
        let composite = headers(&[(S3_HEADER, HELLO_B64), (S3_TYPE_HEADER, "COMPOSITE")]);
        assert!(from_headers(&composite, "k").unwrap().is_none());
        let parts = headers(&[(S3_HEADER, "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=-3")]);
        assert!(from_headers(&parts, "k").unwrap().is_none());
        assert!(
            from_headers(&headers(&[("etag", "\"x\"")]), "k")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn malformed_metadata_is_an_error_naming_the_object() {
        for h in [
            headers(&[(META_HEADER, "abc")]),
            headers(&[(S3_HEADER, "not base64!")]),
            headers(&[(S3_HEADER, "AAAA")]),
        ] {
            match from_headers(&h, "v2/appd") {
                Err(Error::InvalidInput(m)) => assert!(m.contains("v2/appd"), "{m}"),
                other => panic!("{h:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn sidecars_hold_a_bare_digest_or_sha256sum_lines() {
        let key = "v2/linux-amd64.tar.gz";
        for text in [
            format!("{HELLO}\n"),
            format!("{HELLO}  linux-amd64.tar.gz\n"),
            format!("{HELLO} *./linux-amd64.tar.gz"),
            format!(
                "{}  other\n{HELLO}  v2/linux-amd64.tar.gz\n",
                "0".repeat(64)
            ),
        ] {
            assert_eq!(
                from_sidecar(&text, key, "s").unwrap().hex,
                HELLO,
                "{text:?}"
            );
        }
        for text in ["", "nothing here", &format!("{HELLO}  a\n{HELLO}  b\n")] {
            match from_sidecar(text, key, "v2/linux-amd64.tar.gz.sha256") {
                Err(Error::InvalidInput(m)) => assert!(m.contains(".sha256"), "{m}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn base64_follows_rfc_4648() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(base64_decode("aGVs").unwrap(), b"hel");
        assert_eq!(base64_decode("aG=k"), None);
        assert_eq!(base64_decode("aGVsbG8"), None);
    }
}
