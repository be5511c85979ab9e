//! A real upgrade from a PRIVATE GitHub repository: the bundled `github-releases`
//! resolver with `private = true` against a loopback fake GitHub API that answers
//! only with the bearer token (the host adds it from a credential rule) and serves
//! the asset only to `Accept: application/octet-stream`, by a redirect to a signed
//! URL on a second loopback "storage" host. The chain halts for `v2`, wasmvisor
//! downloads the binary that way and the node runs v2 — and the storage host never
//! sees the token.

use std::sync::{Arc, Mutex};

use wasmvisor_e2e::api::{ApiServer, Reply};
use wasmvisor_e2e::archive::{sha256_checksum, tar_gz};
use wasmvisor_e2e::{Chain, TestHome};

const TOKEN: &str = "ghp_e2e_private_token_31415926";
const REPO: &str = "acme/chain";

fn not_found() -> Reply {
    Reply::json(404, serde_json::json!({"message": "Not Found"}))
}

/// Go's name of this machine's architecture.
fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[test]
fn an_upgrade_from_a_private_repository_succeeds_and_the_token_stays_with_the_api() {
    let mut home = TestHome::new(Chain::upgrade_at("v2", 5));
    let v2 = std::fs::read(home.make_version("v2")).expect("read v2");
    let archive = tar_gz(&[("bin/fake-chaind", &v2, 0o755)]);
    let digest = sha256_checksum(&archive);

    let storage = ApiServer::start(move |req| {
        if req.path.starts_with("/signed/7?") {
            Reply::bytes(archive.clone())
        } else {
            not_found()
        }
    });
    let storage_port = storage.port();
    let api_port = Arc::new(Mutex::new(0u16));
    let cell = api_port.clone();
    let asset_name = format!("chaind-v2-linux-{}.tar.gz", arch());
    let api = ApiServer::start(move |req| {
        // A private repository does not exist for a caller without the token.
        if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return not_found();
        }
        let me = *cell.lock().expect("lock");
        if req.path == format!("/repos/{REPO}/releases/tags/v2") {
            let release = serde_json::json!({
                "tag_name": "v2",
                "assets": [{
                    "name": asset_name,
                    "url": format!("http://127.0.0.1:{me}/repos/{REPO}/releases/assets/7"),
                    "browser_download_url": format!("http://127.0.0.1:{storage_port}/browser-only/{asset_name}"),
                    "digest": digest,
                }],
            });
            return Reply::json(200, release);
        }
        if req.path == format!("/repos/{REPO}/releases/assets/7") {
            if req.header("accept") != Some("application/octet-stream") {
                return Reply::json(200, serde_json::json!({"id": 7}));
            }
            let signed = format!("http://127.0.0.1:{storage_port}/signed/7?X-Amz-Signature=abc");
            return Reply::redirect(&signed);
        }
        not_found()
    });
    let port = api.port();
    *api_port.lock().expect("lock") = port;

    let config = home.scratch().join("wasmvisor.toml");
    std::fs::write(
        &config,
        format!(
            "[plugins.github-releases]\nbundled = \"github-releases\"\nhosts = [\"127.0.0.1\"]\n\
             [plugins.github-releases.config]\napi_base = \"http://127.0.0.1:{port}\"\n\
             repo = \"{REPO}\"\nasset_template = \"chaind-{{name}}-{{os}}-{{arch}}\"\nprivate = true\n\
             [[plugins.credentials]]\nhosts = [\"127.0.0.1:{port}\"]\nbearer_env = \"E2E_GITHUB_TOKEN\"\n"
        ),
    )
    .expect("write the config");
    home.set_env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true");
    home.set_env("DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM", "true");
    home.set_env("E2E_GITHUB_TOKEN", TOKEN);
    let home_dir = home.home().display().to_string();
    let cmd = home.command([
        "run",
        "--cosmovisor-config",
        config.to_str().expect("utf-8"),
        "start",
        "--home",
        &home_dir,
    ]);
    let wv = home.spawn(cmd);
    home.wait_for_blocks_by("v2", 6, &wv);
    home.assert_current("upgrades/v2");

    let api_seen = api.seen();
    let download = api_seen
        .iter()
        .find(|r| r.path == format!("/repos/{REPO}/releases/assets/7"))
        .unwrap_or_else(|| panic!("the binary came through the API asset URL: {api_seen:?}"));
    assert_eq!(download.header("accept"), Some("application/octet-stream"));
    assert_eq!(
        download.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let storage_seen = storage.seen();
    assert_eq!(
        storage_seen.len(),
        1,
        "one signed download: {storage_seen:?}"
    );
    assert!(storage_seen[0].path.starts_with("/signed/7?"));
    for request in &storage_seen {
        assert!(
            request.header("authorization").is_none()
                && !request.headers.iter().any(|(_, v)| v.contains(TOKEN)),
            "the token reached the storage host: {request:?}"
        );
        assert_ne!(
            request.header("accept"),
            Some("application/octet-stream"),
            "the artifact's headers stay with the API origin: {request:?}"
        );
    }
}
