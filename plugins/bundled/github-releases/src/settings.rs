//! The operator's settings (`[plugins.github-releases.config]`), read and checked
//! once per call so a bad value is one clear error before any request is made.

use wasmvisor_plugin_sdk::host::config_get;
use wasmvisor_plugin_sdk::types::Error;

pub const REPO: &str = "repo";
pub const TAG_TEMPLATE: &str = "tag_template";
pub const ASSET_TEMPLATE: &str = "asset_template";
pub const API_BASE: &str = "api_base";
pub const ALLOW_MISSING_CHECKSUM: &str = "allow_missing_checksum";
pub const PRIVATE: &str = "private";
/// Set by the host (not the operator's table) from `DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM`.
pub const MUST_HAVE_CHECKSUM: &str = "must-have-checksum";

/// Every key this plugin reads (declared in its manifest).
pub const KEYS: &[&str] = &[
    REPO,
    TAG_TEMPLATE,
    ASSET_TEMPLATE,
    API_BASE,
    ALLOW_MISSING_CHECKSUM,
    PRIVATE,
    MUST_HAVE_CHECKSUM,
];

pub struct Settings {
    /// `owner/name`.
    pub repo: String,
    pub tag_template: String,
    /// None = pick the one asset whose name holds `{os}-{arch}` or `{os}_{arch}`.
    pub asset_template: Option<String>,
    /// Without a trailing slash.
    pub api_base: String,
    pub allow_missing_checksum: bool,
    /// Download through the API asset URL (`Accept: application/octet-stream`), which
    /// the host's token rule for the API host authorizes, instead of
    /// `browser_download_url`, which GitHub serves only to browsers for private
    /// repositories.
    pub private: bool,
    /// The supervisor refuses unverified downloads: `allow_missing_checksum` cannot
    /// override that, and saying so here is clearer than the installer's refusal.
    pub must_have_checksum: bool,
}

impl Settings {
    pub fn read() -> Result<Settings, Error> {
        let repo = config_get(REPO).map(|r| r.trim().to_string()).ok_or_else(|| {
            bad("repo is not set: give the repository as \"owner/name\" in [plugins.github-releases.config]")
        })?;
        check_repo(&repo)?;
        let api_base = config_get(API_BASE)
            .map(|b| b.trim().trim_end_matches('/').to_string())
            .unwrap_or_else(|| "https://api.github.com".to_string());
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            return Err(bad(&format!(
                "api_base {api_base:?} is not an http(s) URL (GitHub Enterprise: \"https://<host>/api/v3\")"
            )));
        }
        Ok(Settings {
            repo,
            tag_template: config_get(TAG_TEMPLATE).unwrap_or_else(|| "{name}".to_string()),
            asset_template: config_get(ASSET_TEMPLATE).filter(|t| !t.trim().is_empty()),
            api_base,
            allow_missing_checksum: flag(ALLOW_MISSING_CHECKSUM)?,
            private: flag(PRIVATE)?,
            must_have_checksum: flag(MUST_HAVE_CHECKSUM)?,
        })
    }
}

fn check_repo(repo: &str) -> Result<(), Error> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match repo.split_once('/') {
        Some((owner, name)) if ok_part(owner) && ok_part(name) => Ok(()),
        _ => Err(bad(&format!(
            "repo {repo:?} is not \"owner/name\" (e.g. \"cosmos/gaia\")"
        ))),
    }
}

fn flag(key: &str) -> Result<bool, Error> {
    match config_get(key).as_deref().map(str::trim) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(bad(&format!("{key} = {other:?}: expected true or false"))),
    }
}

fn bad(message: &str) -> Error {
    Error::InvalidInput(format!("github-releases: {message}"))
}
