//! Plugins seen from the outside: the bundled log-scanner recognises the real
//! node's halt line — the height form and the time form of older SDKs — and
//! upgrades a chain that never writes `upgrade-info.json`; running with a
//! log-subscribing plugin still passes the node's output through intact (the
//! supervisor then reads the node's stdout).

use wasmvisor_e2e::{Chain, Exit, SETTLE, TIMEOUT, TestHome, wait_until};

#[test]
fn plugin_list_names_the_bundled_plugins() {
    let mut home = TestHome::new(Chain::default());
    let done = home.cli(&["plugin", "list"]);
    done.assert_success();
    assert!(done.stdout.contains("log-scanner"), "{done:#?}");
}

#[test]
fn the_log_scanner_finds_the_upgrade_in_the_real_nodes_halt_output() {
    let mut home = TestHome::new(Chain::upgrade_at("v2", 4));
    // The node's own output at its halt, not a hand-written imitation.
    let out = std::process::Command::new(wasmvisor_e2e::bins::fake_chaind())
        .arg("start")
        .arg("--home")
        .arg(home.home())
        .env_clear()
        .env("FAKECHAIND_EXIT_ON_HALT", "true")
        .output()
        .expect("run fake-chaind to its halt");
    let log = home.scratch().join("node.log");
    let mut text = out.stdout;
    text.extend_from_slice(&out.stderr);
    std::fs::write(&log, &text).expect("write the log");
    let done = home.cli(&[
        "plugin",
        "detect",
        "log-scanner",
        "--log",
        log.to_str().expect("utf-8"),
    ]);
    done.assert_success();
    assert!(
        done.stdout.contains("v2") && done.stdout.contains('4'),
        "the plan v2 at height 4 is reported: {done:#?}"
    );
}

#[test]
fn running_with_the_log_scanner_upgrades_and_passes_the_nodes_output_through() {
    let mut home = TestHome::with_v2_at(5);
    let home_dir = home.home().display().to_string();
    let cmd = home.command([
        "run",
        "--plugin",
        "log-scanner",
        "start",
        "--home",
        &home_dir,
    ]);
    let wv = home.spawn(cmd);
    home.wait_for_blocks_by("v2", 6, &wv);
    home.assert_current("upgrades/v2");
    let out = wv.stdout();
    for height in 1..=6 {
        let v = if height <= 5 { "v1" } else { "v2" };
        let line = format!("INF committed state height={height} module=state version={v}");
        assert!(
            out.lines().any(|l| l == line),
            "the node's line {line:?} must pass through unchanged\n{}",
            wv.output()
        );
    }
}

/// A chain on an SDK before 0.43: `v2` at height 4 (a time-based plan when `time`
/// is given), no `upgrade-info.json` at the halt, only the log line; the v2 binary
/// is in place. The node runs under `wasmvisor run <extra…> start`.
fn old_sdk_chain(time: Option<&str>) -> TestHome {
    let mut home = TestHome::with_v2_at(4);
    let plan = match time {
        Some(t) => serde_json::json!([{"name": "v2", "height": 4, "time": t}]),
        None => serde_json::json!([{"name": "v2", "height": 4}]),
    };
    home.set_env("FAKECHAIND_UPGRADES", &plan.to_string());
    home.set_env("FAKECHAIND_WRITE_UPGRADE_INFO", "false");
    home
}

fn run_node(home: &mut TestHome, plugin: Option<&str>) -> wasmvisor_e2e::Running {
    let home_dir = home.home().display().to_string();
    let mut args = vec!["run"];
    if let Some(p) = plugin {
        args.extend(["--plugin", p]);
    }
    args.extend(["start", "--home", &home_dir]);
    let cmd = home.command(&args);
    home.spawn(cmd)
}

/// The plan wasmvisor recorded beside the binary it switched to.
fn applied_plan(home: &TestHome) -> serde_json::Value {
    let text = std::fs::read_to_string(home.cosmovisor().join("upgrades/v2/upgrade-info.json"))
        .expect("the applied plan is recorded");
    serde_json::from_str(&text).expect("the applied plan is JSON")
}

#[test]
fn the_log_scanner_upgrades_a_chain_that_never_writes_upgrade_info() {
    let mut home = old_sdk_chain(None);
    let wv = run_node(&mut home, Some("log-scanner"));
    home.wait_for_blocks_by("v2", 4, &wv);
    home.assert_current("upgrades/v2");
    assert!(
        wv.stdout()
            .contains("ERR UPGRADE \"v2\" NEEDED at height: 4: "),
        "{}",
        home.describe(&wv)
    );
    assert!(
        !home.upgrade_info_file().exists(),
        "the chain wrote no upgrade-info.json: the log line alone drove the upgrade"
    );
    assert_eq!(applied_plan(&home)["height"], 4);
}

