//! Detector plugins running in the background of the supervisor.
//!
//! Each detector with a poll interval gets its own task (first poll at once, then on
//! its interval; a missed tick is skipped, never bunched). Lines of the node's output
//! go through one bounded queue to the detectors that asked for them; when the queue
//! is full a line is dropped rather than slowing the node down — a detector looks for
//! one line among thousands and the node's output must never wait for a plugin.
//! Every source yields the same thing: a plan on one channel, as the native
//! upgrade-info.json watch does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Detector;
use crate::upgrade_info::Plan;

/// Lines waiting for the detectors; beyond this they are dropped (and counted).
pub const LINE_QUEUE: usize = 1024;

/// The running detectors. Dropping it stops them.
pub struct DetectorTasks {
    lines: Option<mpsc::Sender<String>>,
    dropped_lines: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

impl DetectorTasks {
    /// Starts the detectors on the current tokio runtime. Plans they detect arrive on
    /// the returned receiver. `current_upgrade` is passed to every poll.
    pub fn start(
        detectors: Vec<Detector>,
        current_upgrade: Option<String>,
    ) -> (DetectorTasks, mpsc::Receiver<Plan>) {
        let (plans_tx, plans_rx) = mpsc::channel(16);
        let detectors: Vec<Arc<Detector>> = detectors.into_iter().map(Arc::new).collect();
        let mut tasks = Vec::new();
        for d in detectors.iter().filter(|d| d.poll_interval.is_some()) {
            let (d, tx, current) = (d.clone(), plans_tx.clone(), current_upgrade.clone());
            tasks.push(tokio::spawn(async move {
                let Some(period) = d.poll_interval else {
                    return;
                };
                let mut ticker = tokio::time::interval(period);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    ticker.tick().await;
                    if let Some(plan) = d.poll(current.clone()).await
                        && tx.send(plan).await.is_err()
                    {
                        return;
                    }
                }
            }));
        }
        let listeners: Vec<Arc<Detector>> = detectors
            .iter()
            .filter(|d| d.wants_log_lines)
            .cloned()
            .collect();
        let lines = if listeners.is_empty() {
            None
        } else {
            let (lines_tx, mut lines_rx) = mpsc::channel::<String>(LINE_QUEUE);
            tasks.push(tokio::spawn(async move {
                while let Some(line) = lines_rx.recv().await {
                    for d in &listeners {
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

    /// Offers one line of the node's output (without its line end); never waits.
    pub fn offer_line(&self, line: &str) {
        if let Some(tx) = &self.lines
            && tx.try_send(line.to_string()).is_err()
        {
            self.dropped_lines.fetch_add(1, Ordering::Relaxed);
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
