//! The bundled `rpc-poll` detector in a real `wasmvisor run --plugin rpc-poll` over
//! fake-chaind, against loopback servers playing the chains' APIs: a Cosmos REST
//! endpoint whose `current_plan` appears while the node runs (the chain itself never
//! writes upgrade-info.json), a Vega-style JSON-RPC core that accepts a release and
//! turns ready at the height, and a Lava-style protocol-params endpoint with a
//! CometBFT `/status`, compared with the running binary's `version`.
//!
//! Every server reads the node's real height from its persisted state, so what the
//! "chain" answers follows the node as a real API would.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wasmvisor_e2e::api::{ApiServer, Reply};
use wasmvisor_e2e::archive::sha256_checksum;
use wasmvisor_e2e::{Chain, Running, SETTLE, TIMEOUT, TestHome, assert_continued, wait_until};

/// One request a loopback API received, with the node's height when it arrived.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    body: String,
    node_height: u64,
}

type Handler = dyn Fn(&Seen) -> (u16, Vec<u8>) + Send + Sync;

/// A loopback API answering every request through `handler` with JSON, and
/// recording each request with the node's height when it arrived.
struct Api {
    server: ApiServer,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Api {
    fn start(data_dir: PathBuf, handler: Box<Handler>) -> Api {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = ApiServer::start(move |req| {
            let seen = Seen {
                method: req.method.clone(),
                path: req.path.clone(),
                body: req.body_text(),
                node_height: node_height(&data_dir),
            };
            let (status, body) = handler(&seen);
            log.lock().expect("lock").push(seen);
            Reply {
                status,
                headers: vec![("content-type".into(), "application/json".into())],
                body,
            }
        });
        Api { server, seen }
    }

    fn base(&self) -> String {
        self.server.url("")
    }

    fn requests_to(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

/// The height the node last committed, from its persisted state (0 before the first block).
fn node_height(data_dir: &Path) -> u64 {
    std::fs::read(data_dir.join("fakechain_state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["height"].as_u64())
        .unwrap_or(0)
}

fn json_body(v: Value) -> (u16, Vec<u8>) {
    (200, v.to_string().into_bytes())
}

/// CometBFT RPC `/status` as a node at `height` answers it.
fn cometbft_status(height: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": -1, "result": {
        "node_info": {"network": "fakechain-1", "version": "0.38.12"},
        "sync_info": {"latest_block_height": height.to_string(), "catching_up": false}}})
}

/// A slower chain than the default, so "the node reached height H" and "it was
/// stopped" are told apart on a loaded machine; no plans: the chain never halts and
/// never writes upgrade-info.json itself.
fn chain() -> Chain {
    Chain {
        block_time_ms: 100,
        ..Chain::default()
    }
}

/// `[plugins.rpc-poll]` granting the loopback API, polling fast, with `config`.
fn write_config(home: &TestHome, config: &[(&str, String)]) -> String {
    let mut text = String::from(
        "[plugins.rpc-poll]\nhosts = [\"127.0.0.1\"]\npoll_interval = \"100ms\"\n[plugins.rpc-poll.config]\n",
    );
    for (k, v) in config {
        text.push_str(&format!("{k} = {}\n", toml_string(v)));
    }
    let path = home.scratch().join("wasmvisor.toml");
    std::fs::write(&path, text).expect("write the config");
    path.display().to_string()
}

fn toml_string(v: &str) -> String {
    Value::String(v.to_owned()).to_string()
}

/// `wasmvisor run --cosmovisor-config <config> --plugin rpc-poll start --home <home>`.
fn run(home: &mut TestHome, config: &str) -> Running {
    let home_dir = home.home().display().to_string();
    let cmd = home.command([
        "run",
        "--cosmovisor-config",
        config,
        "--plugin",
        "rpc-poll",
        "start",
        "--home",
        &home_dir,
    ]);
    home.spawn(cmd)
}

/// The node stopped for the upgrade no earlier than the block before its height.
fn assert_switched_at(home: &TestHome, wv: &Running, height: u64) {
    let out = wv.stdout();
    let handed_over = assert_continued(&out, "v1", "v2");
    assert!(
        handed_over + 1 >= height,
        "v1 stopped at height {handed_over}, before the upgrade height {height}\n{}",
        home.describe(wv)
    );
    assert!(
        !out.contains("NEEDED at height"),
        "the chain itself never halts here: the plugin alone found the upgrade\n{}",
        home.describe(wv)
    );
}

#[test]
fn cosmos_preset_prestages_the_binary_and_upgrades_at_the_plan_height_without_upgrade_info() {
    const HEIGHT: u64 = 14;
    let mut home = TestHome::new(chain());
    home.set_env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true");
    let v2 = std::fs::read(home.make_version("v2")).expect("read v2");
    let checksum = sha256_checksum(&v2);
    // The REST endpoint has no plan until governance "passes" one while the node
    // runs (after two empty answers, from height 3); its info points at the v2
    // binary on the same server (cosmovisor's info format).
    let info = Arc::new(Mutex::new(String::new()));
    // The node's height when the plan was first served.
    let announced = Arc::new(Mutex::new(None::<u64>));
    let (plan_info, first_served) = (info.clone(), announced.clone());
    let empty_answers = AtomicUsize::new(0);
    let api = Api::start(
        home.data_dir(),
        Box::new(move |req| match req.path.as_str() {
            "/cosmos/upgrade/v1beta1/current_plan" => {
                if req.node_height < 3 || empty_answers.load(Ordering::SeqCst) < 2 {
                    empty_answers.fetch_add(1, Ordering::SeqCst);
                    return json_body(json!({"plan": null}));
                }
                first_served
                    .lock()
                    .expect("lock")
                    .get_or_insert(req.node_height);
                json_body(
                    json!({"plan": {"name": "v2", "time": "0001-01-01T00:00:00Z",
                    "height": HEIGHT.to_string(), "info": *plan_info.lock().expect("lock"),
                    "upgraded_client_state": null}}),
                )
            }
            "/bin/fake-chaind-v2" => (200, v2.clone()),
            _ => (
                404,
                b"{\"code\":5,\"message\":\"Not Implemented\"}".to_vec(),
            ),
        }),
    );
    *info.lock().expect("lock") = json!({"binaries": {
        "any": format!("{}/bin/fake-chaind-v2?checksum={checksum}", api.base())}})
    .to_string();
    let config = write_config(&home, &[("preset", "cosmos".into()), ("url", api.base())]);
    let wv = run(&mut home, &config);

    home.wait_for_blocks_by("v2", HEIGHT, &wv);
    home.assert_current("upgrades/v2");
    assert_switched_at(&home, &wv, HEIGHT);
    // The plan was known well before its height: the supervisor waited for the
    // height instead of switching when the plan appeared.
    let announced = announced
        .lock()
        .expect("lock")
        .expect("the plan was served");
    assert!(
        announced + 3 < HEIGHT,
        "the plan appeared at node height {announced}, too late to show the wait for {HEIGHT}\n{}",
        home.describe(&wv)
    );
    let downloads = api.requests_to("/bin/fake-chaind-v2");
    assert_eq!(downloads.len(), 1, "{}", home.describe(&wv));
    // Pre-staged: fetched (and verified) while the node still ran below the height,
    // not when it stopped for the upgrade.
    assert!(
        downloads[0].node_height + 1 < HEIGHT,
        "the v2 binary was fetched at node height {}, not ahead of the plan height {HEIGHT}\n{}",
        downloads[0].node_height,
        home.describe(&wv)
    );
}

#[test]
fn vega_preset_switches_to_the_accepted_release_once_the_core_is_ready() {
    const HEIGHT: u64 = 12;
    let mut home = TestHome::new(chain());
    home.install_upgrade("v2", "v2");
    // Vega core's protocolupgrade.UpgradeStatus: release v2 accepted for HEIGHT from
    // the start; ready to upgrade once the block before it is committed.
    let api = Api::start(
        home.data_dir(),
        Box::new(|req| {
            if req.method != "POST" || !req.body.contains("protocolupgrade.UpgradeStatus") {
                return (400, b"{\"error\":\"not a JSON-RPC call\"}".to_vec());
            }
            json_body(json!({"result": {
                "AcceptedReleaseInfo": {"VegaReleaseTag": "v2", "DatanodeReleaseTag": "v2",
                                        "UpgradeBlockHeight": HEIGHT},
                "ReadyToUpgrade": req.node_height + 1 >= HEIGHT}, "error": null, "id": "wasmvisor"}))
        }),
    );
    let config = write_config(
        &home,
        &[
            ("preset", "vega".into()),
            ("url", format!("{}/rpc", api.base())),
        ],
    );
    let wv = run(&mut home, &config);

    home.wait_for_blocks_by("v2", HEIGHT, &wv);
    home.assert_current("upgrades/v2");
    assert_switched_at(&home, &wv, HEIGHT);
    let calls = api.requests_to("/rpc");
    assert!(
        calls.iter().all(|s| s.method == "POST"),
        "JSON-RPC over POST only: {calls:?}"
    );
    assert!(
        calls.iter().any(|s| s.node_height + 1 < HEIGHT),
        "polled while not ready: {calls:?}"
    );
}

/// A Lava-style chain: protocol params with `target` as the provider's target
/// version (minimum v1), and CometBFT `/status` with the node's height.
fn lava_api(home: &TestHome, target: &'static str) -> Api {
    Api::start(
        home.data_dir(),
        Box::new(move |req| match req.path.as_str() {
            "/lavanet/lava/protocol/params" => json_body(json!({"params": {"version": {
                "provider_target": target, "provider_min": "v1",
                "consumer_target": target, "consumer_min": "v1"}}})),
            "/status" => json_body(cometbft_status(req.node_height)),
            _ => (404, b"{}".to_vec()),
        }),
    )
}

fn lava_config(home: &TestHome, api: &Api) -> String {
    write_config(
        home,
        &[
            ("preset", "lava".into()),
            ("url", api.base()),
            ("height_url", api.base()),
        ],
    )
}

fn upgrades_detected(wv: &Running) -> usize {
    wv.output().matches("upgrade detected").count()
}

/// The versions the supervisor found its node binaries to be, in order.
fn versions_found(wv: &Running) -> Vec<String> {
    wv.output()
        .lines()
        .filter(|l| l.contains("running binary version"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("version="))
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn lava_preset_upgrades_a_binary_older_than_the_chains_target_and_then_rests() {
    let mut home = TestHome::new(chain());
    home.install_upgrade("v2", "v2");
    let api = lava_api(&home, "v2");
    let config = lava_config(&home, &api);
    let wv = run(&mut home, &config);

    // Running v1 < target v2: a plan named v2 at the next block, carried out at once.
    let above = home.wait_for_height(2, &wv);
    home.wait_for_blocks_by("v2", above, &wv);
    home.assert_current("upgrades/v2");
    assert_continued(&wv.stdout(), "v1", "v2");
    // After the switch the host tells the detector the new binary's version (v2 =
    // target): polls go on, nothing more is detected.
    let polls_before = api.requests_to("/lavanet/lava/protocol/params").len();
    wait_until(
        "five more polls of the protocol params by the v2 supervisor",
        TIMEOUT,
        || api.requests_to("/lavanet/lava/protocol/params").len() >= polls_before + 5,
        || home.describe(&wv),
    );
    assert_eq!(upgrades_detected(&wv), 1, "{}", home.describe(&wv));
    home.assert_current("upgrades/v2");
    assert_eq!(versions_found(&wv), ["v1", "v2"], "{}", home.describe(&wv));
}

#[test]
fn lava_preset_leaves_a_binary_at_the_chains_target_alone() {
    let mut home = TestHome::new(chain());
    home.install_upgrade("v2", "v2");
    let api = lava_api(&home, "v1");
    let config = lava_config(&home, &api);
    let mut wv = run(&mut home, &config);

    wait_until(
        "ten polls of the protocol params",
        TIMEOUT,
        || api.requests_to("/lavanet/lava/protocol/params").len() >= 10,
        || home.describe(&wv),
    );
    std::thread::sleep(SETTLE);
    wv.assert_running();
    assert_eq!(home.current_target().as_deref(), Some(Path::new("genesis")));
    assert_eq!(upgrades_detected(&wv), 0, "{}", home.describe(&wv));
    assert_eq!(versions_found(&wv), ["v1"], "{}", home.describe(&wv));
    assert!(
        !wv.output().contains("no upgrade from this detector"),
        "the version was known at every poll (no poll failed)\n{}",
        home.describe(&wv)
    );
    assert!(
        api.requests_to("/status").is_empty(),
        "no height is needed while no upgrade is: {:?}",
        api.requests_to("/status")
    );
}

#[test]
fn an_endpoint_answering_garbage_is_reported_and_the_node_keeps_running() {
    let mut home = TestHome::new(chain());
    let api = Api::start(
        home.data_dir(),
        Box::new(|_| (200, b"<html>502 Bad Gateway</html>".to_vec())),
    );
    let config = write_config(&home, &[("preset", "cosmos".into()), ("url", api.base())]);
    let mut wv = run(&mut home, &config);

    wait_until(
        "a poll answered with garbage to be reported",
        TIMEOUT,
        || wv.output().contains("the answer is not JSON"),
        || home.describe(&wv),
    );
    let height = home.height();
    home.wait_for_height(height + 3, &wv);
    wv.assert_running();
    assert_eq!(home.current_target().as_deref(), Some(Path::new("genesis")));
}
