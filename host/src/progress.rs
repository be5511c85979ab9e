//! Progress of long work (downloads, unpacking, backups) for the operator.
//!
//! On a terminal the operator wants a live bar; under systemd or in a container the
//! same information must arrive as ordinary log lines, rarely enough not to flood the
//! journal. One type covers both so callers never branch on where stderr goes.
//!
//! `inc` sits on hot paths (once per network chunk or copied file), so it is an
//! atomic add plus, in log mode, one clock read; all formatting happens at most once
//! per log interval. `Progress` is cheap to clone and every clone reports into the
//! same counter, so a worker thread can own one while the caller keeps another.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a log line is written when stderr is not a terminal.
pub const DEFAULT_LOG_EVERY: Duration = Duration::from_secs(5);

/// What the counter counts; decides how amounts and rates are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Files,
}

/// A progress reporter. See the module doc.
#[derive(Clone)]
pub struct Progress {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    label: String,
    unit: Unit,
    /// `u64::MAX` stands for "unknown".
    total: AtomicU64,
    done: AtomicU64,
    start: Instant,
    finished: AtomicBool,
    message: Mutex<String>,
    sink: Sink,
}

enum Sink {
    Bar(ProgressBar),
    Log {
        every_ms: u64,
        /// Milliseconds since `start` when the last line was written.
        last_ms: AtomicU64,
    },
}

const UNKNOWN: u64 = u64::MAX;

impl Progress {
    /// A bar on stderr when it is a terminal, periodic `tracing` lines otherwise.
    pub fn new(label: &str, total: Option<u64>, unit: Unit) -> Self {
        if std::io::stderr().is_terminal() {
            Self::bar(label, total, unit)
        } else {
            Self::logging(label, total, unit, DEFAULT_LOG_EVERY)
        }
    }

    /// Reports nothing; every call is a no-op.
    pub fn hidden() -> Self {
        Progress { inner: None }
    }

    /// Log lines at most every `every` (and a final line), whatever stderr is.
    pub fn logging(label: &str, total: Option<u64>, unit: Unit, every: Duration) -> Self {
        let every_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
        Self::with_sink(
            label,
            total,
            unit,
            Sink::Log {
                every_ms,
                last_ms: AtomicU64::new(0),
            },
        )
    }

    /// An indicatif bar on stderr, whatever stderr is.
    pub fn bar(label: &str, total: Option<u64>, unit: Unit) -> Self {
        let bar = match total {
            Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        bar.set_style(bar_style(unit, total.is_some()));
        bar.set_prefix(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        Self::with_sink(label, total, unit, Sink::Bar(bar))
    }

    fn with_sink(label: &str, total: Option<u64>, unit: Unit, sink: Sink) -> Self {
        Progress {
            inner: Some(Arc::new(Inner {
                label: label.to_owned(),
                unit,
                total: AtomicU64::new(total.unwrap_or(UNKNOWN)),
                done: AtomicU64::new(0),
                start: Instant::now(),
                finished: AtomicBool::new(false),
                message: Mutex::new(String::new()),
                sink,
            })),
        }
    }

    /// Whether anything is reported at all.
    pub fn is_hidden(&self) -> bool {
        self.inner.is_none()
    }

    /// Counts `n` more units done.
    #[inline]
    pub fn inc(&self, n: u64) {
        let Some(inner) = &self.inner else { return };
        inner.done.fetch_add(n, Ordering::Relaxed);
        match &inner.sink {
            Sink::Bar(bar) => bar.inc(n),
            Sink::Log { every_ms, last_ms } => {
                let now = elapsed_ms(inner.start);
                let last = last_ms.load(Ordering::Relaxed);
                if now.saturating_sub(last) >= *every_ms
                    && last_ms
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    inner.log_line(false);
                }
            }
        }
    }

    /// Units done so far.
    pub fn done(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |i| i.done.load(Ordering::Relaxed))
    }

