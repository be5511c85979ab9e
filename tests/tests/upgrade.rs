//! The upgrade itself: detection at the plan height, the switch, the restart,
//! and the ways an upgrade is carried out when the node is not simply running.

use std::time::Duration;

use serde_json::Value;
use wasmvisor_e2e::{Chain, Exit, TIMEOUT, TestHome, assert_continued};

fn recorded_plan(home: &TestHome, folder: &str) -> Value {
    let path = home
        .cosmovisor()
        .join("upgrades")
        .join(folder)
        .join("upgrade-info.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} should record the plan: {e}", path.display()));
    serde_json::from_str(&text).expect("the recorded plan is JSON")
}

#[test]
fn upgrades_at_the_plan_height_and_the_new_binary_continues_the_chain() {
    let mut home = TestHome::with_v2_at(6);
    let mut wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 8, &wv);

    home.assert_current("upgrades/v2");
    let plan = recorded_plan(&home, "v2");
    assert_eq!(plan["name"], "v2");
    assert_eq!(plan["height"], 6);
    let out = wv.stdout();
    assert!(
        out.contains("starting node version=v2 chain_id=fakechain-1 height=6"),
        "v2 must start from the halt height, not a reset chain\n{}",
        wv.output()
    );
    assert!(out.contains("committed state height=7 module=state version=v2"));
    assert!(
        !out.contains("height=7 module=state version=v1"),
        "v1 ran past its halt"
    );
    assert!(
        !home.journal_file().exists(),
        "the journal is removed after the upgrade"
    );
    wv.assert_running();
}

#[test]
fn a_pending_upgrade_is_carried_out_before_any_binary_starts() {
    // cosmovisor #25861: with upgrade-info.json already asking for v2, the old
    // binary must not be started first.
    let mut home = TestHome::with_v2_at(5);
    home.run_chain_to_halt();
    let home_height_at_halt = home.height();

    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 6, &wv);
    home.assert_current("upgrades/v2");
    let out = wv.stdout();
    assert!(
        !out.contains("starting node version=v1"),
        "the old binary was started although an upgrade was pending\n{}",
        wv.output()
    );
    assert_eq!(
        wasmvisor_e2e::start_height(&out, "v2"),
        Some(home_height_at_halt),
        "v2 must start from the height the chain halted at"
    );
}

#[test]
fn a_node_that_exits_at_the_upgrade_height_is_still_upgraded() {
    // cosmovisor #22731: the node dies at the halt instead of waiting to be stopped.
    let mut home = TestHome::new(Chain {
        exit_on_halt: true,
        ..Chain::upgrade_at("v2", 5)
    });
    home.install_upgrade("v2", "v2");
    let mut wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 6, &wv);
    home.assert_current("upgrades/v2");
    wv.assert_running();
}

#[test]
fn plan_names_are_recased_and_escaped_into_folder_names() {
    let name = "Big Upgrade/2";
    let mut home = TestHome::new(Chain::upgrade_at(name, 5));
    home.install_upgrade(name, "big%20upgrade%2F2");
    let wv = home.start(&[]);
    home.wait_for_blocks_by(name, 6, &wv);
    home.assert_current("upgrades/big%20upgrade%2F2");
    assert_eq!(recorded_plan(&home, "big%20upgrade%2F2")["name"], name);
}

#[test]
fn two_upgrades_in_a_row_end_on_the_last_binary() {
    let mut home = TestHome::new(Chain::upgrade_at("v2", 4).with_upgrade("v3", 9));
    home.install_upgrade("v2", "v2");
    home.install_upgrade("v3", "v3");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v3", 10, &wv);
    home.assert_current("upgrades/v3");
    let out = wv.stdout();
    assert_continued(&out, "v1", "v2");
    assert_continued(&out, "v2", "v3");
}

#[test]
fn without_restart_after_upgrade_it_switches_and_exits_zero() {
    let mut home = TestHome::with_v2_at(5);
    // Booleans are case-insensitive.
    home.set_env("DAEMON_RESTART_AFTER_UPGRADE", "False");
    let mut wv = home.start(&[]);
    let exit = wv.wait_exit(TIMEOUT);
    assert_eq!(exit, Exit::Code(0), "{}", wv.output());
    home.assert_current("upgrades/v2");
    assert!(
        !wv.stdout().contains("version=v2"),
        "the new binary must not be started\n{}",
        wv.output()
    );
    assert!(home.height() <= 5, "the chain must not move past its halt");
}

