//! Security and failure-policy tests of the plugin runtime, each with a real
//! component built from `plugins/fixtures/` by build.rs. Every test proves three
//! things: the host survives (a later call still works), the error says clearly what
//! happened, and nothing the plugin touched is left inconsistent.

mod common;

use common::{Home, plugins_table};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wasmvisor::plugin::{
    Platform, PluginError, PluginHost, PluginKind, PluginsConfig, ReportedError,
};
use wasmvisor::upgrade_info::Plan;

fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("WASMVISOR_FIXTURES_DIR")).join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "fixture {} missing: build.rs builds plugins/",
        path.display()
    );
    path
}

/// A home holding a key the plugins must never read, and a plan file.
fn secured_home() -> Home {
    let home = Home::new();
    std::fs::write(
        home.path().join("config/priv_validator_key.json"),
        br#"{"priv_key":"SECRET"}"#,
    )
    .unwrap();
    std::fs::write(
        home.path().join("data/upgrade-info.json"),
        br#"{"name":"v2","height":7}"#,
    )
    .unwrap();
    home
}

trait SecurityHome {
    fn host(&self, toml_text: &str, specs: &[PathBuf]) -> anyhow::Result<PluginHost>;
}

impl SecurityHome for Home {
    /// A host with `[plugins.<name>]` settings from `toml` (which may be empty).
    fn host(&self, toml_text: &str, specs: &[PathBuf]) -> anyhow::Result<PluginHost> {
        let config = PluginsConfig::from_table(&plugins_table(toml_text))?;
        let specs: Vec<String> = specs.iter().map(|p| p.display().to_string()).collect();
        self.load_plugins(config, &specs)
    }
}

fn plan(name: &str) -> Plan {
    Plan {
        name: name.into(),
        height: 10,
        info: String::new(),
    }
}

fn linux() -> Platform {
    Platform {
        os: "linux".into(),
        arch: "amd64".into(),
    }
}

/// Calls the single resolver of `host` directly (the error, not the fallback summary).
async fn resolve_one(
    host: &PluginHost,
    plan_name: &str,
) -> Result<Vec<wasmvisor::install::Artifact>, PluginError> {
    host.plugins()[0].resolve(&plan(plan_name), &linux()).await
}

async fn still_works(host: &PluginHost) {
    // "read-granted" needs the file grant; every hostile-fixture host in these tests
    // grants it, so a working call after a failure proves the host survived.
    let artifacts = resolve_one(host, "read-granted")
        .await
        .expect("the host keeps working after a failed call");
    assert!(artifacts[0].url.contains("\"v2\""));
}

const HOSTILE: &str = r#"
[plugins.resolver-hostile]
files = ["data/upgrade-info.json"]
timeout = "400ms"
"#;

#[tokio::test]
async fn a_well_behaved_resolver_returns_its_artifacts() {
    let home = secured_home();
    let host = home
        .host(
            "[plugins.resolver-basic.config]\nbase-url = \"https://mirror.test\"\n",
            &[fixture("fixture_resolver_basic")],
        )
        .unwrap();
    let artifacts = host.resolve(&plan("v2"), &linux()).await.unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_eq!(
        artifacts[0].url,
        "https://mirror.test/v2/chaind-linux-amd64.tar.gz"
    );
    assert_eq!(artifacts[0].binary_path.as_deref(), Some("bin/chaind"));
    assert!(artifacts[0].checksum.is_some());
}

#[tokio::test]
async fn an_endless_loop_is_stopped_at_its_time_limit() {
    let home = secured_home();
    let host = home
        .host(HOSTILE, &[fixture("fixture_resolver_hostile")])
        .unwrap();
    let started = Instant::now();
    let err = resolve_one(&host, "loop").await.unwrap_err();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("time limit of 400ms"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped late: {:?}",
        started.elapsed()
    );
    still_works(&host).await;
}

