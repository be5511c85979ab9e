//! Reading `data/upgrade-info.json`: bad files never stop the node, and a plan
//! staged for a future height waits for that height.

use std::path::Path;

use wasmvisor_e2e::{Chain, SETTLE, TIMEOUT, TestHome, wait_until};

/// Lines of the supervisor's stderr that report an error about the plan file.
fn plan_errors(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.contains("ERR") && l.contains("upgrade-info.json"))
        .count()
}

#[test]
fn a_malformed_plan_file_is_logged_and_the_node_keeps_running_until_a_valid_one_arrives() {
    let mut home = TestHome::new(Chain::default());
    home.install_upgrade("v2", "v2");
    let mut wv = home.start(&[]);
    home.wait_for_height(3, &wv);

    home.write_upgrade_info("{\"name\": \"v2\", \"height\": ");
    wait_until(
        "an error line about the malformed upgrade-info.json",
        TIMEOUT,
        || plan_errors(&wv.stderr()) >= 1,
        || home.describe(&wv),
    );
    let height = home.height();
    home.wait_for_height(height + 5, &wv);
    wv.assert_running();
    home.assert_current("genesis");
    assert_eq!(home.node_version(), "v1");

    // Unknown keys are ignored.
    let now = home.height();
    home.write_upgrade_info(&format!(
        r#"{{"name":"v2","height":{now},"info":"","upgraded_client_state":null,"extra":[1]}}"#
    ));
    home.wait_for_blocks_by("v2", now, &wv);
    home.assert_current("upgrades/v2");
}

#[test]
fn invalid_plans_are_each_reported_and_never_stop_the_node() {
    let mut home = TestHome::new(Chain::default());
    home.install_upgrade("v2", "v2");
    let mut wv = home.start(&[]);
    home.wait_for_height(2, &wv);
    // Consecutive files with different faults: a repeated fault is logged once.
    let bad = [
        r#"{"name":"","height":7,"info":""}"#,
        r#"{"name":"v2","height":"7","info":""}"#,
        r#"{"name":"v2","height":7,"info":{"binaries":{}}}"#,
        r#"{"name":"v2","height":-3,"info":""}"#,
        r#"{"name":"v2","height":7,"time":"2030-01-01T00:00:00Z"}"#,
        r#"[1,2,3]"#,
    ];
    for (i, content) in bad.iter().enumerate() {
        home.write_upgrade_info(content);
        wait_until(
            &format!("an error line about {content}"),
            TIMEOUT,
            || plan_errors(&wv.stderr()) > i,
            || home.describe(&wv),
        );
        wv.assert_running();
    }
    let height = home.height();
    home.wait_for_height(height + 3, &wv);
    home.assert_current("genesis");
    assert_eq!(home.node_version(), "v1");
}

#[test]
fn an_empty_plan_file_is_waited_for_not_reported() {
    let mut home = TestHome::new(Chain::default());
    home.install_upgrade("v2", "v2");
    let mut wv = home.start(&[]);
    home.wait_for_height(2, &wv);
    std::fs::write(home.upgrade_info_file(), "").expect("truncate the plan file");
    std::thread::sleep(SETTLE);
    wv.assert_running();
    assert_eq!(plan_errors(&wv.stderr()), 0, "{}", wv.output());
    home.assert_current("genesis");

    let now = home.height();
    home.write_upgrade_info(&TestHome::plan_json("v2", now));
    home.wait_for_blocks_by("v2", now, &wv);
}

/// Asserts that while the node is below `height - 1`, `current` stays on genesis,
/// then waits for v2 to take over, and returns the height v2 started from.
fn assert_waits_for(home: &TestHome, wv: &wasmvisor_e2e::Running, height: u64) -> u64 {
    wait_until(
        &format!("the node to approach height {height} on genesis"),
        TIMEOUT,
        || {
            // `current` first: a height read after a switch is at least the
            // height the switch happened at, so an early switch cannot hide.
            let on_genesis = home.current_target().as_deref() == Some(Path::new("genesis"));
            let h = home.height();
            assert!(
                on_genesis || h + 1 >= height,
                "switched by height {h}, before the staged height {height}\n{}",
                home.describe(wv)
            );
            !on_genesis || h + 2 >= height
        },
        || home.describe(wv),
    );
    home.wait_for_blocks_by("v2", height, wv);
    home.assert_current("upgrades/v2");
    let from = wasmvisor_e2e::start_height(&wv.stdout(), "v2").expect("v2 started");
    assert!(
        from + 1 >= height,
        "v2 started at height {from}, before the staged height {height}\n{}",
        home.describe(wv)
    );
    from
}

#[test]
fn add_upgrade_with_a_height_stages_the_plan_until_the_node_reaches_it() {
    let mut home = TestHome::new(Chain::default());
    let mut wv = home.start(&[]);
    home.wait_for_height(2, &wv);
    // Far enough ahead that a slow CLI start on a loaded machine still stages in time.
    let target = home.height() + 40;
    let v2 = home.make_version("v2");
    let added = home.cli(&[
        "add-upgrade",
        "v2",
        v2.to_str().expect("utf-8 path"),
        "--upgrade-height",
        &target.to_string(),
    ]);
    added.assert_success();
    assert!(
        home.upgrade_info_file().is_file(),
        "add-upgrade --upgrade-height writes the plan"
    );
    assert!(home.cosmovisor().join("staged-upgrade.json").is_file());
    assert_waits_for(&home, &wv, target);
    wv.assert_running();
    assert!(
        !home.cosmovisor().join("staged-upgrade.json").exists(),
        "the staged marker is cleared once carried out"
    );
}

#[test]
fn a_staged_plan_survives_a_supervisor_restart_and_is_carried_out_at_its_height() {
    let mut home = TestHome::new(Chain::default());
    home.install_upgrade("v2", "v2");
    let mut first = home.start(&[]);
    home.wait_for_height(2, &first);
    let target = home.height() + 60;
    home.stage_by_hand(&TestHome::plan_json("v2", target));
    std::thread::sleep(SETTLE);
    first.signal(nix::sys::signal::Signal::SIGTERM);
    first.wait_exit(TIMEOUT);
    home.assert_current("genesis");
    assert!(
        home.height() + 2 < target,
        "the test needs the node well below the target"
    );

    let wv = home.start(&[]);
    assert_waits_for(&home, &wv, target);
}

#[test]
fn a_staged_plan_that_the_chain_also_schedules_is_switched_without_a_premature_binary() {
    // The realistic case: governance scheduled v2 at H, the operator pre-staged it
    // with add-upgrade --upgrade-height H. The new binary must be started no earlier
    // than the chain allows (fake-chaind refuses a binary started before its plan).
    let target = 30;
    let mut home = TestHome::new(Chain::upgrade_at("v2", target));
    home.install_upgrade("v2", "v2");
    let mut wv = home.start(&[]);
    home.wait_for_height(2, &wv);
    home.stage_by_hand(&TestHome::plan_json("v2", target));
    assert_waits_for(&home, &wv, target);
    wv.assert_running();
    assert!(
        !wv.stdout().contains("BINARY UPDATED BEFORE TRIGGER"),
        "{}",
        wv.output()
    );
}
