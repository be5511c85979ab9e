//! Detector plugins running in the background of the supervisor.
//!
//! Each detector with a poll interval gets its own task (first poll as soon as the
//! running binary's version is known — a background probe, bounded by its time limit
//! — then on its interval; a missed tick is skipped, never bunched). Lines of the
//! node's output go through one bounded queue to the detectors that asked for them. A detector that
//! declared a log-line filter gets only the lines containing one of its strings —
//! matched here with `memchr`, before anything is copied — and none of those is ever
//! dropped: the output thread waits for room (a handful of lines per upgrade, so the
//! node never notices). A detector without a filter gets every line, and when the
//! queue is full a line is dropped (and counted) rather than slow the node down.
//! Every source yields the same thing: a plan on one channel, as the native
//! upgrade-info.json watch does. When the node exits, [`DetectorTasks::flush`] lets
//! the supervisor wait until its last lines have been read: an old SDK logs its
//! halt line and panics at once, and that plan must not be lost with the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use memchr::memmem::Finder;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Detector;
use crate::running_version::RunningVersion;
use crate::upgrade_info::Plan;

/// Lines waiting for the detectors; beyond this they are dropped (and counted).
pub const LINE_QUEUE: usize = 1024;

/// What the output thread sends to the detectors reading lines.
enum LineMsg {
    Line(String),
    /// Answered once every line queued before it has been read (and any plan sent).
    Flush(oneshot::Sender<()>),
}

/// The running detectors. Dropping it stops them.
pub struct DetectorTasks {
    lines: Option<mpsc::Sender<LineMsg>>,
    /// The filters of the detectors that read lines, for the output thread.
    filters: Arc<Vec<LineFilter>>,
    dropped_lines: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

impl DetectorTasks {
    /// Starts the detectors on the current tokio runtime. Plans they detect arrive on
    /// the returned receiver. `current_upgrade` and the running binary's version are
    /// passed to every poll; the first poll waits until that version is found out
    /// (bounded by `running_version::VERSION_TIMEOUT`; the node is not waiting).
    pub fn start(
        detectors: Vec<Detector>,
        current_upgrade: Option<String>,
        running_version: RunningVersion,
    ) -> (DetectorTasks, mpsc::Receiver<Plan>) {
        let (plans_tx, plans_rx) = mpsc::channel(16);
        let detectors: Vec<Arc<Detector>> = detectors.into_iter().map(Arc::new).collect();
        let mut tasks = Vec::new();
        for d in detectors.iter().filter(|d| d.poll_interval.is_some()) {
            let (d, tx, current) = (d.clone(), plans_tx.clone(), current_upgrade.clone());
            let version = running_version.clone();
            tasks.push(tokio::spawn(async move {
                let Some(period) = d.poll_interval else {
                    return;
                };
                version.settled().await;
                let mut ticker = tokio::time::interval(period);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    ticker.tick().await;
                    if let Some(plan) = d.poll(current.clone(), version.now()).await
                        && tx.send(plan).await.is_err()
                    {
                        return;
                    }
                }
            }));
        }
        let listeners: Vec<(Arc<Detector>, LineFilter)> = detectors
            .iter()
            .filter(|d| d.wants_log_lines)
            .map(|d| (d.clone(), LineFilter::new(&d.log_filter)))
            .collect();
        let filters = Arc::new(listeners.iter().map(|(_, f)| f.clone()).collect());
        let lines = if listeners.is_empty() {
            None
        } else {
            let (lines_tx, mut lines_rx) = mpsc::channel::<LineMsg>(LINE_QUEUE);
            tasks.push(tokio::spawn(async move {
                while let Some(msg) = lines_rx.recv().await {
                    let line = match msg {
                        LineMsg::Line(line) => line,
                        LineMsg::Flush(done) => {
                            let _ = done.send(());
                            continue;
                        }
                    };
                    for (d, filter) in &listeners {
                        if !filter.matches(line.as_bytes()) {
                            continue;
                        }
                        if let Some(plan) = d.on_log_line(&line).await
                            && plans_tx.send(plan).await.is_err()
                        {
                            return;
                        }
                    }
                }
            }));
            Some(lines_tx)
        };
        (
            DetectorTasks {
                lines,
                filters,
                dropped_lines: Arc::new(AtomicU64::new(0)),
                tasks,
            },
            plans_rx,
        )
    }

    /// Whether any detector wants the node's output (else stdio can stay inherited).
    pub fn wants_log_lines(&self) -> bool {
        self.lines.is_some()
    }

    /// Offers one line of the node's output (without its line end). A line a filter
    /// asked for waits for room in the queue when called from a plain thread (the
    /// output copier); every other line is dropped, and counted, when the queue is full.
    pub fn offer_line(&self, line: &[u8]) {
        let Some(tx) = &self.lines else { return };
        let mut wanted = false;
        let mut must_deliver = false;
        for f in self.filters.iter() {
            if f.matches(line) {
                wanted = true;
                must_deliver |= !f.is_all();
            }
        }
        if !wanted {
            return;
        }
        let text = LineMsg::Line(String::from_utf8_lossy(line).into_owned());
        let on_plain_thread = tokio::runtime::Handle::try_current().is_err();
        let delivered = if must_deliver && on_plain_thread {
            tx.blocking_send(text).is_ok()
        } else {
            tx.try_send(text).is_ok()
        };
        if !delivered {
            self.dropped_lines.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until every line offered so far has been read by the detectors, so any
    /// plan they found is on the plans channel. Call it once the output threads are
    /// done (the node exited); it returns at once when no detector reads lines.
    pub async fn flush(&self) {
        let Some(tx) = &self.lines else { return };
        let (done, flushed) = oneshot::channel();
        if tx.send(LineMsg::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }

    /// Lines dropped because the detectors were behind.
    pub fn dropped_lines(&self) -> u64 {
        self.dropped_lines.load(Ordering::Relaxed)
    }
}

impl Drop for DetectorTasks {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The strings a detector's lines must contain (none = every line).
#[derive(Clone)]
pub struct LineFilter {
    finders: Vec<Finder<'static>>,
}

impl LineFilter {
    pub fn new(needles: &[String]) -> Self {
        LineFilter {
            finders: needles
                .iter()
                .map(|n| Finder::new(n.as_bytes()).into_owned())
                .collect(),
        }
    }

    /// Whether this filter passes every line.
    pub fn is_all(&self) -> bool {
        self.finders.is_empty()
    }

    pub fn matches(&self, line: &[u8]) -> bool {
        self.is_all() || self.finders.iter().any(|f| f.find(line).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_passes_only_lines_with_one_of_its_strings() {
        let f = LineFilter::new(&["UPGRADE \"".to_string(), "HALT".to_string()]);
        assert!(f.matches(b"ERR UPGRADE \"v2\" NEEDED at height: 5: "));
        assert!(f.matches(b"HALT now"));
        assert!(!f.matches(b"INF committed state height=4"));
        assert!(!f.is_all());
        assert!(LineFilter::new(&[]).matches(b"anything"));
    }
}
