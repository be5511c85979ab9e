//! Does a pre-staged upgrade switch as fast as one whose binary was placed by hand?
//!
//! Three variants of the same upgrade, interleaved trial by trial, in one run, with
//! the release `wasmvisor` and the probe node of the supervisor bench (see
//! `supervisor/probe.rs`: it stamps its start and its SIGTERM on CLOCK_MONOTONIC):
//!
//! - **local**: `upgrades/v2/bin/probed` copied into place before wasmvisor starts
//!   (the supervisor bench's switchover case, but a file of its own rather than a
//!   hard link to the running binary, as an install leaves it), downloads allowed,
//!   gRPC plan polling on;
//! - **pre-staged**: no binary; wasmvisor learns the plan from the node's gRPC
//!   server (a loopback `cosmos.upgrade.v1beta1.Query`), resolves it with the
//!   bundled `manifest-url` and installs it from a loopback HTTP mirror while the
//!   node runs; the trial waits for "pre-staged" in its log before the height;
//! - **local, resolver warm** (the control): as local, but the supervisor first
//!   pre-staged another plan (v3, from a second gRPC node), so it carries the same
//!   compiled resolver and memory as a pre-staged one — the node is started with
//!   fork+exec, whose cost grows with the parent's memory, and this variant tells
//!   that apart from anything about the pre-staged file itself;
//! - **at the height** (the cost pre-staging removes, cosmovisor's behaviour): no
//!   binary and no gRPC; the download happens after the node stopped.
//!
//! Then the chain's `data/upgrade-info.json` is written (the halt), and the figure is
//! the switchover: the old node's SIGTERM handler ran → the new node's first
//! instruction. Detection (file written → SIGTERM) is printed beside it. Each trial
//! checks the mirror's request count: 1 before the height for pre-staged, 0 for
//! local, 1 after the height for at-the-height — a trial that breaks this fails
//! the bench instead of being counted.
//!
//! The node's gRPC server is the e2e harness's (`tests/support/grpc.rs`, the
//! generated `cosmos-sdk-proto` service); the mirror is the benches' shared
//! loopback HTTP server (`common/http.rs`), the binary at every path.
//!
//! `cargo bench -p wasmvisor --bench prestage` (builds the release wasmvisor first).
//! Environment: `WASMVISOR_BENCH_TRIALS` (default 30 per variant),
//! `WASMVISOR_BENCH_DIR`, `WASMVISOR_BENCH_BIN` / `WASMVISOR_BENCH_NO_BUILD` (see
//! `supervisor/runner.rs`).

#[path = "supervisor/clock.rs"]
mod clock;
#[allow(dead_code)] // shared by the benches; each uses a part
mod common;
#[allow(dead_code)] // shared with the supervisor bench, which uses all of it
#[path = "supervisor/home.rs"]
mod home;
#[allow(dead_code)]
#[path = "supervisor/probe.rs"]
mod probe;
#[allow(dead_code)]
#[path = "supervisor/procfs.rs"]
mod procfs;
#[allow(dead_code)]
#[path = "supervisor/runner.rs"]
mod runner;
#[path = "supervisor/setup.rs"]
mod setup;
#[path = "supervisor/stats.rs"]
mod stats;

use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sha2::Digest;

use common::http::{Response, Server};
use home::{DAEMON_NAME, Home, PLAN_HEIGHT, PLAN_NAME, Stage};
use probe::EventKind;
use runner::{Reaped, RunSettings};
use setup::{TRIALS_ENV, env_number, loadavg};
use stats::{ms, signed_ms, summarize};
use wasmvisor_e2e::grpc::NodeGrpc;

const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(10);
/// What wasmvisor logs once a background install finished.
const PRESTAGED_LINE: &str = "pre-staged: the upgrade binary is in place";
/// What wasmvisor logs when the upgrade itself has to download.
const DOWNLOADING_AT_HEIGHT: &str = "not here yet; resolving it";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Local,
    /// The control: a local v2 binary, but the supervisor pre-staged another plan
    /// (v3) first, so it carries the same compiled resolver and memory as a
    /// pre-staged one. Tells the cost of a bigger supervisor from that of the
    /// pre-staged file.
    LocalWarm,
    Prestaged,
    AtHeight,
}

