//! The commands around `run`: configuration errors, the config file, `version`
//! without configuration, `init`, `add-upgrade` and `show-upgrade-info`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;
use wasmvisor_e2e::bins::fake_chaind;
use wasmvisor_e2e::{Chain, Exit, TIMEOUT, TestHome, wait_for};

#[test]
fn an_invalid_configuration_lists_every_problem_at_once_and_exits_2() {
    let mut home = TestHome::new(Chain::default());
    home.set_env("DAEMON_POLL_INTERVAL", "0")
        .set_env("DAEMON_RESTART_AFTER_UPGRADE", "maybe")
        .set_env("DAEMON_SHUTDOWN_GRACE", "-3m")
        .set_env("DAEMON_RESTART_DELAY", "600")
        .set_env("DAEMON_PREUPGRADE_MAX_RETRIES", "many")
        .set_env("UNSAFE_SKIP_BACKUP", "yes");
    for args in [&["run", "start"][..], &["config"][..]] {
        let done = home.cli(args);
        assert_eq!(done.exit, Exit::Code(2), "{args:?}: {done:#?}");
        for var in [
            "DAEMON_POLL_INTERVAL",
            "DAEMON_RESTART_AFTER_UPGRADE",
            "DAEMON_SHUTDOWN_GRACE",
            "DAEMON_RESTART_DELAY",
            "DAEMON_PREUPGRADE_MAX_RETRIES",
            "UNSAFE_SKIP_BACKUP",
        ] {
            assert!(
                done.stderr.contains(var),
                "{args:?} must name {var}: {done:#?}"
            );
        }
        assert!(done.stdout.is_empty(), "nothing may run: {done:#?}");
    }
}

#[test]
fn a_missing_daemon_home_and_name_are_reported_together() {
    let mut home = TestHome::new(Chain::default());
    home.unset_env("DAEMON_HOME").unset_env("DAEMON_NAME");
    let done = home.cli(&["run", "start"]);
    assert_eq!(done.exit, Exit::Code(2), "{done:#?}");
    assert!(
        done.stderr.contains("DAEMON_HOME") && done.stderr.contains("DAEMON_NAME"),
        "{done:#?}"
    );

    home.set_env("DAEMON_HOME", "relative/home")
        .set_env("DAEMON_NAME", "fake-chaind");
    let done = home.cli(&["run", "start"]);
    assert_eq!(
        done.exit,
        Exit::Code(2),
        "a relative DAEMON_HOME is refused: {done:#?}"
    );
    assert!(done.stderr.contains("DAEMON_HOME"), "{done:#?}");
}

#[test]
fn version_works_without_any_configuration() {
    // cosmovisor #19439.
    let mut home = TestHome::bare();
    home.unset_env("DAEMON_HOME")
        .unset_env("DAEMON_NAME")
        .unset_env("DAEMON_POLL_INTERVAL");
    let done = home.cli(&["version"]);
    assert_eq!(done.exit, Exit::Code(0), "{done:#?}");
    assert!(done.stdout.contains("wasmvisor"), "{done:#?}");
    let done = home.cli(&["version", "--cosmovisor-only"]);
    assert_eq!(done.exit, Exit::Code(0), "{done:#?}");
}

#[test]
fn version_also_prints_the_apps_version_when_configured() {
    let mut home = TestHome::new(Chain::default());
    let done = home.cli(&["version"]);
    done.assert_success();
    assert!(
        done.stdout.contains("v1"),
        "the app's version follows ours: {done:#?}"
    );
    let done = home.cli(&["version", "-o", "json"]);
    done.assert_success();
    let doc: Value = serde_json::from_str(&done.stdout)
        .unwrap_or_else(|e| panic!("version -o json is not JSON ({e}): {done:#?}"));
    assert!(doc.to_string().contains("v1"), "{doc}");
}

fn write_config_file(home: &TestHome, extra: &str) -> String {
    let path = home.scratch().join("wasmvisor.toml");
    std::fs::write(
        &path,
        format!(
            "daemon_home = \"{}\"\ndaemon_name = \"fake-chaind\"\ndaemon_poll_interval = \"77ms\"\n{extra}",
            home.home().display()
        ),
    )
    .expect("write the config file");
    path.display().to_string()
}

