//! Stopping: signals sent to wasmvisor reach the node, the node's status
//! becomes wasmvisor's, the upgrade stop honours DAEMON_SHUTDOWN_GRACE, and no
//! node outlives its supervisor.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use wasmvisor_e2e::procfs::alive;
use wasmvisor_e2e::{Chain, Exit, Running, TIMEOUT, TestHome, wait_for, wait_until};

/// Starts a plain node and returns it once it produces blocks, with its pid.
fn running_node(home: &mut TestHome) -> (Running, u32) {
    let wv = home.start(&[]);
    home.wait_for_height(2, &wv);
    let pid = wait_for(
        "the node process",
        TIMEOUT,
        || wv.node_pid(),
        || home.describe(&wv),
    );
    (wv, pid)
}

fn assert_gone(home: &TestHome, wv: &Running, pid: u32) {
    wait_until(
        &format!("the node (pid {pid}) to be gone"),
        TIMEOUT,
        || !alive(pid),
        || home.describe(wv),
    );
}

fn forwarded(sig: Signal, expected: Exit, node_line: Option<&str>) {
    let mut home = TestHome::new(Chain::default());
    let (mut wv, node) = running_node(&mut home);
    wv.signal(sig);
    let exit = wv.wait_exit(TIMEOUT);
    assert_eq!(exit, expected, "{}", home.describe(&wv));
    if let Some(line) = node_line {
        assert!(
            wv.stdout().contains(line),
            "the node must have received {sig} itself\n{}",
            wv.output()
        );
    }
    assert!(!alive(node), "the node outlived wasmvisor");
}

#[test]
fn sigterm_is_forwarded_and_the_nodes_clean_exit_becomes_wasmvisors() {
    forwarded(
        Signal::SIGTERM,
        Exit::Code(0),
        Some("caught SIGTERM, flushing state"),
    );
}

#[test]
fn sigint_is_forwarded_and_the_nodes_clean_exit_becomes_wasmvisors() {
    forwarded(
        Signal::SIGINT,
        Exit::Code(0),
        Some("caught SIGINT, flushing state"),
    );
}

#[test]
fn sigquit_is_forwarded_and_wasmvisor_exits_like_the_killed_node() {
    // fake-chaind has no SIGQUIT handler: it dies of the signal, and wasmvisor
    // reports that the way a shell would (128 + 3).
    forwarded(Signal::SIGQUIT, Exit::Code(131), None);
}

#[test]
fn a_killed_wasmvisor_leaves_no_node_running() {
    let mut home = TestHome::new(Chain::default());
    let (mut wv, node) = running_node(&mut home);
    wv.signal(Signal::SIGKILL);
    assert_eq!(wv.wait_exit(TIMEOUT), Exit::Signal(libc::SIGKILL));
    assert_gone(&home, &wv, node);
    let height = home.height();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        home.height(),
        height,
        "no block may be produced without a supervisor"
    );
}

#[test]
fn without_shutdown_grace_the_node_is_killed_at_once_for_the_upgrade() {
    let mut home = TestHome::with_v2_at(5);
    home.unset_env("DAEMON_SHUTDOWN_GRACE");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    let out = wv.stdout();
    assert!(
        !out.contains("caught SIGTERM"),
        "with no DAEMON_SHUTDOWN_GRACE the node gets SIGKILL, not SIGTERM\n{}",
        wv.output()
    );
}

#[test]
fn with_shutdown_grace_the_node_gets_sigterm_and_may_flush_first() {
    let mut home = TestHome::with_v2_at(5);
    home.set_env("DAEMON_SHUTDOWN_GRACE", "10s");
    let wv = home.start(&[]);
    let info = home.upgrade_info_file();
    wait_until("the halt", TIMEOUT, || info.exists(), || home.describe(&wv));
    let halted = Instant::now();
    home.wait_for_blocks_by("v2", 5, &wv);
    let out = wv.stdout();
    let flushed = out
        .find("caught SIGTERM, flushing state")
        .unwrap_or_else(|| {
            panic!(
                "the node must be asked to stop with SIGTERM\n{}",
                wv.output()
            )
        });
    let v2 = out.find("starting node version=v2").expect("v2 started");
    assert!(
        flushed < v2,
        "v1 flushed after v2 started?\n{}",
        wv.output()
    );
    assert!(
        halted.elapsed() < Duration::from_secs(10),
        "a node that stops at once must not cost the whole grace period"
    );
}

#[test]
fn a_node_killed_from_outside_ends_wasmvisor_with_128_plus_the_signal() {
    let mut home = TestHome::new(Chain::default());
    let (mut wv, node) = running_node(&mut home);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(node as i32), Signal::SIGKILL)
        .expect("kill the node");
    assert_eq!(wv.wait_exit(TIMEOUT), Exit::Code(137), "{}", wv.output());
    assert_eq!(
        wv.stderr().matches("starting the node").count(),
        1,
        "a crashed node is not restarted in a loop\n{}",
        wv.output()
    );
}

#[test]
fn a_node_that_does_not_stop_within_the_grace_is_killed() {
    // A stopped (SIGSTOP) node cannot act on SIGTERM, like a node stuck in I/O.
    let mut home = TestHome::new(Chain::default());
    home.install_upgrade("v2", "v2");
    home.set_env("DAEMON_SHUTDOWN_GRACE", "1s");
    let (wv, node) = running_node(&mut home);
    let node_pid = nix::unistd::Pid::from_raw(node as i32);
    nix::sys::signal::kill(node_pid, Signal::SIGSTOP).expect("freeze the node");
    let frozen_at = home.height();
    let asked = Instant::now();
    home.write_upgrade_info(&TestHome::plan_json("v2", frozen_at));
    home.wait_for_blocks_by("v2", frozen_at, &wv);
    assert!(
        asked.elapsed() >= Duration::from_secs(1),
        "the grace period was not waited"
    );
    assert!(!alive(node), "the frozen node was killed");
    assert!(
        !wv.stdout().contains("caught SIGTERM"),
        "the frozen node never ran its handler\n{}",
        wv.output()
    );
    assert!(
        wv.stderr().contains("DAEMON_SHUTDOWN_GRACE"),
        "the kill after the grace is logged\n{}",
        wv.output()
    );
}
