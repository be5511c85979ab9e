//! GitHub's REST API as this plugin uses it: a release by tag, its assets, and
//! downloads of small files (checksum lists). The host's `http-request` never follows
//! redirects (so that every hop is checked against the grant), and GitHub answers
//! downloads with a redirect to its storage host, so redirects are followed here,
//! at most [`MAX_REDIRECTS`], each hop again through the host's checks.
//! Errors name the release and say what to do: a missing release, an exhausted rate
//! limit (with the time it resets), a refused token.

use serde::Deserialize;
use wasmvisor_plugin_sdk::host::{self, Method, Request, Response};
use wasmvisor_plugin_sdk::time::UtcTime;
use wasmvisor_plugin_sdk::types::{ArchiveKind, Artifact, Error, Platform};

pub const MAX_REDIRECTS: usize = 5;
const API_JSON: &str = "application/vnd.github+json";
const OCTET_STREAM: &str = "application/octet-stream";
const API_VERSION: &str = "2022-11-28";

#[derive(Debug, Deserialize)]
pub struct Release {
    #[serde(default)]
    pub tag_name: String,
    #[serde(default)]
    pub assets: Vec<Asset>,
}

#[derive(Debug, Deserialize)]
pub struct Asset {
    pub name: String,
    /// The API URL of the asset (downloads with `Accept: application/octet-stream`).
    #[serde(default)]
    pub url: String,
    pub browser_download_url: String,
    /// `sha256:<hex>`, set by GitHub for assets uploaded since mid-2025.
    #[serde(default)]
    pub digest: Option<String>,
}

/// `GET {api_base}/repos/{repo}/releases/tags/{tag}`.
pub fn release_by_tag(api_base: &str, repo: &str, tag: &str) -> Result<Release, Error> {
    let url = format!(
        "{api_base}/repos/{repo}/releases/tags/{}",
        encode_path_segment(tag)
    );
    let response = get(&url, API_JSON)?;
    match response.status {
        200..=299 => serde_json::from_slice(&response.body).map_err(|e| {
            Error::InvalidInput(format!(
                "github-releases: the answer of {url} is not a GitHub release: {e}"
            ))
        }),
        404 => Err(Error::Unavailable(format!(
            "github-releases: no release tagged {tag} in {repo} ({url} answered 404); check tag_template, \
             or give a token credential for the API host if the repository is private"
        ))),
        _ => Err(status_error(&url, &response)),
    }
}

/// The asset named `wanted`, or `wanted` plus an archive extension.
pub fn asset_named<'r>(release: &'r Release, wanted: &str, repo: &str) -> Result<&'r Asset, Error> {
    const EXTENSIONS: &[&str] = &["", ".tar.gz", ".tgz", ".zip", ".tar.xz", ".gz"];
    EXTENSIONS
        .iter()
        .find_map(|ext| {
            release
                .assets
                .iter()
                .find(|a| a.name.strip_suffix(ext) == Some(wanted))
        })
        .ok_or_else(|| {
            no_asset(
                release,
                repo,
                &format!("named {wanted} (or {wanted}.tar.gz, .tgz, .zip, .tar.xz, .gz)"),
            )
        })
}

