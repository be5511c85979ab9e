//! The operator's settings (`[plugins.s3.config]`), read and checked once per call
//! so that a bad value is one clear error before any request is made. Parsing is
//! separate from reading ([`Settings::parse`] takes a lookup function) so the rules
//! are unit-tested natively.

use wasmvisor_plugin_sdk::host::config_get;
use wasmvisor_plugin_sdk::types::{ArchiveKind, Error};

pub const BUCKET: &str = "bucket";
pub const REGION: &str = "region";
pub const ENDPOINT: &str = "endpoint";
pub const PATH_STYLE: &str = "path_style";
pub const KEY_TEMPLATE: &str = "key_template";
pub const CHECKSUM: &str = "checksum";
pub const ARCHIVE: &str = "archive";
pub const PATH_IN_ARCHIVE: &str = "path_in_archive";
pub const ALLOW_MISSING_CHECKSUM: &str = "allow_missing_checksum";
/// Set by the host (not the operator's table) from `DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM`.
pub const MUST_HAVE_CHECKSUM: &str = "must-have-checksum";

/// Every key this plugin reads (declared in its manifest).
pub const KEYS: &[&str] = &[
    BUCKET,
    REGION,
    ENDPOINT,
    PATH_STYLE,
    KEY_TEMPLATE,
    CHECKSUM,
    ARCHIVE,
    PATH_IN_ARCHIVE,
    ALLOW_MISSING_CHECKSUM,
    MUST_HAVE_CHECKSUM,
];

pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_KEY_TEMPLATE: &str = "{name}/{os}-{arch}";

/// Where the expected sha256 of the object comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumSource {
    /// The object's metadata (`x-amz-meta-sha256`, `x-amz-checksum-sha256`), else the
    /// sidecar object.
    Auto,
    Metadata,
    /// The object `<key>.sha256`.
    Sidecar,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub bucket: String,
    pub region: String,
    /// `https://s3.<region>.amazonaws.com` or the operator's, without a trailing slash.
    pub endpoint: String,
    /// `https://host/bucket/key` rather than `https://bucket.host/key`.
    pub path_style: bool,
    pub key_template: String,
    pub checksum: ChecksumSource,
    pub archive: ArchiveKind,
    pub path_in_archive: Option<String>,
    pub allow_missing_checksum: bool,
    /// The supervisor refuses unverified downloads: `allow_missing_checksum` cannot
    /// override that, and saying so here is clearer than the installer's refusal.
    pub must_have_checksum: bool,
}

impl Settings {
    pub fn read() -> Result<Settings, Error> {
        Settings::parse(config_get)
    }

    /// The settings from `get` (a config lookup by key).
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        let value = |key: &str| {
            get(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let bucket = value(BUCKET).ok_or_else(|| {
            bad("bucket is not set: name the bucket in [plugins.s3.config] (bucket = \"my-chain-binaries\")")
        })?;
        check_bucket(&bucket)?;
        let region = value(REGION).unwrap_or_else(|| DEFAULT_REGION.to_string());
        if !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad(&format!(
                "region {region:?} is not a region name (e.g. \"eu-west-1\")"
            )));
        }
        let custom = value(ENDPOINT);
        let endpoint = match &custom {
            Some(e) => check_endpoint(e)?,
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        let path_style = match flag(&get, PATH_STYLE)? {
            Some(explicit) => explicit,
            // Custom endpoints (MinIO, Ceph, R2, a local mirror) usually have no
            // wildcard DNS; AWS prefers virtual-hosted names, which a bucket with
            // dots or capitals cannot use over TLS.
            None => custom.is_some() || !dns_compatible(&bucket),
        };
        if !path_style && !dns_compatible(&bucket) {
            return Err(bad(&format!(
                "bucket {bucket:?} cannot be a host name (dots, capitals or underscores): set path_style = true"
            )));
        }
        Ok(Settings {
            bucket,
            region,
            endpoint,
            path_style,
            key_template: value(KEY_TEMPLATE).unwrap_or_else(|| DEFAULT_KEY_TEMPLATE.to_string()),
            checksum: checksum_source(value(CHECKSUM).as_deref())?,
            archive: archive_kind(value(ARCHIVE).as_deref())?,
            path_in_archive: value(PATH_IN_ARCHIVE),
            allow_missing_checksum: flag(&get, ALLOW_MISSING_CHECKSUM)?.unwrap_or(false),
            must_have_checksum: flag(&get, MUST_HAVE_CHECKSUM)?.unwrap_or(false),
        })
    }
}

/// S3's own rules are stricter for new buckets; old buckets and other stores allow
/// capitals and underscores, so only what would break a URL is refused here.
fn check_bucket(bucket: &str) -> Result<(), Error> {
    let ok = bucket.len() <= 255
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && bucket != "."
        && bucket != "..";
    if ok {
        Ok(())
    } else {
        Err(bad(&format!(
            "bucket {bucket:?} is not a bucket name (letters, digits, '-', '.', '_'; give the key layout in key_template)"
        )))
    }
}

/// A bucket name that can be the first label of a host name.
fn dns_compatible(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !bucket.starts_with('-')
        && !bucket.ends_with('-')
}

