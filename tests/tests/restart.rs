//! Stopping and starting wasmvisor around upgrades: a finished upgrade is not
//! repeated, a stop requested before an upgrade leaves it for the next start,
//! and a home left by cosmovisor (absolute `current`) or broken by hand is
//! handled or reported clearly.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use wasmvisor_e2e::{Chain, Exit, TIMEOUT, TestHome, wait_until};

#[test]
fn a_completed_upgrade_is_not_repeated_after_a_restart() {
    let mut home = TestHome::with_v2_at(5);
    let mut first = home.start(&[]);
    home.wait_for_blocks_by("v2", 6, &first);
    first.signal(Signal::SIGTERM);
    assert_eq!(
        first.wait_exit(TIMEOUT),
        Exit::Code(0),
        "{}",
        first.output()
    );
    let height = home.height();
    let backups = home.backups_in(&home.home());

    let second = home.start(&[]);
    home.wait_for_blocks_by("v2", height + 2, &second);
    home.assert_current("upgrades/v2");
    assert_eq!(home.backups_in(&home.home()), backups, "no second backup");
    assert_eq!(
        wasmvisor_e2e::start_height(&second.stdout(), "v2"),
        Some(height),
        "v2 resumes where it stopped"
    );
    assert!(
        !second.stderr().contains("upgrade detected") && !second.stderr().contains("pending"),
        "the applied plan must not be taken for a new request\n{}",
        second.output()
    );
}

#[test]
fn a_stop_requested_during_the_restart_delay_leaves_the_upgrade_for_the_next_start() {
    let mut home = TestHome::with_v2_at(5);
    home.set_env("DAEMON_RESTART_DELAY", "30s");
    let mut wv = home.start(&[]);
    wait_until(
        "the supervisor to wait out DAEMON_RESTART_DELAY",
        TIMEOUT,
        || wv.stderr().contains("DAEMON_RESTART_DELAY"),
        || home.describe(&wv),
    );
    let asked = Instant::now();
    wv.signal(Signal::SIGTERM);
    let exit = wv.wait_exit(TIMEOUT);
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "a stop must not wait out the delay"
    );
    assert_eq!(exit, Exit::Code(0), "{}", home.describe(&wv));
    home.assert_current("genesis");

    home.unset_env("DAEMON_RESTART_DELAY");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    assert!(
        !wv.stdout().contains("starting node version=v1"),
        "{}",
        wv.output()
    );
}

#[test]
fn an_absolute_current_link_left_by_cosmovisor_is_followed_and_replaced_by_a_relative_one() {
    let mut home = TestHome::with_v2_at(5);
    let genesis = home.cosmovisor().join("genesis");
    std::os::unix::fs::symlink(&genesis, home.cosmovisor().join("current")).expect("symlink");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    home.assert_current("upgrades/v2");
    assert!(wv.stdout().contains("starting node version=v1"));
}

#[test]
fn a_current_link_to_a_missing_binary_is_reported_before_anything_runs() {
    let mut home = TestHome::new(Chain::default());
    std::os::unix::fs::symlink("upgrades/gone", home.cosmovisor().join("current"))
        .expect("symlink");
    let done = home.cli(&["run", "start"]);
    assert!(matches!(done.exit, Exit::Code(c) if c != 0), "{done:#?}");
    assert!(
        done.stderr.contains("upgrades/gone"),
        "the error names the path: {done:#?}"
    );
    assert!(done.stdout.is_empty(), "{done:#?}");
}

#[test]
fn a_current_that_is_a_directory_is_reported_not_replaced() {
    let mut home = TestHome::new(Chain::default());
    let current = home.cosmovisor().join("current");
    std::fs::create_dir_all(current.join("bin")).expect("mkdir");
    let done = home.cli(&["run", "start"]);
    assert!(matches!(done.exit, Exit::Code(c) if c != 0), "{done:#?}");
    assert!(done.stderr.contains("not a symlink"), "{done:#?}");
    assert!(current.is_dir(), "the operator's directory is left alone");
}

#[test]
fn a_stop_requested_during_the_upgrade_lets_it_finish_then_exits_without_restarting() {
    let mut home = TestHome::with_v2_at(5);
    let script = home.cosmovisor().join("slow.sh");
    std::fs::write(&script, "#!/bin/sh\nsleep 2\n").expect("write the script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    home.set_env("COSMOVISOR_CUSTOM_PREUPGRADE", "slow.sh");
    let mut wv = home.start(&[]);
    wait_until(
        "the custom pre-upgrade script to run",
        TIMEOUT,
        || wv.stderr().contains("slow.sh"),
        || home.describe(&wv),
    );
    wv.signal(Signal::SIGTERM);
    let exit = wv.wait_exit(TIMEOUT);
    assert_eq!(exit, Exit::Code(0), "{}", home.describe(&wv));
    home.assert_current("upgrades/v2");
    assert!(!home.journal_file().exists(), "the upgrade is complete");
    assert!(
        !wv.stdout().contains("starting node version=v2"),
        "a stop request means no restart\n{}",
        wv.output()
    );
}

#[test]
fn an_abandoned_upgrade_is_forgotten_once_the_plan_file_is_gone() {
    // The binary is missing; the operator decides not to upgrade after all.
    let mut home = TestHome::new(Chain::upgrade_at("v2", 5));
    let mut failed = home.start(&[]);
    assert!(matches!(failed.wait_exit(TIMEOUT), Exit::Code(c) if c != 0));
    assert!(
        home.journal_file().exists(),
        "the failed upgrade is journaled"
    );
    std::fs::remove_file(home.upgrade_info_file()).expect("remove the plan");
    home.write_chain(&Chain::default());

    let wv = home.start(&[]);
    home.wait_for_height(8, &wv);
    home.assert_current("genesis");
    assert_eq!(home.node_version(), "v1");
    assert!(
        !home.journal_file().exists(),
        "the stale journal is discarded"
    );
}
