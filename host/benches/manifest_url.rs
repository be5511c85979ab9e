//! Cost of the default resolver: `cargo bench -p wasmvisor --bench manifest_url`.
//!
//! `manifest-url` runs once per upgrade, so what matters is that it adds nothing an
//! operator would notice next to the download itself. Prints medians, each beside a
//! baseline measured in the same run:
//! - a resolve of an inline-JSON plan (fresh store + instantiate + parse + pick +
//!   checksum split + conversion); baseline: the same parsing as native Rust;
//! - a resolve of a plan whose info is a URL (loopback HTTP server, document
//!   checksum verified in the plugin); baseline: a native reqwest GET of the same
//!   document + sha256 + JSON parse, with a reused client.

#[allow(dead_code)] // shared by the benches; each uses a part
mod common;

use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmvisor::config::Config;
use wasmvisor::install::Artifact;
use wasmvisor::plugin::{Platform, PluginHost};
use wasmvisor::upgrade_info::Plan;

use common::http::{self, Response, Server};
use common::samples::{interleaved, median, ms, us};

const ROUNDS: usize = 300;
const BINARY_URL: &str = "https://dl.example.com/v2/chaind-linux-amd64.tar.gz?checksum=sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// The plugin's work for an inline plan, natively.
fn native_inline(info: &str) -> Artifact {
    let doc: serde_json::Value = serde_json::from_str(info.trim()).unwrap();
    let binaries = doc["binaries"].as_object().unwrap();
    let url = binaries
        .get("linux/amd64")
        .or_else(|| binaries.get("any"))
        .and_then(|v| v.as_str())
        .unwrap();
    Artifact::from_url_with_query(url).unwrap()
}

fn document() -> Vec<u8> {
    serde_json::json!({"binaries": {
        "linux/amd64": BINARY_URL,
        "linux/arm64": BINARY_URL.replace("amd64", "arm64"),
        "darwin/arm64": BINARY_URL.replace("linux-amd64", "darwin-arm64"),
    }})
    .to_string()
    .into_bytes()
}

fn main() {
    let rt = common::runtime();
    let home = common::home();
    let mut config = Config::new(home.path(), "chaind");
    config.allow_download_binaries = true;
    config.plugins = toml::from_str("[manifest-url]\nhosts = [\"127.0.0.1\"]\n").unwrap();
    let host = PluginHost::load(&config, &[]).unwrap();
    let plugin = &host.plugins()[0];
    let platform = Platform {
        os: "linux".into(),
        arch: "amd64".into(),
    };

    let doc = document();
    let inline = String::from_utf8(doc.clone()).unwrap();
    // The document at every path.
    let server = {
        let doc = bytes::Bytes::from(doc.clone());
        Server::start(move |_| Response::ok(doc.clone())).unwrap()
    };
    let port = server.port();
    let url_info = format!(
        "http://127.0.0.1:{port}/plan.json?checksum=sha256:{}",
        hex::encode(Sha256::digest(&doc))
    );
    let plan = |info: &str| Plan {
        name: "v2".into(),
        height: 10,
        info: info.into(),
    };
    let (inline_plan, url_plan) = (plan(&inline), plan(&url_info));

    rt.block_on(async {
        // Compile once (or load from the cache), outside the measurements.
        let started = Instant::now();
        let first = plugin.resolve(&inline_plan, &platform).await.unwrap();
        println!(
            "manifest-url first resolve (compile/cache + describe + call): {:.1} ms",
            ms(started.elapsed())
        );
        assert_eq!(first, vec![native_inline(&inline)]);

        let (wasm, native) = interleaved(
            ROUNDS,
            async || plugin.resolve(&inline_plan, &platform).await.unwrap(),
            async || native_inline(&inline),
        )
        .await;
        println!(
            "resolve, inline JSON ({} bytes): median {:.1} µs   (baseline, native parse: {:.1} µs)",
            inline.len(),
            us(median(wasm)),
            us(median(native))
        );

        let client = http::client();
        let plain_url = format!("http://127.0.0.1:{port}/plan.json");
        let (wasm, native) = interleaved(
            ROUNDS,
            async || plugin.resolve(&url_plan, &platform).await.unwrap(),
            async || {
                let body = http::get(&client, &plain_url).await;
                std::hint::black_box(Sha256::digest(&body));
                native_inline(std::str::from_utf8(&body).unwrap())
            },
        )
        .await;
        println!(
            "resolve, info URL (loopback, checksum verified): median {:.1} µs   (baseline, native GET + sha256 + parse: {:.1} µs)",
            us(median(wasm)),
            us(median(native))
        );
    });
}
