//! The run loop: start the node, notice upgrades, carry them out, restart.
//!
//! One current-thread tokio runtime: the supervisor spends its life waiting (for the
//! node, a signal, an inotify event or a poll tick) and must stay cheap while idle.
//! Before any binary is started, an upgrade that is already pending is carried out
//! (cosmovisor starts the old binary first, #25861), an interrupted one is resumed
//! from the journal, and a node that dies at its upgrade height is upgraded rather
//! than reported as a crash (#22731). Plans from detector plugins take the same road
//! as `upgrade-info.json`: the same request rules, the same height gate.

use std::ffi::OsString;
use std::process::{ExitCode, ExitStatus};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::FutureExt;
use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::child::{NodeProcess, exit_code_of};
use crate::config::Config;
use crate::detect::{self, Gate};
use crate::journal::Journal;
use crate::layout::Layout;
use crate::log_tap::{DEFAULT_MAX_LINE, LineSink};
use crate::plugin::{DetectorTasks, PluginHost, PluginKind};
use crate::upgrade::{Extensions, Upgrade, UpgradeEvent};
use crate::upgrade_info::{self, Plan};
use crate::watch::FileWatcher;

/// wasmvisor's own options for `run` (the flags before the app's args).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--plugin <path|bundled name>`, in the order given.
    pub plugins: Vec<String>,
}

/// Runs the node under supervision until it exits for good. Synchronous: it builds its
/// own runtime. The returned code is the one the process should exit with.
pub fn run(config: Config, opts: RunOptions, app_args: Vec<OsString>) -> Result<ExitCode> {
    let plugins = load_plugins(&config, &opts.plugins)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move { Supervisor::new(config, app_args, plugins)?.run().await })
}

/// The plugins this run needs: none (and no wasm engine at all) unless some are
/// configured, named with `--plugin`, or downloads are allowed (the default resolver).
fn load_plugins(config: &Config, specs: &[String]) -> Result<Option<Arc<PluginHost>>> {
    if config.plugins.is_empty() && specs.is_empty() && !config.allow_download_binaries {
        return Ok(None);
    }
    let host = PluginHost::load(config, specs).context(
        "loading plugins; fix or disable the plugin named above (`wasmvisor plugin inspect <name>` shows what it asks for)",
    )?;
    for p in host.plugins() {
        tracing::info!(plugin = %p.label(), kind = ?p.kind(), "plugin enabled");
    }
    Ok((!host.is_empty()).then(|| Arc::new(host)))
}

/// What the pending-upgrade check found.
#[derive(Debug)]
enum Pending {
    None,
    /// An upgrade request waiting for the node to reach its height.
    Wait(Plan),
    Ready(Plan),
    /// The plan's height is in the app's `--unsafe-skip-upgrades`.
    Skip(Plan),
}

/// Why supervising one node process ended.
enum Ended {
    /// The node exited by itself.
    Exited(ExitStatus),
    /// The node exited after we forwarded a termination signal.
    Terminated(ExitStatus),
    /// The node was stopped for this upgrade (asked for by the named detector, or by
    /// `upgrade-info.json` when `None`).
    Upgrade(Plan, Option<String>),
    /// The node was stopped for a skipped upgrade.
    Skip(Plan),
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            quit: signal(SignalKind::quit()).context("installing the SIGQUIT handler")?,
        })
    }

    async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::SIGTERM,
            _ = self.int.recv() => Signal::SIGINT,
            _ = self.quit.recv() => Signal::SIGQUIT,
        }
    }

    /// A signal that already arrived, if any.
    fn pending(&mut self) -> Option<Signal> {
        self.recv().now_or_never()
    }
}

struct Supervisor {
    config: Config,
    layout: Layout,
    app_args: Vec<OsString>,
    skip_heights: Vec<u64>,
    ext: Extensions,
    plugins: Option<Arc<PluginHost>>,
    signals: Signals,
    /// Height of the last plan accepted (or skipped) by this process.
    last_accepted: Option<u64>,
    /// The last invalid plan-file error logged, so it is said once, not every poll.
    last_complaint: Option<String>,
    /// An upgrade whose post-upgrade hooks run once its binary has started.
    post_upgrade: Option<Plan>,
    /// Installs the binary of a plan waiting for its height ahead of it.
    prestage: crate::prestage::Prestage,
    /// Asks the node for its plan over gRPC, when configured; lives as long as this.
    _node_plan: Option<crate::prestage::NodePlanWatch>,
}