    /// Sets (or learns late) the total, e.g. once a Content-Length arrives.
    pub fn set_total(&self, total: Option<u64>) {
        let Some(inner) = &self.inner else { return };
        inner
            .total
            .store(total.unwrap_or(UNKNOWN), Ordering::Relaxed);
        if let Sink::Bar(bar) = &inner.sink {
            match total {
                Some(t) => bar.set_length(t),
                None => bar.unset_length(),
            }
            bar.set_style(bar_style(inner.unit, total.is_some()));
        }
    }

    /// A short note shown beside the counter (e.g. the file being unpacked).
    pub fn set_message(&self, msg: impl Into<String>) {
        let Some(inner) = &self.inner else { return };
        let msg = msg.into();
        if let Sink::Bar(bar) = &inner.sink {
            bar.set_message(msg.clone());
        }
        if let Ok(mut m) = inner.message.lock() {
            *m = msg;
        }
    }

    /// Ends the report: the bar stays on screen, or a final log line is written.
    /// Later calls (and calls through clones) do nothing.
    pub fn finish(&self) {
        let Some(inner) = &self.inner else { return };
        if inner.finished.swap(true, Ordering::Relaxed) {
            return;
        }
        match &inner.sink {
            Sink::Bar(bar) => bar.finish(),
            Sink::Log { .. } => inner.log_line(true),
        }
    }

    /// Ends the report without claiming success (the bar is left as it stopped).
    pub fn abandon(&self) {
        let Some(inner) = &self.inner else { return };
        if inner.finished.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Sink::Bar(bar) = &inner.sink {
            bar.abandon();
        }
    }

    /// The line a log-mode reporter would write now; used by `finish` and tests.
    pub fn status_line(&self) -> String {
        self.inner
            .as_ref()
            .map_or_else(String::new, |i| i.render(false))
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => f.write_str("Progress(hidden)"),
            Some(i) => write!(
                f,
                "Progress({:?}, {})",
                i.label,
                i.done.load(Ordering::Relaxed)
            ),
        }
    }
}

impl Inner {
    fn log_line(&self, last: bool) {
        let line = self.render(last);
        tracing::info!(target: "wasmvisor::progress", "{line}");
    }

    fn render(&self, last: bool) -> String {
        let done = self.done.load(Ordering::Relaxed);
        let total = match self.total.load(Ordering::Relaxed) {
            UNKNOWN => None,
            t => Some(t),
        };
        let secs = self.start.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };

        let mut s = String::with_capacity(96);
        let _ = write!(s, "{}: {}", self.label, self.amount(done));
        if let Some(t) = total {
            let pct = if t == 0 {
                100.0
            } else {
                done as f64 * 100.0 / t as f64
            };
            let _ = write!(s, " of {} ({pct:.0}%)", self.amount(t));
        }
        let _ = write!(s, ", {}", self.rate(rate));
        if last {
            let _ = write!(s, ", done in {:.1} s", self.start.elapsed().as_secs_f64());
        } else if let Some(t) = total
            && rate > 0.0
            && t > done
        {
            let eta = Duration::from_secs_f64((t - done) as f64 / rate);
            let _ = write!(s, ", about {} left", HumanDuration(eta));
        }
        if let Ok(m) = self.message.lock()
            && !m.is_empty()
        {
            let _ = write!(s, " ({m})");
        }
        s
    }

    fn amount(&self, n: u64) -> String {
        match self.unit {
            Unit::Bytes => HumanBytes(n).to_string(),
            Unit::Files => format!("{n} files"),
        }
    }

    fn rate(&self, per_sec: f64) -> String {
        match self.unit {
            Unit::Bytes => format!("{}/s", HumanBytes(per_sec as u64)),
            Unit::Files => format!("{per_sec:.0} files/s"),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A bar dropped without finish() (an error path) must not stay spinning.
        if let Sink::Bar(bar) = &self.sink
            && !self.finished.load(Ordering::Relaxed)
        {
            bar.abandon();
        }
    }
}

