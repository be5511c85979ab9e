//! Hook plugins around a real upgrade, seen through the bundled `webhook` and a
//! loopback endpoint: a good upgrade is announced as `detected`, `binary-installed`,
//! `switched` (the last only once the new binary runs); an upgrade whose binary is
//! missing, whose download fails its checksum, or that another hook refuses, as
//! `detected` then `failed` with the reason — and the old binary stays current, the
//! node stopped, the supervisor exited with an error.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmvisor_e2e::TestHome;
use wasmvisor_e2e::api::{ApiServer, Reply};

/// One POST the webhook sent, and whether the v2 node process existed when it came.
struct Received {
    body: String,
    v2_running: bool,
}

/// Whether a process runs the executable `exe` (by `/proc/<pid>/exe`).
fn process_running(exe: &Path) -> bool {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .any(|e| std::fs::read_link(e.path().join("exe")).is_ok_and(|p| p == exe))
        })
        .unwrap_or(false)
}

/// A loopback endpoint recording every request body, checking at arrival time
/// whether the new binary already runs; answers 204.
fn start_endpoint(v2_exe: PathBuf) -> (ApiServer, Arc<Mutex<Vec<Received>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = seen.clone();
    let endpoint = ApiServer::start(move |req| {
        let v2_running = process_running(&v2_exe);
        store.lock().expect("lock").push(Received {
            body: req.body_text(),
            v2_running,
        });
        Reply::empty(204)
    });
    (endpoint, seen)
}

use wasmvisor_e2e::archive::tar_gz;
use wasmvisor_e2e::http::Server;
use wasmvisor_e2e::{Chain, Exit, Running, TIMEOUT};

/// The `event` field of each body received, in order.
fn events(seen: &[Received]) -> Vec<String> {
    seen.iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|v| v["event"].as_str().map(str::to_string))
                .unwrap_or_else(|| format!("not JSON: {}", r.body))
        })
        .collect()
}

/// Waits until `n` bodies have arrived (or the time is up) and returns them.
fn wait_for_bodies(seen: &Arc<Mutex<Vec<Received>>>, n: usize) -> Vec<Received> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while seen.lock().expect("lock").len() < n && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::mem::take(&mut *seen.lock().expect("lock"))
}

/// Writes a config enabling the webhook to `port` and starts `wasmvisor run` with it.
/// `more`: further TOML (other plugins), loaded after the webhook.
fn run_with_webhook(home: &mut TestHome, port: u16, more: &str) -> Running {
    let config = home.scratch().join("wasmvisor.toml");
    std::fs::write(
        &config,
        format!(
            "[plugins.webhook]\nbundled = \"webhook\"\nhosts = [\"127.0.0.1\"]\n\
             [plugins.webhook.config]\nurl = \"http://127.0.0.1:{port}/events\"\n{more}"
        ),
    )
    .expect("write the config");
    let home_dir = home.home().display().to_string();
    let cmd = home.command([
        "run",
        "--cosmovisor-config",
        config.to_str().expect("utf-8"),
        "start",
        "--home",
        &home_dir,
    ]);
    home.spawn(cmd)
}

