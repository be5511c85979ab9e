//! The bundled hook plugins `version-check` and `webhook`, loaded as the real
//! components embedded in the `wasmvisor` binary and called through `PluginHost`
//! (and, where the outcome is "the old binary stays current", through the real
//! upgrade state machine). New binaries are real executables (shell scripts);
//! webhook endpoints are real HTTP servers on 127.0.0.1.

mod common;

use common::{Home, plugins_table};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmvisor::plugin::{PluginError, PluginHooks, PluginHost, PluginsConfig, ReportedError};
use wasmvisor::upgrade::{Extensions, Upgrade, UpgradeEvent};
use wasmvisor::upgrade_info::Plan;

trait HookHome {
    fn host(&self, toml_text: &str) -> PluginHost;
    fn new_binary(&self, body: &str) -> PathBuf;
}

impl HookHome for Home {
    /// A host with the plugins the `[plugins…]` tables of `toml_text` name.
    fn host(&self, toml_text: &str) -> PluginHost {
        let config = PluginsConfig::from_table(&plugins_table(toml_text)).unwrap();
        self.load_plugins(config, &[]).unwrap()
    }

    /// A new binary at `new/chaind`: a shell script with `body`.
    fn new_binary(&self, body: &str) -> PathBuf {
        let path = self.path().join("new/chaind");
        script(&path, body);
        path
    }
}

fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn plan(name: &str) -> Plan {
    Plan {
        name: name.into(),
        height: 1234,
        info: r#"{"binaries":{"linux/amd64":"https://dl.example.com/x"}}"#.into(),
    }
}

/// `[plugins.version-check]` with `config` lines in its config table.
fn version_check(config: &str) -> String {
    format!(
        "[plugins.version-check]\nbundled = \"version-check\"\n[plugins.version-check.config]\n{config}\n"
    )
}

/// A binary whose `version` prints `out` on stdout; anything else exits 0 (so the
/// upgrade's own `pre-upgrade` call passes).
fn prints_version(out: &str) -> String {
    format!("[ \"$1\" = version ] && echo '{out}' && exit 0\nexit 0")
}

async fn pre(host: &PluginHost, plan_name: &str, bin: &Path) -> Result<(), String> {
    host.run_hooks_pre(&plan(plan_name), bin, None)
        .await
        .map_err(|e| format!("{e:#}"))
}

#[tokio::test]
async fn version_check_passes_when_the_binary_reports_the_plan_name() {
    let home = Home::new();
    let host = home.host(&version_check(""));
    let bin = home.new_binary(&prints_version("v2.0.0"));
    pre(&host, "v2.0.0", &bin).await.unwrap();
    // One leading `v` is ignored on either side.
    pre(&host, "2.0.0", &bin).await.unwrap();
    let bare = home.new_binary(&prints_version("2.0.0"));
    pre(&host, "v2.0.0", &bare).await.unwrap();
}

#[tokio::test]
async fn version_check_reads_stderr_when_the_binary_prints_its_version_there() {
    let home = Home::new();
    let host = home.host(&version_check(""));
    let bin = home.new_binary("[ \"$1\" = version ] && echo v3.1.0 >&2 && exit 0\nexit 0");
    pre(&host, "v3.1.0", &bin).await.unwrap();
    let err = pre(&host, "v3.2.0", &bin).await.unwrap_err();
    assert!(err.contains("reports version \"v3.1.0\""), "{err}");
}

#[tokio::test]
async fn version_check_refuses_a_wrong_version_and_says_what_to_check() {
    let home = Home::new();
    let host = home.host(&version_check(""));
    let bin = home.new_binary(&prints_version("v1.9.9"));
    let err = pre(&host, "V2", &bin).await.unwrap_err();
    assert!(
        err.contains("the new binary reports version \"v1.9.9\" but the plan names \"V2\""),
        "{err}"
    );
    assert!(err.contains("the old binary stays current"), "{err}");
    assert!(err.contains("upgrades/v2/bin/chaind"), "{err}");
    // Exact mode: a longer version is not the plan's.
    let longer = home.new_binary(&prints_version("v2.0.1"));
    assert!(pre(&host, "v2.0", &longer).await.is_err());
}

