//! Bundled resolver `manifest-url`: cosmovisor's plan `info` formats, so a chain
//! whose upgrade plans were written for cosmovisor upgrades with no configuration.
//! The host loads it by default, as the last resolver, when
//! `DAEMON_ALLOW_DOWNLOAD_BINARIES=true`.
//!
//! The info is inline `{"binaries":{"<os>/<arch>":"<url>",…,"any":"<url>"}}` or an
//! http(s) URL to such a document. Each URL may carry `?checksum=<type>:<hex>`
//! (and go-getter's `?archive=`), which become the artifact's checksum and kind.
//! With `DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM` on (the host passes it as the config
//! value `must-have-checksum`), every URL — the info URL and the chosen binary URL —
//! must carry a checksum. The host fetches nothing for this plugin that the plan
//! does not name: the manifest asks only for `{plan-info}`, the hosts of the URLs
//! in the plan's `info`, granted for the duration of one `resolve` call.

mod info;
mod link;
mod verify;

use wasmvisor_plugin_sdk::host;
use wasmvisor_plugin_sdk::resolver::Resolver;
use wasmvisor_plugin_sdk::types::*;

use info::Info;

/// Config key the host fills from `DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM`.
const MUST_HAVE_CHECKSUM: &str = "must-have-checksum";
/// Dynamic grant: the hosts of the URLs in the plan's `info`, for one call.
const PLAN_INFO_HOSTS: &str = "{plan-info}";

struct ManifestUrl;

impl Resolver for ManifestUrl {
    fn describe() -> Manifest {
        Manifest::new(
            "manifest-url",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Resolver,
        )
        .description(
            "cosmovisor's plan info: inline {\"binaries\":{\"os/arch\":url}} or a URL to it",
        )
        .http_hosts(&[PLAN_INFO_HOSTS])
        .config_keys(&[MUST_HAVE_CHECKSUM])
    }

    fn resolve(plan: Plan, platform: Platform) -> Result<Vec<Artifact>, Error> {
        let must_have_checksum = host::config_get(MUST_HAVE_CHECKSUM)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let (document, source) = match info::classify(&plan.info)? {
            Info::Blank => {
                return Err(Error::NotApplicable(format!(
                    "plan {} has no download information (its info is empty)",
                    plan.name
                )));
            }
            Info::Document(d) => (d, "the plan".to_string()),
            Info::Url(url) => (fetch_document(&url, must_have_checksum)?, url),
        };
        let raw = info::pick(&document, &platform, &source)?;
        let artifact = artifact_from(&raw, must_have_checksum, &source)?;
        Ok(vec![artifact])
    }
}

/// GETs the info document (checksum stripped from the request), verifies it when
/// its URL carries a checksum, and parses it.
fn fetch_document(url: &str, must_have_checksum: bool) -> Result<serde_json::Value, Error> {
    let link = link::parse(url)
        .map_err(|e| Error::InvalidInput(format!("the plan info URL is not usable: {e}")))?;
    if must_have_checksum && link.checksum.is_none() {
        return Err(Error::InvalidInput(format!(
            "DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM is on and the plan info URL {url} has no checksum; \
             add ?checksum=sha256:<hex> to it in the plan, or turn the setting off"
        )));
    }
    let body = host::http_get(&link.url)?;
    if let Some(expected) = &link.checksum {
        verify::verify(&body, expected).map_err(|actual| {
            Error::InvalidInput(format!(
                "the plan info document at {} does not match its checksum: expected {}:{}, got {}:{actual}",
                link.url,
                link::algorithm_name(expected.algorithm),
                expected.hex,
                link::algorithm_name(expected.algorithm),
            ))
        })?;
    }
    info::parse_document(&body, &link.url)
}

/// The artifact for one binary URL of the document.
fn artifact_from(raw: &str, must_have_checksum: bool, source: &str) -> Result<Artifact, Error> {
    let link = link::parse(raw).map_err(|e| {
        Error::InvalidInput(format!(
            "the plan info from {source} has a bad binary URL: {e}"
        ))
    })?;
    if must_have_checksum && link.checksum.is_none() {
        return Err(Error::InvalidInput(format!(
            "DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM is on and the binary URL {raw} has no checksum; \
             add ?checksum=sha256:<hex> to it in the plan info, or turn the setting off"
        )));
    }
    Ok(Artifact {
        url: link.url,
        checksum: link.checksum,
        archive: link.archive,
        path_in_archive: None,
        headers: Vec::new(),
    })
}

wasmvisor_plugin_sdk::export_resolver!(ManifestUrl);

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn a_binary_url_becomes_an_artifact_with_its_checksum() {
        let a = artifact_from(
            &format!("https://dl.example.com/appd.tar.gz?checksum=sha256:{SHA}"),
            false,
            "the plan",
        )
        .unwrap();
        assert_eq!(a.url, "https://dl.example.com/appd.tar.gz");
        assert_eq!(a.checksum.unwrap().hex, SHA);
        assert_eq!(a.archive, ArchiveKind::Auto);
    }

    #[test]
    fn must_have_checksum_refuses_a_binary_url_without_one_naming_it() {
        match artifact_from("https://dl.example.com/appd", true, "the plan") {
            Err(Error::InvalidInput(m)) => {
                assert!(m.contains("https://dl.example.com/appd"), "{m}");
                assert!(m.contains("checksum"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert!(artifact_from("https://dl.example.com/appd", false, "the plan").is_ok());
    }

    #[test]
    fn must_have_checksum_refuses_an_info_url_without_one_before_fetching() {
        // Returns before any host call (which would abort natively).
        match fetch_document("https://dl.example.com/plan.json", true) {
            Err(Error::InvalidInput(m)) => assert!(m.contains("plan.json"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_manifest_asks_only_for_the_plan_info_hosts() {
        let m = ManifestUrl::describe();
        assert_eq!(m.http_hosts, vec![PLAN_INFO_HOSTS.to_string()]);
        assert_eq!(m.config_keys, vec![MUST_HAVE_CHECKSUM.to_string()]);
        assert!(m.files.is_empty());
    }
}