/// Without `asset_template`: the one binary asset whose name holds `os-arch` or
/// `os_arch`; several candidates are an error (guessing could install the wrong one).
pub fn asset_for_platform<'r>(
    release: &'r Release,
    platform: &Platform,
    repo: &str,
) -> Result<&'r Asset, Error> {
    let needles = [
        format!("{}-{}", platform.os, platform.arch),
        format!("{}_{}", platform.os, platform.arch),
    ];
    let candidates: Vec<&Asset> = release
        .assets
        .iter()
        .filter(|a| {
            let name = a.name.to_ascii_lowercase();
            needles.iter().any(|n| name.contains(n.as_str()))
                && !crate::checksum::is_checksum_file(&name)
                && !name.ends_with(".sig")
                && !name.ends_with(".asc")
        })
        .collect();
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(no_asset(
            release,
            repo,
            &format!("for {}/{} (set asset_template)", platform.os, platform.arch),
        )),
        many => Err(Error::InvalidInput(format!(
            "github-releases: release {} in {repo} has several assets for {}/{}: {}; set asset_template to choose one",
            release.tag_name,
            platform.os,
            platform.arch,
            many.iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn no_asset(release: &Release, repo: &str, what: &str) -> Error {
    let names: Vec<&str> = release.assets.iter().map(|a| a.name.as_str()).collect();
    // Unavailable: a release is often created before CI has uploaded its assets.
    Error::Unavailable(format!(
        "github-releases: release {} in {repo} has no asset {what}; its assets are: {}",
        release.tag_name,
        if names.is_empty() {
            "none (yet)".to_string()
        } else {
            names.join(", ")
        }
    ))
}

/// The artifact of an asset of a private repository: its API URL with
/// `Accept: application/octet-stream`. GitHub answers with a redirect to a signed
/// storage URL; the host follows it, sending the token (its rule for the API host)
/// to the API only and these headers to the API's origin only. The archive kind
/// comes from the asset's name, as the API URL has no extension.
pub fn private_download(asset: &Asset, repo: &str) -> Result<Artifact, Error> {
    if asset.url.is_empty() {
        return Err(Error::InvalidInput(format!(
            "github-releases: asset {} of {repo} has no API `url` to download it from \
             (private = true needs one); is api_base a GitHub API?",
            asset.name
        )));
    }
    Ok(Artifact::new(asset.url.clone())
        .header("accept", OCTET_STREAM)
        .header("x-github-api-version", API_VERSION)
        .archive(archive_kind(&asset.name)))
}

/// The archive kind an asset's name announces; `auto` (the host looks at the
/// bytes) when it announces none.
pub fn archive_kind(name: &str) -> ArchiveKind {
    let name = name.to_ascii_lowercase();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        ArchiveKind::TarGz
    } else if name.ends_with(".tar.xz") {
        ArchiveKind::TarXz
    } else if name.ends_with(".zip") {
        ArchiveKind::Zip
    } else if name.ends_with(".gz") {
        ArchiveKind::Gzip
    } else {
        ArchiveKind::Auto
    }
}

/// The content of a small asset (a checksum list), through GitHub's redirect to its
/// storage host. Uses the API URL when there is one (works for private repositories:
/// the operator's token rule for the API host applies), else the browser URL.
pub fn download_small(asset: &Asset) -> Result<Vec<u8>, Error> {
    let (url, accept) = if asset.url.is_empty() {
        (asset.browser_download_url.as_str(), "*/*")
    } else {
        (asset.url.as_str(), OCTET_STREAM)
    };
    let response = get(url, accept)?;
    match response.status {
        200..=299 => Ok(response.body),
        _ => Err(status_error(url, &response)),
    }
}

/// GET with redirects followed (each hop checked by the host's grant).
fn get(start: &str, accept: &str) -> Result<Response, Error> {
    let mut url = start.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let response = host::http_request(&Request {
            method: Method::Get,
            url: url.clone(),
            headers: vec![
                ("accept".to_string(), accept.to_string()),
                ("x-github-api-version".to_string(), API_VERSION.to_string()),
            ],
            body: None,
        })
        .map_err(|e| with_context(e, &url, start))?;
        if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
            return Ok(response);
        }
        let location = header(&response, "location").ok_or_else(|| {
            Error::Unavailable(format!(
                "github-releases: {url} answered {} without a location",
                response.status
            ))
        })?;
        url = join_location(&url, location)?;
    }
    Err(Error::Unavailable(format!(
        "github-releases: {start} redirected more than {MAX_REDIRECTS} times"
    )))
}

/// Adds which URL (and from where it was reached) to a host refusal or network error.
fn with_context(e: Error, url: &str, start: &str) -> Error {
    let via = if url == start {
        String::new()
    } else {
        format!(" (redirected from {start})")
    };
    match e {
        Error::Denied(m) => Error::Denied(format!("github-releases: GET {url}{via}: {m}")),
        Error::Unavailable(m) => {
            Error::Unavailable(format!("github-releases: GET {url}{via}: {m}"))
        }
        other => other,
    }
}