#[tokio::test]
async fn version_check_contains_mode_accepts_a_version_that_includes_the_expected_text() {
    let home = Home::new();
    let host = home.host(&version_check("match = \"contains\""));
    let bin = home.new_binary(&prints_version("v2.0.1-rc3+gabcdef"));
    pre(&host, "v2.0.1", &bin).await.unwrap();
    let err = pre(&host, "v2.1", &bin).await.unwrap_err();
    assert!(err.contains("expects it to contain \"v2.1\""), "{err}");
}

#[tokio::test]
async fn version_check_expected_is_a_template_over_the_plan() {
    let home = Home::new();
    let host = home.host(&version_check("expected = \"{version}-mainnet\""));
    let bin = home.new_binary(&prints_version("4.0.0-mainnet"));
    pre(&host, "v4.0.0", &bin).await.unwrap();
    let err = pre(&host, "v4.0.1", &bin).await.unwrap_err();
    assert!(err.contains("the plan names \"4.0.1-mainnet\""), "{err}");
}

#[tokio::test]
async fn version_check_long_reads_the_version_field_of_version_long() {
    let home = Home::new();
    let host = home.host(&version_check("long = true"));
    let bin = home.new_binary(
        "[ \"$1 $2\" = 'version --long' ] && printf 'name: chain\\nserver_name: chaind\\nversion: v5.2.0\\ncommit: 0123abc\\n' && exit 0\nexit 9",
    );
    pre(&host, "v5.2.0", &bin).await.unwrap();
    let err = pre(&host, "v5.3.0", &bin).await.unwrap_err();
    assert!(err.contains("reports version \"v5.2.0\""), "{err}");
}

#[tokio::test]
async fn version_check_reports_a_failing_version_command_and_bad_config() {
    let home = Home::new();
    let host = home.host(&version_check(""));
    let bin = home.new_binary("echo 'unknown command \"version\"' >&2\nexit 1");
    let err = pre(&host, "v2", &bin).await.unwrap_err();
    assert!(
        err.contains("`chaind version` of the new binary exited with status 1")
            && err.contains("unknown command"),
        "{err}"
    );

    let host = home.host(&version_check("match = \"fuzzy\""));
    let ok = home.new_binary(&prints_version("v2"));
    let err = pre(&host, "v2", &ok).await.unwrap_err();
    assert!(err.contains("use \"exact\" or \"contains\""), "{err}");
}

#[tokio::test]
async fn version_check_failure_through_the_upgrade_keeps_the_old_binary_current() {
    let home = Home::new();
    let cosmovisor = home.path().join("cosmovisor");
    script(&cosmovisor.join("genesis/bin/chaind"), "echo v1.0.0");
    script(
        &cosmovisor.join("upgrades/v2/bin/chaind"),
        &prints_version("v1.9.9"),
    );
    std::os::unix::fs::symlink("genesis", cosmovisor.join("current")).unwrap();
    let host = Arc::new(home.host(&version_check("")));
    let mut config = wasmvisor::config::Config::new(home.path(), "chaind");
    config.unsafe_skip_backup = true;
    let ext = Extensions {
        binary_source: None,
        hooks: Some(Box::new(PluginHooks::new(host.clone(), &config))),
    };
    let err = Upgrade::new(&config, &ext, plan("v2"), None, None)
        .run()
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("reports version \"v1.9.9\" but the plan names \"v2\""),
        "{msg}"
    );
    assert_eq!(
        std::fs::read_link(cosmovisor.join("current")).unwrap(),
        Path::new("genesis")
    );

    // The right binary passes the same check and the switch happens.
    script(
        &cosmovisor.join("upgrades/v2/bin/chaind"),
        &prints_version("v2"),
    );
    Upgrade::new(&config, &ext, plan("v2"), None, None)
        .run()
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_link(cosmovisor.join("current")).unwrap(),
        Path::new("upgrades/v2")
    );
}