#[tokio::test]
async fn a_1_gib_allocation_is_refused_at_the_memory_limit() {
    let home = secured_home();
    let host = home
        .host(HOSTILE, &[fixture("fixture_resolver_hostile")])
        .unwrap();
    let err = resolve_one(&host, "alloc-1gib").await.unwrap_err();
    assert!(
        matches!(err, PluginError::Memory { limit_mib: 64, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("memory than its limit of 64 MiB"),
        "{err}"
    );
    still_works(&host).await;
}

#[tokio::test]
async fn reading_a_file_that_is_not_granted_is_denied() {
    let home = secured_home();
    let host = home
        .host(HOSTILE, &[fixture("fixture_resolver_hostile")])
        .unwrap();
    for attempt in ["read-secret", "read-escape"] {
        let err = resolve_one(&host, attempt).await.unwrap_err();
        match &err {
            PluginError::Reported {
                error: ReportedError::Denied(m),
                ..
            } => {
                assert!(
                    m.contains("priv_validator_key.json") && m.contains("not granted"),
                    "{m}"
                )
            }
            other => panic!("{attempt}: expected a denial, got {other}"),
        }
    }
    still_works(&host).await;
}

#[tokio::test]
async fn a_granted_file_is_denied_when_the_operator_did_not_grant_it() {
    let home = secured_home();
    // The plugin declares data/upgrade-info.json, but the operator grants nothing.
    let host = home
        .host("", &[fixture("fixture_resolver_hostile")])
        .unwrap();
    let err = resolve_one(&host, "read-granted").await.unwrap_err();
    assert!(err.to_string().contains("not granted"), "{err}");
}

#[tokio::test]
async fn http_to_a_host_that_is_not_granted_is_denied() {
    let home = secured_home();
    let host = home
        .host(HOSTILE, &[fixture("fixture_resolver_hostile")])
        .unwrap();
    let err = resolve_one(&host, "http-not-granted").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("HTTP to https://evil.example.net/exfiltrate"),
        "{err}"
    );
    assert!(
        matches!(
            err,
            PluginError::Reported {
                error: ReportedError::Denied(_),
                ..
            }
        ),
        "{err}"
    );
    still_works(&host).await;
}

/// A one-shot HTTP server on 127.0.0.1; sends what it received through the channel.
fn serve_once(body: &'static str) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (port, rx)
}

#[tokio::test]
async fn a_granted_name_resolving_to_loopback_is_refused() {
    let home = secured_home();
    let (port, received) = serve_once("should never be served");
    let config = format!(
        "[plugins.resolver-hostile]\nhosts = [\"localhost\"]\nfiles = [\"data/upgrade-info.json\"]\n[plugins.resolver-hostile.config]\nurl = \"http://localhost:{port}/x\"\n"
    );
    let host = home
        .host(&config, &[fixture("fixture_resolver_hostile")])
        .unwrap();
    let err = resolve_one(&host, "http-config-url").await.unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::Reported {
                error: ReportedError::Denied(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("resolves only to") && err.to_string().contains("127.0.0.1"),
        "{err}"
    );
    assert!(
        received.recv_timeout(Duration::from_millis(200)).is_err(),
        "the server must not be contacted"
    );
    still_works(&host).await;
}

#[tokio::test]
async fn loopback_is_reachable_when_the_address_is_granted_and_credentials_are_added_by_the_host() {
    let home = secured_home();
    let (port, received) = serve_once("from-the-server");
    // SAFETY of the test: a variable only this test uses.
    unsafe { std::env::set_var("WASMVISOR_TEST_PLUGIN_TOKEN", "tok-123") };
    let config = format!(
        "[plugins.resolver-hostile]\nhosts = [\"localhost\", \"127.0.0.1\"]\n\
         [plugins.resolver-hostile.config]\nurl = \"http://localhost:{port}/x\"\n\
         [[plugins.credentials]]\nhosts = [\"localhost\"]\nbearer_env = \"WASMVISOR_TEST_PLUGIN_TOKEN\"\n"
    );
    let host = home
        .host(&config, &[fixture("fixture_resolver_hostile")])
        .unwrap();
    let artifacts = resolve_one(&host, "http-config-url").await.unwrap();
    assert_eq!(artifacts[0].url, "from-the-server");
    let request = received
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        request.contains("authorization: bearer tok-123"),
        "{request}"
    );
}

#[tokio::test]
async fn a_panic_is_reported_with_its_message() {
    let home = secured_home();
    let host = home
        .host(HOSTILE, &[fixture("fixture_resolver_hostile")])
        .unwrap();
    let err = resolve_one(&host, "panic").await.unwrap_err();
    assert!(matches!(err, PluginError::Panic { .. }), "{err}");
    assert!(
        err.to_string().contains("the fixture panics on purpose"),
        "{err}"
    );
    still_works(&host).await;
}

#[tokio::test]
async fn an_oversized_result_is_refused() {
    let home = secured_home();
    let host = home
        .host(HOSTILE, &[fixture("fixture_resolver_hostile")])
        .unwrap();
    let err = resolve_one(&host, "oversized").await.unwrap_err();
    assert!(
        matches!(err, PluginError::ResultTooLarge { limit: 1048576, .. }),
        "{err}"
    );
    still_works(&host).await;
}

#[tokio::test]
async fn a_log_flood_is_capped_and_the_call_still_succeeds() {
    let home = secured_home();
    let host = home
        .host(HOSTILE, &[fixture("fixture_resolver_hostile")])
        .unwrap();
    assert!(resolve_one(&host, "log-flood").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_plugin_whose_sha256_differs_from_its_pin_is_not_loaded() {
    let home = secured_home();
    let path = fixture("fixture_resolver_basic");
    let config = format!(
        "[plugins.basic]\npath = \"{}\"\nsha256 = \"{}\"\n",
        path.display(),
        "0".repeat(64)
    );
    let err = home
        .host(&config, &[])
        .err()
        .expect("a pin mismatch must refuse the plugin");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("pins 0000") && msg.contains("refusing to load"),
        "{msg}"
    );

    // The right pin loads.
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&path).unwrap()));
    let config = format!(
        "[plugins.basic]\npath = \"{}\"\nsha256 = \"{sha}\"\n",
        path.display()
    );
    assert_eq!(home.host(&config, &[]).unwrap().plugins().len(), 1);
}

