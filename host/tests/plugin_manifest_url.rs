//! The bundled `manifest-url` resolver, loaded the way the supervisor loads it
//! (`PluginHost::load` with `DAEMON_ALLOW_DOWNLOAD_BINARIES=true` and nothing
//! configured) and called with real plans: inline JSON, a URL to a JSON document
//! served by a loopback HTTP server, checksums, `DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM`,
//! and the `{plan-info}` grant's loopback rule.

mod common;

use common::{Home, plugins_table};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wasmvisor::config::Config;
use wasmvisor::install::HashAlgo;
use wasmvisor::plugin::{LoadedPlugin, Platform, PluginError, PluginHost, ReportedError};
use wasmvisor::upgrade_info::Plan;

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// A loopback HTTP server answering GETs from a fixed path → body table, 404
/// otherwise; records every request line.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(files: &[(&str, &[u8])]) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let files: HashMap<String, Vec<u8>> = files
            .iter()
            .map(|(p, b)| (p.to_string(), b.to_vec()))
            .collect();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // Drain the headers.
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                seen.lock().unwrap().push(line.trim().to_string());
                let (status, body) = match files.get(&path) {
                    Some(b) => ("200 OK", b.clone()),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        Server { port, requests }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

trait ManifestUrlHome {
    fn config(&self, plugins_toml: &str, must_have_checksum: bool) -> Config;
}

impl ManifestUrlHome for Home {
    /// A configuration with downloads allowed and `plugins_toml` as the config
    /// file's `[plugins]` table.
    fn config(&self, plugins_toml: &str, must_have_checksum: bool) -> Config {
        let mut config = Config::new(self.path(), "chaind");
        config.allow_download_binaries = true;
        config.download_must_have_checksum = must_have_checksum;
        config.plugins = plugins_table(plugins_toml);
        config
    }
}

/// Tests reach 127.0.0.1: the operator grants the address itself.
const LOOPBACK_GRANTED: &str = "[plugins.manifest-url]\nhosts = [\"127.0.0.1\"]\n";

fn plan(info: &str) -> Plan {
    Plan {
        name: "v2".into(),
        height: 10,
        info: info.into(),
    }
}

fn linux_amd64() -> Platform {
    Platform {
        os: "linux".into(),
        arch: "amd64".into(),
    }
}

fn manifest_url(host: &PluginHost) -> &LoadedPlugin {
    host.plugins()
        .iter()
        .find(|p| p.source.to_string() == "bundled:manifest-url")
        .expect("manifest-url is loaded by default when downloads are allowed")
}

async fn resolve(
    config: &Config,
    info: &str,
) -> Result<Vec<wasmvisor::install::Artifact>, PluginError> {
    let host = PluginHost::load(config, &[]).unwrap();
    manifest_url(&host)
        .resolve(&plan(info), &linux_amd64())
        .await
}

fn invalid_input(result: Result<Vec<wasmvisor::install::Artifact>, PluginError>) -> String {
    match result {
        Err(PluginError::Reported {
            error: ReportedError::InvalidInput(m),
            ..
        }) => m,
        other => panic!("expected invalid input, got {other:?}"),
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("WASMVISOR_FIXTURES_DIR")).join(format!("{name}.wasm"))
}

#[tokio::test]
async fn inline_json_picks_the_platform_key_and_takes_the_checksum_out_of_the_url() {
    let home = Home::new();
    let info = format!(
        r#"{{"binaries":{{"linux/amd64":"https://dl.example.com/v2/chaind-amd64.tar.gz?checksum=sha256:{SHA}","linux/arm64":"https://dl.example.com/arm","any":"https://dl.example.com/any"}}}}"#
    );
    let artifacts = resolve(&home.config("", false), &info).await.unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_eq!(
        artifacts[0].url,
        "https://dl.example.com/v2/chaind-amd64.tar.gz"
    );
    let checksum = artifacts[0].checksum.as_ref().expect("checksum parsed");
    assert_eq!(checksum.algo, HashAlgo::Sha256);
    assert_eq!(checksum.to_string(), format!("sha256:{SHA}"));
    assert_eq!(artifacts[0].archive, wasmvisor::install::ArchiveKind::Auto);
}

#[tokio::test]
async fn any_is_the_fallback_when_the_platform_has_no_key() {
    let home = Home::new();
    let info = r#"{"binaries":{"darwin/arm64":"https://dl.example.com/mac","any":"https://dl.example.com/any"}}"#;
    let artifacts = resolve(&home.config("", false), info).await.unwrap();
    assert_eq!(artifacts[0].url, "https://dl.example.com/any");
    assert!(artifacts[0].checksum.is_none());
}

#[tokio::test]
async fn a_missing_platform_key_is_an_error_listing_the_keys_present() {
    let home = Home::new();
    let info = r#"{"binaries":{"darwin/arm64":"https://a/mac","linux/arm64":"https://a/arm"}}"#;
    let m = invalid_input(resolve(&home.config("", false), info).await);
    assert!(m.contains("linux/amd64"), "{m}");
    assert!(m.contains("darwin/arm64, linux/arm64"), "{m}");
}

#[tokio::test]
async fn blank_info_is_not_applicable_so_other_resolvers_may_try() {
    let home = Home::new();
    let err = resolve(&home.config("", false), "  \n").await.unwrap_err();
    assert!(err.is_not_applicable(), "{err}");
}

#[tokio::test]
async fn an_info_url_is_fetched_verified_and_parsed_without_its_checksum_query() {
    let home = Home::new();
    let document = br#"{"binaries":{"linux/amd64":"https://dl.example.com/v2.zip?archive=zip&checksum=md5:098f6bcd4621d373cade4e832627b4f6"}}"#;
    let digest = hex::encode(Sha256::digest(document));
    let server = Server::start(&[("/plan.json", document)]);
    let info = format!("{}?checksum=sha256:{digest}", server.url("/plan.json"));
    let artifacts = resolve(&home.config(LOOPBACK_GRANTED, true), &info)
        .await
        .unwrap();
    assert_eq!(artifacts[0].url, "https://dl.example.com/v2.zip");
    assert_eq!(artifacts[0].archive, wasmvisor::install::ArchiveKind::Zip);
    assert_eq!(artifacts[0].checksum.as_ref().unwrap().algo, HashAlgo::Md5);
    assert_eq!(server.requests(), vec!["GET /plan.json HTTP/1.1"]);
}

#[tokio::test]
async fn an_info_document_that_does_not_match_its_checksum_is_refused() {
    let home = Home::new();
    let server = Server::start(&[("/plan.json", br#"{"binaries":{"any":"https://x/y"}}"#)]);
    let info = format!("{}?checksum=sha256:{SHA}", server.url("/plan.json"));
    let m = invalid_input(resolve(&home.config(LOOPBACK_GRANTED, false), &info).await);
    assert!(m.contains("does not match its checksum"), "{m}");
    assert!(m.contains(SHA), "{m}");
}

#[tokio::test]
async fn an_info_url_whose_body_is_not_json_is_a_clear_error() {
    let home = Home::new();
    let server = Server::start(&[("/chaind", b"\x7fELF\x02\x01\x01binary")]);
    let m = invalid_input(
        resolve(
            &home.config(LOOPBACK_GRANTED, false),
            &server.url("/chaind"),
        )
        .await,
    );
    assert!(m.contains("did not return JSON"), "{m}");
    assert!(m.contains("/chaind"), "{m}");
}

#[tokio::test]
async fn an_info_url_answering_404_is_unavailable() {
    let home = Home::new();
    let server = Server::start(&[]);
    let err = resolve(
        &home.config(LOOPBACK_GRANTED, false),
        &server.url("/gone.json"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &err,
            PluginError::Reported {
                error: ReportedError::Unavailable(m),
                ..
            } if m.contains("404")
        ),
        "{err}"
    );
}

#[tokio::test]
async fn must_have_checksum_refuses_an_info_url_without_one_and_fetches_nothing() {
    let home = Home::new();
    let server = Server::start(&[("/plan.json", br#"{"binaries":{"any":"https://x/y"}}"#)]);
    // The operator's own value cannot turn the supervisor's policy off.
    let config = home.config(
        &format!(
            "{LOOPBACK_GRANTED}[plugins.manifest-url.config]\nmust-have-checksum = \"false\"\n"
        ),
        true,
    );
    let url = server.url("/plan.json");
    let m = invalid_input(resolve(&config, &url).await);
    assert!(m.contains(&url) && m.contains("checksum"), "{m}");
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[tokio::test]
async fn must_have_checksum_refuses_a_binary_url_without_one() {
    let home = Home::new();
    let info = r#"{"binaries":{"any":"https://dl.example.com/chaind"}}"#;
    let m = invalid_input(resolve(&home.config("", true), info).await);
    assert!(
        m.contains("https://dl.example.com/chaind") && m.contains("checksum"),
        "{m}"
    );
    // Off: the same plan resolves.
    assert!(resolve(&home.config("", false), info).await.is_ok());
}

#[tokio::test]
async fn a_loopback_info_url_is_refused_unless_the_operator_grants_the_address() {
    let home = Home::new();
    let server = Server::start(&[("/plan.json", br#"{"binaries":{"any":"https://x/y"}}"#)]);
    let err = resolve(&home.config("", false), &server.url("/plan.json"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            PluginError::Reported {
                error: ReportedError::Denied(m),
                ..
            } if m.contains("127.0.0.1")
        ),
        "{err}"
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[tokio::test]
async fn plan_info_hosts_can_be_refused_by_the_operator() {
    let home = Home::new();
    let server = Server::start(&[("/plan.json", br#"{"binaries":{"any":"https://x/y"}}"#)]);
    let config = home.config(
        "[plugins.manifest-url]\nhosts = [\"127.0.0.1\"]\nplan_info_hosts = false\n",
        false,
    );
    let err = resolve(&config, &server.url("/plan.json"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no HTTP hosts"), "{err}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn it_is_not_loaded_without_downloads_or_when_disabled() {
    let home = Home::new();
    let mut off = home.config("", false);
    off.allow_download_binaries = false;
    assert!(PluginHost::load(&off, &[]).unwrap().is_empty());
    let disabled = home.config("[plugins.manifest-url]\nenabled = false\n", false);
    assert!(PluginHost::load(&disabled, &[]).unwrap().is_empty());
    // Named explicitly too: loaded once, not twice.
    let explicit = home.config("", false);
    let host = PluginHost::load(&explicit, &["manifest-url".to_string()]).unwrap();
    assert_eq!(host.plugins().len(), 1);
}

#[tokio::test]
async fn configured_resolvers_are_asked_before_the_default_one() {
    let home = Home::new();
    let config = home.config(
        &format!(
            "[plugins.basic]\npath = \"{}\"\npriority = -5\n[plugins.basic.config]\nbase-url = \"https://mirror.test\"\n",
            fixture("fixture_resolver_basic").display()
        ),
        false,
    );
    let host = PluginHost::load(&config, &[]).unwrap();
    assert_eq!(host.plugins().len(), 2);
    let info = r#"{"binaries":{"any":"https://dl.example.com/any"}}"#;
    let artifacts = host.resolve(&plan(info), &linux_amd64()).await.unwrap();
    assert!(
        artifacts[0].url.starts_with("https://mirror.test/"),
        "{:?}",
        artifacts[0]
    );
}

#[tokio::test]
async fn the_summary_of_a_failed_resolution_keeps_the_plugins_reason() {
    let home = Home::new();
    let host = PluginHost::load(&home.config("", false), &[]).unwrap();
    let err = host
        .resolve(&plan(""), &linux_amd64())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no download information"), "{err}");
}
