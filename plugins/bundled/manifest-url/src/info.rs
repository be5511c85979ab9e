//! cosmovisor's plan `info` formats, as pure functions (no host calls, so they are
//! tested natively): blank (nothing to download), inline JSON
//! `{"binaries":{"linux/amd64":"<url>",…,"any":"<url>"}}`, or an http(s) URL to
//! such a document. Keys are Go's `GOOS/GOARCH`; `any` is the fallback.

use serde_json::Value;
use wasmvisor_plugin_sdk::types::{Error, Platform};

/// What a plan's `info` holds.
#[derive(Debug)]
pub enum Info {
    /// Empty or blank: the plan says nothing about downloads.
    Blank,
    /// Inline JSON.
    Document(Value),
    /// A URL to the JSON document (may carry `?checksum=`).
    Url(String),
}

/// Reads the (trimmed) plan info. Text that is neither JSON nor an http(s) URL is
/// `not-applicable`: another resolver may understand it.
pub fn classify(info: &str) -> Result<Info, Error> {
    let info = info.trim();
    if info.is_empty() {
        return Ok(Info::Blank);
    }
    if info.starts_with('{') {
        return serde_json::from_str(info).map(Info::Document).map_err(|e| {
            Error::InvalidInput(format!(
                "the plan info looks like JSON but is not valid JSON ({e}); expected {{\"binaries\":{{\"linux/amd64\":\"https://…\"}}}}"
            ))
        });
    }
    if crate::link::is_http_url(info) {
        return Ok(Info::Url(info.to_string()));
    }
    Err(Error::NotApplicable(format!(
        "the plan info is neither JSON nor an http(s) URL: {:?}",
        shorten(info)
    )))
}

/// Parses a fetched document: `source` names it in errors.
pub fn parse_document(body: &[u8], source: &str) -> Result<Value, Error> {
    serde_json::from_slice(body).map_err(|e| {
        Error::InvalidInput(format!(
            "the plan info URL {source} did not return JSON ({e}); it must point to a document like {{\"binaries\":{{\"linux/amd64\":\"https://…\"}}}}, not to the binary itself"
        ))
    })
}

/// The download URL for `platform` (`os/arch`, else `any`), as written in the document.
pub fn pick(document: &Value, platform: &Platform, source: &str) -> Result<String, Error> {
    let binaries = document
        .get("binaries")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "the plan info from {source} has no \"binaries\" object; expected {{\"binaries\":{{\"{}/{}\":\"https://…\"}}}}",
                platform.os, platform.arch
            ))
        })?;
    let wanted = format!("{}/{}", platform.os, platform.arch);
    let found = binaries
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&wanted))
        .or_else(|| binaries.iter().find(|(k, _)| k.eq_ignore_ascii_case("any")));
    let Some((key, value)) = found else {
        let mut keys: Vec<&str> = binaries.keys().map(String::as_str).collect();
        keys.sort_unstable();
        return Err(Error::InvalidInput(format!(
            "the plan info from {source} has no binary for {wanted} and no \"any\" fallback (keys present: {})",
            if keys.is_empty() {
                "none".to_string()
            } else {
                keys.join(", ")
            }
        )));
    };
    match value.as_str() {
        Some(url) if !url.trim().is_empty() => Ok(url.trim().to_string()),
        _ => Err(Error::InvalidInput(format!(
            "the plan info from {source}: \"binaries\".{key:?} must be a URL string, not {value}"
        ))),
    }
}

/// At most 120 characters of `text`, for error messages.
pub fn shorten(text: &str) -> String {
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(os: &str, arch: &str) -> Platform {
        Platform {
            os: os.into(),
            arch: arch.into(),
        }
    }

    fn doc(text: &str) -> Value {
        match classify(text).unwrap() {
            Info::Document(v) => v,
            other => panic!("not a document: {other:?}"),
        }
    }

    #[test]
    fn blank_info_is_blank() {
        assert!(matches!(classify("  \n\t").unwrap(), Info::Blank));
    }

    #[test]
    fn a_trimmed_url_is_a_url() {
        match classify("  https://dl.example.com/plan.json?checksum=x \n").unwrap() {
            Info::Url(u) => assert_eq!(u, "https://dl.example.com/plan.json?checksum=x"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn free_text_is_not_applicable() {
        assert!(matches!(
            classify("see the forum post"),
            Err(Error::NotApplicable(_))
        ));
    }

    #[test]
    fn broken_json_is_invalid_input() {
        assert!(matches!(
            classify("{\"binaries\":"),
            Err(Error::InvalidInput(m)) if m.contains("not valid JSON")
        ));
    }

    #[test]
    fn the_platform_key_wins_over_any() {
        let d = doc(r#"{"binaries":{"linux/amd64":"https://a/amd","any":"https://a/any"}}"#);
        assert_eq!(
            pick(&d, &platform("linux", "amd64"), "x").unwrap(),
            "https://a/amd"
        );
        assert_eq!(
            pick(&d, &platform("linux", "arm64"), "x").unwrap(),
            "https://a/any"
        );
    }

    #[test]
    fn a_missing_platform_lists_the_keys_present() {
        let d = doc(r#"{"binaries":{"linux/arm64":"https://a","darwin/arm64":"https://b"}}"#);
        match pick(&d, &platform("linux", "amd64"), "the plan") {
            Err(Error::InvalidInput(m)) => {
                assert!(m.contains("linux/amd64"), "{m}");
                assert!(m.contains("darwin/arm64, linux/arm64"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_document_without_binaries_is_invalid() {
        let d = doc(r#"{"binary":"https://a"}"#);
        assert!(matches!(
            pick(&d, &platform("linux", "amd64"), "x"),
            Err(Error::InvalidInput(m)) if m.contains("\"binaries\"")
        ));
    }

    #[test]
    fn a_non_string_url_is_invalid() {
        let d = doc(r#"{"binaries":{"any":42}}"#);
        assert!(pick(&d, &platform("linux", "amd64"), "x").is_err());
    }

    #[test]
    fn a_fetched_body_that_is_not_json_says_so() {
        let e = parse_document(b"\x7fELF\x02\x01", "https://x/plan").unwrap_err();
        assert!(matches!(e, Error::InvalidInput(m) if m.contains("did not return JSON")));
    }
}