#[test]
fn the_config_file_is_read_and_a_set_environment_variable_overrides_it() {
    let mut home = TestHome::new(Chain::default());
    home.unset_env("DAEMON_HOME")
        .unset_env("DAEMON_NAME")
        .unset_env("DAEMON_POLL_INTERVAL");
    let file = write_config_file(&home, "daemon_restart_after_upgrade = false\n");
    let done = home.cli(&["-c", &file, "config"]);
    done.assert_success();
    assert!(
        done.stdout.contains("DAEMON_POLL_INTERVAL=77ms"),
        "{done:#?}"
    );
    assert!(
        done.stdout.contains("DAEMON_RESTART_AFTER_UPGRADE=false"),
        "{done:#?}"
    );
    assert!(
        done.stdout.contains("DAEMON_PREUPGRADE_MAX_RETRIES=0"),
        "defaults apply to keys the file leaves out: {done:#?}"
    );

    home.set_env("DAEMON_POLL_INTERVAL", "88ms");
    let done = home.cli(&["--cosmovisor-config", &file, "config"]);
    done.assert_success();
    assert!(
        done.stdout.contains("DAEMON_POLL_INTERVAL=88ms"),
        "env wins: {done:#?}"
    );
}

#[test]
fn run_takes_its_config_file_from_anywhere_in_the_args_and_hides_it_from_the_app() {
    let mut home = TestHome::with_v2_at(40);
    home.unset_env("DAEMON_HOME")
        .unset_env("DAEMON_NAME")
        .unset_env("DAEMON_POLL_INTERVAL");
    let file = write_config_file(&home, "daemon_restart_after_upgrade = false\n");
    let home_dir = home.home().display().to_string();
    let cmd = home.command([
        "run",
        "start",
        "--cosmovisor-config",
        &file,
        "--home",
        &home_dir,
    ]);
    let mut wv = home.spawn(cmd);
    let node = wait_for("the node", TIMEOUT, || wv.node_pid(), || home.describe(&wv));
    let args = wasmvisor_e2e::procfs::cmdline(node);
    assert_eq!(
        &args[1..],
        ["start", "--home", home_dir.as_str()],
        "the app must get its own args only"
    );
    // The file's DAEMON_RESTART_AFTER_UPGRADE=false is in force: switch, then exit 0.
    let exit = wv.wait_exit(TIMEOUT);
    assert_eq!(exit, Exit::Code(0), "{}", home.describe(&wv));
    home.assert_current("upgrades/v2");
    assert!(!wv.stdout().contains("starting node version=v2"));
}

#[test]
fn init_sets_up_genesis_current_and_the_config_file() {
    let mut home = TestHome::bare();
    std::fs::create_dir_all(home.data_dir()).expect("data/");
    let source = fake_chaind();
    let done = home.cli(&["init", source.to_str().expect("utf-8")]);
    done.assert_success();
    let genesis = home.cosmovisor().join("genesis/bin/fake-chaind");
    assert_eq!(
        std::fs::read(&genesis).expect("genesis binary"),
        std::fs::read(&source).expect("source binary")
    );
    let mode = std::fs::metadata(&genesis)
        .expect("stat")
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "the genesis binary is executable");
    home.assert_current("genesis");
    assert!(home.cosmovisor().join("config.toml").is_file());
    // Running it again changes nothing and succeeds.
    home.cli(&["init", source.to_str().expect("utf-8")])
        .assert_success();
    home.assert_current("genesis");
    let done = home.cli(&["run", "version"]);
    assert_eq!(done.stdout, "v1\n", "{done:#?}");
}

#[test]
fn init_refuses_something_that_is_not_an_executable_file() {
    let mut home = TestHome::bare();
    std::fs::create_dir_all(home.data_dir()).expect("data/");
    let done = home.cli(&["init", "/nonexistent/fake-chaind"]);
    assert!(!done.success(), "{done:#?}");
    assert!(
        done.stderr.contains("/nonexistent/fake-chaind"),
        "{done:#?}"
    );
    assert!(
        home.current_target().is_none(),
        "no current link for a failed init"
    );
}

#[test]
fn add_upgrade_installs_a_binary_and_replaces_it_only_with_force() {
    let mut home = TestHome::new(Chain::default());
    let v2 = home.make_version("v2");
    let other = home.make_version("v2-rebuilt");
    home.cli(&["add-upgrade", "V2", v2.to_str().expect("utf-8")])
        .assert_success();
    let installed = home.cosmovisor().join("upgrades/v2/bin/fake-chaind");
    assert_eq!(
        std::fs::read(&installed).expect("installed"),
        std::fs::read(&v2).expect("v2")
    );

    let done = home.cli(&["add-upgrade", "v2", other.to_str().expect("utf-8")]);
    assert!(!done.success(), "replacing needs --force: {done:#?}");
    assert!(
        done.stderr.contains("--force"),
        "the error says how: {done:#?}"
    );
    assert_eq!(
        std::fs::read(&installed).expect("installed"),
        std::fs::read(&v2).expect("v2")
    );

    home.cli(&[
        "add-upgrade",
        "v2",
        other.to_str().expect("utf-8"),
        "--force",
    ])
    .assert_success();
    assert_eq!(
        std::fs::read(&installed).expect("installed"),
        std::fs::read(&other).expect("rebuilt")
    );
    assert!(
        !home.upgrade_info_file().exists(),
        "without --upgrade-height no plan is written"
    );
}

