//! The data backup taken before the switch: where it goes, its name (cosmovisor's
//! `data-backup-<Y>-<M>-<D>`, no zero padding), its content, and how to skip it.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use wasmvisor_e2e::{Chain, Exit, TestHome, start_height};

/// Today's backup name as the supervisor computes it (local date, no padding).
fn todays_name() -> String {
    let out = Command::new("date")
        .arg("+data-backup-%Y-%-m-%-d")
        .env_clear()
        .output()
        .expect("run date");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn backed_up_height(backup: &Path) -> u64 {
    let text = std::fs::read_to_string(backup.join("fakechain_state.json"))
        .unwrap_or_else(|e| panic!("{} should hold the node's state: {e}", backup.display()));
    let state: Value = serde_json::from_str(&text).expect("state JSON");
    state["height"].as_u64().expect("height")
}

fn assert_named_for_today(names: &[String]) {
    let before = todays_name();
    assert_eq!(names.len(), 1, "exactly one backup: {names:?}");
    // Tolerate the date changing while the test ran.
    assert!(
        names[0] == before || names[0] == todays_name(),
        "backup {:?} should be named {before:?}",
        names[0]
    );
}

#[test]
fn the_backup_goes_to_daemon_home_by_default_and_holds_the_data_at_the_stop() {
    let mut home = TestHome::with_v2_at(5);
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    let names = home.backups_in(&home.home());
    assert_named_for_today(&names);
    let backup = home.home().join(&names[0]);
    let started = start_height(&wv.stdout(), "v2").expect("v2 started");
    assert_eq!(
        backed_up_height(&backup),
        started,
        "the backup is the data v2 started from"
    );
    assert!(backup.join("upgrade-info.json").is_file());
    assert!(
        !std::fs::read_dir(home.home()).expect("list home").any(|e| e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .contains("incomplete")),
        "no staging directory may remain"
    );
}

#[test]
fn the_backup_goes_to_daemon_data_backup_dir_when_set() {
    let mut home = TestHome::with_v2_at(5);
    let dir = home.scratch().join("backups");
    std::fs::create_dir_all(&dir).expect("create the backup dir");
    home.set_env("DAEMON_DATA_BACKUP_DIR", dir.to_str().expect("utf-8"));
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    let names = home.backups_in(&dir);
    assert_named_for_today(&names);
    assert!(
        home.backups_in(&home.home()).is_empty(),
        "nothing in DAEMON_HOME"
    );
    assert!(backed_up_height(&dir.join(&names[0])) >= 4);
}

#[test]
fn unsafe_skip_backup_upgrades_without_a_backup() {
    let mut home = TestHome::with_v2_at(5);
    home.set_env("UNSAFE_SKIP_BACKUP", "true");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    assert!(home.backups_in(&home.home()).is_empty(), "{}", wv.output());
}

#[test]
fn two_upgrades_on_one_day_keep_two_backups() {
    let mut home = TestHome::new(Chain::upgrade_at("v2", 4).with_upgrade("v3", 8));
    home.install_upgrade("v2", "v2");
    home.install_upgrade("v3", "v3");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v3", 8, &wv);
    let names = home.backups_in(&home.home());
    assert_eq!(names.len(), 2, "one backup per upgrade: {names:?}");
    let heights: Vec<u64> = names
        .iter()
        .map(|n| backed_up_height(&home.home().join(n)))
        .collect();
    assert!(
        heights[0] != heights[1],
        "two distinct states were kept: {names:?} {heights:?}"
    );
}

#[test]
fn a_backup_dir_that_does_not_exist_is_a_configuration_error() {
    let mut home = TestHome::with_v2_at(5);
    home.set_env(
        "DAEMON_DATA_BACKUP_DIR",
        "/nonexistent/wasmvisor-e2e-backups",
    );
    let done = home.cli(&["run", "start"]);
    assert_eq!(done.exit, Exit::Code(2), "{done:#?}");
    assert!(done.stderr.contains("DAEMON_DATA_BACKUP_DIR"), "{done:#?}");
    assert!(done.stdout.is_empty(), "no node may start: {done:#?}");
}

#[test]
fn a_missing_backup_dir_does_not_matter_when_backups_are_skipped() {
    let mut home = TestHome::with_v2_at(5);
    home.set_env(
        "DAEMON_DATA_BACKUP_DIR",
        "/nonexistent/wasmvisor-e2e-backups",
    );
    home.set_env("UNSAFE_SKIP_BACKUP", "TRUE");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    assert!(home.backups_in(&home.home()).is_empty());
}

#[test]
fn a_half_written_backup_left_by_a_crash_is_removed_and_a_whole_one_made() {
    let mut home = TestHome::with_v2_at(5);
    let stale = home.home().join(format!(".{}.incomplete", todays_name()));
    std::fs::create_dir_all(stale.join("partial")).expect("plant a stale staging dir");
    std::fs::write(stale.join("partial/half.db"), b"half").expect("plant a file");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    assert!(!stale.exists(), "the stale staging directory is removed");
    let names = home.backups_in(&home.home());
    assert_named_for_today(&names);
    assert!(
        !home.home().join(&names[0]).join("partial").exists(),
        "nothing of the half-written backup ends up in the new one"
    );
    assert!(backed_up_height(&home.home().join(&names[0])) >= 4);
}

#[test]
fn the_backup_command_backs_up_data_now_and_prints_where() {
    let mut home = TestHome::new(Chain::default());
    std::fs::write(home.data_dir().join("blocks.db"), b"block data").expect("write data");
    let done = home.cli(&["backup"]);
    done.assert_success();
    let names = home.backups_in(&home.home());
    assert_named_for_today(&names);
    let backup = home.home().join(&names[0]);
    assert!(
        done.stdout.contains(&names[0]),
        "the command prints the backup's path: {done:#?}"
    );
    assert_eq!(
        std::fs::read(backup.join("blocks.db")).expect("backed-up file"),
        b"block data"
    );
}