impl Variant {
    const ALL: [Variant; 4] = [
        Variant::Local,
        Variant::LocalWarm,
        Variant::Prestaged,
        Variant::AtHeight,
    ];

    fn label(self) -> &'static str {
        match self {
            Variant::Local => "local binary",
            Variant::LocalWarm => "local binary, resolver warm",
            Variant::Prestaged => "pre-staged (gRPC plan)",
            Variant::AtHeight => "downloaded at the height",
        }
    }
}

/// One upgrade, on the probe's clock.
#[derive(Debug, Clone, Copy)]
struct Trial {
    detect_ns: u64,
    switchover_ns: u64,
    /// wasmvisor's VmRSS just before the halt: the node is started with fork+exec
    /// (a `pre_exec` hook), whose cost grows with the parent's mapped memory.
    rss_kib: u64,
}

/// What every trial shares.
struct Bench {
    wasmvisor: PathBuf,
    root: PathBuf,
    probe: PathBuf,
    info: String,
    grpc: NodeGrpc,
    /// Serves plan v3 (same artifact) for [`Variant::LocalWarm`].
    grpc_v3: NodeGrpc,
    /// The HTTP mirror: the binary at every path; its request count tells where
    /// each trial downloaded.
    mirror: Server,
}

fn main() -> ExitCode {
    let started_ns = clock::now_ns();
    if let Some(log) = std::env::var_os(probe::PROBE_LOG_ENV) {
        return probe::run(started_ns, log);
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("prestage bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let trials = env_number(TRIALS_ENV, 30)? as usize;
    let wasmvisor = runner::wasmvisor_binary()?;
    let scratch = setup::scratch("wasmvisor-prestage-bench-")?;
    let body = bytes::Bytes::from(std::fs::read(&scratch.probe).context("reading the probe")?);
    let checksum = hex::encode(sha2::Sha256::digest(&body));
    let mirror = Server::start(move |_| {
        Response::ok(body.clone()).header("content-type", "application/octet-stream")
    })
    .context("starting the mirror")?;
    let url = format!(
        "http://{}/{DAEMON_NAME}?checksum=sha256:{checksum}",
        mirror.addr
    );
    let info = serde_json::json!({"binaries": {"any": url}}).to_string();
    // The node's upgrade query (`cosmos.upgrade.v1beta1.Query/CurrentPlan`).
    let grpc = NodeGrpc::start();
    grpc.set_plan(PLAN_NAME, PLAN_HEIGHT as i64, &info);
    let grpc_v3 = NodeGrpc::start();
    grpc_v3.set_plan("v3", PLAN_HEIGHT as i64 + 100, &info);
    let bench = Bench {
        wasmvisor,
        root: scratch.dir.path().to_owned(),
        probe: scratch.probe.clone(),
        info,
        grpc,
        grpc_v3,
        mirror,
    };
    print_setup(&bench, trials);

    let mut results: Vec<(Variant, Vec<Trial>)> =
        Variant::ALL.iter().map(|v| (*v, Vec::new())).collect();
    for i in 0..trials {
        // Rotate the order so no variant always runs first (warm caches, drift).
        for k in 0..Variant::ALL.len() {
            let variant = Variant::ALL[(i + k) % Variant::ALL.len()];
            let trial = upgrade(&bench, variant, &format!("{variant:?}-{i}"), i)?;
            if let Some((_, v)) = results.iter_mut().find(|(v, _)| *v == variant) {
                v.push(trial);
            }
        }
        eprint!("\rbench: {}/{trials} trials per variant", i + 1);
    }
    eprintln!();
    report(&results);
    Ok(())
}

/// One upgrade of one fresh home in `variant`.
fn upgrade(bench: &Bench, variant: Variant, label: &str, seed: usize) -> Result<Trial> {
    let stage = match variant {
        Variant::Local | Variant::LocalWarm => Stage::UpgradeReady,
        _ => Stage::Genesis,
    };
    let home = Home::create(&bench.root, label, &bench.probe, stage)?;
    if matches!(variant, Variant::Local | Variant::LocalWarm) {
        // A file of its own, as `add-upgrade` or the installer leaves it: the home's
        // hard link would share the running genesis binary's inode and pages.
        let bin = home
            .dir
            .join("cosmovisor/upgrades")
            .join(PLAN_NAME)
            .join("bin")
            .join(DAEMON_NAME);
        std::fs::remove_file(&bin).context("unlinking the hard-linked v2 binary")?;
        std::fs::copy(&bench.probe, &bin).context("copying the v2 binary into place")?;
    }
    let mut cmd =
        runner::supervisor_command(&bench.wasmvisor, &home, RunSettings { inotify: true })?;
    cmd.env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true");
    let grpc = match variant {
        Variant::LocalWarm => Some(&bench.grpc_v3),
        Variant::AtHeight => None,
        _ => Some(&bench.grpc),
    };
    if let Some(grpc) = grpc {
        cmd.env("DAEMON_GRPC_ADDRESS", grpc.address())
            .env("WASMVISOR_GRPC_POLL_INTERVAL", "1s");
    }
    let requests_before = bench.mirror.requests();
    let queries_before = bench.grpc.queries();
    let mut wv = Reaped(cmd.spawn().context("starting wasmvisor")?);
    let old_pid = runner::wait_started(&home, &mut wv.0, EVENT_TIMEOUT)?;
    match variant {
        Variant::Prestaged | Variant::LocalWarm => wait_log(&home, &mut wv.0, PRESTAGED_LINE)?,
        // Same poller work as the pre-staged runs, minus the install.
        Variant::Local => wait_until(&home, &mut wv.0, "a gRPC plan query", || {
            bench.grpc.queries() > queries_before
        })?,
        Variant::AtHeight => {}
    }
    let fetched_before_height = bench.mirror.requests() - requests_before;
    let rss_kib = procfs::memory(wv.0.id()).map_or(0, |m| m.rss_kib);
    // A phase in the poll period that varies from trial to trial.
    std::thread::sleep(Duration::from_millis(20 + (seed as u64 * 37) % 300));
    let t0 = write_plan(&home, &bench.info)?;
    let events = runner::wait_restarted(&home, &mut wv.0, EVENT_TIMEOUT, old_pid)?;
    runner::stop_supervisor(&home, &mut wv.0, STOP_GRACE)?;
    check_downloads(
        bench,
        &home,
        variant,
        fetched_before_height,
        requests_before,
    )?;
    let term = events
        .iter()
        .find(|e| e.kind == EventKind::Term && e.pid == old_pid && e.ns >= t0)
        .map(|e| e.ns)
        .context("no SIGTERM reached the old node")?;
    let start = events
        .iter()
        .find(|e| e.kind == EventKind::Start && e.pid != old_pid)
        .map(|e| e.ns)
        .context("the new node never started")?;
    home.remove();
    Ok(Trial {
        detect_ns: term.saturating_sub(t0),
        switchover_ns: start.saturating_sub(term),
        rss_kib,
    })
}

/// Each variant must have downloaded exactly where it claims to.
fn check_downloads(
    bench: &Bench,
    home: &Home,
    variant: Variant,
    before_height: u64,
    requests_before: u64,
) -> Result<()> {
    let total = bench.mirror.requests() - requests_before;
    let log = std::fs::read_to_string(home.supervisor_log()).unwrap_or_default();
    let downloaded_at_height = log.contains(DOWNLOADING_AT_HEIGHT);
    let ok = match variant {
        Variant::Local => total == 0 && !downloaded_at_height,
        // Its one download is v3's, before the height.
        Variant::LocalWarm => before_height == 1 && total == 1 && !downloaded_at_height,
        Variant::Prestaged => before_height == 1 && total == 1 && !downloaded_at_height,
        Variant::AtHeight => before_height == 0 && total == 1 && downloaded_at_height,
    };
    if !ok {
        bail!(
            "{}: the mirror served {before_height} request(s) before the height and {total} in all (download at the height: {downloaded_at_height}); output:\n{}",
            variant.label(),
            home.supervisor_log_tail()
        );
    }
    Ok(())
}

/// `data/upgrade-info.json` as the chain writes it at the halt (`os.WriteFile`,
/// not atomic); returns the time taken just before.
fn write_plan(home: &Home, info: &str) -> Result<u64> {
    let json = serde_json::json!({
        "name": PLAN_NAME,
        "time": "0001-01-01T00:00:00Z",
        "height": PLAN_HEIGHT,
        "info": info,
    })
    .to_string();
    let path = home.dir.join("data/upgrade-info.json");
    let t0 = clock::now_ns();
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    Ok(t0)
}

fn wait_log(home: &Home, child: &mut Child, needle: &str) -> Result<()> {
    let log = home.supervisor_log();
    wait_until(home, child, needle, || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains(needle))
    })
}

