//! Pre-staging: installing a planned upgrade's binary while the node still runs, so
//! that at the height the upgrade finds it in place and downloads nothing.
//!
//! cosmovisor downloads only once the chain has halted, so a slow mirror or a wrong
//! checksum is discovered with the whole network waiting. Here, as soon as a plan is
//! known ahead of its height — a staged or detected plan waiting at the height gate,
//! or the node's own plan over gRPC (opt-in: `WASMVISOR_GRPC_POLL_INTERVAL`) — its
//! binary is resolved and installed in the background, through the same resolver
//! chain and installer the upgrade uses. Only with `DAEMON_ALLOW_DOWNLOAD_BINARIES`.
//!
//! A failed pre-stage is logged and retried later with a growing delay; it never
//! stops or delays the node, and at the height the upgrade's own binary step tries
//! again as if no pre-stage had happened. The upgrade's binary step waits for a
//! pre-stage of the same plan that is still running instead of racing it into the
//! same folder ([`Prestage::attach`] wraps the binary source for that).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::future::BoxFuture;

use crate::config::Config;
use crate::layout::Layout;
use crate::upgrade::{BinarySource, Extensions};
use crate::upgrade_info::Plan;

/// First wait before retrying a failed pre-stage; doubled after each failure.
pub const FIRST_RETRY: Duration = Duration::from_secs(30);
/// The longest wait between two attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(600);
/// The shortest gRPC poll period honoured (a typo like `1ms` must not hammer the node).
pub const MIN_GRPC_POLL: Duration = Duration::from_secs(1);

/// The supervisor's pre-stager; inert when downloads are off or nothing resolves.
#[derive(Clone, Default)]
pub struct Prestage {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    layout: Layout,
    source: Arc<dyn BinarySource>,
    jobs: Mutex<HashMap<String, Job>>,
    /// One lock per upgrade folder: a pre-stage and the upgrade's binary step never
    /// install into the same folder at once.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// What happened to the last plan offered for one folder.
struct Job {
    plan: Plan,
    state: JobState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobState {
    Running,
    Done,
    Failed { attempts: u32, retry_at: Instant },
}

impl Prestage {
    /// Sets pre-staging up for one supervisor: takes the upgrade's binary source
    /// (resolvers + installer) and puts back one that waits for a running pre-stage
    /// of the same plan. Inert without `DAEMON_ALLOW_DOWNLOAD_BINARIES` or without a
    /// binary source.
    pub fn attach(config: &Config, ext: &mut Extensions) -> Prestage {
        if !config.allow_download_binaries {
            return Prestage::default();
        }
        let Some(source) = ext.binary_source.take() else {
            return Prestage::default();
        };
        let inner = Arc::new(Inner {
            layout: config.layout(),
            source: Arc::from(source),
            jobs: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
        });
        ext.binary_source = Some(Box::new(AfterPrestage {
            inner: inner.clone(),
        }));
        Prestage { inner: Some(inner) }
    }

    pub fn is_active(&self) -> bool {
        self.inner.is_some()
    }

    /// A plan known ahead of its height: install its binary in the background unless
    /// it is there, being installed, or failed too recently. Cheap enough to call on
    /// every poll tick; never blocks. Must be called inside the tokio runtime.
    pub fn offer(&self, plan: &Plan) {
        let Some(inner) = &self.inner else {
            return;
        };
        if inner.layout.upgrade_bin(&plan.name).exists() {
            return;
        }
        let folder = inner.layout.folder_name(&plan.name);
        let attempts = {
            let Ok(mut jobs) = inner.jobs.lock() else {
                return;
            };
            let attempts = match jobs.get(&folder) {
                Some(job) if job.plan == *plan => match job.state {
                    JobState::Running => return,
                    // Done, yet the binary is gone (removed by hand): install again.
                    JobState::Done => 0,
                    JobState::Failed { retry_at, .. } if Instant::now() < retry_at => return,
                    JobState::Failed { attempts, .. } => attempts,
                },
                _ => 0,
            };
            jobs.insert(
                folder.clone(),
                Job {
                    plan: plan.clone(),
                    state: JobState::Running,
                },
            );
            attempts
        };
        let inner = inner.clone();
        let plan = plan.clone();
        tokio::spawn(async move {
            let state = inner.install(&plan).await.map_or_else(
                |e| {
                    let attempts = attempts + 1;
                    let delay = retry_delay(attempts);
                    tracing::warn!(
                        name = %plan.name,
                        height = plan.height,
                        "pre-staging the binary failed: {e:#}; retrying in {delay:?} (the upgrade also tries again at the height)"
                    );
                    JobState::Failed {
                        attempts,
                        retry_at: Instant::now() + delay,
                    }
                },
                |()| JobState::Done,
            );
            if let Ok(mut jobs) = inner.jobs.lock()
                && let Some(job) = jobs.get_mut(&folder)
                && job.plan == plan
            {
                job.state = state;
            }
        });
    }

