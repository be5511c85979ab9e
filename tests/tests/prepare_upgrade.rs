//! Binaries in place before the height: `wasmvisor prepare-upgrade` (the node's plan
//! over gRPC, resolved and installed now) and `run`'s automatic pre-staging (a plan
//! known ahead of its height — from the node over gRPC, or staged — gets its binary
//! installed while the node runs, so the switch at the height downloads nothing).
//!
//! The node's gRPC server is a real tonic server on loopback serving
//! `cosmos.upgrade.v1beta1.Query/CurrentPlan`; artifacts come from a real loopback
//! HTTP server. "Downloads nothing at the height" is checked the hard way: the HTTP
//! server is stopped before the height, so a download there would fail the upgrade.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use wasmvisor_e2e::archive::{sha256_checksum, tar_gz};
use wasmvisor_e2e::grpc::NodeGrpc;
use wasmvisor_e2e::http::Server;
use wasmvisor_e2e::{Chain, Exit, TIMEOUT, TestHome, wait_for};

const WRONG: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// Far enough for wasmvisor to start, ask, resolve (compiling the resolver in a
/// debug build) and download on a loaded machine, near enough for the switch to come
/// within the harness's 20 s deadline after that: 12 s of 40 ms blocks.
const FAR_HEIGHT: u64 = 300;

/// The v2 binary, and a loopback server with it as a checked tar.gz; returns the
/// plan `info` (cosmovisor's binaries map, URL with `?checksum=`).
fn serve_v2(home: &TestHome, checksum: Option<&str>) -> (Vec<u8>, Server, String) {
    let v2 = std::fs::read(home.make_version("v2")).expect("read v2");
    let archive = tar_gz(&[("bin/fake-chaind", &v2, 0o755)]);
    let checksum = checksum
        .map(str::to_owned)
        .unwrap_or_else(|| sha256_checksum(&archive));
    let server = Server::start(HashMap::from([("/v2.tar.gz".to_owned(), archive)]));
    let url = format!("{}?checksum={checksum}", server.url("/v2.tar.gz"));
    (v2, server, plan_info(&url))
}

/// `{"binaries":{"linux/<arch>":url,"any":url}}` for this machine.
fn plan_info(url: &str) -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    serde_json::json!({"binaries": {format!("linux/{arch}"): url, "any": url}}).to_string()
}

fn installed(home: &TestHome) -> PathBuf {
    home.cosmovisor().join("upgrades/v2/bin/fake-chaind")
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn tarball_requests(server: &Server) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.starts_with("/v2.tar.gz"))
        .count()
}

#[test]
fn prepare_upgrade_installs_the_nodes_plan_before_the_height_and_is_idempotent() {
    let mut home = TestHome::new(Chain::default());
    let (v2, server, info) = serve_v2(&home, None);
    let node = NodeGrpc::start();
    node.set_plan("v2", 1_000_000, &info);
    home.set_env("DAEMON_GRPC_ADDRESS", &node.address());
    // Not needed: the operator asked for this download explicitly.
    home.unset_env("DAEMON_ALLOW_DOWNLOAD_BINARIES");

    let done = home.cli(&["prepare-upgrade"]);
    done.assert_success();
    assert!(
        done.stdout.contains("prepared upgrade v2 (height 1000000)"),
        "{done:#?}"
    );
    assert_eq!(std::fs::read(installed(&home)).expect("installed"), v2);
    assert!(node.queries() >= 1);
    assert_eq!(tarball_requests(&server), 1);

    let again = home.cli(&["prepare-upgrade"]);
    again.assert_success();
    assert!(again.stdout.contains("already prepared"), "{again:#?}");
    assert_eq!(
        tarball_requests(&server),
        1,
        "a second run must not download"
    );
}

#[test]
fn prepare_upgrade_without_a_scheduled_plan_says_so_and_installs_nothing() {
    let mut home = TestHome::new(Chain::default());
    let node = NodeGrpc::start();
    home.set_env("DAEMON_GRPC_ADDRESS", &node.address());
    let done = home.cli(&["prepare-upgrade"]);
    // As cosmovisor: nothing scheduled is not an error (cron-friendly).
    done.assert_success();
    assert!(
        done.stdout.contains("no upgrade is scheduled") && done.stdout.contains(&node.address()),
        "{done:#?}"
    );
    assert_eq!(node.queries(), 1);
    assert!(files_under(&home.cosmovisor().join("upgrades")).is_empty());
}

#[test]
fn prepare_upgrade_with_the_node_unreachable_names_the_address_and_the_variable() {
    let mut home = TestHome::new(Chain::default());
    // Bound, then released: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let address = format!("127.0.0.1:{port}");
    home.set_env("DAEMON_GRPC_ADDRESS", &address);
    let done = home.cli(&["prepare-upgrade"]);
    assert_eq!(done.exit, Exit::Code(1), "{done:#?}");
    assert!(
        done.stderr.contains(&address) && done.stderr.contains("DAEMON_GRPC_ADDRESS"),
        "the error must say where it looked and what to change: {done:#?}"
    );

    home.set_env("DAEMON_GRPC_ADDRESS", "https://node.example:9090");
    let done = home.cli(&["prepare-upgrade"]);
    assert_eq!(
        done.exit,
        Exit::Code(2),
        "a bad address is a usage error: {done:#?}"
    );
    assert!(done.stderr.contains("TLS"), "{done:#?}");
}