#[tokio::test]
async fn a_component_for_an_unknown_wit_version_gets_a_clear_error() {
    let home = secured_home();
    let err = home
        .host("", &[fixture("fixture_future_wit")])
        .err()
        .expect("must refuse");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("wasmvisor:plugin@0.9.0") && msg.contains("supports 0.1.0"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_component_gets_a_clear_error() {
    let home = secured_home();
    let bogus = home.path().join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm\x01\0\0\0").unwrap();
    let msg = format!("{:#}", home.host("", &[bogus]).err().unwrap());
    assert!(msg.contains("not a WebAssembly component"), "{msg}");
}

#[tokio::test]
async fn loading_compiles_nothing_until_a_plugin_is_needed() {
    let home = secured_home();
    let host = home.host("", &[fixture("fixture_resolver_basic")]).unwrap();
    let cache = home.path().join("cosmovisor/.plugin-cache");
    assert_eq!(host.plugins()[0].kind(), PluginKind::Resolver);
    assert!(!cache.exists(), "load must not compile");
    host.resolve(&plan("v2"), &linux()).await.unwrap();
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        1,
        "one compiled entry after the first call"
    );
}

#[tokio::test]
async fn a_failing_resolver_passes_to_the_next_by_priority() {
    let home = secured_home();
    let config = format!(
        "[plugins.hostile]\npath = \"{}\"\npriority = 10\ntimeout = \"300ms\"\n[plugins.basic]\npath = \"{}\"\npriority = 1\n",
        fixture("fixture_resolver_hostile").display(),
        fixture("fixture_resolver_basic").display()
    );
    let host = home.host(&config, &[]).unwrap();
    // The hostile resolver (asked first) loops and is stopped; the basic one answers.
    let artifacts = host.resolve(&plan("loop"), &linux()).await.unwrap();
    assert!(
        artifacts[0].url.contains("/loop/chaind-linux-amd64"),
        "{:?}",
        artifacts[0]
    );
    // "not-mine": the basic resolver says not applicable; the hostile one also; the
    // summary names both.
    let err = host
        .resolve(&plan("not-mine"), &linux())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not applicable"), "{err}");
}

#[tokio::test]
async fn a_detector_polls_once_per_plan_and_reads_log_lines() {
    let home = secured_home();
    let host = home
        .host(
            "[plugins.detector-basic.config]\nplan = \"v3:1200\"\n",
            &[fixture("fixture_detector_basic")],
        )
        .unwrap();
    let detectors = host.detectors().await;
    assert_eq!(detectors.len(), 1);
    let d = &detectors[0];
    assert_eq!(d.poll_interval, Some(Duration::from_secs(1)));
    assert!(d.wants_log_lines);
    assert_eq!(
        d.poll(None, None).await,
        Some(Plan {
            name: "v3".into(),
            height: 1200,
            info: String::new()
        })
    );
    assert_eq!(
        d.poll(None, None).await,
        None,
        "the detector remembers (state) that it reported v3"
    );
    let line = "ERR UPGRADE \"v4\" NEEDED at height: 99: {}";
    assert_eq!(
        d.on_log_line(line).await.map(|p| (p.name, p.height)),
        Some(("v4".into(), 99))
    );
    assert_eq!(d.on_log_line("an ordinary line").await, None);
    assert_eq!(d.failures(), 0);
    // The state persisted under DAEMON_HOME.
    assert!(
        home.path()
            .join("cosmovisor/.plugin-state/detector-basic.json")
            .is_file()
    );
}

#[tokio::test]
async fn a_failing_detector_yields_no_upgrade_and_is_counted() {
    let home = secured_home();
    let host = home
        .host(
            "[plugins.detector-basic.config]\nplan = \"no-height\"\n",
            &[fixture("fixture_detector_basic")],
        )
        .unwrap();
    let detectors = host.detectors().await;
    assert_eq!(detectors[0].poll(None, None).await, None);
    assert_eq!(detectors[0].failures(), 1);
}

#[tokio::test]
async fn the_bundled_log_scanner_detects_the_upgrade_line() {
    let home = secured_home();
    let host = home.host("", &[]).unwrap();
    assert!(host.is_empty());
    let doc = "[plugins.scanner]\nbundled = \"log-scanner\"\n";
    let host = home.host(doc, &[]).unwrap();
    let d = host.detectors().await;
    let line = r#"11:02PM ERR UPGRADE "v2.0.0" NEEDED at height: 4200: {"binaries":{"linux/amd64":"https://x/y"}}"#;
    let plan = d[0].on_log_line(line).await.unwrap();
    assert_eq!((plan.name.as_str(), plan.height), ("v2.0.0", 4200));
    assert_eq!(plan.info, r#"{"binaries":{"linux/amd64":"https://x/y"}}"#);
}

fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn a_hook_checks_the_new_binary_version() {
    let home = secured_home();
    let new_binary = home.path().join("new/chaind");
    script(
        &new_binary,
        "[ \"$1\" = version ] && echo v2.0.1 && exit 0\nexit 3",
    );
    let host = home
        .host(
            "[plugins.hook-basic.config]\nexpect = \"v2.0\"\n",
            &[fixture("fixture_hook_basic")],
        )
        .unwrap();
    host.run_hooks_pre(&plan("v2"), &new_binary, None)
        .await
        .unwrap();

    let err = host
        .run_hooks_pre(&plan("run-forbidden"), &new_binary, None)
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("not among the granted binary-commands"),
        "{err:#}"
    );
}

#[tokio::test]
async fn a_failing_hook_aborts_the_upgrade_and_the_old_binary_stays_current() {
    use std::sync::Arc;
    use wasmvisor::plugin::PluginHooks;
    use wasmvisor::upgrade::{Extensions, Upgrade};

    let home = secured_home();
    let cosmovisor = home.path().join("cosmovisor");
    script(&cosmovisor.join("genesis/bin/chaind"), "echo v1.0.0");
    script(
        &cosmovisor.join("upgrades/v2/bin/chaind"),
        "[ \"$1\" = version ] && echo v1.9.9 && exit 0\nexit 1",
    );
    std::os::unix::fs::symlink("genesis", cosmovisor.join("current")).unwrap();

    let host = home
        .host(
            "[plugins.hook-basic.config]\nexpect = \"v2.0\"\n",
            &[fixture("fixture_hook_basic")],
        )
        .unwrap();
    let mut config = wasmvisor::config::Config::new(home.path(), "chaind");
    config.unsafe_skip_backup = true;
    let ext = Extensions {
        binary_source: None,
        hooks: Some(Box::new(PluginHooks::new(Arc::new(host), &config))),
    };
    let err = Upgrade::new(&config, &ext, plan("v2"), None, None)
        .run()
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("v1.9.9") && msg.contains("v2.0"),
        "the error says why: {msg}"
    );
    assert_eq!(
        std::fs::read_link(cosmovisor.join("current")).unwrap(),
        Path::new("genesis")
    );
}

