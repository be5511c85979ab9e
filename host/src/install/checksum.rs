//! Expected checksums of artifacts and the hasher that checks them while streaming.
//!
//! cosmovisor (through go-getter) accepts `type:hex` with type md5, sha1, sha256 or
//! sha512, and a bare hex string whose length names the type; we accept the same so
//! every plan `info` written for cosmovisor keeps working. The digest is computed on
//! the bytes as they are written, so verifying costs no second pass over the file.

use std::fmt;

use digest::Digest;

use super::InstallError;

/// A hash function cosmovisor plans may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgo {
    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha1 => "sha1",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "md5" => Some(HashAlgo::Md5),
            "sha1" => Some(HashAlgo::Sha1),
            "sha256" => Some(HashAlgo::Sha256),
            "sha512" => Some(HashAlgo::Sha512),
            _ => None,
        }
    }

    /// Length of the digest in hex characters.
    fn hex_len(self) -> usize {
        match self {
            HashAlgo::Md5 => 32,
            HashAlgo::Sha1 => 40,
            HashAlgo::Sha256 => 64,
            HashAlgo::Sha512 => 128,
        }
    }

    fn from_hex_len(len: usize) -> Option<Self> {
        [
            HashAlgo::Md5,
            HashAlgo::Sha1,
            HashAlgo::Sha256,
            HashAlgo::Sha512,
        ]
        .into_iter()
        .find(|a| a.hex_len() == len)
    }
}

/// An expected digest: algorithm plus lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algo: HashAlgo,
    hex: String,
}

impl Checksum {
    /// Parses `sha256:<hex>` (any of md5, sha1, sha256, sha512) or a bare hex digest
    /// whose length identifies the algorithm.
    pub fn parse(spec: &str) -> Result<Self, InstallError> {
        let spec = spec.trim();
        let bad = |reason: String| InstallError::BadChecksum {
            spec: spec.to_owned(),
            reason,
        };
        let (algo, hex) = match spec.split_once(':') {
            Some((name, hex)) => {
                let algo = HashAlgo::from_name(name).ok_or_else(|| {
                    bad(format!(
                        "unknown type {name:?}; use md5, sha1, sha256 or sha512"
                    ))
                })?;
                (algo, hex)
            }
            None => {
                let algo = HashAlgo::from_hex_len(spec.len()).ok_or_else(|| {
                    bad("no type given and the length matches no known digest; write it as sha256:<hex>".to_owned())
                })?;
                (algo, spec)
            }
        };
        if hex.len() != algo.hex_len() {
            return Err(bad(format!(
                "a {} digest has {} hex digits, this one has {}",
                algo.name(),
                algo.hex_len(),
                hex.len()
            )));
        }
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the digest must be hexadecimal".to_owned()));
        }
        Ok(Checksum {
            algo,
            hex: hex.to_ascii_lowercase(),
        })
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Compares with what a [`StreamHasher`] produced.
    pub fn verify(&self, actual_hex: &str) -> Result<(), InstallError> {
        if self.hex == actual_hex {
            Ok(())
        } else {
            Err(InstallError::ChecksumMismatch {
                algo: self.algo.name(),
                expected: self.hex.clone(),
                actual: actual_hex.to_owned(),
            })
        }
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo.name(), self.hex)
    }
}

/// Incremental hashing for one algorithm, chosen at run time.
pub enum StreamHasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl StreamHasher {
    pub fn new(algo: HashAlgo) -> Self {
        match algo {
            HashAlgo::Md5 => StreamHasher::Md5(md5::Md5::new()),
            HashAlgo::Sha1 => StreamHasher::Sha1(sha1::Sha1::new()),
            HashAlgo::Sha256 => StreamHasher::Sha256(sha2::Sha256::new()),
            HashAlgo::Sha512 => StreamHasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            StreamHasher::Md5(h) => h.update(bytes),
            StreamHasher::Sha1(h) => h.update(bytes),
            StreamHasher::Sha256(h) => h.update(bytes),
            StreamHasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest in lower-case hex.
    pub fn finish_hex(self) -> String {
        match self {
            StreamHasher::Md5(h) => hex::encode(h.finalize()),
            StreamHasher::Sha1(h) => hex::encode(h.finalize()),
            StreamHasher::Sha256(h) => hex::encode(h.finalize()),
            StreamHasher::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(algo: HashAlgo, data: &[u8]) -> String {
        let mut h = StreamHasher::new(algo);
        // Split in two to exercise incremental updates.
        let (a, b) = data.split_at(data.len() / 2);
        h.update(a);
        h.update(b);
        h.finish_hex()
    }

    #[test]
    fn known_digests_of_abc() {
        assert_eq!(
            digest(HashAlgo::Md5, b"abc"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            digest(HashAlgo::Sha1, b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            digest(HashAlgo::Sha256, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(digest(HashAlgo::Sha512, b"abc").starts_with("ddaf35a193617aba"));
    }

    #[test]
    fn parses_typed_and_bare_forms() {
        let c = Checksum::parse(
            "SHA256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
        )
        .unwrap();
        assert_eq!(c.algo, HashAlgo::Sha256);
        assert!(c.verify(&digest(HashAlgo::Sha256, b"abc")).is_ok());
        let bare = Checksum::parse("900150983cd24fb0d6963f7d28e17f72").unwrap();
        assert_eq!(bare.algo, HashAlgo::Md5);
        assert_eq!(bare.to_string(), "md5:900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn rejects_bad_specs_with_a_reason() {
        for spec in [
            "crc32:1234",
            "sha256:abc",
            "sha1:zz993e364706816aba3e25717850c26c9cd0d89d",
            "123",
        ] {
            let err = Checksum::parse(spec).unwrap_err();
            assert!(
                matches!(err, InstallError::BadChecksum { .. }),
                "{spec}: {err}"
            );
        }
    }

    #[test]
    fn mismatch_names_both_digests() {
        let c = Checksum::parse("md5:900150983cd24fb0d6963f7d28e17f72").unwrap();
        let err = c
            .verify("00000000000000000000000000000000")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("900150983cd24fb0d6963f7d28e17f72") && err.contains("0000000000"),
            "{err}"
        );
    }
}