#[test]
fn the_log_scanner_upgrades_at_once_for_a_time_based_plan() {
    let mut home = old_sdk_chain(Some("2021-06-01T12:00:00Z"));
    let wv = run_node(&mut home, Some("log-scanner"));
    home.wait_for_blocks_by("v2", 4, &wv);
    home.assert_current("upgrades/v2");
    assert!(
        wv.stdout()
            .contains("ERR UPGRADE \"v2\" NEEDED at time: 2021-06-01T12:00:00Z: "),
        "{}",
        home.describe(&wv)
    );
    assert!(!home.upgrade_info_file().exists());
    // The line gives no height: the plan is due now, recorded at height 1.
    let plan = applied_plan(&home);
    assert_eq!((&plan["name"], &plan["height"]), (&"v2".into(), &1.into()));
    assert!(
        wv.stderr().contains("2021-06-01T12:00:00Z"),
        "the plugin says which time-based plan it reported\n{}",
        wv.output()
    );
}

#[test]
fn the_log_scanner_upgrades_a_node_that_exits_right_after_its_halt_line() {
    // Older SDKs panic in BeginBlock: the process is gone a moment after the line.
    // The plan read from its last output must still be carried out, not reported
    // as a crash with no upgrade pending.
    let mut home = old_sdk_chain(Some("2021-06-01T12:00:00Z"));
    home.set_env("FAKECHAIND_EXIT_ON_HALT", "true");
    let wv = run_node(&mut home, Some("log-scanner"));
    home.wait_for_blocks_by("v2", 4, &wv);
    home.assert_current("upgrades/v2");
    assert!(!home.upgrade_info_file().exists());
}

#[test]
fn without_the_log_scanner_a_chain_that_never_writes_upgrade_info_stays_halted() {
    // The control for the two tests above: the same chain, no plugin.
    let mut home = old_sdk_chain(Some("2021-06-01T12:00:00Z"));
    let mut wv = run_node(&mut home, None);
    wait_until(
        "the node to halt for v2",
        TIMEOUT,
        || wv.stdout().contains("UPGRADE \"v2\" NEEDED at time:"),
        || home.describe(&wv),
    );
    std::thread::sleep(SETTLE);
    wv.assert_running();
    home.assert_current("genesis");
    assert_eq!(home.node_version(), "v1", "{}", home.describe(&wv));
}

#[test]
fn run_version_with_a_log_plugin_still_prints_exactly_the_apps_output() {
    let mut home = TestHome::new(Chain::default());
    let done = home.cli(&["run", "--plugin", "log-scanner", "version"]);
    assert_eq!(done.exit, Exit::Code(0), "{done:#?}");
    assert_eq!(done.stdout, "v1\n", "{done:#?}");
}

/// Runs `cmd` with stdout read slowly (as a busy journald or a slow terminal
/// would), returning everything it wrote. The slow reader keeps the supervisor's
/// copy of the node's output behind the node, so nothing may be lost at its exit.
fn slowly_read_stdout(mut cmd: std::process::Command) -> (Option<i32>, Vec<u8>) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start wasmvisor");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    });
    let status = child.wait().expect("wait for wasmvisor");
    (status.code(), reader.join().expect("reader thread"))
}

/// Installs a node that prints 30000 numbered lines and exits at once (like a
/// node dying with a long panic trace); returns what it prints.
fn chatty_node(home: &TestHome) -> Vec<u8> {
    let bin = home.cosmovisor().join("genesis/bin/fake-chaind");
    std::fs::write(&bin, "#!/bin/sh\nseq 1 30000\n").expect("write the node script");
    (1..=30000)
        .flat_map(|n| format!("{n}\n").into_bytes())
        .collect()
}

fn assert_all_passed_on(expected: &[u8], out: &[u8]) {
    assert!(
        out == expected,
        "the node wrote {} bytes, wasmvisor passed on {} (last line {:?})",
        expected.len(),
        out.len(),
        String::from_utf8_lossy(out.rsplit(|b| *b == b'\n').nth(1).unwrap_or_default())
    );
}

#[test]
fn a_nodes_output_reaches_a_slow_reader_complete() {
    // The control: stdout inherited, no copy in between.
    let home = TestHome::new(Chain::default());
    let expected = chatty_node(&home);
    let (code, out) = slowly_read_stdout(home.command(["run", "anything"]));
    assert_eq!(code, Some(0));
    assert_all_passed_on(&expected, &out);
}

#[test]
fn a_tapped_nodes_last_output_is_not_lost_when_it_exits() {
    // With a log plugin the output goes through wasmvisor, which must finish
    // copying it before it acts on the exit (or exits itself).
    let home = TestHome::new(Chain::default());
    let expected = chatty_node(&home);
    let cmd = home.command(["run", "--plugin", "log-scanner", "anything"]);
    let (code, out) = slowly_read_stdout(cmd);
    assert_eq!(code, Some(0));
    assert_all_passed_on(&expected, &out);
}