/// One HTTP request as the server saw it.
#[derive(Debug)]
struct Received {
    head: String,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A server on 127.0.0.1 answering every request with `status`; sends what it
/// received (head and whole body) through the channel.
fn webhook_server(status: u16) -> (u16, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some(received) = read_request(&mut stream) else {
                continue;
            };
            let reply =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            let _ = stream.write_all(reply.as_bytes());
            let _ = tx.send(received);
        }
    });
    (port, rx)
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Received> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if data.len() >= end + 4 + length {
            let body = data[end + 4..end + 4 + length].to_vec();
            return Some(Received { head, body });
        }
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `[plugins.webhook]` granting 127.0.0.1, posting to `url`, plus `extra` config lines.
fn webhook(url: &str, extra: &str) -> String {
    format!(
        "[plugins.webhook]\nbundled = \"webhook\"\nhosts = [\"127.0.0.1\"]\n[plugins.webhook.config]\nurl = \"{url}\"\n{extra}\n"
    )
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn next(rx: &mpsc::Receiver<Received>) -> Received {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the webhook server received a request")
}

#[tokio::test]
async fn webhook_posts_binary_installed_before_and_switched_after_the_switch() {
    let home = Home::new();
    let (port, rx) = webhook_server(200);
    let host = home.host(&webhook(&format!("http://127.0.0.1:{port}/hooks/node"), ""));
    let bin = home.new_binary("exit 0");
    let before = now_ms();
    host.run_hooks_pre(&plan("v2"), &bin, Some("v1".into()))
        .await
        .unwrap();
    let got = next(&rx);
    assert!(
        got.head.starts_with("post /hooks/node http/1.1"),
        "{}",
        got.head
    );
    assert!(
        got.head.contains("content-type: application/json"),
        "{}",
        got.head
    );
    let event = got.json();
    assert_eq!(event["event"], "binary-installed");
    assert_eq!(event["plan"]["name"], "v2");
    assert_eq!(event["plan"]["height"], 1234);
    assert_eq!(
        event["plan"]["info"],
        r#"{"binaries":{"linux/amd64":"https://dl.example.com/x"}}"#
    );
    assert_eq!(event["daemon"], "chaind");
    assert_eq!(event["previous_upgrade"], "v1");
    let t = event["time_ms"].as_u64().unwrap();
    assert!(t >= before && t <= now_ms(), "time_ms {t} is not now");

    host.run_hooks_post(&plan("v2"), &bin, None).await;
    let event = next(&rx).json();
    assert_eq!(event["event"], "switched");
    assert_eq!(event["plan"]["name"], "v2");
    assert!(event["previous_upgrade"].is_null());
}

#[tokio::test]
async fn webhook_events_selects_what_is_sent() {
    let home = Home::new();
    let (port, rx) = webhook_server(200);
    let host = home.host(&webhook(
        &format!("http://127.0.0.1:{port}/"),
        "events = \"switched\"",
    ));
    let bin = home.new_binary("exit 0");
    host.run_hooks_pre(&plan("v2"), &bin, None).await.unwrap();
    host.run_hooks_post(&plan("v2"), &bin, None).await;
    assert_eq!(next(&rx).json()["event"], "switched");
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "binary-installed was not subscribed"
    );

    // A typo is not silently "no notifications": it fails when failures count.
    let host = home.host(&webhook(
        &format!("http://127.0.0.1:{port}/"),
        "events = \"switchd\"\nfail_upgrade_on_error = true",
    ));
    let err = pre(&host, "v2", &bin).await.unwrap_err();
    assert!(
        err.contains("\"switchd\"") && err.contains("known events"),
        "{err}"
    );
}

