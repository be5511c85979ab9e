//! The bundled `github-releases` resolver, loaded from the real component embedded
//! in `wasmvisor`, against a loopback server that answers like GitHub's REST API:
//! a release by tag (with or without GitHub's `digest` field), checksum lists
//! reached through a redirect to a second "storage" server, 404, an exhausted rate
//! limit with its headers, a release without the wanted asset, and the host's
//! credential rules (the token is added by the host, never by the plugin). A
//! private repository (`private = true`): the binary comes through the API asset
//! URL with `Accept: application/octet-stream` and the token, and the redirected
//! download to the storage host carries neither.

mod common;

use common::Home;
use std::sync::{Arc, Mutex};

use sha2::Digest;
use wasmvisor::install::Artifact;
use wasmvisor::plugin::{Platform, PluginError, PluginHost, PluginsConfig, ReportedError};
use wasmvisor::upgrade_info::Plan;
use wasmvisor_e2e::api::{ApiServer as Server, Reply};

/// GitHub's answer to a path it does not know.
fn not_found() -> Reply {
    Reply::json(
        404,
        serde_json::json!({"message": "Not Found", "status": "404"}),
    )
}

/// Where a server listens, to build its URLs inside another server's route.
#[derive(Clone, Copy)]
struct Origin(u16);

impl Origin {
    fn of(server: &Server) -> Origin {
        Origin(server.port())
    }

    fn url(self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.0)
    }
}

const REPO: &str = "acme/chain";
const RELEASE_PATH: &str = "/repos/acme/chain/releases/tags/v2.0.1";

/// A release the way GitHub's API returns it (the fields this plugin reads and a
/// few it does not).
fn release(tag: &str, assets: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({
        "url": format!("https://api.github.com/repos/{REPO}/releases/1"),
        "id": 1,
        "tag_name": tag,
        "name": tag,
        "draft": false,
        "prerelease": false,
        "assets": assets,
    })
}

