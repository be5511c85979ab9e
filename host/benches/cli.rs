//! The cost of wasmvisor's configuration, logging and command line, each beside a
//! baseline measured in the same run:
//!
//! - a supervisor log line (format + drop) against tracing-subscriber's own `fmt`
//!   layer writing to `io::sink()` — what a stock Rust service pays per line;
//! - a filtered-out `debug!` against the same with the stock layer;
//! - loading the configuration (20 variables + a config file) against just reading
//!   and parsing that TOML file — the floor any loader pays;
//! - `wasmvisor version --cosmovisor-only` and `wasmvisor config` as processes
//!   against `/bin/true` — process start-up, which every `run` pays once.
//!
//! `cargo bench -p wasmvisor --bench cli`. The process figures use
//! `target/release/wasmvisor` (build it first: `cargo build --release -p wasmvisor`)
//! or `WASMVISOR_BENCH_BIN`; they are skipped when neither exists.
//! `WASMVISOR_BENCH_LINES` (default 200000) sets the number of log lines per figure.

use std::collections::HashMap;
use std::ffi::OsString;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tracing_subscriber::layer::SubscriberExt as _;
use wasmvisor::config::{LoadOptions, load_with};
use wasmvisor::logging::{LogSettings, Sink, SupervisorLayer};

fn main() {
    let lines: u32 = std::env::var("WASMVISOR_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    println!(
        "wasmvisor cli/config/logging bench ({lines} log lines per figure; means, except where marked)\n"
    );
    println!(
        "{:<52} {:>14} {:>14} {:>8}",
        "figure", "wasmvisor", "baseline", "ratio"
    );
    log_lines(lines);
    config_load();
    processes();
}

fn row(name: &str, ours: Duration, base: Duration) {
    let ratio = if base.is_zero() {
        "n/a".to_owned()
    } else {
        format!("{:.2}x", ours.as_secs_f64() / base.as_secs_f64())
    };
    println!(
        "{name:<52} {:>14} {:>14} {ratio:>8}",
        show(ours),
        show(base)
    );
}

/// Median wall time of `runs` calls of `f` (process start-up is noisy; the median
/// resists a stray slow run).
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

fn show(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}

/// Mean time per iteration of `f`, after a warm-up.
fn per_iter(n: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..n.min(1000) {
        f();
    }
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed() / n
}

fn log_lines(n: u32) {
    let settings = LogSettings {
        color: false,
        ..LogSettings::default()
    };
    let emit = || tracing::info!(target: "wasmvisor::bench", name = "v2", height = 120u64, path = %"/h/cosmovisor/upgrades/v2", "upgrade detected");
    let filtered =
        || tracing::debug!(target: "wasmvisor::bench", height = 120u64, "not written at info");

    let ours_sub =
        tracing_subscriber::registry().with(SupervisorLayer::new(settings.clone(), Sink::Discard));
    let stock_sub = || {
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::io::sink),
            )
            .with(tracing_subscriber::filter::LevelFilter::INFO)
    };
    let ours = tracing::subscriber::with_default(ours_sub, || per_iter(n, emit));
    let stock = tracing::subscriber::with_default(stock_sub(), || per_iter(n, emit));
    row("log line, text (format + discard)", ours, stock);

    let json = LogSettings {
        format: wasmvisor::config::LogFormat::Json,
        ..settings.clone()
    };
    let ours_sub = tracing_subscriber::registry().with(SupervisorLayer::new(json, Sink::Discard));
    let stock_json = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::sink),
        )
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    let ours = tracing::subscriber::with_default(ours_sub, || per_iter(n, emit));
    let stock = tracing::subscriber::with_default(stock_json, || per_iter(n, emit));
    row("log line, json (format + discard)", ours, stock);

    let ours_sub =
        tracing_subscriber::registry().with(SupervisorLayer::new(settings, Sink::Discard));
    let ours = tracing::subscriber::with_default(ours_sub, || per_iter(n, filtered));
    let stock = tracing::subscriber::with_default(stock_sub(), || per_iter(n, filtered));
    row("filtered-out debug! event", ours, stock);
}

fn config_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().to_path_buf();
    let file = home.join("config.toml");
    let mut config = wasmvisor::config::Config::new(&home, "gaiad");
    config.plugins =
        toml::from_str("[s3]\nbucket = \"b\"\nregion = \"eu-west-1\"\n").expect("toml");
    std::fs::write(&file, config.to_toml()).expect("write config");
    let mut env: HashMap<&str, OsString> = HashMap::new();
    for (name, value) in config.entries() {
        env.insert(name, OsString::from(value.to_string()));
    }
    let opts = LoadOptions {
        file: Some(file.clone()),
        skip_dir_checks: false,
    };
    let ours = per_iter(5_000, || {
        black_box(load_with(|k| env.get(k).cloned(), &opts).expect("config loads"));
    });
    let base = per_iter(5_000, || {
        let text = std::fs::read_to_string(&file).expect("read");
        black_box(toml::from_str::<toml::Table>(&text).expect("parse"));
    });
    row(
        "config load (env + file) vs read+parse the file",
        ours,
        base,
    );
}

fn processes() {
    let Some(bin) = binary() else {
        println!(
            "(process figures skipped: build target/release/wasmvisor or set WASMVISOR_BENCH_BIN)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let runs = 101;
    let spawn = |program: &Path, args: &[&str]| {
        let status = Command::new(program)
            .args(args)
            .env("DAEMON_HOME", dir.path())
            .env("DAEMON_NAME", "gaiad")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("spawn");
        assert!(status.success(), "{} {args:?} failed", program.display());
    };
    let t = Path::new("/bin/true");
    let base = median(runs, || spawn(t, &[]));
    let ours = median(runs, || spawn(&bin, &["version", "--cosmovisor-only"]));
    row(
        "process (median): version --cosmovisor-only vs true",
        ours,
        base,
    );
    let ours = median(runs, || spawn(&bin, &["config"]));
    row("process (median): config vs /bin/true", ours, base);
}

fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WASMVISOR_BENCH_BIN") {
        return Some(PathBuf::from(p));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let p = root.join("target/release/wasmvisor");
    p.is_file().then_some(p)
}
