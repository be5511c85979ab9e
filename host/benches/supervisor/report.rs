//! The result table: one row per figure, with its baseline from the same run, the
//! target and a verdict.

use crate::home::Stage;
use crate::scenarios::{Idle, UpgradeTrial};
use crate::stats::{Summary, ms, signed_ms, summarize};

const MIB: f64 = 1024.0;

/// Everything measured in one run.
pub struct Results {
    pub upgrades_inotify: Vec<UpgradeTrial>,
    pub upgrades_poll: Vec<UpgradeTrial>,
    pub startup_via: Vec<u64>,
    pub startup_direct: Vec<u64>,
    /// Every idle case; the inotify ones are judged, the poll-only ones are baselines.
    pub idle: Vec<Idle>,
}

struct Row {
    figure: String,
    n: String,
    median: String,
    p99: String,
    baseline: String,
    target: &'static str,
    pass: Option<bool>,
}

impl Row {
    fn timed(
        figure: &str,
        s: Summary,
        baseline: String,
        target: &'static str,
        pass: Option<bool>,
    ) -> Row {
        Row {
            figure: figure.into(),
            n: s.n.to_string(),
            median: ms(s.median_ns),
            p99: ms(s.p99_ns),
            baseline,
            target,
            pass,
        }
    }
}

fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "PASS",
        Some(false) => "FAIL",
        None => "-",
    }
}

/// Prints the table; returns whether every target was met.
pub fn print(r: &Results) -> bool {
    let rows = rows(r);
    let widths = [42, 4, 10, 10, 40, 23, 6];
    let header = [
        "figure",
        "n",
        "median",
        "p99",
        "baseline (same run)",
        "target",
        "result",
    ];
    let line = |cells: [&str; 7]| {
        let mut out = String::new();
        for (cell, w) in cells.iter().zip(widths) {
            out.push_str(&format!("{cell:<w$} "));
        }
        println!("{}", out.trim_end());
    };
    println!();
    line(header);
    println!(
        "{}",
        "-".repeat(widths.iter().sum::<usize>() + widths.len())
    );
    for row in &rows {
        line([
            &row.figure,
            &row.n,
            &row.median,
            &row.p99,
            &row.baseline,
            row.target,
            verdict(row.pass),
        ]);
    }
    println!(
        "* upgraded home: current -> upgrades/v2 with its plan recorded, and the chain's\n  data/upgrade-info.json (naming v2) still in place: every node after its first upgrade."
    );
    print_breakdown("inotify (default)", &r.upgrades_inotify);
    print_breakdown("poll only", &r.upgrades_poll);
    rows.iter().all(|row| row.pass != Some(false))
}

fn rows(r: &Results) -> Vec<Row> {
    let detect = summarize(&col(&r.upgrades_inotify, |t| Some(t.detect_ns)));
    let detect_poll = summarize(&col(&r.upgrades_poll, |t| Some(t.detect_ns)));
    let switch = summarize(&col(&r.upgrades_inotify, |t| Some(t.switchover_ns)));
    let switch_poll = summarize(&col(&r.upgrades_poll, |t| Some(t.switchover_ns)));
    let via = summarize(&r.startup_via);
    let direct = summarize(&r.startup_direct);
    let added = via.median_ns as i64 - direct.median_ns as i64;
    vec![
        Row::timed(
            "detection: upgrade-info.json -> SIGTERM",
            detect,
            format!(
                "poll-only 300ms: {} / {}",
                ms(detect_poll.median_ns),
                ms(detect_poll.p99_ns)
            ),
            "p50<=5 ms, p99<=20 ms",
            Some(detect.median_ns <= 5_000_000 && detect.p99_ns <= 20_000_000),
        ),
        Row::timed(
            "switchover: old exited -> new exec'd",
            switch,
            format!(
                "(poll-only runs: {} / {})",
                ms(switch_poll.median_ns),
                ms(switch_poll.p99_ns)
            ),
            "median<=20 ms",
            Some(switch.median_ns <= 20_000_000),
        ),
        Row::timed(
            "startup: `wasmvisor run` -> node exec'd",
            via,
            format!(
                "direct exec: {} / {}",
                ms(direct.median_ns),
                ms(direct.p99_ns)
            ),
            "added<=5 ms (median)",
            None,
        ),
        Row {
            figure: "  startup added by wasmvisor (median diff)".into(),
            n: via.n.to_string(),
            median: signed_ms(added),
            p99: "".into(),
            baseline: "".into(),
            target: "<=5 ms",
            pass: Some(added <= 5_000_000),
        },
    ]
    .into_iter()
    .chain(idle_rows(&r.idle))
    .collect()
}

