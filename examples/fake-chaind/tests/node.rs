//! Runs the real fake-chaind binary in a temporary home, as a supervisor would.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fake-chaind");
const TIMEOUT: Duration = Duration::from_secs(20);

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn with_config(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("config")).unwrap();
        fs::write(dir.path().join("config/fakechain.json"), config).unwrap();
        Home { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, bin: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin);
        cmd.args(args).arg("--home").arg(self.path());
        for key in [
            "FAKECHAIND_HOME",
            "DAEMON_HOME",
            "FAKECHAIND_BLOCK_TIME_MS",
            "FAKECHAIND_UPGRADES",
            "FAKECHAIND_PRE_UPGRADE_EXIT",
            "FAKECHAIND_EXIT_ON_HALT",
            "FAKECHAIND_LOG_LINES_PER_BLOCK",
            "FAKECHAIND_STRICT_BINARY_CHECK",
            "FAKECHAIND_WRITE_UPGRADE_INFO",
            "FAKECHAIND_STOP_AT_HEIGHT",
        ] {
            cmd.env_remove(key);
        }
        cmd
    }

    fn run(&self, bin: &Path, args: &[&str]) -> Output {
        self.command(bin, args).output().unwrap()
    }

    fn start(&self, bin: &Path, extra: &[&str]) -> Node {
        let mut args = vec!["start"];
        args.extend_from_slice(extra);
        let mut child = self
            .command(bin, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    if tx.send(line.unwrap()).is_err() {
                        break;
                    }
                }
            });
        }
        Node {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn status(&self) -> serde_json::Value {
        let out = self.run(Path::new(BIN), &["status"]);
        assert!(out.status.success(), "status failed: {out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn height(&self) -> u64 {
        self.status()["sync_info"]["latest_block_height"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn make_version(&self, name: &str) -> PathBuf {
        let out = self.path().join("releases").join(name).join("fake-chaind");
        let made = Command::new(BIN)
            .args(["make-version", name])
            .arg(&out)
            .output()
            .unwrap();
        assert!(made.status.success(), "make-version failed: {made:?}");
        out
    }
}

struct Node {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Node {
    /// Waits for a line containing `needle`; returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line containing {needle:?}; saw:\n{:#?}", self.seen),
            }
        }
    }

    fn terminate(&mut self) -> ExitStatus {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: plain kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        self.wait()
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Drain what is left so assertions can look at the whole log.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return status;
            }
            assert!(Instant::now() < deadline, "node did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SCHEDULE: &str = r#"{"block_time_ms": 10,
  "upgrades": [{"name":"v2","height":5,"info":"{\"binaries\":{}}"},{"name":"v3","height":9}]}"#;

#[test]
fn halts_at_the_plan_height_after_writing_upgrade_info() {
    let home = Home::with_config(SCHEDULE);
    let mut node = home.start(
        Path::new(BIN),
        &[
            "--unsafe-skip-upgrades",
            "7",
            "--x-crisis-skip-assert-invariants",
        ],
    );
    node.wait_for("committed state height=1 ");
    let upgrade = node.wait_for("UPGRADE \"v2\" NEEDED");
    assert_eq!(
        upgrade,
        "ERR UPGRADE \"v2\" NEEDED at height: 5: {\"binaries\":{}}"
    );
    node.wait_for("panic: UPGRADE \"v2\" NEEDED at height: 5: {\"binaries\":{}}");

    let info: serde_json::Value =
        serde_json::from_slice(&fs::read(home.path().join("data/upgrade-info.json")).unwrap())
            .unwrap();
    assert_eq!(
        info,
        serde_json::json!({"name":"v2","time":"0001-01-01T00:00:00Z","height":5,"info":"{\"binaries\":{}}"})
    );
    let status = home.status();
    assert_eq!(status["sync_info"]["latest_block_height"], "5");
    assert_eq!(status["node_info"]["version"], "v1");

    // Halted, not dead: no more blocks, still waiting to be stopped.
    std::thread::sleep(Duration::from_millis(150));
    assert!(node.still_running());
    assert_eq!(home.height(), 5);
    assert!(node.terminate().success());
    assert!(
        !node.seen.iter().any(|l| l.contains("height=6")),
        "{:#?}",
        node.seen
    );
}

#[test]
fn the_next_version_continues_past_the_plan_and_halts_at_its_successor() {
    let home = Home::with_config(SCHEDULE);
    let mut genesis = home.start(Path::new(BIN), &[]);
    genesis.wait_for("UPGRADE \"v2\" NEEDED");
    assert!(genesis.terminate().success());

    let v2 = home.make_version("v2");
    assert_ne!(fs::read(&v2).unwrap(), fs::read(BIN).unwrap());
    let printed = home.run(&v2, &["version"]);
    assert_eq!(String::from_utf8(printed.stdout).unwrap(), "v2\n");

    let mut node = home.start(&v2, &[]);
    node.wait_for("committed state height=6 module=state version=v2");
    node.wait_for("UPGRADE \"v3\" NEEDED at height: 9: ");
    assert_eq!(home.status()["node_info"]["version"], "v2");
    assert_eq!(home.height(), 9);
    let info = fs::read_to_string(home.path().join("data/upgrade-info.json")).unwrap();
    assert!(info.contains(r#""name":"v3""#), "{info}");
    assert!(node.terminate().success());

    // The old binary, restarted at the halt height, halts again at once.
    let mut old = home.start(&v2, &[]);
    old.wait_for("UPGRADE \"v3\" NEEDED");
    assert!(old.terminate().success());
}

#[test]
fn a_binary_started_before_its_plan_refuses_to_run() {
    let home = Home::with_config(SCHEDULE);
    let v2 = home.make_version("v2");
    let mut node = home.start(&v2, &[]);
    node.wait_for("BINARY UPDATED BEFORE TRIGGER! UPGRADE \"v2\"");
    assert_eq!(node.wait().code(), Some(1));
    assert_eq!(home.height(), 0);

    // One block below the plan is not early: the new binary executes the plan's block.
    fs::write(
        home.path().join("data/fakechain_state.json"),
        r#"{"height":4,"time":"","version":"v1"}"#,
    )
    .unwrap();
    let mut node = home.start(&v2, &[]);
    node.wait_for("committed state height=5 module=state version=v2");
    node.wait_for("committed state height=6 module=state version=v2");
    assert!(node.terminate().success());
}

#[test]
fn exit_on_halt_exits_with_code_one() {
    let home = Home::with_config(
        r#"{"block_time_ms": 1, "exit_on_halt": true,
        "upgrades": [{"name":"v2","height":3}]}"#,
    );
    let mut node = home.start(Path::new(BIN), &[]);
    assert_eq!(node.wait().code(), Some(1));
    assert!(
        node.seen
            .iter()
            .any(|l| l == "ERR UPGRADE \"v2\" NEEDED at height: 3: ")
    );
    assert!(home.path().join("data/upgrade-info.json").exists());
}

#[test]
fn an_older_sdk_halts_for_a_time_plan_with_only_a_log_line() {
    let home = Home::with_config(
        r#"{"block_time_ms": 1, "exit_on_halt": true, "write_upgrade_info": false,
        "upgrades": [{"name":"v2","height":3,"time":"2021-06-01T12:00:00Z","info":"https://x/v2.json"}]}"#,
    );
    let mut node = home.start(Path::new(BIN), &[]);
    assert_eq!(node.wait().code(), Some(1));
    assert!(
        node.seen
            .iter()
            .any(|l| l
                == "ERR UPGRADE \"v2\" NEEDED at time: 2021-06-01T12:00:00Z: https://x/v2.json"),
        "{:?}",
        node.seen
    );
    assert!(!home.path().join("data/upgrade-info.json").exists());
    assert_eq!(home.status()["sync_info"]["latest_block_height"], "3");
}

#[test]
fn sigterm_flushes_the_height_and_exits_zero() {
    let home = Home::with_config(r#"{"block_time_ms": 10}"#);
    let mut node = home.start(Path::new(BIN), &[]);
    node.wait_for("committed state height=3 ");
    let status = node.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        node.seen.iter().any(|l| l.contains("flushing state")),
        "{:#?}",
        node.seen
    );
    let last_logged: u64 = node
        .seen
        .iter()
        .filter_map(|l| l.strip_prefix("INF committed state height="))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .max()
        .unwrap();
    assert_eq!(home.height(), last_logged);

    // A restart continues from the persisted height.
    let mut again = home.start(Path::new(BIN), &[]);
    again.wait_for(&format!("committed state height={} ", last_logged + 1));
    assert!(again.terminate().success());
}

#[test]
fn pre_upgrade_walks_through_the_configured_exit_codes() {
    let home = Home::with_config(r#"{"pre_upgrade_exit": [31, 31, 30]}"#);
    let codes: Vec<_> = (0..5)
        .map(|_| home.run(Path::new(BIN), &["pre-upgrade"]).status.code())
        .collect();
    assert_eq!(codes, [Some(31), Some(31), Some(30), Some(0), Some(0)]);
}

#[test]
fn extra_log_lines_per_block_are_printed() {
    let home = Home::with_config(r#"{"block_time_ms": 0, "log_lines_per_block": 3}"#);
    let mut node = home.start(Path::new(BIN), &[]);
    node.wait_for("committed state height=4 ");
    assert!(node.terminate().success());
    let fillers = node
        .seen
        .iter()
        .take_while(|l| !l.contains("height=4 "))
        .filter(|l| l.contains("filler="))
        .count();
    assert_eq!(fillers, 9);
}

#[test]
fn stop_at_height_exits_zero_after_committing_it() {
    let home =
        Home::with_config(r#"{"block_time_ms": 0, "log_lines_per_block": 2, "stop_at_height": 5}"#);
    let mut node = home.start(Path::new(BIN), &[]);
    assert_eq!(node.wait().code(), Some(0));
    assert_eq!(
        node.seen.iter().filter(|l| l.contains("filler=")).count(),
        10
    );
    assert!(
        node.seen
            .iter()
            .any(|l| l == "INF reached stop_at_height, exiting height=5")
    );
    assert_eq!(home.height(), 5);
}

#[test]
fn status_works_on_a_home_that_never_ran() {
    let home = Home::with_config("{}");
    assert_eq!(home.height(), 0);
}

#[test]
fn usage_errors_exit_two_and_version_prints_only_the_version() {
    let home = Home::with_config("{}");
    let out = Command::new(BIN).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command"));
    let version = Command::new(BIN).arg("version").output().unwrap();
    assert_eq!(version.stdout, b"v1\n");
    let long = Command::new(BIN)
        .args(["version", "--long"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&long.stdout).unwrap();
    assert_eq!(doc["name"], "fakechain");
    assert_eq!(doc["version"], "v1");
    let arity = Command::new(BIN)
        .args(["make-version", "v2"])
        .output()
        .unwrap();
    assert_eq!(arity.status.code(), Some(2));
    let out = home.path().join("x");
    let empty = Command::new(BIN)
        .args(["make-version", ""])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(empty.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("version name is empty"));
    assert!(!out.exists());
}

#[test]
fn a_bad_config_is_one_clear_error() {
    let home = Home::with_config(r#"{"block_time": 5}"#);
    let out = home.run(Path::new(BIN), &["start"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid chain config"), "{stderr}");
    assert!(stderr.contains("block_time"), "{stderr}");
}