/// An asset entry; `digest` None = an older asset without GitHub's digest.
fn asset(api: Origin, dl: Origin, id: u32, name: &str, digest: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "url": api.url(&format!("/repos/{REPO}/releases/assets/{id}")),
        "id": id,
        "name": name,
        "content_type": "application/octet-stream",
        "state": "uploaded",
        "size": 1234,
        "digest": digest,
        "browser_download_url": dl.url(&format!("/{REPO}/releases/download/v2.0.1/{name}")),
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

trait GithubHome {
    fn host(&self, api: &Server, config: &str, extra: &str) -> PluginHost;
    fn load(&self, config: PluginsConfig) -> PluginHost;
}

impl GithubHome for Home {
    /// A host with the bundled plugin granted loopback, configured by `config`
    /// (lines of `[plugins.github-releases.config]`) plus `extra` TOML.
    fn host(&self, api: &Server, config: &str, extra: &str) -> PluginHost {
        self.load(settings(
            api,
            &format!("repo = \"{REPO}\"\n{config}"),
            extra,
        ))
    }

    fn load(&self, config: PluginsConfig) -> PluginHost {
        self.load_plugins(config, &[]).unwrap()
    }
}

/// The `[plugins]` configuration: the plugin, loopback granted, `api_base` = `api`.
fn settings(api: &Server, config: &str, extra: &str) -> PluginsConfig {
    let text = format!(
        "[plugins.github-releases]\nbundled = \"github-releases\"\nhosts = [\"127.0.0.1\"]\n\
         [plugins.github-releases.config]\napi_base = \"{}\"\n{config}\n{extra}",
        api.url("")
    );
    let doc: toml::Table = toml::from_str(&text).unwrap();
    PluginsConfig::from_table(doc["plugins"].as_table().unwrap()).unwrap()
}

fn plan(name: &str) -> Plan {
    Plan {
        name: name.into(),
        height: 100,
        info: String::new(),
    }
}

fn linux_amd64() -> Platform {
    Platform {
        os: "linux".into(),
        arch: "amd64".into(),
    }
}

async fn resolve(host: &PluginHost, name: &str) -> Result<Vec<Artifact>, PluginError> {
    host.plugins()[0].resolve(&plan(name), &linux_amd64()).await
}

/// The plugin's own error (panics on any other outcome).
fn reported(result: Result<Vec<Artifact>, PluginError>) -> ReportedError {
    match result {
        Err(PluginError::Reported { error, .. }) => error,
        other => panic!("expected an error reported by the plugin, got {other:?}"),
    }
}

const TEMPLATE: &str = "asset_template = \"chaind-{version}-{os}-{arch}\"";

/// A fake GitHub: `api` answers the release at [`RELEASE_PATH`] with `assets(api, dl)`;
/// every other API path is a 404. `dl` (the download host) is started by the caller.
fn api_with(
    dl: &Server,
    assets: impl Fn(Origin, Origin) -> Vec<serde_json::Value> + Send + Sync + 'static,
) -> Server {
    // The asset URLs name the API server itself: learn its port through a cell.
    let port = Arc::new(Mutex::new(0u16));
    let cell = port.clone();
    let dl = Origin::of(dl);
    let api = Server::start(move |req| {
        let me = Origin(*cell.lock().unwrap());
        if req.path == RELEASE_PATH {
            Reply::json(200, release("v2.0.1", assets(me, dl)))
        } else if let Some(id) = req
            .path
            .strip_prefix(&format!("/repos/{REPO}/releases/assets/"))
        {
            // GitHub answers an asset download with a redirect to its storage host.
            Reply::redirect(&dl.url(&format!("/storage/{id}?token=signed")))
        } else {
            not_found()
        }
    });
    *port.lock().unwrap() = api.port();
    api
}

#[tokio::test]
async fn the_digest_field_of_the_matching_asset_is_the_checksum() {
    let dl = Server::start(|_| not_found());
    let digest = "ab".repeat(32);
    let d = digest.clone();
    let api = api_with(&dl, move |api, dl| {
        vec![
            asset(
                api,
                dl,
                1,
                "chaind-2.0.1-darwin-arm64.tar.gz",
                Some(&format!("sha256:{}", "cd".repeat(32))),
            ),
            asset(
                api,
                dl,
                2,
                "chaind-2.0.1-linux-amd64.tar.gz",
                Some(&format!("sha256:{d}")),
            ),
            asset(api, dl, 3, "chaind-2.0.1-linux-amd64.tar.gz.sig", None),
        ]
    });
    let home = Home::new();
    let host = home.host(&api, TEMPLATE, "");
    let artifacts = resolve(&host, "v2.0.1").await.unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_eq!(
        artifacts[0].url,
        dl.url("/acme/chain/releases/download/v2.0.1/chaind-2.0.1-linux-amd64.tar.gz")
    );
    let checksum = artifacts[0].checksum.as_ref().expect("a checksum");
    assert_eq!(checksum.hex(), digest);
    assert_eq!(artifacts[0].archive, wasmvisor::install::ArchiveKind::Auto);

    let seen = api.seen();
    assert_eq!(seen.len(), 1, "one API call: {seen:?}");
    assert_eq!(seen[0].path, RELEASE_PATH);
    assert_eq!(
        seen[0].header("accept"),
        Some("application/vnd.github+json")
    );
    assert!(dl.seen().is_empty(), "nothing is downloaded by the plugin");
}

#[tokio::test]
async fn a_sha256sums_asset_is_fetched_through_the_redirect_to_the_storage_host() {
    let tarball_sum = sha256_hex(b"the tarball");
    let sums = format!(
        "{}  chaind-2.0.1-darwin-arm64.tar.gz\n{tarball_sum} *chaind-2.0.1-linux-amd64.tar.gz\n",
        "cd".repeat(32)
    );
    let dl = Server::start(move |req| {
        if req.path == "/storage/9?token=signed" {
            Reply::bytes(sums.clone().into_bytes())
        } else {
            not_found()
        }
    });
    let api = api_with(&dl, |api, dl| {
        vec![
            asset(api, dl, 1, "chaind-2.0.1-darwin-arm64.tar.gz", None),
            asset(api, dl, 2, "chaind-2.0.1-linux-amd64.tar.gz", None),
            asset(api, dl, 9, "SHA256SUMS", None),
        ]
    });
    let home = Home::new();
    let host = home.host(&api, TEMPLATE, "");
    let artifacts = resolve(&host, "v2.0.1").await.unwrap();
    assert_eq!(artifacts[0].checksum.as_ref().unwrap().hex(), tarball_sum);

    let api_seen = api.seen();
    let asset_request = api_seen
        .iter()
        .find(|s| s.path.ends_with("/releases/assets/9"))
        .expect("the checksum list is fetched through the API asset URL");
    assert_eq!(
        asset_request.header("accept"),
        Some("application/octet-stream")
    );
    let dl_seen = dl.seen();
    assert_eq!(dl_seen.len(), 1, "{dl_seen:?}");
    assert_eq!(
        dl_seen[0].path, "/storage/9?token=signed",
        "the redirect was followed"
    );
}

#[tokio::test]
async fn an_asset_sha256_file_gives_the_checksum() {
    let sum = sha256_hex(b"raw binary");
    let body = format!("{sum}\n");
    let dl = Server::start(move |req| {
        if req.path.starts_with("/storage/3") {
            Reply::bytes(body.clone().into_bytes())
        } else {
            not_found()
        }
    });
    let api = api_with(&dl, |api, dl| {
        vec![
            asset(api, dl, 2, "chaind-2.0.1-linux-amd64", None),
            asset(api, dl, 3, "chaind-2.0.1-linux-amd64.sha256", None),
        ]
    });
    let home = Home::new();
    let host = home.host(&api, TEMPLATE, "");
    let artifacts = resolve(&host, "v2.0.1").await.unwrap();
    assert!(artifacts[0].url.ends_with("/chaind-2.0.1-linux-amd64"));
    assert_eq!(artifacts[0].checksum.as_ref().unwrap().hex(), sum);
}

#[tokio::test]
async fn a_missing_release_is_unavailable_and_names_the_tag_and_repository() {
    let dl = Server::start(|_| not_found());
    let api = api_with(&dl, |_, _| Vec::new());
    let home = Home::new();
    let host = home.host(&api, TEMPLATE, "");
    let err = reported(resolve(&host, "v9.9.9").await);
    let ReportedError::Unavailable(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("no release tagged v9.9.9 in acme/chain"),
        "{message}"
    );
    assert_eq!(api.seen()[0].path, "/repos/acme/chain/releases/tags/v9.9.9");
}

#[tokio::test]
async fn the_tag_template_derives_the_tag_from_the_plan_name() {
    let dl = Server::start(|_| not_found());
    let api = api_with(&dl, |_, _| Vec::new());
    let home = Home::new();
    let host = home.host(&api, "tag_template = \"release/{version}\"", "");
    let _ = resolve(&host, "v3.1.0").await;
    assert_eq!(
        api.seen()[0].path,
        "/repos/acme/chain/releases/tags/release%2F3.1.0",
        "the tag is one path segment"
    );
}

#[tokio::test]
async fn an_exhausted_rate_limit_names_the_reset_time() {
    let api = Server::start(|_| {
        Reply {
        status: 403,
        headers: vec![
            ("x-ratelimit-limit".into(), "60".into()),
            ("x-ratelimit-remaining".into(), "0".into()),
            ("x-ratelimit-used".into(), "60".into()),
            ("x-ratelimit-reset".into(), "1893456000".into()),
            ("content-type".into(), "application/json".into()),
        ],
        body: br#"{"message":"API rate limit exceeded for 127.0.0.1.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}"#.to_vec(),
    }
    });
    let home = Home::new();
    let host = home.host(&api, TEMPLATE, "");
    let err = reported(resolve(&host, "v2.0.1").await);
    let ReportedError::Unavailable(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("rate limit exhausted (60 requests"),
        "{message}"
    );
    assert!(message.contains("2030-01-01 00:00:00 UTC"), "{message}");
    assert!(message.contains("token"), "says what to do: {message}");
}

#[tokio::test]
async fn a_release_without_the_wanted_asset_lists_the_assets_it_has() {
    let dl = Server::start(|_| not_found());
    let api = api_with(&dl, |api, dl| {
        vec![
            asset(
                api,
                dl,
                1,
                "chaind-2.0.1-darwin-arm64.tar.gz",
                Some(&format!("sha256:{}", "cd".repeat(32))),
            ),
            asset(api, dl, 9, "SHA256SUMS", None),
        ]
    });
    let home = Home::new();
    let host = home.host(&api, TEMPLATE, "");
    let err = reported(resolve(&host, "v2.0.1").await);
    let message = err.to_string();
    assert!(
        message.contains("no asset named chaind-2.0.1-linux-amd64"),
        "{message}"
    );
    assert!(
        message.contains("chaind-2.0.1-darwin-arm64.tar.gz, SHA256SUMS"),
        "{message}"
    );
}

#[tokio::test]
async fn without_a_template_the_one_asset_for_the_platform_is_picked() {
    let dl = Server::start(|_| not_found());
    let digest = "ef".repeat(32);
    let d = digest.clone();
    let api = api_with(&dl, move |api, dl| {
        vec![
            asset(
                api,
                dl,
                1,
                "chaind_darwin_arm64.zip",
                Some(&format!("sha256:{}", "cd".repeat(32))),
            ),
            asset(
                api,
                dl,
                2,
                "chaind_linux_amd64.zip",
                Some(&format!("sha256:{d}")),
            ),
            asset(api, dl, 9, "chaind_2.0.1_checksums.txt", None),
        ]
    });
    let home = Home::new();
    let host = home.host(&api, "", "");
    let artifacts = resolve(&host, "v2.0.1").await.unwrap();
    assert!(
        artifacts[0].url.ends_with("/chaind_linux_amd64.zip"),
        "{}",
        artifacts[0].url
    );
    assert_eq!(artifacts[0].checksum.as_ref().unwrap().hex(), digest);
}

fn unchecked_assets(api: Origin, dl: Origin) -> Vec<serde_json::Value> {
    vec![asset(api, dl, 2, "chaind-2.0.1-linux-amd64.tar.gz", None)]
}

#[tokio::test]
async fn an_asset_without_a_checksum_is_refused_unless_allowed() {
    let dl = Server::start(|_| not_found());
    let api = api_with(&dl, unchecked_assets);
    let home = Home::new();

    let refused = reported(resolve(&home.host(&api, TEMPLATE, ""), "v2.0.1").await);
    let ReportedError::InvalidInput(message) = &refused else {
        panic!("{refused:?}")
    };
    assert!(message.contains("has no checksum"), "{message}");
    assert!(
        message.contains("allow_missing_checksum = true"),
        "{message}"
    );

    let allowed = home.host(
        &api,
        &format!("{TEMPLATE}\nallow_missing_checksum = true"),
        "",
    );
    let artifacts = resolve(&allowed, "v2.0.1").await.unwrap();
    assert!(artifacts[0].checksum.is_none());
    assert!(
        artifacts[0]
            .url
            .ends_with("/chaind-2.0.1-linux-amd64.tar.gz")
    );
}

#[tokio::test]
async fn the_supervisors_must_have_checksum_overrides_allow_missing_checksum() {
    let dl = Server::start(|_| not_found());
    let api = api_with(&dl, unchecked_assets);
    let home = Home::new();
    let mut config = settings(
        &api,
        &format!("repo = \"{REPO}\"\n{TEMPLATE}\nallow_missing_checksum = true"),
        "",
    );
    // What the supervisor passes when DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM is on.
    config
        .host_config
        .insert("must-have-checksum".into(), "true".into());
    let err = reported(resolve(&home.load(config), "v2.0.1").await);
    let ReportedError::InvalidInput(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM"),
        "{message}"
    );
}

#[tokio::test]
async fn a_checksum_file_that_cannot_be_fetched_is_an_error_not_a_missing_checksum() {
    let dl = Server::start(|_| Reply {
        status: 500,
        headers: Vec::new(),
        body: b"storage down".to_vec(),
    });
    let api = api_with(&dl, |api, dl| {
        vec![
            asset(api, dl, 2, "chaind-2.0.1-linux-amd64.tar.gz", None),
            asset(api, dl, 9, "SHA256SUMS", None),
        ]
    });
    let home = Home::new();
    let host = home.host(
        &api,
        &format!("{TEMPLATE}\nallow_missing_checksum = true"),
        "",
    );
    let err = reported(resolve(&host, "v2.0.1").await);
    let ReportedError::Unavailable(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("SHA256SUMS") && message.contains("500"),
        "{message}"
    );
}

#[tokio::test]
async fn a_redirect_to_a_host_that_is_not_granted_is_refused_by_the_host() {
    let api = Server::start(|req| {
        if req.path == RELEASE_PATH {
            // `localhost` is not declared by the plugin: the host must refuse it.
            Reply::redirect("http://localhost:9/elsewhere")
        } else {
            not_found()
        }
    });
    let home = Home::new();
    let host = home.host(&api, TEMPLATE, "");
    let err = reported(resolve(&host, "v2.0.1").await);
    let ReportedError::Denied(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("localhost") && message.contains("redirected from"),
        "{message}"
    );
}

#[tokio::test]
async fn endless_redirects_stop_after_five() {
    let api = Server::start(|req| Reply::redirect(&format!("{}x", req.path)));
    let home = Home::new();
    let host = home.host(&api, TEMPLATE, "");
    let err = reported(resolve(&host, "v2.0.1").await);
    assert!(err.to_string().contains("more than 5 times"), "{err}");
    assert_eq!(api.seen().len(), 6, "the first request and five redirects");
}

#[tokio::test]
async fn bad_settings_are_one_clear_error_before_any_request() {
    let api = Server::start(|_| not_found());
    let home = Home::new();
    for (config, expected) in [
        (
            "asset_template = \"chaind-{ver}\"",
            "unknown placeholder {ver}",
        ),
        ("allow_missing_checksum = \"yes\"", "expected true or false"),
        ("tag_template = \"{name\"", "unclosed"),
    ] {
        let err = reported(resolve(&home.host(&api, config, ""), "v2.0.1").await);
        assert!(
            matches!(err, ReportedError::InvalidInput(_)) && err.to_string().contains(expected),
            "{config}: {err}"
        );
    }
    // `repo` missing, then not owner/name.
    let host = home.load(settings(&api, "", ""));
    let err = reported(resolve(&host, "v2.0.1").await);
    assert!(err.to_string().contains("repo is not set"), "{err}");
    let host = home.load(settings(&api, "repo = \"acme\"", ""));
    let err = reported(resolve(&host, "v2.0.1").await);
    assert!(err.to_string().contains("not \"owner/name\""), "{err}");
    assert!(api.seen().is_empty(), "no request with a bad setting");
}

#[tokio::test]
async fn the_token_is_added_by_the_host_for_the_api_host_only() {
    const TOKEN: &str = "ghp_test_token_0123456789";
    // SAFETY of the test: a variable only this test uses.
    unsafe { std::env::set_var("WASMVISOR_TEST_GITHUB_TOKEN", TOKEN) };
    let sums = format!("{}  chaind-2.0.1-linux-amd64.tar.gz\n", "12".repeat(32));
    let dl = Server::start(move |_| Reply::bytes(sums.clone().into_bytes()));
    let api = api_with(&dl, |api, dl| {
        vec![
            asset(api, dl, 2, "chaind-2.0.1-linux-amd64.tar.gz", None),
            asset(api, dl, 9, "checksums.txt", None),
        ]
    });
    let home = Home::new();
    let rule = format!(
        "[[plugins.credentials]]\nhosts = [\"127.0.0.1:{}\"]\nbearer_env = \"WASMVISOR_TEST_GITHUB_TOKEN\"\n",
        api.port()
    );
    let host = home.host(&api, TEMPLATE, &rule);
    let artifacts = resolve(&host, "v2.0.1").await.unwrap();

    let api_seen = api.seen();
    assert_eq!(api_seen.len(), 2, "{api_seen:?}");
    for request in &api_seen {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{request:?}"
        );
    }
    let dl_seen = dl.seen();
    assert_eq!(dl_seen.len(), 1);
    assert_eq!(
        dl_seen[0].header("authorization"),
        None,
        "the storage host gets no token"
    );
    let shown = format!("{artifacts:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
}

/// A `.tar.gz` holding `bin/chaind` = this machine's `/bin/true`.
fn tarball() -> Vec<u8> {
    let binary = std::fs::read("/bin/true").unwrap();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(binary.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, "bin/chaind", binary.as_slice())
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

#[tokio::test]
async fn the_resolved_asset_installs_end_to_end_through_the_download_redirect() {
    let archive = tarball();
    let digest = sha256_hex(&archive);
    // The download host redirects to storage, like github.com does.
    let storage = Server::start(move |req| {
        if req.path == "/blob/chaind.tar.gz" {
            Reply::bytes(archive.clone())
        } else {
            not_found()
        }
    });
    let blob = storage.url("/blob/chaind.tar.gz");
    let dl = Server::start(move |_| Reply::redirect(&blob));
    // The supervisor asks for this machine's platform.
    let here = Platform::current();
    let name = format!("chaind-2.0.1-{}-{}.tar.gz", here.os, here.arch);
    let api = api_with(&dl, move |api, dl| {
        vec![asset(api, dl, 2, &name, Some(&format!("sha256:{digest}")))]
    });
    let home = Home::new();
    let host = Arc::new(home.host(&api, TEMPLATE, ""));
    let config = wasmvisor::config::Config::new(home.path(), "chaind");
    let source = host
        .extensions(&config)
        .binary_source
        .expect("a resolver makes a binary source");
    source
        .fetch(&plan("v2.0.1"), &config.layout())
        .await
        .unwrap();
    let installed = home.path().join("cosmovisor/upgrades/v2.0.1/bin/chaind");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read("/bin/true").unwrap()
    );
    assert_eq!(
        storage.seen().len(),
        1,
        "downloaded once, through the redirect"
    );
}

/// A fake GitHub for a PRIVATE repository: without the bearer token every API path
/// is a 404 (as GitHub hides private repositories); an asset's API URL gives its
/// JSON description unless asked for `application/octet-stream`, and then redirects
/// to `storage` (another origin) with a signed URL. `browser_download_url`s point
/// at `storage` paths that do not exist (browser sessions only, for private repos).
fn private_api(
    storage: &Server,
    token: &'static str,
    assets: impl Fn(Origin, Origin) -> Vec<serde_json::Value> + Send + Sync + 'static,
) -> Server {
    let port = Arc::new(Mutex::new(0u16));
    let cell = port.clone();
    let storage = Origin::of(storage);
    let api = Server::start(move |req| {
        let me = Origin(*cell.lock().unwrap());
        if req.header("authorization") != Some(format!("Bearer {token}").as_str()) {
            return not_found();
        }
        if req.path == RELEASE_PATH {
            return Reply::json(200, release("v2.0.1", assets(me, storage)));
        }
        match req
            .path
            .strip_prefix(&format!("/repos/{REPO}/releases/assets/"))
        {
            Some(id) if req.header("accept") == Some("application/octet-stream") => {
                Reply::redirect(&storage.url(&format!("/signed/{id}?X-Amz-Signature=abc")))
            }
            Some(id) => Reply::json(200, serde_json::json!({"id": id, "name": "metadata"})),
            None => not_found(),
        }
    });
    *port.lock().unwrap() = api.port();
    api
}

#[tokio::test]
async fn a_private_asset_installs_through_the_api_and_the_token_never_reaches_storage() {
    const TOKEN: &str = "ghp_private_token_9876543210";
    // SAFETY of the test: a variable only this test uses.
    unsafe { std::env::set_var("WASMVISOR_TEST_GITHUB_PRIVATE_TOKEN", TOKEN) };
    let archive = tarball();
    let digest = sha256_hex(&archive);
    let storage = Server::start(move |req| {
        if req.path.starts_with("/signed/2?") {
            Reply::bytes(archive.clone())
        } else {
            not_found()
        }
    });
    let here = Platform::current();
    let name = format!("chaind-2.0.1-{}-{}.tar.gz", here.os, here.arch);
    let api = private_api(&storage, TOKEN, move |api, storage| {
        vec![asset(
            api,
            storage,
            2,
            &name,
            Some(&format!("sha256:{digest}")),
        )]
    });
    let home = Home::new();
    let rule = format!(
        "[[plugins.credentials]]\nhosts = [\"127.0.0.1:{}\"]\nbearer_env = \"WASMVISOR_TEST_GITHUB_PRIVATE_TOKEN\"\n",
        api.port()
    );
    let host = Arc::new(home.host(&api, &format!("{TEMPLATE}\nprivate = true"), &rule));
    let config = wasmvisor::config::Config::new(home.path(), "chaind");
    let source = host
        .extensions(&config)
        .binary_source
        .expect("a resolver makes a binary source");
    source
        .fetch(&plan("v2.0.1"), &config.layout())
        .await
        .unwrap();

    let installed = home.path().join("cosmovisor/upgrades/v2.0.1/bin/chaind");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read("/bin/true").unwrap()
    );
    let download = api
        .seen()
        .into_iter()
        .find(|r| r.path == format!("/repos/{REPO}/releases/assets/2"))
        .expect("the binary is fetched through the API asset URL");
    assert_eq!(download.header("accept"), Some("application/octet-stream"));
    assert_eq!(
        download.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let storage_seen = storage.seen();
    assert_eq!(storage_seen.len(), 1, "{storage_seen:?}");
    assert!(storage_seen[0].path.starts_with("/signed/2?"));
    for request in &storage_seen {
        assert_eq!(request.header("authorization"), None, "{request:?}");
        assert!(
            !request.headers.iter().any(|(_, v)| v.contains(TOKEN)),
            "the token reached the storage host: {request:?}"
        );
        assert_eq!(
            request.header("accept"),
            Some("*/*"),
            "the API's accept header stays with the API: {request:?}"
        );
    }
}

#[tokio::test]
async fn without_private_the_browser_url_of_a_private_asset_fails_to_download() {
    const TOKEN: &str = "ghp_private_token_control";
    // SAFETY of the test: a variable only this test uses.
    unsafe { std::env::set_var("WASMVISOR_TEST_GITHUB_PRIVATE_TOKEN_2", TOKEN) };
    let archive = tarball();
    let digest = sha256_hex(&archive);
    let storage = Server::start(|_| not_found());
    let here = Platform::current();
    let name = format!("chaind-2.0.1-{}-{}.tar.gz", here.os, here.arch);
    let api = private_api(&storage, TOKEN, move |api, storage| {
        vec![asset(
            api,
            storage,
            2,
            &name,
            Some(&format!("sha256:{digest}")),
        )]
    });
    let home = Home::new();
    let rule = format!(
        "[[plugins.credentials]]\nhosts = [\"127.0.0.1:{}\"]\nbearer_env = \"WASMVISOR_TEST_GITHUB_PRIVATE_TOKEN_2\"\n",
        api.port()
    );
    let host = Arc::new(home.host(&api, TEMPLATE, &rule));
    let config = wasmvisor::config::Config::new(home.path(), "chaind");
    let source = host.extensions(&config).binary_source.unwrap();
    let err = source
        .fetch(&plan("v2.0.1"), &config.layout())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("404"), "{err:#}");
    assert!(
        !home
            .path()
            .join("cosmovisor/upgrades/v2.0.1/bin/chaind")
            .exists()
    );
}