fn elapsed_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn bar_template(unit: Unit, known_total: bool) -> &'static str {
    match (unit, known_total) {
        (Unit::Bytes, true) => {
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}"
        }
        (Unit::Bytes, false) => "{prefix} {spinner} {bytes} {bytes_per_sec} {msg}",
        (Unit::Files, true) => "{prefix} [{bar:30}] {pos}/{len} files {per_sec} eta {eta} {msg}",
        (Unit::Files, false) => "{prefix} {spinner} {pos} files {per_sec} {msg}",
    }
}

fn bar_style(unit: Unit, known_total: bool) -> ProgressStyle {
    // The templates are constants; a parse failure would be a bug the tests catch.
    ProgressStyle::with_template(bar_template(unit, known_total))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_counts_nothing_and_never_panics() {
        let p = Progress::hidden();
        p.inc(10);
        p.set_total(Some(5));
        p.set_message("x");
        p.finish();
        assert!(p.is_hidden());
        assert_eq!(p.done(), 0);
        assert_eq!(p.status_line(), "");
    }

    #[test]
    fn clones_share_one_counter() {
        let p = Progress::logging(
            "download",
            Some(1000),
            Unit::Bytes,
            Duration::from_secs(3600),
        );
        let q = p.clone();
        p.inc(300);
        q.inc(200);
        assert_eq!(p.done(), 500);
        let line = p.status_line();
        assert!(
            line.starts_with("download: 500 B of 1000 B (50%)"),
            "{line}"
        );
        assert!(line.contains("/s"), "{line}");
    }

    #[test]
    fn files_unit_and_message_show_in_the_line() {
        let p = Progress::logging("unpack", None, Unit::Files, Duration::from_secs(3600));
        p.inc(3);
        p.set_message("bin/appd");
        let line = p.status_line();
        assert!(line.starts_with("unpack: 3 files, "), "{line}");
        assert!(line.ends_with("(bin/appd)"), "{line}");
        assert!(!line.contains(" of "), "{line}");
    }

    #[test]
    fn late_total_is_used() {
        let p = Progress::logging("d", None, Unit::Bytes, Duration::from_secs(3600));
        p.inc(1024);
        p.set_total(Some(4096));
        assert!(p.status_line().contains("(25%)"), "{}", p.status_line());
    }

    #[test]
    fn bar_templates_parse() {
        for unit in [Unit::Bytes, Unit::Files] {
            for known in [true, false] {
                let t = bar_template(unit, known);
                assert!(ProgressStyle::with_template(t).is_ok(), "{t}");
            }
        }
        // And a bar can be driven without a terminal (it draws nothing then).
        let p = Progress::bar("b", Some(10), Unit::Files);
        p.inc(10);
        p.finish();
        assert_eq!(p.done(), 10);
    }

    /// Collects what the fmt subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_mode_writes_rate_limited_lines_and_a_final_one() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let p = Progress::logging(
                "download v2",
                Some(1 << 20),
                Unit::Bytes,
                Duration::from_millis(50),
            );
            // Many increments inside one interval produce no line at all.
            for _ in 0..1000 {
                p.inc(1);
            }
            std::thread::sleep(Duration::from_millis(60));
            p.inc(1);
            p.finish();
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].contains("download v2: 1001 B of 1.00 MiB") && lines[0].contains("left"),
            "{text}"
        );
        assert!(lines[1].contains("done in"), "{text}");
    }

    #[test]
    fn finish_is_idempotent() {
        let p = Progress::logging("d", Some(1), Unit::Bytes, Duration::from_secs(3600));
        p.inc(1);
        p.finish();
        p.finish();
        assert!(
            p.inner
                .as_ref()
                .is_some_and(|i| i.finished.load(Ordering::Relaxed))
        );
    }
}
