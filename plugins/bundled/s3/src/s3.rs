//! The two S3 requests this plugin makes — HEAD of the object (does it exist, what
//! metadata does it carry) and GET of a small sidecar object — and S3's answers
//! turned into errors that say what to do. Requests go through the host, which
//! signs them with SigV4 when an operator credential rule names the endpoint's host;
//! the plugin never sees a key, and cannot tell whether a request was signed, so a
//! 403 explains both cases.

use wasmvisor_plugin_sdk::host::{self, Method, Request, Response};
use wasmvisor_plugin_sdk::types::Error;

use crate::object::Object;

/// The largest sidecar read: a checksum list, not a binary.
const MAX_SIDECAR_BYTES: usize = 64 * 1024;

/// HEAD of the object; `Ok` only for a 2xx answer.
pub fn head(object: &Object, region: &str) -> Result<Response, Error> {
    let response = send(Method::Head, object)?;
    if (200..300).contains(&response.status) {
        Ok(response)
    } else {
        Err(status_error("HEAD", object, &response, region))
    }
}

/// What a GET of a sidecar object gave.
pub enum Sidecar {
    Found(String),
    /// 404: there is none.
    Absent,
    /// 403: absent, or not readable. S3 answers 403 rather than 404 for a missing key
    /// when the caller may not list the bucket (the usual public-read bucket).
    Forbidden,
}

pub fn get_sidecar(object: &Object, region: &str) -> Result<Sidecar, Error> {
    let response = send(Method::Get, object)?;
    match response.status {
        200..=299 if response.body.len() > MAX_SIDECAR_BYTES => Err(Error::InvalidInput(format!(
            "s3: the checksum object {} is {} bytes, more than a checksum file ({MAX_SIDECAR_BYTES} at most)",
            object.key,
            response.body.len()
        ))),
        200..=299 => Ok(Sidecar::Found(
            String::from_utf8_lossy(&response.body).into_owned(),
        )),
        404 => Ok(Sidecar::Absent),
        403 => Ok(Sidecar::Forbidden),
        _ => Err(status_error("GET", object, &response, region)),
    }
}

fn send(method: Method, object: &Object) -> Result<Response, Error> {
    let verb = match method {
        Method::Head => "HEAD",
        _ => "GET",
    };
    host::http_request(&Request {
        method,
        url: object.url.clone(),
        // Asks S3 to include its own checksum (x-amz-checksum-sha256) in the answer.
        headers: vec![("x-amz-checksum-mode".to_string(), "ENABLED".to_string())],
        body: None,
    })
    .map_err(|e| match e {
        Error::Denied(m) => Error::Denied(format!(
            "s3: {verb} {}: {m} (grant it with hosts = [\"{}\"] in [plugins.s3])",
            object.url,
            object.host()
        )),
        Error::Unavailable(m) => Error::Unavailable(format!("s3: {verb} {}: {m}", object.url)),
        other => other,
    })
}

/// A non-success answer as an error naming the bucket and key and what to do.
pub fn status_error(verb: &str, object: &Object, response: &Response, region: &str) -> Error {
    let status = response.status;
    let code = error_code(&response.body)
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    let (bucket, key, url) = (&object.bucket, &object.key, &object.url);
    match status {
        403 => Error::Unavailable(format!(
            "s3: {verb} {url} answered 403 Forbidden{code}: bucket {bucket} is private (or key {key} does not exist \
             and the caller may not list the bucket). wasmvisor signs requests to {authority} only when a credential rule \
             names that host: add [[plugins.credentials]] with hosts = [\"{authority}\"] and \
             sigv4 = {{ region = \"{region}\", access_key_id_env = \"AWS_ACCESS_KEY_ID\", secret_access_key_env = \"AWS_SECRET_ACCESS_KEY\" }} \
             to the config; if such a rule exists, check its keys and that they may s3:GetObject on {bucket}/{key}",
            authority = object.authority
        )),
        404 => Error::NotApplicable(format!(
            "s3: no object {key} in bucket {bucket} ({verb} {url} answered 404{code}); the binary for this plan is not \
             published there yet, or key_template does not match the bucket's layout"
        )),
        301 | 307 | 400 => match header(response, "x-amz-bucket-region") {
            Some(actual) if actual != region => Error::InvalidInput(format!(
                "s3: bucket {bucket} is in region {actual}, not {region}: set region = \"{actual}\" in [plugins.s3.config] \
                 (and in the credential rule's sigv4)"
            )),
            _ => Error::Unavailable(format!("s3: {verb} {url} answered {status}{code}")),
        },
        _ => Error::Unavailable(format!("s3: {verb} {url} answered {status}{code}")),
    }
}

fn header<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
    response
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `<Code>AccessDenied</Code>` from S3's XML error body (HEAD answers have none).
fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    let code = &text[start..start + len];
    (!code.is_empty() && code.len() < 64 && code.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| code.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{BUCKET, ENDPOINT, Settings};

    fn object() -> Object {
        let s = Settings::parse(|k| match k {
            BUCKET => Some("bins".into()),
            ENDPOINT => Some("http://127.0.0.1:9000".into()),
            _ => None,
        })
        .unwrap();
        Object::locate(&s, "v2/appd").unwrap()
    }

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn forbidden_says_private_and_how_to_configure_a_sigv4_credential() {
        let body = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        match status_error("GET", &object(), &response(403, &[], body), "us-east-1") {
            Error::Unavailable(m) => {
                for part in [
                    "private",
                    "(AccessDenied)",
                    "[[plugins.credentials]]",
                    "hosts = [\"127.0.0.1:9000\"]",
                    "sigv4",
                    "region = \"us-east-1\"",
                    "bins/v2/appd",
                ] {
                    assert!(m.contains(part), "{part:?} missing in {m}");
                }
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_found_is_not_applicable_naming_bucket_and_key() {
        match status_error("HEAD", &object(), &response(404, &[], ""), "us-east-1") {
            Error::NotApplicable(m) => {
                assert!(m.contains("no object v2/appd in bucket bins"), "{m}");
                assert!(m.contains("key_template"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_wrong_region_names_the_right_one() {
        let r = response(301, &[("x-amz-bucket-region", "eu-west-1")], "");
        match status_error("HEAD", &object(), &r, "us-east-1") {
            Error::InvalidInput(m) => assert!(m.contains("region = \"eu-west-1\""), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_errors_are_unavailable_with_the_code() {
        let body = "<Error><Code>SlowDown</Code></Error>";
        match status_error("GET", &object(), &response(503, &[], body), "us-east-1") {
            Error::Unavailable(m) => assert!(m.contains("503 (SlowDown)"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(error_code(b"<Code><script></Code>"), None);
    }
}