#[tokio::test]
async fn webhook_sends_detected_and_failed_with_the_reason() {
    let home = Home::new();
    let (port, rx) = webhook_server(200);
    let host = home.host(&webhook(&format!("http://127.0.0.1:{port}/"), ""));
    host.run_hooks_event(&UpgradeEvent::Detected, &plan("v2"), Some("v1".into()))
        .await;
    let event = next(&rx).json();
    assert_eq!(event["event"], "detected");
    assert_eq!(event["plan"]["name"], "v2");
    assert_eq!(event["previous_upgrade"], "v1");
    assert!(event.get("reason").is_none(), "{event}");

    let reason = "sha256 checksum mismatch: expected 00…, got ab…";
    host.run_hooks_event(
        &UpgradeEvent::Failed(reason.into()),
        &plan("v2"),
        Some("v1".into()),
    )
    .await;
    let event = next(&rx).json();
    assert_eq!(event["event"], "failed");
    assert_eq!(event["reason"], reason);
    let time = event["time"].as_str().unwrap();
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "RFC 3339 UTC: {time}"
    );
}

#[tokio::test]
async fn webhook_events_can_select_only_failures() {
    let home = Home::new();
    let (port, rx) = webhook_server(200);
    let host = home.host(&webhook(
        &format!("http://127.0.0.1:{port}/"),
        "events = \"failed\"",
    ));
    let bin = home.new_binary("exit 0");
    host.run_hooks_event(&UpgradeEvent::Detected, &plan("v2"), None)
        .await;
    host.run_hooks_pre(&plan("v2"), &bin, None).await.unwrap();
    host.run_hooks_event(&UpgradeEvent::Failed("refused".into()), &plan("v2"), None)
        .await;
    assert_eq!(next(&rx).json()["event"], "failed");
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "only failed was subscribed"
    );
}

