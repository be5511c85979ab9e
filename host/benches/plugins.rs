//! Plugin runtime figures: `cargo bench -p wasmvisor --bench plugins`.
//!
//! Prints, each with a baseline measured in the same run:
//! - cold compile of each bundled plugin and of the fixture resolver (size, s);
//!   baseline: hashing the same bytes (what loading does before compiling);
//! - warm load of a cached plugin (`.cwasm` from the cache + describe + grants),
//!   median; baseline: reading the `.cwasm` bytes;
//! - one call (fresh store + instantiate + one export call + result conversion),
//!   median; baseline: the same work as native Rust;
//! - RSS: the process before the engine, after loading plugins, per plugin, and with
//!   two detectors active (polled and fed log lines).

#[allow(dead_code)] // shared by the benches; each uses a part
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use sha2::Digest;

use wasmvisor::plugin::engine::Runtime;
use wasmvisor::plugin::{
    ComponentCache, HostOptions, Platform, PluginHost, PluginsConfig, bundled,
};
use wasmvisor::upgrade_info::Plan;

use common::samples::median;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("WASMVISOR_FIXTURES_DIR")).join(format!("{name}.wasm"))
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn host(home: &Path, toml_text: &str, specs: &[PathBuf]) -> PluginHost {
    let doc: toml::Table = toml::from_str(toml_text).unwrap();
    let table = doc
        .get("plugins")
        .and_then(|p| p.as_table())
        .cloned()
        .unwrap_or_default();
    let specs: Vec<String> = specs.iter().map(|p| p.display().to_string()).collect();
    PluginHost::load_with(
        PluginsConfig::from_table(&table).unwrap(),
        &specs,
        HostOptions {
            home: Some(home.to_path_buf()),
            daemon_name: "chaind".into(),
            cache: ComponentCache::under_home(home),
        },
    )
    .unwrap()
}

/// The native equivalent of the fixture resolver's work (the call baseline).
fn native_resolve(plan: &Plan, platform: &Platform) -> String {
    format!(
        "https://binaries.example.com/{}/chaind-{}-{}.tar.gz",
        plan.name, platform.os, platform.arch
    )
}

fn main() {
    let rt = common::runtime();
    let rss_start = rss_kib();
    let runtime = Runtime::shared().unwrap();
    let rss_engine = rss_kib();
    let home = common::home();

    println!("== cold compile (Component::new, no cache) ==");
    let mut sources: Vec<(String, Vec<u8>)> = bundled::names()
        .into_iter()
        .map(|n| (format!("bundled {n}"), bundled::get(n).unwrap().1.to_vec()))
        .collect();
    sources.push((
        "fixture resolver-basic".into(),
        std::fs::read(fixture("fixture_resolver_basic")).unwrap(),
    ));
    for (name, bytes) in &sources {
        let t = Instant::now();
        std::hint::black_box(sha2::Sha256::digest(bytes));
        let hash = t.elapsed();
        let t = Instant::now();
        let component = wasmtime::component::Component::new(&runtime.engine, bytes).unwrap();
        let compile = t.elapsed();
        let cwasm = component.serialize().unwrap().len();
        println!(
            "{name:<28} {:>6} KiB wasm -> {:>6} KiB compiled: {:>8.3} s  (baseline: sha256 of the bytes {:?})",
            bytes.len() / 1024,
            cwasm / 1024,
            compile.as_secs_f64(),
            hash
        );
    }

    println!("\n== warm load of a cached plugin ==");
    let spec = [fixture("fixture_resolver_basic")];
    // First load compiles and fills the cache.
    let first = host(home.path(), "", &spec);
    let t = Instant::now();
    rt.block_on(first.plugins()[0].ready()).unwrap();
    println!(
        "first load (compile + cache write + describe): {:?}",
        t.elapsed()
    );
    let cache_dir = home.path().join("cosmovisor/.plugin-cache");
    let cwasm_path = std::fs::read_dir(&cache_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (mut loads, mut reads) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let t = Instant::now();
        let h = host(home.path(), "", &spec);
        rt.block_on(h.plugins()[0].ready()).unwrap();
        loads.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(std::fs::read(&cwasm_path).unwrap());
        reads.push(t.elapsed());
    }
    println!(
        "warm load (read + sha256 + contract + .cwasm deserialize + describe + grants), median of 200: {:?}  (baseline: read the .cwasm {:?})",
        median(loads),
        median(reads)
    );

    println!("\n== one call: fresh store + instantiate + resolve + conversion ==");
    let plan = Plan {
        name: "v2".into(),
        height: 10,
        info: String::new(),
    };
    let platform = Platform {
        os: "linux".into(),
        arch: "amd64".into(),
    };
    let plugin = first.plugins()[0].clone();
    let (mut calls, mut natives) = (Vec::new(), Vec::new());
    rt.block_on(async {
        for _ in 0..2000 {
            let t = Instant::now();
            let a = plugin.resolve(&plan, &platform).await.unwrap();
            calls.push(t.elapsed());
            std::hint::black_box(a);
            let t = Instant::now();
            std::hint::black_box(native_resolve(std::hint::black_box(&plan), &platform));
            natives.push(t.elapsed());
        }
    });
    println!(
        "call median of 2000: {:?}  (baseline: native Rust {:?})",
        median(calls),
        median(natives)
    );

    println!("\n== memory (VmRSS) ==");
    let rss_before_plugins = rss_kib();
    let all = [
        fixture("fixture_resolver_basic"),
        fixture("fixture_resolver_hostile"),
        fixture("fixture_detector_basic"),
        fixture("fixture_hook_basic"),
    ];
    let many = host(home.path(), "", &all);
    rt.block_on(async {
        for p in many.plugins() {
            p.ready().await.unwrap();
        }
    });
    let rss_after_plugins = rss_kib();
    println!(
        "process at start: {} KiB; with the engine: {} KiB",
        rss_start, rss_engine
    );
    println!(
        "loading {} more distinct plugins: {} KiB -> {} KiB, {} KiB per plugin",
        all.len(),
        rss_before_plugins,
        rss_after_plugins,
        (rss_after_plugins.saturating_sub(rss_before_plugins)) / all.len() as u64
    );

    // Two detectors active, as in a supervisor: polled and fed log lines.
    let detectors_home = tempfile::tempdir().unwrap();
    let two = Arc::new(host(
        detectors_home.path(),
        "[plugins.scanner]\nbundled = \"log-scanner\"\n[plugins.detector-basic.config]\nplan = \"v9:100\"\n",
        &[fixture("fixture_detector_basic")],
    ));
    rt.block_on(async {
        let detectors = two.detectors().await;
        assert_eq!(detectors.len(), 2);
        for i in 0..500 {
            for d in &detectors {
                let _ = d.poll(None, None).await;
                let _ = d
                    .on_log_line(&format!("INF committed state height={i}"))
                    .await;
            }
        }
    });
    println!(
        "this process with two detectors active (after 500 polls + 500 log lines each): {} KiB (limit for the supervisor: 40960 KiB)",
        rss_kib()
    );
}
