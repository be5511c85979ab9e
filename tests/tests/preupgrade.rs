//! Everything that may veto an upgrade runs before the switch: the operator's
//! custom script and the new binary's `pre-upgrade` (exit codes 0/1/30/31). A
//! veto leaves the old binary current and says so; nothing is switched.

use std::os::unix::fs::PermissionsExt;

use wasmvisor_e2e::{Chain, Exit, Finished, TIMEOUT, TestHome};

fn home_with_pre_upgrade_exits(codes: &[i32]) -> TestHome {
    let home = TestHome::new(Chain {
        pre_upgrade_exit: codes.to_vec(),
        ..Chain::upgrade_at("v2", 5)
    });
    home.install_upgrade("v2", "v2");
    home
}

/// Runs wasmvisor until it exits by itself (the upgrade failed).
fn run_until_exit(home: &mut TestHome) -> Finished {
    let mut wv = home.start(&[]);
    let exit = wv.wait_exit(TIMEOUT);
    Finished {
        exit,
        stdout: wv.stdout(),
        stderr: wv.stderr(),
    }
}

/// The upgrade failed cleanly: non-zero exit, an error line naming `what`, the
/// old binary current, no plan recorded beside the new one, no v2 block.
fn assert_failed_cleanly(home: &TestHome, done: &Finished, what: &str) {
    assert!(matches!(done.exit, Exit::Code(c) if c != 0), "{done:#?}");
    assert!(
        done.stderr
            .lines()
            .any(|l| l.contains("ERR") && l.contains(what)),
        "an error line must name {what:?}: {done:#?}"
    );
    home.assert_current("genesis");
    assert!(
        !home
            .cosmovisor()
            .join("upgrades/v2/upgrade-info.json")
            .exists(),
        "the plan must not be recorded for a vetoed upgrade"
    );
    assert!(
        !done.stdout.contains("starting node version=v2"),
        "{done:#?}"
    );
}

fn pre_upgrade_calls(stdout: &str) -> usize {
    stdout.matches("pre-upgrade: version v2 call #").count()
}

#[test]
fn pre_upgrade_exit_0_continues_the_upgrade() {
    let mut home = home_with_pre_upgrade_exits(&[0]);
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    assert_eq!(pre_upgrade_calls(&wv.stdout()), 1, "{}", wv.output());
}

#[test]
fn pre_upgrade_exit_1_means_not_implemented_and_the_upgrade_continues() {
    let mut home = home_with_pre_upgrade_exits(&[1]);
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    home.assert_current("upgrades/v2");
    assert_eq!(pre_upgrade_calls(&wv.stdout()), 1);
}

#[test]
fn pre_upgrade_exit_30_fails_the_upgrade_and_keeps_the_old_binary() {
    let mut home = home_with_pre_upgrade_exits(&[30]);
    let done = run_until_exit(&mut home);
    assert_failed_cleanly(&home, &done, "pre-upgrade");
    assert_eq!(pre_upgrade_calls(&done.stdout), 1, "exit 30 is not retried");
}

#[test]
fn pre_upgrade_exit_31_is_retried_and_may_then_succeed() {
    let mut home = home_with_pre_upgrade_exits(&[31, 31, 0]);
    home.set_env("DAEMON_PREUPGRADE_MAX_RETRIES", "2");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    assert_eq!(pre_upgrade_calls(&wv.stdout()), 3, "{}", wv.output());
}

#[test]
fn pre_upgrade_exit_31_fails_once_the_retries_are_used_up() {
    let mut home = home_with_pre_upgrade_exits(&[31, 31, 31]);
    home.set_env("DAEMON_PREUPGRADE_MAX_RETRIES", "1");
    let done = run_until_exit(&mut home);
    assert_failed_cleanly(&home, &done, "pre-upgrade");
    assert_eq!(
        pre_upgrade_calls(&done.stdout),
        2,
        "one attempt plus one retry"
    );
}

#[test]
fn pre_upgrade_exit_31_without_retries_fails_at_once() {
    let mut home = home_with_pre_upgrade_exits(&[31, 0]);
    let done = run_until_exit(&mut home);
    assert_failed_cleanly(&home, &done, "pre-upgrade");
    assert_eq!(pre_upgrade_calls(&done.stdout), 1);
}

fn write_script(home: &TestHome, name: &str, body: &str) {
    let path = home.cosmovisor().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write the script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn a_missing_custom_pre_upgrade_script_fails_the_upgrade() {
    let mut home = TestHome::with_v2_at(5);
    home.set_env("COSMOVISOR_CUSTOM_PREUPGRADE", "no-such-script.sh");
    let done = run_until_exit(&mut home);
    assert_failed_cleanly(&home, &done, "no-such-script.sh");
    assert_eq!(
        pre_upgrade_calls(&done.stdout),
        0,
        "the binary's pre-upgrade comes after"
    );
}

#[test]
fn a_failing_custom_pre_upgrade_script_fails_the_upgrade() {
    let mut home = TestHome::with_v2_at(5);
    write_script(&home, "check.sh", "echo 'custom check says no'; exit 3");
    home.set_env("COSMOVISOR_CUSTOM_PREUPGRADE", "check.sh");
    let done = run_until_exit(&mut home);
    assert_failed_cleanly(&home, &done, "check.sh");
    assert!(
        done.stdout.contains("custom check says no")
            || done.stderr.contains("custom check says no")
    );
}

#[test]
fn the_custom_pre_upgrade_script_gets_the_plan_and_runs_in_daemon_home() {
    let mut home = TestHome::with_v2_at(5);
    let record = home.scratch().join("script-record");
    write_script(
        &home,
        "record.sh",
        &format!(
            "echo \"$@\" > {r}; pwd >> {r}; readlink cosmovisor/current >> {r}",
            r = record.display()
        ),
    );
    home.set_env("COSMOVISOR_CUSTOM_PREUPGRADE", "record.sh");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    let text = std::fs::read_to_string(&record).expect("the script ran");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("v2 5"),
        "args are <name> <height>"
    );
    assert_eq!(
        lines.get(1).map(std::path::Path::new),
        Some(home.home().as_path()),
        "cwd is $DAEMON_HOME"
    );
    assert_eq!(
        lines.get(2).copied(),
        Some("genesis"),
        "the script runs before the switch"
    );
    assert_eq!(
        std::fs::read_link(home.cosmovisor().join("current"))
            .ok()
            .as_deref(),
        Some(std::path::Path::new("upgrades/v2"))
    );
}

#[test]
fn a_failed_pre_upgrade_is_retried_on_the_next_start_and_then_completes() {
    // exit 30 once, then the operator fixes the cause and restarts wasmvisor.
    let mut home = home_with_pre_upgrade_exits(&[30, 0]);
    let done = run_until_exit(&mut home);
    assert_failed_cleanly(&home, &done, "pre-upgrade");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    home.assert_current("upgrades/v2");
    assert_eq!(
        home.backups_in(&home.home()).len(),
        1,
        "the backup made before the failed attempt is not made twice"
    );
}
