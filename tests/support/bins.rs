//! Finding the binaries under test.
//!
//! The suite runs the real `wasmvisor` and `fake-chaind` executables that
//! `cargo build --workspace --features wasmvisor/failpoints` put in the target
//! directory — the same one the test executable lives in (`target/debug/deps/…`).
//! A missing binary is a setup mistake, so it fails the test with the command
//! that fixes it rather than with a confusing "No such file" later on.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The command that builds everything the suite runs.
pub const BUILD_COMMAND: &str = "cargo build --workspace --features wasmvisor/failpoints";

/// `target/<profile>/`: the directory holding the test executable's `deps/`.
pub fn target_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable's own path");
        let deps = exe.parent().expect("the test executable has a directory");
        // `target/debug/deps/<test>` normally; tolerate `target/debug/<test>` too.
        if deps.file_name().is_some_and(|n| n == "deps") {
            deps.parent().expect("deps/ has a parent").to_path_buf()
        } else {
            deps.to_path_buf()
        }
    })
}

/// Where the binaries are: the target directory, or `$WASMVISOR_E2E_BINS` when set
/// (useful when others rebuild the shared target dir with other features).
fn bin_dir() -> PathBuf {
    match std::env::var_os("WASMVISOR_E2E_BINS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => target_dir().to_path_buf(),
    }
}

fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first with `{BUILD_COMMAND}` (the e2e tests run the real binaries)",
        path.display()
    );
    path
}

/// The supervisor under test.
pub fn wasmvisor() -> PathBuf {
    binary("wasmvisor")
}

/// The fake chain daemon (genesis version `v1`).
pub fn fake_chaind() -> PathBuf {
    binary("fake-chaind")
}

/// Whether the wasmvisor binary was built with the `failpoints` feature (its
/// failpoint message is compiled in only then). Scanned once per test process.
pub fn wasmvisor_has_failpoints() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| contains(&wasmvisor(), " reached: killing the supervisor"))
}

/// Whether the file at `path` contains `needle` (`grep -F`: fast on a 300 MB
/// debug binary, where a byte loop in an unoptimised test build is not).
fn contains(path: &Path, needle: &str) -> bool {
    std::process::Command::new("grep")
        .args(["-q", "-a", "-F", needle])
        .arg(path)
        .status()
        .expect("run grep")
        .success()
}
