//! `wasmvisor plugin …` through the real binary: the commands are wired, print to
//! stdout, and fail with exit code 1 and one clear line on stderr.

use std::path::Path;
use std::process::Command;

fn wasmvisor() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmvisor"));
    // No operator configuration: the offline mode for plugin authors.
    cmd.env_remove("DAEMON_HOME").env_remove("DAEMON_NAME");
    cmd
}

fn fixture(name: &str) -> String {
    Path::new(env!("WASMVISOR_FIXTURES_DIR"))
        .join(format!("{name}.wasm"))
        .display()
        .to_string()
}

#[test]
fn inspect_and_resolve_work_through_the_binary() {
    let out = wasmvisor()
        .args(["plugin", "inspect", &fixture("fixture_resolver_basic")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("kind:         resolver") && text.contains("wasmvisor:plugin@0.1.0"),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, r#"{"name":"v2","height":10,"info":""}"#).unwrap();
    let out = wasmvisor()
        .args([
            "plugin",
            "resolve",
            &fixture("fixture_resolver_basic"),
            "--plan",
        ])
        .arg(&plan)
        .args(["--os", "linux", "--arch", "amd64"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json[0]["url"],
        "https://binaries.example.com/v2/chaind-linux-amd64.tar.gz"
    );
}

#[test]
fn an_unknown_contract_fails_with_exit_1_and_a_clear_line() {
    let out = wasmvisor()
        .args(["plugin", "inspect", &fixture("fixture_future_wit")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wasmvisor:plugin@0.9.0") && stderr.contains("supports 0.1.0"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn export_writes_a_loadable_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scanner.wasm");
    let out = wasmvisor()
        .args(["plugin", "export", "log-scanner"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = wasmvisor()
        .args(["plugin", "inspect"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("name:         log-scanner"));
}