/// A server on 127.0.0.1 that answers every request with `body`, recording requests.
fn serve_forever(body: Vec<u8>) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (port, rx)
}

#[tokio::test]
async fn a_resolved_artifact_is_installed_with_host_side_credentials() {
    use std::sync::Arc;
    use wasmvisor::plugin::PluginBinarySource;
    use wasmvisor::upgrade::BinarySource;

    let home = secured_home();
    // A real executable of this machine (the installer checks the ELF header).
    let binary = std::fs::read("/bin/true").unwrap();
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(&binary));
    let (port, received) = serve_forever(binary);
    // SAFETY of the test: a variable only this test uses.
    unsafe { std::env::set_var("WASMVISOR_TEST_DOWNLOAD_TOKEN", "dl-456") };
    let config_text = format!(
        "[plugins.resolver-basic.config]\nbase-url = \"http://127.0.0.1:{port}\"\nraw-sha256 = \"{sha}\"\n\
         [[plugins.credentials]]\nhosts = [\"127.0.0.1\"]\nbearer_env = \"WASMVISOR_TEST_DOWNLOAD_TOKEN\"\n"
    );
    let host = Arc::new(
        home.host(&config_text, &[fixture("fixture_resolver_basic")])
            .unwrap(),
    );
    let config = wasmvisor::config::Config::new(home.path(), "chaind");
    let source = PluginBinarySource::new(host, &config);
    source.fetch(&plan("v2"), &config.layout()).await.unwrap();
    let installed = home.path().join("cosmovisor/upgrades/v2/bin/chaind");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read("/bin/true").unwrap()
    );
    let request = received
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .to_ascii_lowercase();
    assert!(request.starts_with("get /v2/chaind"), "{request}");
    assert!(
        request.contains("authorization: bearer dl-456"),
        "the download carries the credential: {request}"
    );
}

