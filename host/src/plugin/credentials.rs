//! Secrets are applied by the host, never seen by a plugin.
//!
//! The operator writes credential rules (`[[credentials]]` in the config): a set of
//! host patterns and either a bearer token or AWS SigV4 keys, each taken from an
//! environment variable or a file at the moment of use (so rotation needs no restart
//! and the secret is not kept in memory longer than a request). The host applies the
//! first rule whose pattern matches a request's host — to plugin HTTP requests and to
//! artifact downloads alike. A plugin cannot set `Authorization` itself (the header
//! is dropped), so a plugin cannot ship a token to a host it chose.
//!
//! SigV4 is implemented here (sha2 + hmac) rather than through an AWS SDK: we sign
//! simple GET/HEAD/PUT/POST requests only, and the code is checked against AWS's
//! published examples in the tests below.

use std::fmt::Write as _;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::egress::HostPattern;

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

impl SecretSource {
    fn read(&self) -> Result<String, CredentialError> {
        let value = match self {
            SecretSource::Env(var) => std::env::var(var).map_err(|_| {
                CredentialError::Missing(format!("environment variable {var} is not set"))
            })?,
            SecretSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
                CredentialError::Missing(format!("cannot read {}: {e}", path.display()))
            })?,
        };
        let value = value.trim().to_string();
        if value.is_empty() {
            return Err(CredentialError::Missing(format!(
                "{} is empty",
                self.describe()
            )));
        }
        Ok(value)
    }

    fn describe(&self) -> String {
        match self {
            SecretSource::Env(var) => format!("environment variable {var}"),
            SecretSource::File(path) => format!("file {}", path.display()),
        }
    }
}

/// AWS Signature Version 4 parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4 {
    pub region: String,
    /// `s3` for S3 and S3-compatible stores.
    pub service: String,
    pub access_key_id: SecretSource,
    pub secret_access_key: SecretSource,
    pub session_token: Option<SecretSource>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialKind {
    Bearer(SecretSource),
    SigV4(SigV4),
}

/// One operator rule: requests to these hosts get this credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRule {
    pub hosts: Vec<HostPattern>,
    pub kind: CredentialKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("credential for this host unavailable: {0}")]
    Missing(String),
    #[error("cannot sign the request: {0}")]
    Sign(String),
}

/// All credential rules of the configuration.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub rules: Vec<CredentialRule>,
}

impl Credentials {
    /// The first rule whose pattern matches the URL's host and port.
    pub fn rule_for(&self, url: &url::Url) -> Option<&CredentialRule> {
        let host = match url.host()? {
            url::Host::Domain(d) => d.to_ascii_lowercase(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        let port = url.port_or_known_default()?;
        self.rules
            .iter()
            .find(|r| r.hosts.iter().any(|p| p.matches(&host, port)))
    }

    /// Adds the matching credential (if any) to a request about to be sent. Any
    /// `Authorization` header already present is removed first: only the host
    /// decides credentials.
    pub fn authorize(&self, request: &mut reqwest::Request) -> Result<(), CredentialError> {
        let body = request
            .body()
            .and_then(|b| b.as_bytes())
            .map(<[u8]>::to_vec);
        let (method, url) = (request.method().as_str().to_string(), request.url().clone());
        self.apply(&method, &url, request.headers_mut(), body.as_deref())
    }

    /// [`Credentials::authorize`] for requests built elsewhere (the installer's
    /// downloads): `body` None = no body or a streamed one (signed as UNSIGNED-PAYLOAD).
    pub fn apply(
        &self,
        method: &str,
        url: &url::Url,
        headers: &mut reqwest::header::HeaderMap,
        body: Option<&[u8]>,
    ) -> Result<(), CredentialError> {
        headers.remove(reqwest::header::AUTHORIZATION);
        let Some(rule) = self.rule_for(url) else {
            return Ok(());
        };
        let added = match &rule.kind {
            CredentialKind::Bearer(token) => vec![(
                "authorization".to_string(),
                format!("Bearer {}", token.read()?),
            )],
            CredentialKind::SigV4(sig) => {
                let payload = Some(hex::encode(Sha256::digest(body.unwrap_or_default())));
                let keys = SigV4Keys {
                    access_key_id: sig.access_key_id.read()?,
                    secret_access_key: sig.secret_access_key.read()?,
                    session_token: sig
                        .session_token
                        .as_ref()
                        .map(SecretSource::read)
                        .transpose()?,
                };
                let existing: Vec<(String, String)> = headers
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))
                    })
                    .collect();
                sign_v4(
                    method,
                    url,
                    &existing,
                    payload.as_deref(),
                    &sig.region,
                    &sig.service,
                    &keys,
                    Utc::now(),
                )?
            }
        };
        for (name, value) in added {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| CredentialError::Sign(e.to_string()))?;
            let mut value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                CredentialError::Sign(format!("the value of {name} is not a valid header value"))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(())
    }
}

/// Credentials for the installer's artifact downloads.
impl crate::install::RequestAuthorizer for Credentials {
    fn authorize(
        &self,
        url: &url::Url,
        headers: &mut reqwest::header::HeaderMap,
    ) -> anyhow::Result<()> {
        Ok(self.apply("GET", url, headers, None)?)
    }
}

