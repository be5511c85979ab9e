//! Behaviour of a whole backup on real trees on the test machine's filesystem.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::*;

/// Env variables of the child-process test below; read only by test builds.
const PAUSE_ENV: &str = "WASMVISOR_BACKUP_TEST_PAUSE_MS";
const CHILD_DATA_ENV: &str = "WASMVISOR_BACKUP_TEST_DATA";
const CHILD_ROOT_ENV: &str = "WASMVISOR_BACKUP_TEST_ROOT";

/// A file of this name fails to copy (test builds only): a deterministic failure
/// half-way through a real backup.
const FAIL_NAME: &str = "inject-copy-failure";

/// Test builds' hook in every copy: slows copies down in a child process that is
/// about to be killed, and fails the copy of a file named [`FAIL_NAME`].
pub(super) fn pause_or_fail_if_asked(rel: &Path) -> Result<()> {
    if let Some(ms) = std::env::var(PAUSE_ENV).ok().and_then(|v| v.parse().ok()) {
        std::thread::sleep(Duration::from_millis(ms));
    }
    if rel.file_name().is_some_and(|n| n == FAIL_NAME) {
        bail!("injected failure copying {}", rel.display());
    }
    Ok(())
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 7).unwrap()
}

fn set_mtime(path: &Path, secs: u64, nanos: u32) {
    let t = UNIX_EPOCH + Duration::new(secs, nanos);
    let f = File::open(path).unwrap();
    f.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t))
        .unwrap();
}

