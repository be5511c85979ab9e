//! Cost of the `rpc-poll` detector and of finding the running binary's version:
//! `cargo bench -p wasmvisor --bench rpc_poll`.
//!
//! A detector polls all the time (every 5 s by default), so its per-poll cost is
//! what an idle supervisor pays. Prints medians, each beside a baseline measured in
//! the same run:
//! - one poll, cosmos preset, a plan in the answer (fresh store + instantiate + one
//!   loopback GET through the host's HTTP import + JSON pointers + conversion);
//!   baseline: a native reqwest GET of the same answer + serde parse + the same reads,
//!   with a reused client;
//! - one poll, lava preset (params GET + CometBFT `/status` GET + version compare);
//!   baseline: the same two GETs and parses natively;
//! - the running-version probe of a binary (`<bin> version`, capped, time-limited);
//!   baseline: a plain `Command::output()` of the same binary; then a cached probe.

#[allow(dead_code)] // shared by the benches; each uses a part
mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use serde_json::{Value, json};
use wasmvisor::config::Config;
use wasmvisor::plugin::{NodeContext, PluginHost};
use wasmvisor::running_version::{self, RunningVersion};

use common::http::{self, Response, Server};
use common::samples::{interleaved, median, ms, us};

const ROUNDS: usize = 300;
const PROBES: usize = 50;

/// Answers by path: the Cosmos plan, Lava's params, CometBFT's status.
fn answer(path: &str) -> Value {
    match path {
        "/cosmos/upgrade/v1beta1/current_plan" => json!({"plan": {"name": "v18",
            "time": "0001-01-01T00:00:00Z", "height": "1234567",
            "info": "{\"binaries\":{\"linux/amd64\":\"https://dl.example.com/v18\"}}",
            "upgraded_client_state": null}}),
        "/lavanet/lava/protocol/params" => json!({"params": {"version": {
            "provider_target": "v2.1.0", "provider_min": "v2.0.0",
            "consumer_target": "v2.1.0", "consumer_min": "v2.0.0"}}}),
        "/status" => json!({"jsonrpc": "2.0", "id": -1, "result": {
            "sync_info": {"latest_block_height": "1234000", "catching_up": false}}}),
        _ => json!({}),
    }
}

fn host(home: &std::path::Path, port: u16, config: &str) -> PluginHost {
    let mut c = Config::new(home, "chaind");
    c.plugins = toml::from_str(&format!(
        "[rpc-poll]\nbundled = \"rpc-poll\"\nhosts = [\"127.0.0.1\"]\n[rpc-poll.config]\nurl = \"http://127.0.0.1:{port}\"\n{config}"
    ))
    .unwrap();
    PluginHost::load(&c, &[]).unwrap()
}

async fn get(client: &reqwest::Client, url: &str) -> Value {
    serde_json::from_slice(&http::get(client, url).await).unwrap()
}

fn main() {
    let rt = common::runtime();
    let home = common::home();
    let server = Server::start(|request| {
        Response::ok(answer(&request.path).to_string()).header("content-type", "application/json")
    })
    .unwrap();
    let port = server.port();
    let base = format!("http://127.0.0.1:{port}");
    let cosmos = host(home.path(), port, "preset = \"cosmos\"\n");
    let lava = host(
        home.path(),
        port,
        &format!("preset = \"lava\"\nheight_url = \"{base}\"\n"),
    );
    let node = NodeContext {
        daemon_name: "chaind".into(),
        current_upgrade: None,
        running_version: Some("v2.0.0".into()),
    };
    let client = http::client();

    rt.block_on(async {
        for (label, h) in [("cosmos", &cosmos), ("lava", &lava)] {
            let started = Instant::now();
            let plan = h.plugins()[0].poll(&node).await.unwrap().unwrap();
            println!(
                "rpc-poll {label}: first poll (compile/cache + describe + call) {:.1} ms -> {} at {}",
                ms(started.elapsed()),
                plan.name,
                plan.height
            );
        }

        let plan_url = format!("{base}/cosmos/upgrade/v1beta1/current_plan");
        let (wasm, native) = interleaved(
            ROUNDS,
            async || cosmos.plugins()[0].poll(&node).await.unwrap(),
            async || {
                let doc = get(&client, &plan_url).await;
                (
                    doc.pointer("/plan/name").cloned(),
                    doc.pointer("/plan/height")
                        .and_then(Value::as_str)
                        .map(|h| h.parse::<u64>().unwrap()),
                    doc.pointer("/plan/info").cloned(),
                )
            },
        )
        .await;
        println!(
            "poll, cosmos preset (1 GET): median {:.1} µs   (baseline, native GET + parse: {:.1} µs)",
            us(median(wasm)),
            us(median(native))
        );

        let params_url = format!("{base}/lavanet/lava/protocol/params");
        let status_url = format!("{base}/status");
        let (wasm, native) = interleaved(
            ROUNDS,
            async || lava.plugins()[0].poll(&node).await.unwrap(),
            async || {
                let params = get(&client, &params_url).await;
                let status = get(&client, &status_url).await;
                (
                    params.pointer("/params/version/provider_target").cloned(),
                    status.pointer("/result/sync_info/latest_block_height").cloned(),
                )
            },
        )
        .await;
        println!(
            "poll, lava preset (2 GETs + compare): median {:.1} µs   (baseline, native GETs + parse: {:.1} µs)",
            us(median(wasm)),
            us(median(native))
        );

        // A binary whose `version` prints one line, as a node's does.
        let bin = home.path().join("chaind");
        std::fs::write(&bin, "#!/bin/sh\necho v2.0.0\n").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (probe, plain) = interleaved(
            PROBES,
            async || running_version::query(&bin).await.unwrap(),
            async || {
                tokio::process::Command::new(&bin)
                    .arg("version")
                    .output()
                    .await
                    .unwrap()
            },
        )
        .await;
        println!(
            "running version, `<bin> version` (sh script): median {:.2} ms   (baseline, plain Command::output: {:.2} ms)",
            ms(median(probe)),
            ms(median(plain))
        );
        assert_eq!(
            RunningVersion::probe(bin.clone()).settled().await.as_deref(),
            Some("v2.0.0")
        );
        let mut cached = Vec::new();
        for _ in 0..ROUNDS {
            let t = Instant::now();
            std::hint::black_box(RunningVersion::probe(bin.clone()).now());
            cached.push(t.elapsed());
        }
        println!(
            "running version, the same binary again (cache: canonicalize + stat): median {:.1} µs",
            us(median(cached))
        );
    });
}
