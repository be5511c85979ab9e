//! What an upgrade event costs the upgrade: `cargo bench -p wasmvisor --bench hook_events`.
//!
//! The supervisor awaits `on-event` (detected, failed) with the node stopped, so its
//! time adds to the downtime. Measured: the bundled `webhook` told `detected` through
//! `PluginHost::run_hooks_event` (fresh store + instantiate + the plugin's JSON + a
//! POST through the host's checked HTTP client), median of 200 calls after a warm-up
//! that compiles the plugin. Baseline, same run, same loopback endpoint: the same
//! JSON body POSTed by native reqwest. Also one call of a hook that does nothing
//! with the event (`version-check`), the floor of any hook call.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmvisor::plugin::{ComponentCache, HostOptions, PluginHost, PluginsConfig};
use wasmvisor::upgrade::UpgradeEvent;
use wasmvisor::upgrade_info::Plan;

const CALLS: usize = 200;

/// A loopback endpoint answering every POST with 204 (reading the whole body);
/// counts the requests, so the figures are known to include a delivered POST.
fn endpoint() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            seen.fetch_add(1, Ordering::SeqCst);
            let Ok(mut s) = stream else { continue };
            let mut data = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&buf[..n]);
                let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if data.len() >= end + 4 + length {
                    break;
                }
            }
            let _ = s.write_all(
                b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    (port, count)
}

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

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let home = tempfile::tempdir().expect("tempdir");
    let (port, requests) = endpoint();
    let url = format!("http://127.0.0.1:{port}/events");
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
        let before = requests.load(Ordering::SeqCst);
        let event = time_events(&webhook).await;
        let delivered = requests.load(Ordering::SeqCst) - before;
        assert_eq!(
            delivered,
            CALLS + 1,
            "every webhook event must reach the endpoint"
        );
        let floor = time_events(&silent).await;
        println!("hook events, median of {CALLS} calls each:");
        println!(
            "  webhook on-event(detected), loopback POST: {:>8.3} ms",
            event.as_secs_f64() * 1e3
        );
        println!(
            "  baseline: native reqwest POST, same body:   {:>8.3} ms",
            native.as_secs_f64() * 1e3
        );
        println!(
            "  a hook ignoring the event (version-check):  {:>8.3} ms",
            floor.as_secs_f64() * 1e3
        );
        println!(
            "  plugin overhead over native: {:+.3} ms per event",
            (event.as_secs_f64() - native.as_secs_f64()) * 1e3
        );
    });
}