#[tokio::test]
async fn a_busy_plugin_does_not_starve_the_supervisors_other_tasks() {
    // The supervisor runs on a current-thread runtime: while a plugin loops, signal
    // forwarding and the node's I/O must still run. The plugin yields every tick.
    let home = secured_home();
    let host = home
        .host(HOSTILE, &[fixture("fixture_resolver_hostile")])
        .unwrap();
    host.plugins()[0].ready().await.unwrap();
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = ticks.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let err = resolve_one(&host, "loop").await.unwrap_err();
    ticker.abort();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err}");
    let n = ticks.load(std::sync::atomic::Ordering::SeqCst);
    // Without the per-tick yield this is 0: the loop would hold the only thread.
    // (tokio checks timers between batches of ready tasks, hence not 40.)
    assert!(
        n >= 3,
        "the other task ran only {n} times during a 400 ms plugin loop"
    );
}

#[tokio::test]
async fn a_host_call_that_hangs_is_bounded_by_the_call_time_limit() {
    let home = secured_home();
    // A server that accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let _held: Vec<_> = listener.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(30));
    });
    let config = format!(
        "[plugins.resolver-hostile]\nhosts = [\"localhost\", \"127.0.0.1\"]\nfiles = [\"data/upgrade-info.json\"]\ntimeout = \"500ms\"\n\
         [plugins.resolver-hostile.config]\nurl = \"http://localhost:{port}/slow\"\n"
    );
    let host = home
        .host(&config, &[fixture("fixture_resolver_hostile")])
        .unwrap();
    let started = Instant::now();
    let err = resolve_one(&host, "http-config-url").await.unwrap_err();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    still_works(&host).await;
}