#[test]
fn prepare_upgrade_with_a_wrong_checksum_installs_nothing_and_a_fixed_plan_then_installs() {
    let mut home = TestHome::new(Chain::default());
    let (_, _server, bad_info) = serve_v2(&home, Some(WRONG));
    let node = NodeGrpc::start();
    node.set_plan("v2", 1_000_000, &bad_info);
    home.set_env("DAEMON_GRPC_ADDRESS", &node.address());

    let done = home.cli(&["prepare-upgrade"]);
    assert_eq!(done.exit, Exit::Code(1), "{done:#?}");
    assert!(
        done.stderr.to_lowercase().contains("checksum") && done.stderr.contains("v2"),
        "{done:#?}"
    );
    let left = files_under(&home.cosmovisor().join("upgrades"));
    assert!(left.is_empty(), "a refused download left {left:?}");

    // The plan corrected on chain (a new proposal): the same command now works.
    let (v2, _server2, good_info) = serve_v2(&home, None);
    node.set_plan("v2", 1_000_000, &good_info);
    home.cli(&["prepare-upgrade"]).assert_success();
    assert_eq!(std::fs::read(installed(&home)).expect("installed"), v2);
}

/// Waits for the pre-staged binary and returns the node's height at that moment.
fn wait_for_prestaged(home: &TestHome, wv: &wasmvisor_e2e::Running) -> u64 {
    wait_for(
        "the v2 binary to be pre-staged",
        TIMEOUT,
        || installed(home).is_file().then(|| home.height()),
        || home.describe(wv),
    )
}

#[test]
fn run_prestages_the_nodes_grpc_plan_and_switches_at_the_height_without_downloading() {
    let mut home = TestHome::new(Chain::default());
    let (v2, server, info) = serve_v2(&home, None);
    home.write_chain(&Chain::default().with_upgrade_info("v2", FAR_HEIGHT, &info));
    let node = NodeGrpc::start();
    node.set_plan("v2", FAR_HEIGHT as i64, &info);
    home.set_env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true");
    home.set_env("DAEMON_GRPC_ADDRESS", &node.address());
    home.set_env("WASMVISOR_GRPC_POLL_INTERVAL", "1s");

    let wv = home.start(&[]);
    let height = wait_for_prestaged(&home, &wv);
    assert!(
        height + 1 < FAR_HEIGHT,
        "pre-staged only at height {height}, not ahead of {FAR_HEIGHT}\n{}",
        home.describe(&wv)
    );
    assert_eq!(std::fs::read(installed(&home)).expect("installed"), v2);
    home.assert_current("genesis");
    assert!(node.queries() >= 1);
    assert_eq!(tarball_requests(&server), 1);
    // From here on, any download fails: the switch must not need one.
    drop(server);

    home.wait_for_blocks_by("v2", FAR_HEIGHT, &wv);
    home.assert_current("upgrades/v2");
    let out = wv.output();
    assert!(
        out.contains("pre-staged: the upgrade binary is in place before the height")
            && !out.contains("not here yet; resolving it"),
        "the upgrade must have found the pre-staged binary\n{out}"
    );
}

#[test]
fn run_prestages_a_staged_plan_waiting_for_its_height() {
    let mut home = TestHome::new(Chain::default());
    let (v2, server, info) = serve_v2(&home, None);
    home.write_chain(&Chain::default().with_upgrade_info("v2", FAR_HEIGHT, &info));
    home.set_env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true");
    // No gRPC here: the plan is known from the operator's staging alone.
    let plan = serde_json::json!({"name": "v2", "height": FAR_HEIGHT, "info": info}).to_string();
    home.stage_by_hand(&plan);

    let wv = home.start(&[]);
    let height = wait_for_prestaged(&home, &wv);
    assert!(
        height + 1 < FAR_HEIGHT,
        "pre-staged only at height {height}\n{}",
        home.describe(&wv)
    );
    assert_eq!(std::fs::read(installed(&home)).expect("installed"), v2);
    home.assert_current("genesis");
    assert_eq!(tarball_requests(&server), 1);
    drop(server);

    home.wait_for_blocks_by("v2", FAR_HEIGHT, &wv);
    home.assert_current("upgrades/v2");
}

#[test]
fn a_failed_prestage_keeps_the_node_running_and_the_upgrade_tries_again_at_the_height() {
    // The mirror does not have the file (404): the pre-stage fails while the node
    // runs on; at the height the upgrade's own binary step asks again, fails the
    // same way, and the old binary stays current.
    let mut home = TestHome::new(Chain::default());
    let empty = Server::start(HashMap::new());
    let url = format!(
        "{}?checksum=sha256:{}",
        empty.url("/v2.tar.gz"),
        "ab".repeat(32)
    );
    // 8 s of blocks: time to start, compile the resolver and fail, well before it.
    let target = 200;
    let info = plan_info(&url);
    home.write_chain(&Chain::default().with_upgrade_info("v2", target, &info));
    home.set_env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true");
    let plan = serde_json::json!({"name": "v2", "height": target, "info": info}).to_string();
    home.stage_by_hand(&plan);

    let mut wv = home.start(&[]);
    let failed_at = wait_for(
        "the failed pre-stage to be logged",
        TIMEOUT,
        || {
            wv.output()
                .contains("pre-staging the binary failed")
                .then(|| home.height())
        },
        || home.describe(&wv),
    );
    assert!(failed_at + 1 < target, "{}", home.describe(&wv));
    assert_eq!(tarball_requests(&empty), 1, "one pre-stage attempt");
    // The node is not held up by it.
    home.wait_for_height(failed_at + 5, &wv);
    wv.assert_running();

    let exit = wv.wait_exit(TIMEOUT);
    assert!(
        matches!(exit, Exit::Code(c) if c != 0),
        "the upgrade must fail without its binary: {exit:?}\n{}",
        home.describe(&wv)
    );
    assert_eq!(
        tarball_requests(&empty),
        2,
        "the upgrade asks again at the height\n{}",
        home.describe(&wv)
    );
    home.assert_current("genesis");
    assert!(!installed(&home).exists());
}