impl Supervisor {
    fn new(
        config: Config,
        app_args: Vec<OsString>,
        plugins: Option<Arc<PluginHost>>,
    ) -> Result<Self> {
        let layout = config.layout();
        let mut ext = plugins
            .as_ref()
            .map(|h| h.extensions(&config))
            .unwrap_or_default();
        let prestage = crate::prestage::Prestage::attach(&config, &mut ext);
        let node_plan = prestage.watch_node_plan(&config);
        Ok(Supervisor {
            plugins,
            skip_heights: crate::app_args::unsafe_skip_heights(&app_args),
            config,
            layout,
            app_args,
            ext,
            signals: Signals::new()?,
            last_accepted: None,
            last_complaint: None,
            post_upgrade: None,
            prestage,
            _node_plan: node_plan,
        })
    }

    async fn run(mut self) -> Result<ExitCode> {
        self.preflight()?;
        let mut watcher = FileWatcher::new(
            &self.layout.upgrade_info_file(),
            self.config.poll_interval,
            !self.config.disable_inotify,
        )?;
        self.resume_interrupted().await?;
        loop {
            // A plan waiting for its height when the node starts (staged by the
            // operator, found at start-up) must keep being checked while it runs.
            let mut waiting = None;
            match self.pending().await {
                Pending::Ready(plan) => {
                    tracing::info!(name = %plan.name, height = plan.height, "an upgrade is pending; carrying it out before starting the node");
                    if let Some(code) = self.upgrade(plan, None).await? {
                        return Ok(code);
                    }
                    continue;
                }
                Pending::Skip(plan) => self.note_skipped(&plan),
                Pending::Wait(plan) => {
                    tracing::info!(name = %plan.name, height = plan.height, "upgrade planned; waiting for the node to reach its height");
                    self.prestage.offer(&plan);
                    waiting = Some((plan, None));
                }
                Pending::None => {}
            }
            let bin = self.layout.current_bin()?;
            tracing::info!(binary = %bin.display(), args = ?self.app_args, "starting the node");
            let detectors = self.start_detectors().await;
            let tap = detectors
                .as_ref()
                .filter(|(tasks, _)| tasks.wants_log_lines())
                .map(|(tasks, _)| (line_sink(tasks.clone()), DEFAULT_MAX_LINE));
            let mut node = NodeProcess::spawn_with_output(&bin, &self.app_args, tap)?;
            self.run_post_upgrade_hooks().await;
            // The tasks live until this run of the node ends (dropping them stops them).
            let (tasks, mut plans) = detectors.unzip();
            match self
                .supervise(&mut node, &mut watcher, plans.as_mut(), waiting)
                .await?
            {
                Ended::Terminated(status) => {
                    tracing::info!(%status, "the node stopped; exiting");
                    return Ok(exit_code_of(status));
                }
                Ended::Exited(status) => {
                    if let Pending::Ready(_) = self.pending().await {
                        tracing::warn!(%status, "the node exited at its upgrade height; upgrading");
                        continue;
                    }
                    if let Some(plan) = self
                        .plan_from_last_output(tasks.as_deref(), plans.as_mut())
                        .await
                    {
                        tracing::warn!(%status, name = %plan.name, height = plan.height, "the node exited after logging its upgrade; upgrading");
                        if let Some(code) = self.upgrade(plan, Some(DETECTOR.to_string())).await? {
                            return Ok(code);
                        }
                        continue;
                    }
                    if !status.success() {
                        tracing::error!(%status, "the node exited with an error and no upgrade is pending; see its output above");
                    }
                    return Ok(exit_code_of(status));
                }
                Ended::Upgrade(plan, detector) => {
                    if let Some(code) = self.upgrade(plan, detector).await? {
                        return Ok(code);
                    }
                }
                Ended::Skip(plan) => {
                    tracing::info!(name = %plan.name, height = plan.height, "upgrade height is in --unsafe-skip-upgrades; node stopped, exiting");
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    }

    fn preflight(&self) -> Result<()> {
        let data = self.layout.data_dir();
        if !data.is_dir() {
            bail!(
                "the data directory {} does not exist; initialise the node (e.g. `{} init`) before `wasmvisor run`",
                data.display(),
                self.config.name
            );
        }
        self.layout.ensure_current()?;
        let bin = self.layout.current_bin()?;
        if !bin.is_file() {
            bail!(
                "the current binary {} is missing; put the node binary there (or run `wasmvisor init <path>`)",
                bin.display()
            );
        }
        Ok(())
    }

    /// Finishes or discards an upgrade a previous supervisor was killed in.
    async fn resume_interrupted(&mut self) -> Result<()> {
        let journal = Journal::new(&self.layout);
        let Some(entry) = journal.load()? else {
            return Ok(());
        };
        let current = self.layout.current_dir().ok();
        if current.as_deref() == Some(self.layout.upgrade_dir(&entry.plan.name).as_path()) {
            tracing::info!(name = %entry.plan.name, "the interrupted upgrade had already switched; finishing it");
            detect::clear_staged(&self.layout)?;
            return journal.clear();
        }
        let still_wanted = entry.detector.is_some()
            || matches!(upgrade_info::read(&self.layout.upgrade_info_file()),
                Ok(Some(p)) if p.same_name(&entry.plan) && p.height == entry.plan.height);
        if !still_wanted {
            tracing::warn!(name = %entry.plan.name, "discarding the journal of an upgrade that upgrade-info.json no longer asks for");
            return journal.clear();
        }
        tracing::info!(name = %entry.plan.name, step = ?entry.step, "resuming an interrupted upgrade");
        let plan = entry.plan.clone();
        self.last_accepted = Some(plan.height);
        let detector = entry.detector.clone();
        let outcome = Upgrade::new(&self.config, &self.ext, plan.clone(), detector, Some(entry))
            .run()
            .await;
        if let Err(e) = &outcome {
            self.hook_event(UpgradeEvent::Failed(format!("{e:#}")), &plan)
                .await;
        }
        outcome
    }

    /// Reads `data/upgrade-info.json` and decides whether it asks for an upgrade now.
    async fn pending(&mut self) -> Pending {
        match self.read_plan().await {
            Some(plan) => self.judge(plan, true).await,
            None => Pending::None,
        }
    }

    /// Whether `plan` asks for an upgrade now: the request rules, the skip list and the
    /// height gate. Only a plan from the file can have been staged by the operator.
    async fn judge(&mut self, plan: Plan, from_file: bool) -> Pending {
        let current = detect::current_plan_for(&self.layout, &plan);
        if !detect::is_request(&plan, current.as_ref(), self.last_accepted) {
            return Pending::None;
        }
        if self.skip_heights.contains(&plan.height) {
            return Pending::Skip(plan);
        }
        let staged = from_file && detect::is_staged(&self.layout, &plan);
        let height = match self.layout.current_bin() {
            Ok(bin) => crate::node_height::query(&bin, &self.config.home).await,
            Err(e) => Err(e),
        };
        let height = match height {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::debug!("node height unknown: {e:#}");
                None
            }
        };
        match detect::gate(&plan, staged, height) {
            Gate::Ready => Pending::Ready(plan),
            Gate::Wait => Pending::Wait(plan),
        }
    }

    /// The plan in `data/upgrade-info.json`, if valid. An empty file is read again
    /// briefly (its writer may be mid-write); an invalid one is logged once.
    async fn read_plan(&mut self) -> Option<Plan> {
        let file = self.layout.upgrade_info_file();
        let mut result = upgrade_info::read(&file);
        for _ in 0..10 {
            match &result {
                Err(e) if e.is_transient() => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    result = upgrade_info::read(&file);
                }
                _ => break,
            }
        }
        match result {
            Ok(plan) => {
                self.last_complaint = None;
                plan
            }
            Err(e) if e.is_transient() => None,
            Err(e) => {
                let msg = e.to_string();
                if self.last_complaint.as_deref() != Some(msg.as_str()) {
                    tracing::error!(
                        file = %file.display(),
                        "ignoring an invalid upgrade-info.json: {msg}; the node keeps running — fix or remove the file"
                    );
                    self.last_complaint = Some(msg);
                }
                None
            }
        }
    }

    fn note_skipped(&mut self, plan: &Plan) {
        tracing::warn!(name = %plan.name, height = plan.height, "not upgrading: the height is in --unsafe-skip-upgrades");
        self.last_accepted = Some(plan.height);
    }

    /// Starts the detector plugins for one run of the node (they are told which
    /// upgrade is current, so they restart after every upgrade).
    async fn start_detectors(&self) -> Option<(Arc<DetectorTasks>, mpsc::Receiver<Plan>)> {
        let host = self
            .plugins
            .as_ref()
            .filter(|h| h.has(PluginKind::Detector))?;
        let detectors = host.detectors().await;
        if detectors.is_empty() {
            return None;
        }
        let current = detect::current_plan(&self.layout).map(|p| p.name);
        // Asked again for every run of the node: after a switch it is the new binary's.
        let version = crate::running_version::RunningVersion::of_current(&self.layout);
        let (tasks, plans) = DetectorTasks::start(detectors, current, version);
        Some((Arc::new(tasks), plans))
    }

    /// Watches the running node until it exits or must be stopped for an upgrade.
    /// `waiting`: a requested plan waiting for its height, and the detector that sent
    /// it (`None` = upgrade-info.json); it is re-checked every poll interval.
    async fn supervise(
        &mut self,
        node: &mut NodeProcess,
        watcher: &mut FileWatcher,
        mut plans: Option<&mut mpsc::Receiver<Plan>>,
        mut waiting: Option<(Plan, Option<String>)>,
    ) -> Result<Ended> {
        let mut gate_poll = tokio::time::interval(self.config.poll_interval);
        let mut terminating = false;
        loop {
            let verdict = tokio::select! {
                status = node.wait() => {
                    let status = status?;
                    return Ok(if terminating { Ended::Terminated(status) } else { Ended::Exited(status) });
                }
                sig = self.signals.recv() => {
                    tracing::info!(signal = %sig, pid = node.pid(), "forwarding the signal to the node");
                    node.signal(sig);
                    terminating = true;
                    continue;
                }
                _ = watcher.changed(), if !terminating => (self.pending().await, None),
                Some(plan) = next_plan(&mut plans), if !terminating => {
                    (self.judge(plan, false).await, Some(DETECTOR.to_string()))
                }
                _ = gate_poll.tick(), if waiting.is_some() && !terminating => {
                    match waiting.clone() {
                        Some((plan, Some(detector))) => (self.judge(plan, false).await, Some(detector)),
                        _ => (self.pending().await, None),
                    }
                }
            };
            match verdict {
                (Pending::None, source) => {
                    if waiting.as_ref().is_some_and(|(_, s)| *s == source) {
                        waiting = None;
                    }
                }
                (Pending::Wait(plan), source) => {
                    if waiting.as_ref().map(|(p, _)| p) != Some(&plan) {
                        tracing::info!(name = %plan.name, height = plan.height, "upgrade planned; waiting for the node to reach its height");
                    }
                    self.prestage.offer(&plan);
                    waiting = Some((plan, source));
                }
                (Pending::Ready(plan), source) => {
                    tracing::info!(name = %plan.name, height = plan.height, from = source.as_deref().unwrap_or("upgrade-info.json"), "upgrade detected; stopping the node");
                    self.stop(node).await?;
                    return Ok(Ended::Upgrade(plan, source));
                }
                (Pending::Skip(plan), _) => {
                    self.stop(node).await?;
                    return Ok(Ended::Skip(plan));
                }
            }
        }
    }

    /// A plan the detectors found in the node's last lines, once they have read them
    /// all, if it may be acted on now: an old SDK logs its halt line and panics at
    /// once, so the exit can win the race against the detector reading that line.
    async fn plan_from_last_output(
        &mut self,
        tasks: Option<&DetectorTasks>,
        plans: Option<&mut mpsc::Receiver<Plan>>,
    ) -> Option<Plan> {
        let (tasks, plans) = (tasks?, plans?);
        if tokio::time::timeout(LAST_OUTPUT_READ, tasks.flush())
            .await
            .is_err()
        {
            tracing::warn!(
                "the detectors did not finish reading the node's last output within {LAST_OUTPUT_READ:?}"
            );
        }
        while let Ok(plan) = plans.try_recv() {
            if let Pending::Ready(plan) = self.judge(plan, false).await {
                return Some(plan);
            }
        }
        None
    }

    async fn stop(&self, node: &mut NodeProcess) -> Result<()> {
        let status = node.stop(self.config.shutdown_grace).await?;
        tracing::info!(%status, "the node stopped");
        Ok(())
    }

    /// Carries out `plan` with the node stopped. Returns the exit code when the
    /// supervisor should exit instead of restarting the node.
    async fn upgrade(&mut self, plan: Plan, detector: Option<String>) -> Result<Option<ExitCode>> {
        self.last_accepted = Some(plan.height);
        self.hook_event(UpgradeEvent::Detected, &plan).await;
        if let Some(delay) = self.config.restart_delay {
            tracing::info!(delay = ?delay, "waiting DAEMON_RESTART_DELAY before upgrading");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                sig = self.signals.recv() => {
                    tracing::info!(signal = %sig, "termination requested before the upgrade started; exiting (it will run on the next start)");
                    return Ok(Some(ExitCode::SUCCESS));
                }
            }
        }
        let name = plan.name.clone();
        // A journal that cannot be read fails the upgrade like any step: the hooks
        // that were told "detected" are told "failed" too.
        let outcome = match Journal::new(&self.layout).load() {
            Ok(resumed) => {
                Upgrade::new(&self.config, &self.ext, plan.clone(), detector, resumed)
                    .run()
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &outcome {
            self.hook_event(UpgradeEvent::Failed(format!("{e:#}")), &plan)
                .await;
        }
        outcome.with_context(|| format!("upgrade {name:?} failed"))?;
        self.post_upgrade = Some(plan);
        if let Some(sig) = self.signals.pending() {
            tracing::info!(signal = %sig, "termination requested during the upgrade; it is complete, exiting without restarting the node");
            self.run_post_upgrade_hooks().await;
            return Ok(Some(ExitCode::SUCCESS));
        }
        if !self.config.restart_after_upgrade {
            tracing::info!(name = %name, "upgrade complete; DAEMON_RESTART_AFTER_UPGRADE=false, exiting");
            self.run_post_upgrade_hooks().await;
            return Ok(Some(ExitCode::SUCCESS));
        }
        Ok(None)
    }

    /// Tells the hook plugins of an upgrade event; they cannot change the upgrade.
    async fn hook_event(&self, event: UpgradeEvent, plan: &Plan) {
        if let Some(hooks) = &self.ext.hooks {
            hooks.on_event(&event, plan).await;
        }
    }

    /// Post-upgrade hooks, once the new binary has started (or right after the switch
    /// when the supervisor exits instead of starting it). Failures are only logged.
    async fn run_post_upgrade_hooks(&mut self) {
        if let (Some(plan), Some(hooks)) = (self.post_upgrade.take(), &self.ext.hooks) {
            hooks.post_upgrade(&plan).await;
        }
    }
}

/// How a plan from a detector plugin is named in logs and the journal.
const DETECTOR: &str = "detector plugin";

/// How long the detectors may take to read the last lines of a node that exited.
const LAST_OUTPUT_READ: Duration = Duration::from_secs(5);

/// The next plan from the detectors; never ready when there are none.
async fn next_plan(plans: &mut Option<&mut mpsc::Receiver<Plan>>) -> Option<Plan> {
    match plans {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Hands the node's output lines to the detectors that read them.
fn line_sink(tasks: Arc<DetectorTasks>) -> LineSink {
    Arc::new(move |line: &[u8]| tasks.offer_line(line))
}