#[tokio::test]
async fn an_undelivered_event_never_fails_even_with_fail_upgrade_on_error() {
    let home = Home::new();
    let host = home.host(&webhook(
        &format!("http://127.0.0.1:{}/", closed_port()),
        "fail_upgrade_on_error = true",
    ));
    // The call itself reports success: the plugin logs the failure, as for any
    // notification that cannot change the upgrade.
    host.plugins()[0]
        .on_event(
            &UpgradeEvent::Failed("x".into()),
            &plan("v2"),
            &Default::default(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_hook_cannot_run_the_new_binary_from_an_event() {
    let home = Home::new();
    let config = PluginsConfig::from_table(&plugins_table("")).unwrap();
    let host = home
        .load_plugins(
            config,
            &[concat!(env!("WASMVISOR_FIXTURES_DIR"), "/fixture_hook_basic.wasm").to_string()],
        )
        .unwrap();
    let hook = &host.plugins()[0];
    hook.on_event(&UpgradeEvent::Detected, &plan("v2"), &Default::default())
        .await
        .unwrap();
    let err = hook
        .on_event(
            &UpgradeEvent::Detected,
            &plan("run-in-event"),
            &Default::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            PluginError::Reported {
                error: ReportedError::Denied(_),
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_webhook_does_not_block_the_upgrade_unless_configured_to() {
    let home = Home::new();
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/down");
    let bin = home.new_binary("exit 0");
    let host = home.host(&webhook(&url, ""));
    pre(&host, "v2", &bin).await.unwrap();

    let host = home.host(&webhook(&url, "fail_upgrade_on_error = true"));
    let err = pre(&host, "v2", &bin).await.unwrap_err();
    assert!(
        err.contains("refused the upgrade") && err.contains(&format!("127.0.0.1:{port}/down")),
        "{err}"
    );
}

#[tokio::test]
async fn a_webhook_answering_an_error_status_blocks_only_when_configured_to() {
    let home = Home::new();
    let (port, rx) = webhook_server(503);
    let url = format!("http://127.0.0.1:{port}/busy");
    let bin = home.new_binary("exit 0");
    let host = home.host(&webhook(&url, ""));
    pre(&host, "v2", &bin).await.unwrap();
    assert_eq!(next(&rx).json()["event"], "binary-installed");

    let host = home.host(&webhook(&url, "fail_upgrade_on_error = \"true\""));
    let err = pre(&host, "v2", &bin).await.unwrap_err();
    assert!(err.contains("HTTP status 503"), "{err}");
}

#[tokio::test]
async fn a_webhook_to_a_host_the_operator_did_not_grant_is_refused() {
    let home = Home::new();
    let (port, rx) = webhook_server(200);
    let bin = home.new_binary("exit 0");
    // No `hosts` in the operator's table: the manifest's 127.0.0.1 is not granted.
    let config = format!(
        "[plugins.webhook]\nbundled = \"webhook\"\n[plugins.webhook.config]\nurl = \"http://127.0.0.1:{port}/\"\nfail_upgrade_on_error = true\n"
    );
    let err = pre(&home.host(&config), "v2", &bin).await.unwrap_err();
    assert!(err.contains("granted no HTTP hosts"), "{err}");

    // Granted 127.0.0.1, but the URL names a host the plugin may not reach.
    let host = home.host(&webhook(
        "https://evil.example.net/collect",
        "fail_upgrade_on_error = true",
    ));
    let err = pre(&host, "v2", &bin).await.unwrap_err();
    assert!(
        err.contains("evil.example.net") && err.contains("not granted"),
        "{err}"
    );
    // Refused by default too, without blocking the upgrade; nothing was sent.
    let host = home.host(&webhook("https://evil.example.net/collect", ""));
    pre(&host, "v2", &bin).await.unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
}

#[tokio::test]
async fn a_webhook_without_url_is_a_clear_error_when_failures_count() {
    let home = Home::new();
    let bin = home.new_binary("exit 0");
    let host = home.host(
        "[plugins.webhook]\nbundled = \"webhook\"\nhosts = [\"127.0.0.1\"]\n[plugins.webhook.config]\nfail_upgrade_on_error = true\n",
    );
    let err = pre(&host, "v2", &bin).await.unwrap_err();
    assert!(err.contains("config `url` is not set"), "{err}");
}

#[tokio::test]
async fn both_hooks_together_notify_then_refuse_and_the_old_binary_stays() {
    let home = Home::new();
    let (port, rx) = webhook_server(200);
    let cosmovisor = home.path().join("cosmovisor");
    script(&cosmovisor.join("genesis/bin/chaind"), "echo v1.0.0");
    script(
        &cosmovisor.join("upgrades/v2/bin/chaind"),
        &prints_version("v1.0.0"),
    );
    std::os::unix::fs::symlink("genesis", cosmovisor.join("current")).unwrap();
    let text = format!(
        "{}{}",
        webhook(&format!("http://127.0.0.1:{port}/"), ""),
        version_check("")
    );
    let host = Arc::new(home.host(&text));
    let mut config = wasmvisor::config::Config::new(home.path(), "chaind");
    config.unsafe_skip_backup = true;
    let ext = Extensions {
        binary_source: None,
        hooks: Some(Box::new(PluginHooks::new(host, &config))),
    };
    let err = Upgrade::new(&config, &ext, plan("v2"), None, None)
        .run()
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("reports version \"v1.0.0\""));
    assert_eq!(
        std::fs::read_link(cosmovisor.join("current")).unwrap(),
        Path::new("genesis")
    );
    // Whatever the hooks' order, a refused upgrade is never announced as switched.
    while let Ok(got) = rx.recv_timeout(Duration::from_millis(300)) {
        assert_eq!(got.json()["event"], "binary-installed");
    }
}