#[test]
fn restart_delay_is_waited_between_the_stop_and_the_switch() {
    let delay = Duration::from_millis(1500);
    let mut home = TestHome::with_v2_at(4);
    home.set_env("DAEMON_RESTART_DELAY", "1500ms");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 4, &wv);
    // File times, not the test's own polling: exact even on a loaded machine. The
    // chain wrote upgrade-info.json at the halt; the switch created the new link.
    let halted = std::fs::metadata(home.upgrade_info_file())
        .and_then(|m| m.modified())
        .expect("mtime of upgrade-info.json");
    let switched = std::fs::symlink_metadata(home.cosmovisor().join("current"))
        .and_then(|m| m.modified())
        .expect("mtime of the current link");
    let waited = switched.duration_since(halted).unwrap_or_default();
    assert!(
        waited >= delay,
        "switched {waited:?} after the halt; DAEMON_RESTART_DELAY is {delay:?}\n{}",
        home.describe(&wv)
    );
}

#[test]
fn a_plan_height_in_unsafe_skip_upgrades_stops_the_node_and_exits_zero() {
    let mut home = TestHome::with_v2_at(5);
    let mut wv = home.start(&[
        "--unsafe-skip-upgrades",
        "5",
        "--x-crisis-skip-assert-invariants",
    ]);
    let exit = wv.wait_exit(TIMEOUT);
    assert_eq!(exit, Exit::Code(0), "{}", wv.output());
    home.assert_current("genesis");
    assert!(!wv.stdout().contains("version=v2"), "{}", wv.output());
}

#[test]
fn unsafe_skip_upgrades_for_other_heights_does_not_prevent_the_upgrade() {
    let mut home = TestHome::with_v2_at(5);
    let wv = home.start(&["--unsafe-skip-upgrades", "4", "7", "--home-ignored", "5"]);
    home.wait_for_blocks_by("v2", 6, &wv);
    home.assert_current("upgrades/v2");
}

#[test]
fn a_missing_upgrade_binary_fails_clearly_and_add_upgrade_then_completes_it() {
    let mut home = TestHome::new(Chain::upgrade_at("v2", 5));
    let mut wv = home.start(&[]);
    let exit = wv.wait_exit(TIMEOUT);
    assert!(
        matches!(exit, Exit::Code(c) if c != 0),
        "{exit:?}\n{}",
        wv.output()
    );
    let err = wv.stderr();
    assert!(
        err.contains("missing") && err.contains("add-upgrade"),
        "the error must say the binary is missing and how to add it\n{}",
        wv.output()
    );
    home.assert_current("genesis");
    assert!(
        !home
            .cosmovisor()
            .join("upgrades/v2/bin/fake-chaind")
            .exists(),
        "nothing half-made may be left in upgrades/v2"
    );
    let halted = home.height();

    let v2 = home.make_version("v2");
    home.cli(&["add-upgrade", "v2", v2.to_str().expect("utf-8 path")])
        .assert_success();
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 6, &wv);
    home.assert_current("upgrades/v2");
    assert_eq!(
        wasmvisor_e2e::start_height(&wv.stdout(), "v2"),
        Some(halted)
    );
}

#[test]
fn with_recase_disabled_the_folder_keeps_the_plan_names_case() {
    let mut home = TestHome::new(Chain::upgrade_at("V2-Final", 5));
    home.install_upgrade("V2-Final", "V2-Final");
    home.set_env("COSMOVISOR_DISABLE_RECASE", "true");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("V2-Final", 5, &wv);
    home.assert_current("upgrades/V2-Final");
}

#[test]
fn polling_alone_detects_the_upgrade_when_inotify_is_disabled() {
    let mut home = TestHome::with_v2_at(5);
    home.set_env("WASMVISOR_DISABLE_INOTIFY", "true");
    home.set_env("DAEMON_POLL_INTERVAL", "100ms");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    home.assert_current("upgrades/v2");
}