    /// Asks the node for its plan every `WASMVISOR_GRPC_POLL_INTERVAL` and offers
    /// each plan it names. `None` when the key is unset or pre-staging is inert. The
    /// returned task stops when dropped.
    pub fn watch_node_plan(&self, config: &Config) -> Option<NodePlanWatch> {
        let every = config.grpc_poll_interval?.max(MIN_GRPC_POLL);
        let Some(inner) = self.inner.as_ref() else {
            tracing::warn!(
                "WASMVISOR_GRPC_POLL_INTERVAL is set, but the node's plan is not polled: pre-staging needs DAEMON_ALLOW_DOWNLOAD_BINARIES=true"
            );
            return None;
        };
        let address = config.grpc_address.clone();
        let layout = inner.layout.clone();
        let prestage = self.clone();
        tracing::info!(address = %address, every = ?every, "asking the node for its upgrade plan over gRPC to pre-stage binaries");
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failures = Failures::default();
            loop {
                tick.tick().await;
                match crate::node_plan::current_plan(&address, crate::node_plan::DEFAULT_TIMEOUT)
                    .await
                {
                    Ok(plan) => {
                        failures.recovered(&address);
                        if let Some(plan) = plan.filter(|p| not_applied(&layout, p)) {
                            prestage.offer(&plan);
                        }
                    }
                    Err(e) => failures.failed(&e.to_string()),
                }
            }
        });
        Some(NodePlanWatch(task))
    }
}

/// Failed gRPC polls in a row. A node's gRPC server comes up seconds after the
/// process starts, so the first failures are normal: said at debug level, a warning
/// only once they persist (and again when the reason changes).
#[derive(Default)]
struct Failures {
    in_a_row: u32,
    warned: Option<String>,
}

impl Failures {
    const WARN_AFTER: u32 = 3;

    fn failed(&mut self, error: &str) {
        self.in_a_row += 1;
        if self.in_a_row < Self::WARN_AFTER {
            tracing::debug!("no upgrade plan from the node yet: {error}");
        } else if self.warned.as_deref() != Some(error) {
            tracing::warn!(
                failures = self.in_a_row,
                "no upgrade plan from the node: {error}; pre-staging from gRPC waits until it answers"
            );
            self.warned = Some(error.to_owned());
        }
    }

    fn recovered(&mut self, address: &str) {
        if self.warned.take().is_some() {
            tracing::info!(address, "the node's gRPC server answers again");
        }
        self.in_a_row = 0;
    }
}

/// The gRPC plan poller; aborted on drop.
pub struct NodePlanWatch(tokio::task::JoinHandle<()>);

impl Drop for NodePlanWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Inner {
    fn lock_for(&self, plan: &Plan) -> Arc<tokio::sync::Mutex<()>> {
        let folder = self.layout.folder_name(&plan.name);
        match self.locks.lock() {
            Ok(mut locks) => locks.entry(folder).or_default().clone(),
            // A poisoned map only loses the mutual exclusion; the installer's own
            // staging keeps a concurrent install from corrupting the folder.
            Err(_) => Arc::default(),
        }
    }

    async fn install(&self, plan: &Plan) -> Result<()> {
        let lock = self.lock_for(plan);
        let _held = lock.lock().await;
        if self.layout.upgrade_bin(&plan.name).exists() {
            return Ok(());
        }
        tracing::info!(name = %plan.name, height = plan.height, "pre-staging the upgrade binary while the node runs");
        self.source.fetch(plan, &self.layout).await?;
        tracing::info!(
            name = %plan.name,
            height = plan.height,
            binary = %self.layout.upgrade_bin(&plan.name).display(),
            "pre-staged: the upgrade binary is in place before the height"
        );
        Ok(())
    }
}

/// The upgrade's binary source once pre-staging is on: waits for a running
/// pre-stage of the same plan, then fetches only if the binary is still missing.
struct AfterPrestage {
    inner: Arc<Inner>,
}

impl BinarySource for AfterPrestage {
    fn fetch<'a>(&'a self, plan: &'a Plan, layout: &'a Layout) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let lock = self.inner.lock_for(plan);
            let _held = lock.lock().await;
            if layout.upgrade_bin(&plan.name).exists() {
                tracing::info!(name = %plan.name, "the pre-staged binary is in place");
                return Ok(());
            }
            self.inner.source.fetch(plan, layout).await
        })
    }
}

/// Whether `plan` still asks for an upgrade (the node's plan stays on chain until
/// the upgraded binary applies it).
fn not_applied(layout: &Layout, plan: &Plan) -> bool {
    let current = crate::detect::current_plan_for(layout, plan);
    crate::detect::is_request(plan, current.as_ref(), None)
}

/// 30 s, 60 s, 120 s … capped at [`MAX_RETRY`].
fn retry_delay(attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(10);
    FIRST_RETRY.saturating_mul(factor).min(MAX_RETRY)
}

#[cfg(test)]
mod tests;
