//! Checks a fetched plan-info document against the `?checksum=` of its URL. The
//! host verifies binaries while downloading them, but the document is fetched by
//! this plugin, so this plugin verifies it — before reading a single URL from it.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use wasmvisor_plugin_sdk::types::{Checksum, ChecksumAlgorithm};

/// `Ok` when `body` has the expected digest; otherwise the digest it has (lower hex).
pub fn verify(body: &[u8], expected: &Checksum) -> Result<(), String> {
    let actual = match expected.algorithm {
        ChecksumAlgorithm::Md5 => hex(&Md5::digest(body)),
        ChecksumAlgorithm::Sha1 => hex(&Sha1::digest(body)),
        ChecksumAlgorithm::Sha256 => hex(&Sha256::digest(body)),
        ChecksumAlgorithm::Sha512 => hex(&Sha512::digest(body)),
    };
    if actual.eq_ignore_ascii_case(&expected.hex) {
        Ok(())
    } else {
        Err(actual)
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::parse_checksum;

    #[test]
    fn known_digests_of_test_match() {
        for spec in [
            "md5:098f6bcd4621d373cade4e832627b4f6",
            "sha1:a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "SHA512:EE26B0DD4AF7E749AA1A8EE3C10AE9923F618980772E473F8819A5D4940E0DB27AC185F8A0E1D5F84F88BC887FD67B143732C304CC5FA9AD8E6F57F50028A8FF",
        ] {
            verify(b"test", &parse_checksum(spec).unwrap())
                .unwrap_or_else(|a| panic!("{spec}: {a}"));
        }
    }

    #[test]
    fn a_changed_body_is_refused_with_its_actual_digest() {
        let expected = parse_checksum(
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        )
        .unwrap();
        let actual = verify(b"tesT", &expected).unwrap_err();
        assert_eq!(actual.len(), 64);
        assert_ne!(actual, expected.hex);
    }
}