/// Resolves a `location` header against the URL that answered it.
fn join_location(base: &str, location: &str) -> Result<String, Error> {
    let location = location.trim();
    if location.starts_with("https://") || location.starts_with("http://") {
        return Ok(location.to_string());
    }
    if location.starts_with('/') && !location.starts_with("//") {
        let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
        let origin_end = base[after_scheme..]
            .find('/')
            .map(|i| after_scheme + i)
            .unwrap_or(base.len());
        return Ok(format!("{}{location}", &base[..origin_end]));
    }
    Err(Error::Unavailable(format!(
        "github-releases: {base} redirected to {location:?}, which is not an http(s) URL or an absolute path"
    )))
}

fn header<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
    response
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A non-success answer as an error that says what to do.
fn status_error(url: &str, response: &Response) -> Error {
    let message = serde_json::from_slice::<ApiMessage>(&response.body)
        .map(|m| format!(": {}", m.message))
        .unwrap_or_default();
    let status = response.status;
    if matches!(status, 403 | 429) && header(response, "x-ratelimit-remaining") == Some("0") {
        let limit = header(response, "x-ratelimit-limit").unwrap_or("?");
        let reset = header(response, "x-ratelimit-reset")
            .and_then(|r| r.trim().parse::<u64>().ok())
            .map(|secs| format!("it resets at {}", utc(secs)))
            .unwrap_or_else(|| "no reset time was given".to_string());
        return Error::Unavailable(format!(
            "github-releases: GitHub API rate limit exhausted ({limit} requests per hour) at {url}; {reset}. \
             A token credential for the API host raises the limit"
        ));
    }
    if matches!(status, 403 | 429)
        && let Some(after) = header(response, "retry-after")
    {
        return Error::Unavailable(format!(
            "github-releases: {url} answered {status} (secondary rate limit){message}; retry after {after} s"
        ));
    }
    if status == 401 {
        return Error::Unavailable(format!(
            "github-releases: {url} refused the credential (401){message}; check the token of the credential rule for this host"
        ));
    }
    Error::Unavailable(format!("github-releases: {url} answered {status}{message}"))
}

#[derive(Deserialize)]
struct ApiMessage {
    message: String,
}

/// A tag in a URL path: `release/v1` must stay one segment.
fn encode_path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(secs: u64) -> String {
    let t = UtcTime::from_unix_ms(secs.saturating_mul(1000));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(name: &str, url: &str) -> Asset {
        Asset {
            name: name.to_string(),
            url: url.to_string(),
            browser_download_url: format!("https://github.com/o/r/releases/download/v1/{name}"),
            digest: None,
        }
    }

    #[test]
    fn a_private_download_is_the_api_url_asking_for_the_bytes() {
        let a = asset(
            "chaind-linux-amd64.tar.gz",
            "https://api.github.com/repos/o/r/releases/assets/7",
        );
        let artifact = private_download(&a, "o/r").unwrap();
        assert_eq!(artifact.url, a.url);
        assert!(
            artifact
                .headers
                .contains(&("accept".to_string(), OCTET_STREAM.to_string()))
        );
        assert!(
            !artifact
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("authorization")),
            "the token is the host's business"
        );
        assert_eq!(artifact.archive, ArchiveKind::TarGz);
        assert!(matches!(
            private_download(&asset("x", ""), "o/r"),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn the_archive_kind_follows_the_asset_name() {
        for (name, kind) in [
            ("a.tar.gz", ArchiveKind::TarGz),
            ("a.TGZ", ArchiveKind::TarGz),
            ("a.tar.xz", ArchiveKind::TarXz),
            ("a.zip", ArchiveKind::Zip),
            ("a.gz", ArchiveKind::Gzip),
            ("chaind-linux-amd64", ArchiveKind::Auto),
        ] {
            assert_eq!(archive_kind(name), kind, "{name}");
        }
    }
}
