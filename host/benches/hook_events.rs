//! What an upgrade event costs the upgrade: `cargo bench -p wasmvisor --bench hook_events`.
//!
//! The supervisor awaits `on-event` (detected, failed) with the node stopped, so its
//! time adds to the downtime. Measured: the bundled `webhook` told `detected` through
//! `PluginHost::run_hooks_event` (fresh store + instantiate + the plugin's JSON + a
//! POST through the host's checked HTTP client), median of 200 calls after a warm-up
//! that compiles the plugin. Baseline, same run, same loopback endpoint: the same
//! JSON body POSTed by native reqwest. Also one call of a hook that does nothing
//! with the event (`version-check`), the floor of any hook call.

#[allow(dead_code)] // shared by the benches; each uses a part
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use wasmvisor::plugin::{ComponentCache, HostOptions, PluginHost, PluginsConfig};
use wasmvisor::upgrade::UpgradeEvent;
use wasmvisor::upgrade_info::Plan;

use common::http::{Response, Server};
use common::samples::{median, ms};

const CALLS: usize = 200;

fn host(home: &Path, toml_text: &str) -> PluginHost {
    let doc: toml::Table = toml::from_str(toml_text).expect("toml");
    let table = doc["plugins"].as_table().cloned().unwrap_or_default();
    PluginHost::load_with(
        PluginsConfig::from_table(&table).expect("plugins config"),
        &[],
        HostOptions {
            home: Some(home.to_path_buf()),
            daemon_name: "chaind".into(),
            cache: ComponentCache::under_home(home),
        },
    )
    .expect("load plugins")
}

fn plan() -> Plan {
    Plan {
        name: "v2".into(),
        height: 4200,
        info: r#"{"binaries":{"linux/amd64":"https://dl.example.com/chaind.tar.gz"}}"#.into(),
    }
}

async fn time_events(host: &PluginHost) -> Duration {
    let plan = plan();
    host.run_hooks_event(&UpgradeEvent::Detected, &plan, None)
        .await;
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        host.run_hooks_event(&UpgradeEvent::Detected, &plan, Some("v1".into()))
            .await;
        samples.push(started.elapsed());
    }
    median(samples)
}

/// The webhook's body, built and POSTed natively.
async fn time_native(url: &str) -> Duration {
    let client = reqwest::Client::new();
    let plan = plan();
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        let body = serde_json::json!({
            "event": "detected",
            "plan": {"name": plan.name, "height": plan.height, "info": plan.info},
            "daemon": "chaind",
            "previous_upgrade": "v1",
            "platform": "linux/amd64",
            "time": "2026-11-22T17:00:00.000Z",
            "time_ms": 1_795_453_200_000u64,
        })
        .to_string();
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("native POST");
        assert!(response.status().is_success());
        samples.push(started.elapsed());
    }
    median(samples)
}

fn main() {
    let rt = common::runtime();
    let home = tempfile::tempdir().expect("tempdir");
    // Answers every POST with 204 (the server reads the whole body first); its
    // request count proves the figures include a delivered POST.
    let endpoint = Server::start(|_| Response::new(204)).expect("endpoint");
    let url = format!("{}/events", endpoint.url());
    let webhook = host(
        home.path(),
        &format!(
            "[plugins.webhook]\nbundled = \"webhook\"\nhosts = [\"127.0.0.1\"]\n\
             [plugins.webhook.config]\nurl = \"{url}\"\n"
        ),
    );
    let silent = host(
        home.path(),
        "[plugins.version-check]\nbundled = \"version-check\"\n",
    );
    rt.block_on(async {
        let native = time_native(&url).await;
        let before = endpoint.requests();
        let event = time_events(&webhook).await;
        let delivered = endpoint.requests() - before;
        assert_eq!(
            delivered,
            CALLS as u64 + 1,
            "every webhook event must reach the endpoint"
        );
        let floor = time_events(&silent).await;
        println!("hook events, median of {CALLS} calls each:");
        println!(
            "  webhook on-event(detected), loopback POST: {:>8.3} ms",
            ms(event)
        );
        println!(
            "  baseline: native reqwest POST, same body:   {:>8.3} ms",
            ms(native)
        );
        println!(
            "  a hook ignoring the event (version-check):  {:>8.3} ms",
            ms(floor)
        );
        println!(
            "  plugin overhead over native: {:+.3} ms per event",
            (event.as_secs_f64() - native.as_secs_f64()) * 1e3
        );
    });
}