#[test]
fn show_upgrade_info_prints_the_pending_plan() {
    let mut home = TestHome::new(Chain::default());
    home.cli(&["show-upgrade-info"]).assert_success();
    home.write_upgrade_info(&TestHome::plan_json("v2", 7));
    let done = home.cli(&["show-upgrade-info"]);
    done.assert_success();
    let plan: Value = serde_json::from_str(&done.stdout)
        .unwrap_or_else(|e| panic!("the plan is printed as JSON ({e}): {done:#?}"));
    assert_eq!(plan["name"], "v2");
    assert_eq!(plan["height"], 7);
    home.write_upgrade_info("{broken");
    let done = home.cli(&["show-upgrade-info"]);
    assert!(
        !done.success(),
        "an invalid plan file is an error: {done:#?}"
    );
    assert!(Path::new(&home.upgrade_info_file()).exists());
}

#[test]
fn log_timestamps_follow_cosmovisor_timeformat_logs() {
    let mut home = TestHome::new(Chain::default());
    home.set_env("COSMOVISOR_TIMEFORMAT_LOGS", "");
    let done = home.cli(&["run", "version"]);
    let line = done
        .stderr
        .lines()
        .find(|l| l.contains("module=wasmvisor"))
        .unwrap_or_else(|| panic!("a supervisor line: {done:#?}"));
    assert!(
        line.starts_with("INF "),
        "set-but-empty means no timestamp: {line:?}"
    );

    home.set_env("COSMOVISOR_TIMEFORMAT_LOGS", "rfc3339");
    let done = home.cli(&["run", "version"]);
    let line = done
        .stderr
        .lines()
        .find(|l| l.contains("module=wasmvisor"))
        .unwrap_or_else(|| panic!("a supervisor line: {done:#?}"));
    let stamp = line.split_whitespace().next().unwrap_or_default();
    assert!(
        stamp.len() >= 20 && stamp.as_bytes()[4] == b'-' && stamp.contains('T'),
        "an RFC 3339 timestamp first: {line:?}"
    );
    assert_eq!(done.stdout, "v1\n");
}

#[test]
fn add_upgrade_escapes_the_plan_name_into_its_folder() {
    let mut home = TestHome::new(Chain::default());
    let v2 = home.make_version("v2");
    home.cli(&["add-upgrade", "Some Upgrade/2", v2.to_str().expect("utf-8")])
        .assert_success();
    assert!(
        home.cosmovisor()
            .join("upgrades/some%20upgrade%2F2/bin/fake-chaind")
            .is_file()
    );
    assert!(
        !home.cosmovisor().join("upgrades/some upgrade").exists(),
        "the raw name must not become a path"
    );
}

#[test]
fn add_upgrade_does_not_replace_a_different_pending_plan_without_force() {
    let mut home = TestHome::new(Chain::default());
    let v2 = home.make_version("v2");
    let v3 = home.make_version("v3");
    home.cli(&[
        "add-upgrade",
        "v2",
        v2.to_str().expect("utf-8"),
        "--upgrade-height",
        "500",
    ])
    .assert_success();
    let done = home.cli(&[
        "add-upgrade",
        "v3",
        v3.to_str().expect("utf-8"),
        "--upgrade-height",
        "600",
    ]);
    assert!(!done.success(), "another plan is pending: {done:#?}");
    assert!(done.stderr.contains("--force"), "{done:#?}");
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(home.upgrade_info_file()).expect("plan"))
            .expect("plan JSON");
    assert_eq!(
        (plan["name"].as_str(), plan["height"].as_u64()),
        (Some("v2"), Some(500))
    );

    home.cli(&[
        "add-upgrade",
        "v3",
        v3.to_str().expect("utf-8"),
        "--upgrade-height",
        "600",
        "--force",
    ])
    .assert_success();
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(home.upgrade_info_file()).expect("plan"))
            .expect("plan JSON");
    assert_eq!(
        (plan["name"].as_str(), plan["height"].as_u64()),
        (Some("v3"), Some(600))
    );
}

#[test]
fn run_passes_everything_after_a_double_dash_to_the_app() {
    let mut home = TestHome::new(Chain::default());
    let done = home.cli(&["run", "--", "--help"]);
    assert_eq!(done.exit, Exit::Code(0), "{done:#?}");
    assert!(
        done.stdout
            .contains("fake-chaind: a fake Cosmos chain daemon"),
        "the app's own help: {done:#?}"
    );
    let done = home.cli(&["run", "--help"]);
    assert_eq!(done.exit, Exit::Code(0), "{done:#?}");
    assert!(
        done.stdout.contains("DAEMON_POLL_INTERVAL"),
        "wasmvisor's help for run: {done:#?}"
    );
}
