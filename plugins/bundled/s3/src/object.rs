//! Where an object lives: its URL, path-style (`https://host/bucket/key`) or
//! virtual-hosted (`https://bucket.host/key`), with the key percent-encoded the way
//! SigV4 expects (every byte but `A-Z a-z 0-9 - _ . ~ /`), so the URL the plugin
//! asks for, the URL the host signs and the URL it downloads are the same string.
//! Keys with `.` or `..` segments are refused: HTTP clients collapse them, so the
//! object requested would not be the object named.

use wasmvisor_plugin_sdk::types::Error;

use crate::settings::Settings;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub bucket: String,
    pub key: String,
    /// The object's URL (also the artifact's).
    pub url: String,
    /// `host[:port]` of that URL: what a credential rule must name.
    pub authority: String,
}

impl Object {
    pub fn locate(settings: &Settings, key: &str) -> Result<Object, Error> {
        check_key(key)?;
        let (scheme, rest) = settings.endpoint.split_once("://").ok_or_else(|| {
            Error::InvalidInput(format!("s3: endpoint {} has no scheme", settings.endpoint))
        })?;
        let (endpoint_authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let encoded = encode_key(key);
        let (authority, path) = if settings.path_style {
            (
                endpoint_authority.to_string(),
                format!("{prefix}/{}/{encoded}", settings.bucket),
            )
        } else {
            (
                format!("{}.{endpoint_authority}", settings.bucket),
                format!("{prefix}/{encoded}"),
            )
        };
        Ok(Object {
            bucket: settings.bucket.clone(),
            key: key.to_string(),
            url: format!("{scheme}://{authority}{path}"),
            authority,
        })
    }

    /// The object `<key><suffix>` beside this one (the sidecar checksum).
    pub fn sibling(&self, suffix: &str) -> Object {
        Object {
            bucket: self.bucket.clone(),
            key: format!("{}{suffix}", self.key),
            url: format!("{}{}", self.url, encode_key(suffix)),
            authority: self.authority.clone(),
        }
    }

    /// The host part of [`Object::authority`], without a port.
    pub fn host(&self) -> &str {
        match self.authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => &self.authority,
        }
    }
}

fn check_key(key: &str) -> Result<(), Error> {
    if key.starts_with('/') {
        return Err(Error::InvalidInput(format!(
            "s3: key {key:?} starts with '/': write key_template without the leading slash"
        )));
    }
    if key
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(Error::InvalidInput(format!(
            "s3: key {key:?} has a '.' or '..' segment, which HTTP clients collapse; check key_template and the plan name"
        )));
    }
    if key.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "s3: key {key:?} holds control characters"
        )));
    }
    Ok(())
}

fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{BUCKET, ENDPOINT, REGION, Settings};

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::parse(|key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    #[test]
    fn aws_objects_are_virtual_hosted_in_their_region() {
        let s = settings(&[(BUCKET, "chain-bins"), (REGION, "eu-west-1")]);
        let o = Object::locate(&s, "v2/linux-amd64.tar.gz").unwrap();
        assert_eq!(
            o.url,
            "https://chain-bins.s3.eu-west-1.amazonaws.com/v2/linux-amd64.tar.gz"
        );
        assert_eq!(o.authority, "chain-bins.s3.eu-west-1.amazonaws.com");
        assert_eq!(o.host(), "chain-bins.s3.eu-west-1.amazonaws.com");
    }

    #[test]
    fn custom_endpoints_are_path_style_and_keep_their_prefix_and_port() {
        let s = settings(&[(BUCKET, "bins"), (ENDPOINT, "http://127.0.0.1:9000/store/")]);
        let o = Object::locate(&s, "v2/appd").unwrap();
        assert_eq!(o.url, "http://127.0.0.1:9000/store/bins/v2/appd");
        assert_eq!(o.authority, "127.0.0.1:9000");
        assert_eq!(o.host(), "127.0.0.1");
        assert_eq!(
            o.sibling(".sha256").url,
            "http://127.0.0.1:9000/store/bins/v2/appd.sha256"
        );
        assert_eq!(o.sibling(".sha256").key, "v2/appd.sha256");
    }

    #[test]
    fn keys_are_encoded_like_sigv4_and_dot_segments_are_refused() {
        let s = settings(&[(BUCKET, "bins"), (ENDPOINT, "https://s3.example.com")]);
        let o = Object::locate(&s, "v2 final/app+d~x").unwrap();
        assert_eq!(o.url, "https://s3.example.com/bins/v2%20final/app%2Bd~x");
        for bad in ["/v2/appd", "v2/../appd", "./appd", "v2/\nappd"] {
            assert!(
                matches!(Object::locate(&s, bad), Err(Error::InvalidInput(_))),
                "{bad:?}"
            );
        }
    }
}