/// Two rows (CPU, memory) per judged idle case, the poll-only case of the same
/// stage as its baseline.
fn idle_rows(idle: &[Idle]) -> Vec<Row> {
    let mut rows = Vec::new();
    for case in idle.iter().filter(|i| i.case.settings.inotify) {
        let baseline = idle
            .iter()
            .find(|b| !b.case.settings.inotify && b.case.stage == case.case.stage);
        let stage = match case.case.stage {
            Stage::Upgraded => "upgraded home*",
            _ => "genesis home",
        };
        rows.push(Row {
            figure: format!("idle CPU over {:.0} s, {stage}", case.window_s),
            n: "1".into(),
            median: format!("{:.3} %", case.cpu_percent_ticks),
            p99: "".into(),
            baseline: format!(
                "exact {:.4} %; poll-only {}",
                case.cpu_percent_exact,
                baseline.map_or("-".into(), |b| format!("{:.3} %", b.cpu_percent_ticks))
            ),
            target: "<=0.1 % (utime+stime)",
            pass: Some(case.cpu_percent_ticks <= 0.1),
        });
        let rss = case.memory.rss_kib as f64 / MIB;
        let hwm = case.memory.hwm_kib as f64 / MIB;
        rows.push(Row {
            figure: format!("  idle VmRSS, {stage}"),
            n: "1".into(),
            median: format!("{rss:.1} MiB"),
            p99: "".into(),
            baseline: format!("VmHWM {hwm:.1} MiB, {} threads", case.threads),
            target: "<=15 MiB (RSS and HWM)",
            pass: Some(rss <= 15.0 && hwm <= 15.0),
        });
    }
    rows
}

fn col(trials: &[UpgradeTrial], f: impl Fn(&UpgradeTrial) -> Option<u64>) -> Vec<u64> {
    trials.iter().filter_map(f).collect()
}

/// Where the time of an upgrade goes (medians and p99 of each leg).
fn print_breakdown(label: &str, trials: &[UpgradeTrial]) {
    println!(
        "\nupgrade timeline, {label} ({} trials): median / p99",
        trials.len()
    );
    let legs: [(&str, Vec<u64>); 5] = [
        (
            "written -> `status` started",
            col(trials, |t| t.to_status_ns),
        ),
        (
            "written -> SIGTERM (detection)",
            col(trials, |t| Some(t.detect_ns)),
        ),
        (
            "old exited -> `pre-upgrade` started",
            col(trials, |t| t.exit_to_preupgrade_ns),
        ),
        (
            "`pre-upgrade` started -> new exec'd",
            col(trials, |t| t.preupgrade_to_start_ns),
        ),
        (
            "old exited -> new exec'd (switchover)",
            col(trials, |t| Some(t.switchover_ns)),
        ),
    ];
    for (name, samples) in legs {
        let s = summarize(&samples);
        println!(
            "  {name:<40} {:>10} / {:>10}",
            ms(s.median_ns),
            ms(s.p99_ns)
        );
    }
    let mut slowest = col(trials, |t| Some(t.detect_ns));
    slowest.sort_unstable_by(|a, b| b.cmp(a));
    let slowest: Vec<String> = slowest.iter().take(5).map(|&ns| ms(ns)).collect();
    println!("  slowest detections: {}", slowest.join(", "));
}