/// The secrets of one SigV4 signature, read just before signing.
pub struct SigV4Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Signs a request: returns the headers to add (`x-amz-date`, `x-amz-content-sha256`,
/// optionally `x-amz-security-token`, and `authorization`). `payload_sha256` is the
/// hex digest of the body; `None` signs as `UNSIGNED-PAYLOAD` (a streamed body).
/// `headers` are the request's other headers; `range` and `x-amz-*` are signed too.
#[allow(clippy::too_many_arguments)]
pub fn sign_v4(
    method: &str,
    url: &url::Url,
    headers: &[(String, String)],
    payload_sha256: Option<&str>,
    region: &str,
    service: &str,
    keys: &SigV4Keys,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, CredentialError> {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = now.format("%Y%m%d").to_string();
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return Err(CredentialError::Sign(format!("{url} has no host"))),
    };
    let payload = payload_sha256.unwrap_or(UNSIGNED_PAYLOAD).to_string();

    let mut added = vec![("x-amz-date".to_string(), amz_date.clone())];
    if service == "s3" {
        added.push(("x-amz-content-sha256".to_string(), payload.clone()));
    }
    if let Some(token) = &keys.session_token {
        added.push(("x-amz-security-token".to_string(), token.clone()));
    }

    let mut signed: Vec<(String, String)> = vec![("host".to_string(), host)];
    for (k, v) in headers.iter().chain(added.iter()) {
        let k = k.to_ascii_lowercase();
        if k == "range" || k.starts_with("x-amz-") || k == "content-type" {
            signed.push((k, v.split_whitespace().collect::<Vec<_>>().join(" ")));
        }
    }
    signed.sort();
    signed.dedup_by(|a, b| a.0 == b.0);
    let signed_names = signed
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();

    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_names}\n{payload}",
        canonical_uri(url.path(), service),
        canonical_query(url),
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", keys.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    added.push((
        "authorization".to_string(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_names}, Signature={signature}",
            keys.access_key_id
        ),
    ));
    Ok(added)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 unreserved characters stay; everything else is %XX (upper case).
fn uri_encode(input: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn canonical_uri(path: &str, service: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    // `url` already percent-encodes the path; decode then encode the AWS way.
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let once = uri_encode(&decoded, true);
    // Every service but S3 encodes the path twice.
    if service == "s3" {
        once
    } else {
        uri_encode(&once, true)
    }
}

fn canonical_query(url: &url::Url) -> String {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (uri_encode(&k, false), uri_encode(&v, false)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        &headers.iter().find(|(k, _)| k == name).unwrap().1
    }

    /// AWS S3 documentation, "Signature Calculations for the Authorization Header",
    /// example "GET Object" (first 10 bytes of examplebucket/test.txt).
    #[test]
    fn sigv4_matches_the_aws_s3_get_object_example() {
        let keys = SigV4Keys {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let url = url::Url::parse("https://examplebucket.s3.amazonaws.com/test.txt").unwrap();
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let out = sign_v4(
            "GET",
            &url,
            &[("Range".into(), "bytes=0-9".into())],
            Some(empty),
            "us-east-1",
            "s3",
            &keys,
            Utc.with_ymd_and_hms(2013, 5, 24, 0, 0, 0).unwrap(),
        )
        .unwrap();
        assert_eq!(
            header(&out, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert_eq!(header(&out, "x-amz-date"), "20130524T000000Z");
        assert_eq!(header(&out, "x-amz-content-sha256"), empty);
    }

    /// AWS SigV4 test suite, `get-vanilla`.
    #[test]
    fn sigv4_matches_the_aws_test_suite_get_vanilla() {
        let keys = SigV4Keys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let url = url::Url::parse("https://example.amazonaws.com/").unwrap();
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let out = sign_v4(
            "GET",
            &url,
            &[],
            Some(empty),
            "us-east-1",
            "service",
            &keys,
            Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap(),
        )
        .unwrap();
        assert_eq!(
            header(&out, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn query_and_path_are_encoded_the_aws_way() {
        let url = url::Url::parse("https://h/a%20b/c?z=1&a=x%2Fy&b").unwrap();
        assert_eq!(canonical_uri(url.path(), "s3"), "/a%20b/c");
        assert_eq!(canonical_query(&url), "a=x%2Fy&b=&z=1");
    }

    fn bearer_rule(pattern: &str, var: &str) -> Credentials {
        Credentials {
            rules: vec![CredentialRule {
                hosts: vec![HostPattern::parse(pattern).unwrap()],
                kind: CredentialKind::Bearer(SecretSource::Env(var.into())),
            }],
        }
    }

    #[test]
    fn bearer_token_is_added_only_to_matching_hosts() {
        // SAFETY of the test: a variable name no other test uses.
        unsafe { std::env::set_var("WASMVISOR_TEST_TOKEN_A", "s3cr3t") };
        let creds = bearer_rule("api.github.com", "WASMVISOR_TEST_TOKEN_A");
        let client = reqwest::Client::new();
        let mut req = client.get("https://api.github.com/repos").build().unwrap();
        creds.authorize(&mut req).unwrap();
        assert_eq!(req.headers()["authorization"], "Bearer s3cr3t");
        let mut other = client
            .get("https://evil.example.com/")
            .header("authorization", "Bearer forged")
            .build()
            .unwrap();
        creds.authorize(&mut other).unwrap();
        assert!(
            other.headers().get("authorization").is_none(),
            "a plugin-set Authorization must be dropped"
        );
    }

    #[test]
    fn missing_secret_is_a_clear_error() {
        let creds = bearer_rule("api.github.com", "WASMVISOR_TEST_TOKEN_NEVER_SET");
        let mut req = reqwest::Client::new()
            .get("https://api.github.com/")
            .build()
            .unwrap();
        let err = creds.authorize(&mut req).unwrap_err().to_string();
        assert!(err.contains("WASMVISOR_TEST_TOKEN_NEVER_SET"), "{err}");
    }
}
