//! wasmvisor ends with the node: a short command's output passes through
//! untouched, and a node's own failure becomes wasmvisor's exit code.

use serde_json::Value;
use wasmvisor_e2e::{Chain, Exit, TIMEOUT, TestHome};

#[test]
fn run_version_prints_exactly_the_apps_output() {
    let mut home = TestHome::new(Chain::default());
    let done = home.cli(&["run", "version"]);
    assert_eq!(done.exit, Exit::Code(0), "{done:#?}");
    assert_eq!(
        done.stdout, "v1\n",
        "stdout must hold only the app's output"
    );
}

#[test]
fn run_version_json_parses_as_the_apps_json() {
    // cosmovisor #11555: supervisor lines on stdout break `version -o json`.
    let mut home = TestHome::new(Chain::default());
    let done = home.cli(&["run", "version", "-o", "json"]);
    assert_eq!(done.exit, Exit::Code(0), "{done:#?}");
    let doc: Value = serde_json::from_str(&done.stdout)
        .unwrap_or_else(|e| panic!("stdout is not the app's JSON ({e}): {:?}", done.stdout));
    assert_eq!(doc["version"], "v1");
    assert_eq!(doc["server_name"], "fake-chaind");
}

#[test]
fn run_version_with_logs_disabled_or_json_logs_keeps_stdout_clean() {
    let mut home = TestHome::new(Chain::default());
    home.set_env("WASMVISOR_LOG_FORMAT", "json");
    let done = home.cli(&["run", "version"]);
    assert_eq!(done.stdout, "v1\n", "{done:#?}");
    home.unset_env("WASMVISOR_LOG_FORMAT");
    home.set_env("COSMOVISOR_DISABLE_LOGS", "true");
    let done = home.cli(&["run", "version"]);
    assert_eq!(done.stdout, "v1\n", "{done:#?}");
    assert!(
        !done.stderr.contains("module=wasmvisor"),
        "COSMOVISOR_DISABLE_LOGS=true must silence the supervisor: {:?}",
        done.stderr
    );
}

#[test]
fn a_node_failing_without_a_pending_upgrade_ends_wasmvisor_with_its_exit_code() {
    let mut home = TestHome::new(Chain::default());
    // fake-chaind exits 2 on an unknown command.
    let done = home.cli(&["run", "frobnicate"]);
    assert_eq!(done.exit, Exit::Code(2), "{done:#?}");
    assert!(done.stderr.contains("unknown command"), "{done:#?}");

    // A corrupt chain config makes `start` fail with 1: no restart loop.
    std::fs::write(home.home().join("config/fakechain.json"), "{oops").expect("corrupt");
    let mut wv = home.start(&[]);
    let exit = wv.wait_exit(TIMEOUT);
    assert_eq!(exit, Exit::Code(1), "{}", wv.output());
    let starts = wv.stderr().matches("starting the node").count();
    assert_eq!(
        starts,
        1,
        "the failed node must not be restarted\n{}",
        wv.output()
    );
}

#[test]
fn run_without_a_data_directory_fails_with_a_clear_error() {
    let mut home = TestHome::new(Chain::default());
    std::fs::remove_dir_all(home.data_dir()).expect("remove data/");
    let done = home.cli(&["run", "start"]);
    assert!(matches!(done.exit, Exit::Code(c) if c != 0), "{done:#?}");
    assert!(
        done.stderr.contains("data") && done.stderr.contains("does not exist"),
        "{done:#?}"
    );
    assert!(done.stdout.is_empty(), "no node may start: {done:#?}");
}