/// `http(s)://host[:port][/prefix]`, returned without a trailing slash.
fn check_endpoint(endpoint: &str) -> Result<String, Error> {
    let endpoint = endpoint.trim_end_matches('/');
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"));
    let authority = rest.map(|r| r.split('/').next().unwrap_or(""));
    match authority {
        Some(a)
            if !a.is_empty()
                && !a.contains(['@', '?', '#', ' '])
                && !endpoint.contains(['?', '#']) =>
        {
            Ok(endpoint.to_string())
        }
        _ => Err(bad(&format!(
            "endpoint {endpoint:?} is not an http(s) URL without credentials or query (e.g. \"https://minio.example.com:9000\")"
        ))),
    }
}

fn checksum_source(text: Option<&str>) -> Result<ChecksumSource, Error> {
    match text {
        None | Some("auto") => Ok(ChecksumSource::Auto),
        Some("metadata") => Ok(ChecksumSource::Metadata),
        Some("sidecar") => Ok(ChecksumSource::Sidecar),
        Some(other) => Err(bad(&format!(
            "checksum = {other:?}: expected \"auto\", \"metadata\" or \"sidecar\""
        ))),
    }
}

fn archive_kind(text: Option<&str>) -> Result<ArchiveKind, Error> {
    match text {
        None | Some("auto") => Ok(ArchiveKind::Auto),
        Some("raw") | Some("false") => Ok(ArchiveKind::Raw),
        Some("zip") => Ok(ArchiveKind::Zip),
        Some("tar.gz") | Some("tgz") => Ok(ArchiveKind::TarGz),
        Some("tar.xz") | Some("txz") => Ok(ArchiveKind::TarXz),
        Some("gz") => Ok(ArchiveKind::Gzip),
        Some(other) => Err(bad(&format!(
            "archive = {other:?}: expected auto, raw, zip, tar.gz, tar.xz or gz"
        ))),
    }
}

fn flag(get: &impl Fn(&str) -> Option<String>, key: &str) -> Result<Option<bool>, Error> {
    match get(key).as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(bad(&format!("{key} = {other:?}: expected true or false"))),
    }
}

fn bad(message: &str) -> Error {
    Error::InvalidInput(format!("s3: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Settings, Error> {
        Settings::parse(|key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    fn message(e: Error) -> String {
        match e {
            Error::InvalidInput(m) => m,
            other => panic!("expected invalid-input, got {other:?}"),
        }
    }

    #[test]
    fn aws_defaults_are_virtual_hosted_in_us_east_1_with_auto_checksum() {
        let s = parse(&[(BUCKET, "chain-bins")]).unwrap();
        assert_eq!(s.endpoint, "https://s3.us-east-1.amazonaws.com");
        assert!(!s.path_style);
        assert_eq!(s.key_template, DEFAULT_KEY_TEMPLATE);
        assert_eq!(s.checksum, ChecksumSource::Auto);
        assert_eq!(s.archive, ArchiveKind::Auto);
        assert!(!s.allow_missing_checksum && !s.must_have_checksum);
        let eu = parse(&[(BUCKET, "chain-bins"), (REGION, "eu-west-1")]).unwrap();
        assert_eq!(eu.endpoint, "https://s3.eu-west-1.amazonaws.com");
    }

    #[test]
    fn a_custom_endpoint_is_path_style_unless_told_otherwise() {
        let s = parse(&[(BUCKET, "b1"), (ENDPOINT, "http://127.0.0.1:9000/")]).unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:9000");
        assert!(s.path_style);
        let v = parse(&[
            (BUCKET, "bins"),
            (ENDPOINT, "https://minio.example.com"),
            (PATH_STYLE, "false"),
        ])
        .unwrap();
        assert!(!v.path_style);
    }

    #[test]
    fn a_bucket_with_dots_uses_path_style_on_aws_and_refuses_virtual_hosting() {
        assert!(parse(&[(BUCKET, "my.bins")]).unwrap().path_style);
        let m = message(parse(&[(BUCKET, "my.bins"), (PATH_STYLE, "false")]).unwrap_err());
        assert!(m.contains("path_style = true"), "{m}");
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        assert!(message(parse(&[]).unwrap_err()).contains("bucket is not set"));
        assert!(message(parse(&[(BUCKET, "a/b")]).unwrap_err()).contains("key_template"));
        let cases = [
            (ENDPOINT, "ftp://x"),
            (ENDPOINT, "https://user:pw@x"),
            (REGION, "EU West"),
            (CHECKSUM, "md5"),
            (ARCHIVE, "rar"),
            (ALLOW_MISSING_CHECKSUM, "yes"),
            (PATH_STYLE, "1"),
        ];
        for (key, value) in cases {
            let m = message(parse(&[(BUCKET, "bins"), (key, value)]).unwrap_err());
            assert!(m.contains(key) || m.contains(value), "{key}={value}: {m}");
        }
    }

    #[test]
    fn checksum_and_archive_names_are_understood() {
        let s = parse(&[
            (BUCKET, "bins"),
            (CHECKSUM, "sidecar"),
            (ARCHIVE, "tar.gz"),
            (PATH_IN_ARCHIVE, "bin/appd"),
            (ALLOW_MISSING_CHECKSUM, "true"),
            (MUST_HAVE_CHECKSUM, "true"),
        ])
        .unwrap();
        assert_eq!(s.checksum, ChecksumSource::Sidecar);
        assert_eq!(s.archive, ArchiveKind::TarGz);
        assert_eq!(s.path_in_archive.as_deref(), Some("bin/appd"));
        assert!(s.allow_missing_checksum && s.must_have_checksum);
    }
}
