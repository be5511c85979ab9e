//! Runs the real demo binary: the full upgrade, and the ways it must fail loudly.
//!
//! The demo finds `wasmvisor` and `fake-chaind` beside itself, so these tests
//! need the workspace built (`cargo build --workspace`, which `cargo test
//! --workspace` does for every package with tests). The failure tests copy the
//! demo into a scratch directory next to stand-ins for wasmvisor.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DEMO: &str = env!("CARGO_BIN_EXE_wasmvisor-demo");

fn sibling(name: &str) -> PathBuf {
    let path = Path::new(DEMO).parent().unwrap().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The directory the demo said it works in.
fn working_dir(output: &str) -> PathBuf {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix("working in "))
        .expect("the demo prints its working directory");
    PathBuf::from(line.trim())
}

/// A scratch directory holding a copy of the demo, fake-chaind, and `wasmvisor`.
fn scratch_with(wasmvisor_script: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("wasmvisor-demo");
    fs::copy(DEMO, &demo).unwrap();
    if let Some(script) = wasmvisor_script {
        fs::copy(sibling("fake-chaind"), dir.path().join("fake-chaind")).unwrap();
        let wasmvisor = dir.path().join("wasmvisor");
        fs::write(&wasmvisor, script).unwrap();
        fs::set_permissions(&wasmvisor, fs::Permissions::from_mode(0o755)).unwrap();
    }
    (dir, demo)
}

#[test]
fn the_demo_upgrades_the_fake_chain_and_cleans_up() {
    sibling("wasmvisor");
    sibling("fake-chaind");
    let out = Command::new(DEMO).output().unwrap();
    let output = text(&out);
    assert!(out.status.success(), "{output}");
    for expected in [
        "UPGRADE \"v2\" NEEDED at height: 8",
        "cosmovisor/current: genesis -> upgrades/v2",
        "current/bin/fake-chaind version: v1 -> v2",
        "fakechain_state.json at height 8 by v1",
        "committed state height=9 module=state version=v2",
        // The second upgrade: downloaded from the loopback server and verified.
        "UPGRADE \"v3\" NEEDED at height: 16: {\"binaries\":{\"linux/",
        "cosmovisor/upgrades/v3: absent",
        "verified",
        "the release server served: GET /releases/v3/",
        "?checksum=sha256:",
        "= the published v3 binary",
        "cosmovisor/current: upgrades/v2 -> upgrades/v3",
        "current/bin/fake-chaind version: v2 -> v3",
        "fakechain_state.json at height 16 by v2",
        "committed state height=18 module=state version=v3",
        "✓ 2 upgrades done in",
    ] {
        assert!(
            output.contains(expected),
            "missing {expected:?} in:\n{output}"
        );
    }
    assert!(
        !working_dir(&output).exists(),
        "the temporary home was not removed"
    );
}

#[test]
fn keep_leaves_the_home_for_inspection() {
    sibling("wasmvisor");
    let out = Command::new(DEMO).arg("--keep").output().unwrap();
    let output = text(&out);
    assert!(out.status.success(), "{output}");
    let dir = working_dir(&output);
    let current = fs::read_link(dir.join("node/cosmovisor/current")).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(current, Path::new("upgrades/v3"));
}

#[test]
fn without_wasmvisor_beside_it_the_demo_says_what_to_build() {
    let (_dir, demo) = scratch_with(None);
    let out = Command::new(demo).output().unwrap();
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert!(output.contains("wasmvisor not found"), "{output}");
    assert!(
        output.contains("cargo build --release --workspace"),
        "{output}"
    );
}

#[test]
fn a_supervisor_that_does_nothing_fails_the_demo_at_init_and_keeps_the_home() {
    let (_dir, demo) = scratch_with(Some("#!/bin/sh\nexit 0\n"));
    let out = Command::new(demo).output().unwrap();
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert!(output.contains("step 3 (wasmvisor init"), "{output}");
    let kept = working_dir(&output);
    assert!(kept.exists(), "a failed demo keeps its home for inspection");
    fs::remove_dir_all(kept).unwrap();
}

#[test]
fn a_supervisor_that_never_upgrades_fails_the_demo() {
    // Real wasmvisor for init/add-upgrade, but `run` just runs the current
    // binary: the chain halts and nobody switches it.
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = run ]; then shift; exec \"$DAEMON_HOME/cosmovisor/current/bin/$DAEMON_NAME\" \"$@\"; fi\nexec '{}' \"$@\"\n",
        sibling("wasmvisor").display()
    );
    let (_dir, demo) = scratch_with(Some(&script));
    let out = Command::new(demo)
        .args(["--timeout", "2"])
        .output()
        .unwrap();
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert!(
        output.contains("wasmvisor switching current to v2 did not happen within 2s"),
        "{output}"
    );
    assert!(output.contains("step 8"), "{output}");
    fs::remove_dir_all(working_dir(&output)).unwrap();
}

#[test]
fn a_supervisor_that_may_not_download_fails_the_demo_at_the_second_upgrade() {
    // Real wasmvisor, but downloads forbidden: v2 (placed by hand) still upgrades,
    // v3 cannot be fetched, and the demo must say so rather than narrate a download.
    let script = format!(
        "#!/bin/sh\nDAEMON_ALLOW_DOWNLOAD_BINARIES=false exec '{}' \"$@\"\n",
        sibling("wasmvisor").display()
    );
    let (_dir, demo) = scratch_with(Some(&script));
    let out = Command::new(demo)
        .args(["--timeout", "10"])
        .output()
        .unwrap();
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert!(
        output.contains("cosmovisor/current: genesis -> upgrades/v2"),
        "{output}"
    );
    assert!(output.contains("step 11"), "{output}");
    assert!(!output.contains("the release server served"), "{output}");
    fs::remove_dir_all(working_dir(&output)).unwrap();
}

#[test]
fn bad_arguments_are_usage_errors() {
    let out = Command::new(DEMO).arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(DEMO)
        .args(["--timeout", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(DEMO).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--keep"));
}