#[tokio::test]
async fn background_detectors_deliver_plans_from_polls_and_log_lines() {
    use wasmvisor::plugin::DetectorTasks;

    let home = secured_home();
    let host = home
        .host(
            "[plugins.scanner]\nbundled = \"log-scanner\"\n[plugins.detector-basic.config]\nplan = \"v5:500\"\n",
            &[fixture("fixture_detector_basic")],
        )
        .unwrap();
    let (tasks, mut plans) = DetectorTasks::start(
        host.detectors().await,
        None,
        wasmvisor::running_version::RunningVersion::known(None),
    );
    assert!(tasks.wants_log_lines());
    // The polling detector reports at its first poll.
    let polled = tokio::time::timeout(Duration::from_secs(5), plans.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((polled.name.as_str(), polled.height), ("v5", 500));
    tasks.offer_line(b"INF just a line");
    tasks.offer_line(b"ERR UPGRADE \"v6\" NEEDED at height: 600: ");
    let seen = tokio::time::timeout(Duration::from_secs(5), plans.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((seen.name.as_str(), seen.height), ("v6", 600));
    assert_eq!(tasks.dropped_lines(), 0);
}

#[tokio::test]
async fn sigv4_credentials_are_signed_by_the_host_for_matching_hosts() {
    let home = secured_home();
    let (port, received) = serve_once("signed");
    // SAFETY of the test: variables only this test uses.
    unsafe {
        std::env::set_var("WASMVISOR_TEST_AWS_KEY_ID", "AKIDTEST");
        std::env::set_var("WASMVISOR_TEST_AWS_SECRET", "secret/key");
    }
    let config = format!(
        "[plugins.resolver-hostile]\nhosts = [\"localhost\", \"127.0.0.1\"]\n\
         [plugins.resolver-hostile.config]\nurl = \"http://localhost:{port}/bucket/key\"\n\
         [[plugins.credentials]]\nhosts = [\"localhost\"]\n\
         sigv4 = {{ region = \"eu-west-1\", access_key_id_env = \"WASMVISOR_TEST_AWS_KEY_ID\", secret_access_key_env = \"WASMVISOR_TEST_AWS_SECRET\" }}\n"
    );
    let host = home
        .host(&config, &[fixture("fixture_resolver_hostile")])
        .unwrap();
    resolve_one(&host, "http-config-url").await.unwrap();
    let request = received
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        request.contains("authorization: aws4-hmac-sha256 credential=akidtest/")
            && request.contains("/eu-west-1/s3/aws4_request"),
        "{request}"
    );
    assert!(
        request.contains("x-amz-date: ") && request.contains("x-amz-content-sha256: "),
        "{request}"
    );
    assert!(
        !request.contains("secret/key"),
        "the secret itself never travels"
    );
}

#[tokio::test]
async fn a_disabled_plugin_is_not_loaded_and_an_unknown_bundled_name_lists_the_known_ones() {
    let home = secured_home();
    let config = format!(
        "[plugins.basic]\npath = \"{}\"\nenabled = false\n",
        fixture("fixture_resolver_basic").display()
    );
    assert!(home.host(&config, &[]).unwrap().is_empty());
    let err = home
        .host("[plugins.x]\nbundled = \"no-such-plugin\"\n", &[])
        .err()
        .unwrap();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("no-such-plugin") && msg.contains("log-scanner"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_detector_returning_an_invalid_plan_is_a_counted_failure() {
    let home = secured_home();
    let host = home
        .host(
            "[plugins.detector-basic.config]\nplan = \"v9:0\"\n",
            &[fixture("fixture_detector_basic")],
        )
        .unwrap();
    let detectors = host.detectors().await;
    assert_eq!(
        detectors[0].poll(None, None).await,
        None,
        "height 0 is not a plan"
    );
    assert_eq!(detectors[0].failures(), 1);
}
