//! Who writes where: the node owns stdout (and its own stderr lines), wasmvisor
//! writes only to stderr, in cosmovisor's text style, as JSON, or not at all.

use serde_json::Value;
use wasmvisor_e2e::TestHome;

/// Runs one full upgrade and returns (stdout, stderr).
fn upgrade_output(env: &[(&str, &str)]) -> (String, String) {
    let mut home = TestHome::with_v2_at(4);
    for (k, v) in env {
        home.set_env(k, v);
    }
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    (wv.stdout(), wv.stderr())
}

/// Lines of the node (and the binaries it runs for `pre-upgrade`) on stdout.
fn is_node_line(line: &str) -> bool {
    ["INF ", "ERR ", "pre-upgrade: "]
        .iter()
        .any(|p| line.starts_with(p))
        && !line.contains("module=wasmvisor")
}

#[test]
fn stdout_carries_only_the_nodes_lines_during_an_upgrade() {
    let (stdout, stderr) = upgrade_output(&[]);
    let foreign: Vec<&str> = stdout.lines().filter(|l| !is_node_line(l)).collect();
    assert!(foreign.is_empty(), "not the node's: {foreign:?}");
    assert!(
        stderr.contains("module=wasmvisor"),
        "supervisor lines go to stderr"
    );
    for step in ["upgrade detected", "switched"] {
        assert!(
            stderr.contains(step),
            "stderr should tell about {step:?}:\n{stderr}"
        );
    }
}

#[test]
fn json_log_lines_are_one_object_each() {
    let (stdout, stderr) = upgrade_output(&[("WASMVISOR_LOG_FORMAT", "json")]);
    assert!(stdout.lines().all(is_node_line), "{stdout}");
    // The node's own stderr line (its halt panic) is not ours to format.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("panic: "))
        .collect();
    assert!(!ours.is_empty());
    for line in ours {
        let doc: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line:?}"));
        assert!(doc.is_object(), "{line:?}");
    }
}

#[test]
fn disabled_logs_silence_the_supervisor_but_not_the_node() {
    let (stdout, stderr) = upgrade_output(&[("COSMOVISOR_DISABLE_LOGS", "true")]);
    assert!(stdout.contains("starting node version=v2"));
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("panic: "))
        .collect();
    assert!(
        ours.is_empty(),
        "supervisor lines with COSMOVISOR_DISABLE_LOGS=true: {ours:?}"
    );
    assert!(
        stderr.contains("panic: UPGRADE \"v2\" NEEDED"),
        "the node's stderr passes through"
    );
}