#[test]
fn the_webhook_announces_detected_installed_then_switched_once_the_new_binary_runs() {
    let mut home = TestHome::with_v2_at(5);
    let v2_exe = home.home().join("cosmovisor/upgrades/v2/bin/fake-chaind");
    let (endpoint, seen) = start_endpoint(v2_exe);
    let port = endpoint.port();
    let wv = run_with_webhook(&mut home, port, "");
    home.wait_for_blocks_by("v2", 6, &wv);
    let seen = wait_for_bodies(&seen, 3);
    assert_eq!(
        events(&seen),
        ["detected", "binary-installed", "switched"],
        "{}",
        wv.output()
    );
    assert!(
        !seen[0].v2_running && !seen[1].v2_running,
        "detected and binary-installed come before the switch"
    );
    assert!(
        seen[2].v2_running,
        "switched is sent once the v2 node runs\n{}",
        wv.output()
    );
    let detected: serde_json::Value = serde_json::from_str(&seen[0].body).expect("JSON");
    assert_eq!(detected["plan"]["name"], "v2");
    assert_eq!(detected["plan"]["height"], 5);
    assert_eq!(detected["daemon"], "fake-chaind");
    assert!(detected["previous_upgrade"].is_null(), "{detected}");
    assert!(detected.get("reason").is_none(), "{detected}");
    assert!(
        detected["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{detected}"
    );
}

/// A failed upgrade: exactly `detected` then `failed` whose reason contains
/// `because`; wasmvisor exited with an error, no node left running, genesis current,
/// no v2 binary.
fn assert_failed_upgrade(
    home: &TestHome,
    wv: Running,
    seen: &Arc<Mutex<Vec<Received>>>,
    because: &str,
) {
    assert_failed_with(home, wv, seen, &["detected", "failed"], because);
    assert!(
        !home
            .home()
            .join("cosmovisor/upgrades/v2/bin/fake-chaind")
            .exists()
    );
}

/// A failed upgrade announced as `expected` (ending in `failed`, whose reason
/// contains `because`); wasmvisor exited with an error, no node left running,
/// genesis current.
fn assert_failed_with(
    home: &TestHome,
    mut wv: Running,
    seen: &Arc<Mutex<Vec<Received>>>,
    expected: &[&str],
    because: &str,
) {
    let exit = wv.wait_exit(TIMEOUT);
    assert!(
        matches!(exit, Exit::Code(c) if c != 0),
        "{}",
        home.describe(&wv)
    );
    let seen = wait_for_bodies(seen, expected.len());
    assert_eq!(events(&seen), expected, "{}", wv.output());
    let last = seen.last().expect("at least one event");
    let failed: serde_json::Value = serde_json::from_str(&last.body).expect("JSON");
    assert_eq!(failed["plan"]["name"], "v2");
    let reason = failed["reason"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        reason.contains(because),
        "reason {reason:?}\n{}",
        wv.output()
    );
    home.assert_current("genesis");
    let genesis = home.home().join("cosmovisor/genesis/bin/fake-chaind");
    assert!(
        !process_running(&genesis),
        "the old node was stopped and not left behind"
    );
}

#[test]
fn a_missing_binary_is_announced_as_detected_then_failed_with_the_reason() {
    let mut home = TestHome::new(Chain::upgrade_at("v2", 5));
    let never = home.scratch().join("no-v2-binary");
    let (endpoint, seen) = start_endpoint(never);
    let port = endpoint.port();
    let wv = run_with_webhook(&mut home, port, "");
    assert_failed_upgrade(&home, wv, &seen, "missing");
}

#[test]
fn a_download_with_a_wrong_checksum_is_announced_as_detected_then_failed() {
    let mut home = TestHome::new(Chain::default());
    let v2 = std::fs::read(home.make_version("v2")).expect("read v2");
    let archive = tar_gz(&[("bin/fake-chaind", &v2, 0o755)]);
    let server = Server::start([("/v2.tar.gz".to_string(), archive)].into_iter().collect());
    let wrong = format!("sha256:{}", "0".repeat(64));
    let url = format!("{}?checksum={wrong}", server.url("/v2.tar.gz"));
    let info = serde_json::json!({"binaries": {"any": url}}).to_string();
    home.write_chain(&Chain::default().with_upgrade_info("v2", 5, &info));
    home.set_env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true");
    let never = home.scratch().join("no-v2-binary");
    let (endpoint, seen) = start_endpoint(never);
    let port = endpoint.port();
    let wv = run_with_webhook(&mut home, port, "");
    assert_failed_upgrade(&home, wv, &seen, "checksum");
    assert!(!server.requests().is_empty(), "the download was attempted");
}

#[test]
fn a_hook_refusing_the_switch_is_announced_as_failed_with_its_reason() {
    let mut home = TestHome::with_v2_at(5);
    let v2_exe = home.home().join("cosmovisor/upgrades/v2/bin/fake-chaind");
    let (endpoint, seen) = start_endpoint(v2_exe.clone());
    let port = endpoint.port();
    // Plugins load in name order: version-check refuses before the webhook's
    // pre-upgrade, so no binary-installed; failed still goes out.
    let refuse = "[plugins.version-check]\nbundled = \"version-check\"\n\
                  [plugins.version-check.config]\nexpected = \"v9\"\n";
    let wv = run_with_webhook(&mut home, port, refuse);
    assert_failed_with(&home, wv, &seen, &["detected", "failed"], "\"v9\"");
    assert!(v2_exe.exists(), "the placed binary is kept for a retry");
}