fn wait_until(home: &Home, child: &mut Child, what: &str, done: impl Fn() -> bool) -> Result<()> {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while !done() {
        if let Some(status) = child.try_wait()? {
            bail!(
                "wasmvisor exited ({status}) before {what}; output:\n{}",
                home.supervisor_log_tail()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "timed out waiting for {what}; output:\n{}",
                home.supervisor_log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

fn report(results: &[(Variant, Vec<Trial>)]) {
    println!(
        "\nswitchover: old node exited -> new node exec'd (same run, interleaved)\n  {:<28} {:>4} {:>10} {:>10} {:>12}   detection median (file written -> SIGTERM)",
        "variant", "n", "median", "p99", "wasmvisor RSS"
    );
    let mut medians = Vec::new();
    for (variant, trials) in results {
        let switch = summarize(&trials.iter().map(|t| t.switchover_ns).collect::<Vec<_>>());
        let detect = summarize(&trials.iter().map(|t| t.detect_ns).collect::<Vec<_>>());
        // Medians of KiB through the ns summary (only the order statistic is used).
        let rss = summarize(&trials.iter().map(|t| t.rss_kib).collect::<Vec<_>>());
        println!(
            "  {:<28} {:>4} {:>10} {:>10} {:>8.1} MiB   {}",
            variant.label(),
            switch.n,
            ms(switch.median_ns),
            ms(switch.p99_ns),
            rss.median_ns as f64 / 1024.0,
            ms(detect.median_ns)
        );
        medians.push((*variant, switch.median_ns as i64));
    }
    let median_of = |v: Variant| medians.iter().find(|(m, _)| *m == v).map(|(_, n)| *n);
    if let (Some(local), Some(warm), Some(pre), Some(late)) = (
        median_of(Variant::Local),
        median_of(Variant::LocalWarm),
        median_of(Variant::Prestaged),
        median_of(Variant::AtHeight),
    ) {
        println!(
            "\npre-staged minus local (medians): {}  (target: within noise, |diff| <= 2 ms)",
            signed_ms(pre - local)
        );
        println!(
            "pre-staged minus local-with-warm-resolver (medians, same supervisor memory): {}",
            signed_ms(pre - warm)
        );
        println!(
            "downloaded-at-the-height minus pre-staged (what pre-staging saves at the halt): {}",
            signed_ms(late - pre)
        );
    }
    println!("load average at the end: {}", loadavg());
}

fn print_setup(bench: &Bench, trials: usize) {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!("wasmvisor pre-staging bench");
    println!(
        "  binary:   {} ({:.1} MiB)",
        bench.wasmvisor.display(),
        size(&bench.wasmvisor) as f64 / 1048576.0
    );
    println!(
        "  artifact: the probe, {:.1} MiB raw ELF, sha256-checked, from a loopback HTTP mirror",
        size(&bench.probe) as f64 / 1048576.0
    );
    println!("  homes in: {}", bench.root.display());
    println!(
        "  trials:   {trials} per variant, interleaved; env: DAEMON_ALLOW_DOWNLOAD_BINARIES=true DAEMON_SHUTDOWN_GRACE=5s UNSAFE_SKIP_BACKUP=true (+ DAEMON_GRPC_ADDRESS, WASMVISOR_GRPC_POLL_INTERVAL=1s for local and pre-staged)"
    );
    println!(
        "  machine:  {} CPUs, load average {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        loadavg()
    );
}
