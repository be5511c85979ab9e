//! Crash safety: wasmvisor SIGKILLed right after each upgrade step (the
//! `failpoints` build's `WASMVISOR_FAILPOINT`) leaves a consistent home —
//! `current` names a complete binary, old or new — and the next start finishes
//! the upgrade: the node ends on v2, continuing the chain from the halt height,
//! with one complete backup (not redone if it was complete before the crash)
//! and no journal left.

use std::path::Path;

use serde_json::Value;
use wasmvisor_e2e::bins::{BUILD_COMMAND, fake_chaind, wasmvisor, wasmvisor_has_failpoints};
use wasmvisor_e2e::procfs;
use wasmvisor_e2e::{Exit, TIMEOUT, TestHome, start_height, wait_until};

/// Whether the step named by the failpoint comes after the backup.
fn backed_up_before(failpoint: &str) -> bool {
    !matches!(failpoint, "after-stop" | "after-binary")
}

fn crash_then_resume(failpoint: &str) {
    assert!(
        wasmvisor_has_failpoints(),
        "{} was built without the `failpoints` feature; build it with `{BUILD_COMMAND}`",
        wasmvisor().display()
    );
    let mut home = TestHome::with_v2_at(5);
    let genesis_bytes = std::fs::read(fake_chaind()).expect("read genesis binary");
    let v2_bytes = std::fs::read(home.make_version("v2")).expect("read v2 binary");

    home.set_env("WASMVISOR_FAILPOINT", failpoint);
    let mut crashed = home.start(&[]);
    let exit = crashed.wait_exit(TIMEOUT);
    assert_eq!(
        exit,
        Exit::Signal(libc::SIGKILL),
        "wasmvisor should have killed itself at failpoint {failpoint}; is it built with \
         failpoints (`{BUILD_COMMAND}`)?\n{}",
        home.describe(&crashed)
    );
    assert!(crashed.stderr().contains(&format!("failpoint {failpoint}")));
    let home_arg = home.home().display().to_string();
    assert!(
        procfs::with_arg(&home_arg).is_empty(),
        "no node may run while the supervisor is dead"
    );

    // The state right after the crash is consistent.
    let target = home
        .current_target()
        .expect("cosmovisor/current must exist after a crash");
    let bin = home.cosmovisor().join(&target).join("bin/fake-chaind");
    let bytes = std::fs::read(&bin).expect("current names a readable binary");
    let expected_target = if failpoint == "after-switch" {
        "upgrades/v2"
    } else {
        "genesis"
    };
    assert_eq!(
        target,
        Path::new(expected_target),
        "current after {failpoint}"
    );
    let expected_bytes = if failpoint == "after-switch" {
        &v2_bytes
    } else {
        &genesis_bytes
    };
    assert!(
        bytes == *expected_bytes,
        "current names an incomplete or wrong binary"
    );
    let journal: Value = serde_json::from_slice(
        &std::fs::read(home.journal_file()).expect("the journal records the interrupted upgrade"),
    )
    .expect("the journal is valid JSON");
    assert_eq!(journal["plan"]["name"], "v2");
    let halt_height = home.height();
    let backups_at_crash = home.backups_in(&home.home());
    let complete_at_crash: Vec<&String> = backups_at_crash
        .iter()
        .filter(|n| n.starts_with("data-backup-"))
        .collect();
    assert_eq!(
        complete_at_crash.len(),
        usize::from(backed_up_before(failpoint)),
        "complete backups at the crash: {backups_at_crash:?}"
    );

    // The next start finishes the job.
    home.unset_env("WASMVISOR_FAILPOINT");
    let mut resumed = home.start(&[]);
    home.wait_for_blocks_by("v2", halt_height + 2, &resumed);
    resumed.assert_running();
    home.assert_current("upgrades/v2");
    let out = resumed.stdout();
    assert!(
        !out.contains("starting node version=v1"),
        "the old binary must not run while the upgrade is unfinished\n{}",
        resumed.output()
    );
    assert_eq!(
        start_height(&out, "v2"),
        Some(halt_height),
        "v2 continues the chain from the halt height (data intact, not reset)"
    );
    wait_until(
        "the journal to be removed",
        TIMEOUT,
        || !home.journal_file().exists(),
        || home.describe(&resumed),
    );
    assert!(
        home.cosmovisor()
            .join("upgrades/v2/upgrade-info.json")
            .is_file(),
        "the plan is recorded beside the new binary"
    );
    let backups = home.backups_in(&home.home());
    assert_eq!(
        backups.len(),
        1,
        "one complete backup, no duplicate or leftover: {backups:?}"
    );
    assert!(backups[0].starts_with("data-backup-"), "{backups:?}");
    if backed_up_before(failpoint) {
        assert_eq!(
            backups_at_crash, backups,
            "a completed backup is not redone"
        );
    }
    let state: Value = serde_json::from_slice(
        &std::fs::read(home.home().join(&backups[0]).join("fakechain_state.json"))
            .expect("the backup holds the node state"),
    )
    .expect("state JSON");
    assert_eq!(
        state["height"], halt_height,
        "the backup holds the data at the halt"
    );
}

#[test]
fn a_crash_after_the_node_stopped_resumes_to_v2() {
    crash_then_resume("after-stop");
}

#[test]
fn a_crash_after_the_binary_was_checked_resumes_to_v2() {
    crash_then_resume("after-binary");
}

#[test]
fn a_crash_after_the_backup_resumes_to_v2_without_a_second_backup() {
    crash_then_resume("after-backup");
}

#[test]
fn a_crash_after_pre_upgrade_resumes_to_v2() {
    crash_then_resume("after-pre-upgrade");
}

#[test]
fn a_crash_after_the_plan_was_recorded_resumes_to_v2() {
    crash_then_resume("after-record");
}

#[test]
fn a_crash_after_the_switch_finishes_on_v2() {
    crash_then_resume("after-switch");
}