fn write(path: &Path, contents: &[u8], mode: u32, mtime: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
    set_mtime(path, mtime, 250);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A small tree shaped like a node's data, with every kind of entry `cp -a` keeps.
fn node_tree(data: &Path) {
    let big: Vec<u8> = (0..(2 << 20))
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    write(
        &data.join("application.db/000005.ldb"),
        &big,
        0o644,
        1_600_000_000,
    );
    for i in 0..40 {
        let body = format!("sst {i} ").repeat(i + 1);
        write(
            &data.join(format!("blockstore.db/{:06}.sst", i)),
            body.as_bytes(),
            0o644,
            1_600_000_000 + i as u64,
        );
    }
    write(
        &data.join("application.db/CURRENT"),
        b"MANIFEST-000004\n",
        0o644,
        1_600_000_100,
    );
    write(&data.join("application.db/LOCK"), b"", 0o644, 1_600_000_101);
    write(&data.join("cs.wal/wal"), b"wal bytes", 0o600, 1_600_000_102);
    write(
        &data.join("priv_validator_state.json"),
        b"{\"height\":\"0\"}",
        0o600,
        1_600_000_103,
    );
    write(
        &data.join("snapshots/metadata.db/exec"),
        b"#!/bin/sh\n",
        0o755,
        1_600_000_104,
    );
    write(&data.join("frozen/readonly"), b"ro", 0o444, 1_600_000_105);
    std::os::unix::fs::symlink("application.db/CURRENT", data.join("current-link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", data.join("dangling")).unwrap();
    std::fs::hard_link(data.join("cs.wal/wal"), data.join("wal-hardlink")).unwrap();
    // Wider than the usual umask lets a new file be: the copy must chmod it.
    write(&data.join("state.db/shared"), b"g", 0o666, 1_600_000_106);
    if clone::is_root() {
        // Set-uid and owned by someone else: the chown of the copy clears the bit,
        // so the mode must be set again after it.
        let tool = data.join("snapshots/suid-tool");
        write(&tool, b"#!/bin/sh\n", 0o755, 1_600_000_107);
        std::os::unix::fs::lchown(&tool, Some(1234), Some(4321)).unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::lchown(
            data.join("priv_validator_state.json"),
            Some(1234),
            Some(4321),
        )
        .unwrap();
        std::os::unix::fs::lchown(data.join("current-link"), Some(1235), Some(4322)).unwrap();
    }
    // Directory times and modes last: creating entries changes them.
    for (i, d) in [
        "application.db",
        "blockstore.db",
        "cs.wal",
        "snapshots/metadata.db",
        "snapshots",
        "frozen",
        "",
    ]
    .iter()
    .enumerate()
    {
        set_mtime(&data.join(d), 1_500_000_000 + i as u64, 999);
    }
    std::fs::set_permissions(data.join("frozen"), std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(data.join("cs.wal"), std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// What a backup must reproduce of each entry (atime is checked in `clone`'s tests:
/// reading a tree to compare it moves atimes).
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    kind: &'static str,
    mode: u32,
    mtime: (i64, i64),
    owner: (u32, u32),
    nlink: u64,
    contents: Vec<u8>,
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Seen> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let path = root.join(&rel);
        let m = std::fs::symlink_metadata(&path).unwrap();
        let (kind, contents) = if m.is_dir() {
            for e in std::fs::read_dir(&path).unwrap() {
                stack.push(rel.join(e.unwrap().file_name()));
            }
            ("dir", Vec::new())
        } else if m.file_type().is_symlink() {
            (
                "symlink",
                std::fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
            )
        } else {
            ("file", std::fs::read(&path).unwrap())
        };
        let seen = Seen {
            kind,
            mode: m.mode(),
            mtime: (m.mtime(), m.mtime_nsec()),
            owner: (m.uid(), m.gid()),
            nlink: m.nlink(),
            contents,
        };
        out.insert(rel, seen);
    }
    out
}

fn names_in(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn complete_backups(root: &Path) -> Vec<String> {
    names_in(root)
        .into_iter()
        .filter(|n| n.starts_with(naming::PREFIX))
        .collect()
}

struct Home {
    _dir: tempfile::TempDir,
    data: PathBuf,
    root: PathBuf,
}

fn home_with_tree() -> Home {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let root = dir.path().join("backups");
    std::fs::create_dir_all(&root).unwrap();
    node_tree(&data);
    Home {
        data,
        root,
        _dir: dir,
    }
}

#[test]
fn a_backup_is_an_exact_copy_under_the_days_name() {
    let h = home_with_tree();
    let before = snapshot(&h.data);
    let report = backup(&h.data, &h.root, day(), false).unwrap();
    assert_eq!(
        report.path,
        h.root.canonicalize().unwrap().join("data-backup-2025-3-7")
    );
    assert_eq!(snapshot(&report.path), before);
    let non_dirs = before.values().filter(|s| s.kind != "dir").count() as u64;
    assert!(non_dirs >= 50);
    assert_eq!(report.files, non_dirs);
    let expected_bytes: u64 = before
        .iter()
        .filter(|(p, s)| s.kind == "file" && p.as_path() != Path::new("wal-hardlink"))
        .map(|(_, s)| s.contents.len() as u64)
        .sum();
    assert_eq!(report.bytes, expected_bytes);
    assert!(report.skipped.is_empty());
    assert!(report.elapsed > Duration::ZERO);
    let wal = std::fs::metadata(report.path.join("cs.wal/wal")).unwrap();
    let again = std::fs::metadata(report.path.join("wal-hardlink")).unwrap();
    assert_eq!(wal.ino(), again.ino(), "hard links stay hard links");
    assert_eq!(complete_backups(&h.root), ["data-backup-2025-3-7"]);
    assert!(!names_in(&h.root).iter().any(|n| is_staging_name(n)));
}

#[test]
fn a_second_backup_the_same_day_gets_a_distinct_name() {
    let h = home_with_tree();
    let first = backup(&h.data, &h.root, day(), false).unwrap();
    std::fs::write(
        h.data.join("priv_validator_state.json"),
        b"{\"height\":\"9\"}",
    )
    .unwrap();
    let second = backup(&h.data, &h.root, day(), false).unwrap();
    let third = backup(&h.data, &h.root, day(), false).unwrap();
    assert!(first.path.ends_with("data-backup-2025-3-7"));
    assert!(second.path.ends_with("data-backup-2025-3-7.2"));
    assert!(third.path.ends_with("data-backup-2025-3-7.3"));
    assert_eq!(
        std::fs::read(first.path.join("priv_validator_state.json")).unwrap(),
        b"{\"height\":\"0\"}"
    );
    assert_eq!(
        std::fs::read(second.path.join("priv_validator_state.json")).unwrap(),
        b"{\"height\":\"9\"}"
    );
    let other_day = backup(
        &h.data,
        &h.root,
        NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        false,
    )
    .unwrap();
    assert!(other_day.path.ends_with("data-backup-2025-12-31"));
}

#[test]
fn a_leftover_staging_dir_is_removed_and_never_counted() {
    let h = home_with_tree();
    // What a crash leaves: a staging dir, partly written, with a read-only subdir.
    let stale = h.root.join(".data-backup-2025-3-7.incomplete");
    write(&stale.join("application.db/000005.ldb"), b"half", 0o644, 1);
    std::fs::set_permissions(
        stale.join("application.db"),
        std::fs::Permissions::from_mode(0o555),
    )
    .unwrap();
    let stale_other_day = h.root.join(".data-backup-2025-3-6.2.incomplete");
    std::fs::create_dir(&stale_other_day).unwrap();

    let report = backup(&h.data, &h.root, day(), false).unwrap();
    assert!(
        report.path.ends_with("data-backup-2025-3-7"),
        "the stale one did not take the name"
    );
    assert_eq!(snapshot(&report.path), snapshot(&h.data));
    assert!(!stale.exists() && !stale_other_day.exists());
    assert_eq!(complete_backups(&h.root), ["data-backup-2025-3-7"]);
}

#[test]
fn a_failure_half_way_leaves_no_backup_and_no_staging() {
    let h = home_with_tree();
    write(&h.data.join("state.db").join(FAIL_NAME), b"x", 0o644, 1);
    let err = backup(&h.data, &h.root, day(), false).unwrap_err();
    assert!(format!("{err:#}").contains(FAIL_NAME), "{err:#}");
    assert!(complete_backups(&h.root).is_empty());
    assert!(
        !names_in(&h.root).iter().any(|n| is_staging_name(n)),
        "{:?}",
        names_in(&h.root)
    );
}

/// Run by the test below in a child process (which it kills); does nothing alone.
#[test]
#[ignore = "helper: runs only as a child of a_killed_backup_is_never_taken_for_a_whole_one"]
fn child_runs_a_backup() {
    let (Ok(data), Ok(root)) = (std::env::var(CHILD_DATA_ENV), std::env::var(CHILD_ROOT_ENV))
    else {
        return;
    };
    backup(Path::new(&data), Path::new(&root), day(), false).unwrap();
}

#[test]
fn a_killed_backup_is_never_taken_for_a_whole_one() {
    let h = home_with_tree();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "backup::tests::child_runs_a_backup",
            "--ignored",
            "--test-threads=1",
        ])
        .env(PAUSE_ENV, "40")
        .env(CHILD_DATA_ENV, &h.data)
        .env(CHILD_ROOT_ENV, &h.root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let staging = h.root.join(".data-backup-2025-3-7.incomplete");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // Kill it once a few files are in (the probe file, then the threads' first ones).
    while std::fs::read_dir(staging.join("blockstore.db")).map_or(0, |d| d.count()) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the child never started copying"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    assert!(
        staging.is_dir(),
        "the half backup is there, under its staging name"
    );
    assert!(
        complete_backups(&h.root).is_empty(),
        "{:?}",
        names_in(&h.root)
    );
    let report = backup(&h.data, &h.root, day(), false).unwrap();
    assert!(report.path.ends_with("data-backup-2025-3-7"));
    assert_eq!(snapshot(&report.path), snapshot(&h.data));
    assert!(!staging.exists());
}

#[test]
fn a_backup_dir_inside_the_data_dir_is_refused() {
    let h = home_with_tree();
    let inside = h.data.join("backups");
    std::fs::create_dir(&inside).unwrap();
    for root in [&inside, &h.data] {
        let err = backup(&h.data, root, day(), false).unwrap_err();
        assert!(
            matches!(
                err.downcast_ref::<BackupError>(),
                Some(BackupError::InsideData { .. })
            ),
            "{err:#}"
        );
        assert!(err.to_string().contains("DAEMON_DATA_BACKUP_DIR"), "{err}");
    }
    assert_eq!(names_in(&inside), Vec::<String>::new());
}

#[test]
fn missing_directories_are_clear_errors() {
    let h = home_with_tree();
    let err = backup(&h.data, &h.root.join("nope"), day(), false).unwrap_err();
    assert!(
        format!("{err:#}").contains("DAEMON_DATA_BACKUP_DIR"),
        "{err:#}"
    );
    let err = backup(&h.data.join("nope"), &h.root, day(), false).unwrap_err();
    assert!(format!("{err:#}").contains("data directory"), "{err:#}");
}

#[test]
fn sockets_and_fifos_are_skipped_by_name() {
    let h = home_with_tree();
    nix::unistd::mkfifo(&h.data.join("cs.wal/pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(h.data.join("node.sock")).unwrap();
    let report = backup(&h.data, &h.root, day(), false).unwrap();
    let mut skipped = report.skipped.clone();
    skipped.sort();
    assert_eq!(
        skipped,
        [PathBuf::from("cs.wal/pipe"), PathBuf::from("node.sock")]
    );
    assert!(report.path.join("cs.wal/wal").is_file());
    assert!(std::fs::symlink_metadata(report.path.join("node.sock")).is_err());
}

#[test]
fn a_second_run_on_the_same_root_waits_its_turn() {
    let h = home_with_tree();
    let _held = lock_root(&h.root.canonicalize().unwrap()).unwrap();
    let err = backup(&h.data, &h.root, day(), false).unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<BackupError>(),
            Some(BackupError::Busy(_))
        ),
        "{err:#}"
    );
}

#[test]
fn a_data_symlink_is_followed() {
    let h = home_with_tree();
    let link = h.root.parent().unwrap().join("data-link");
    std::os::unix::fs::symlink(&h.data, &link).unwrap();
    let report = backup(&link, &h.root, day(), false).unwrap();
    assert_eq!(snapshot(&report.path), snapshot(&h.data));
}

/// Opt-in: `WASMVISOR_TEST_REFLINK_DIR=/mnt/xfs cargo test -p wasmvisor --lib backup::`
/// with a directory on XFS (reflink=1) or btrfs. `host/benches/backup.sh` makes one.
#[test]
fn reflinks_where_the_filesystem_can() {
    let Ok(dir) = std::env::var("WASMVISOR_TEST_REFLINK_DIR") else {
        eprintln!("skipped: set WASMVISOR_TEST_REFLINK_DIR to a directory on XFS or btrfs");
        return;
    };
    let home = tempfile::tempdir_in(dir).unwrap();
    let data = home.path().join("data");
    node_tree(&data);
    let report = backup(&data, home.path(), day(), false).unwrap();
    assert_eq!(report.method, Method::Reflink);
    assert_eq!(snapshot(&report.path), snapshot(&data));
}
