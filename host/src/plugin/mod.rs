//! The plugin runtime: sandboxed WebAssembly components that decide chain-specific
//! policy — detectors (is an upgrade needed?), resolvers (where is the binary?) and
//! hooks (may we switch?) — behind the frozen WIT contract in `wit/v0.1.0`.
//!
//! [`PluginHost`] is what the supervisor uses: load once from the configuration and
//! the `--plugin` flags (cheap: nothing is compiled until a plugin is first needed),
//! then `extensions()` for the upgrade state machine (resolvers + installer, hooks)
//! and `detectors()` run by [`DetectorTasks`]. Failure policy
//! (DESIGN.md): a detector that fails yields no upgrade (logged and counted); a
//! resolver that fails passes to the next; a hook that fails aborts the upgrade
//! before the switch. One module per concern:
//! `engine` (shared engine, epoch ticker), `cache` (compiled code on disk),
//! `contract` (WIT version from the component), `manifest`, `settings` (operator
//! config), `grants` (capability intersection), `egress` (HTTP allowlist),
//! `credentials` (bearer, SigV4), `limits`, `state` (per-plugin key-value),
//! `host_api` (the imports), `bindings`, `loaded` (one plugin), `detection`
//! (detectors in the background), `bundled`, `cli`.

pub mod bindings;
pub mod bundled;
pub mod cache;
pub mod cli;
pub mod contract;
pub mod credentials;
pub mod detection;
pub mod egress;
pub mod engine;
pub mod error;
pub mod grants;
pub mod host_api;
pub mod limits;
pub mod loaded;
pub mod manifest;
pub mod settings;
pub mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::future::BoxFuture;

pub use cache::ComponentCache;
pub use credentials::Credentials;
pub use detection::DetectorTasks;
pub use error::{PluginError, ReportedError};
pub use loaded::{LoadEnv, LoadedPlugin, NodeContext, Platform, PluginSource};
pub use manifest::{Manifest, PluginKind};
pub use settings::{PluginSettings, PluginsConfig};

/// The bundled resolver for cosmovisor's plan `info`, loaded by default when
/// downloads are allowed.
pub const DEFAULT_RESOLVER: &str = "manifest-url";

use crate::config::Config;
use crate::install::{Artifact, InstallOptions};
use crate::layout::Layout;
use crate::upgrade::{BinarySource, Extensions, UpgradeEvent, UpgradeHooks};
use crate::upgrade_info::Plan;

/// All plugins of one supervisor.
pub struct PluginHost {
    plugins: Vec<Arc<LoadedPlugin>>,
    env: Arc<LoadEnv>,
    daemon_name: String,
}

/// Where to keep compiled plugins and state, and what else a host needs.
pub struct HostOptions {
    /// `$DAEMON_HOME` (state, cache, granted files); None for offline CLI calls.
    pub home: Option<PathBuf>,
    pub daemon_name: String,
    pub cache: ComponentCache,
}

impl PluginHost {
    /// Loads the plugins named in the configuration (`[plugins.<name>]` tables with
    /// `path` or `bundled`, unless `enabled = false`) and by `--plugin` flags (`specs`:
    /// a path to a `.wasm` file, or a bundled name). With
    /// `DAEMON_ALLOW_DOWNLOAD_BINARIES`, the bundled [`DEFAULT_RESOLVER`] is added as
    /// the last resolver (see [`PluginHost::default_resolver`]). Nothing is compiled
    /// here; a pin mismatch, an unknown contract or a missing file is an error naming
    /// the plugin.
    pub fn load(config: &Config, specs: &[String]) -> Result<PluginHost> {
        let mut plugins =
            PluginsConfig::from_table(&config.plugins).context("the [plugins] configuration")?;
        // A relative `path` is relative to $DAEMON_HOME/cosmovisor (beside config.toml),
        // never to whatever directory the supervisor happens to be started from.
        for settings in plugins.plugins.values_mut() {
            if let Some(path) = settings.path.as_mut().filter(|p| p.is_relative()) {
                *path = config.home.join("cosmovisor").join(&*path);
            }
        }
        plugins.host_config = grants::host_config(config);
        let opts = HostOptions {
            home: Some(config.home.clone()),
            daemon_name: config.name.clone(),
            cache: ComponentCache::under_home(&config.home),
        };
        let mut wanted = wanted_sources(&plugins, specs)?;
        if let Some(default) = PluginHost::default_resolver(config, &plugins, &wanted) {
            wanted.push(default);
        }
        PluginHost::from_sources(plugins, wanted, opts)
    }

    /// cosmovisor downloads from the plan's `info` whenever downloads are allowed; so
    /// do we, with the bundled `manifest-url`, unless the operator already loads it
    /// (under any table name, or with `--plugin`) or disables it with
    /// `[plugins.manifest-url] enabled = false`. Its priority is the lowest possible
    /// unless that table sets one, so configured resolvers are asked first.
    fn default_resolver(
        config: &Config,
        plugins: &PluginsConfig,
        wanted: &[(PluginSource, Option<PluginSettings>)],
    ) -> Option<(PluginSource, Option<PluginSettings>)> {
        if !config.allow_download_binaries {
            return None;
        }
        let source = PluginSource::Bundled(bundled::get(DEFAULT_RESOLVER)?.0);
        if wanted.iter().any(|(s, _)| *s == source) {
            return None;
        }
        let table = plugins.plugins.get(DEFAULT_RESOLVER);
        if table.is_some_and(|t| !t.enabled || t.path.is_some() || t.bundled.is_some()) {
            // Disabled, or the operator's own `path`/`bundled` choice for that name.
            return None;
        }
        let mut settings = table.cloned().unwrap_or_default();
        let priority_set = config
            .plugins
            .get(DEFAULT_RESOLVER)
            .and_then(|t| t.as_table())
            .is_some_and(|t| t.contains_key("priority"));
        if !priority_set {
            settings.priority = i64::MIN;
        }
        Some((source, Some(settings)))
    }

    pub fn load_with(
        config: PluginsConfig,
        specs: &[String],
        opts: HostOptions,
    ) -> Result<PluginHost> {
        let wanted = wanted_sources(&config, specs)?;
        PluginHost::from_sources(config, wanted, opts)
    }

    /// A host with exactly one plugin (the `wasmvisor plugin …` commands).
    pub fn single(
        config: PluginsConfig,
        source: PluginSource,
        settings: Option<PluginSettings>,
        opts: HostOptions,
    ) -> Result<PluginHost> {
        PluginHost::from_sources(config, vec![(source, settings)], opts)
    }

    fn from_sources(
        config: PluginsConfig,
        wanted: Vec<(PluginSource, Option<PluginSettings>)>,
        opts: HostOptions,
    ) -> Result<PluginHost> {
        let env = Arc::new(LoadEnv {
            home: opts.home,
            cache: opts.cache,
            credentials: Arc::new(config.credentials.clone()),
            settings_by_name: config.plugins.clone(),
            host_config: config.host_config.clone(),
        });
        let mut plugins = Vec::new();
        let mut problems = Vec::new();
        for (source, settings) in wanted {
            match read_source(&source).and_then(|bytes| {
                LoadedPlugin::identify(source.clone(), bytes, settings, env.clone())
                    .map_err(anyhow::Error::new)
            }) {
                Ok(p) => plugins.push(Arc::new(p)),
                Err(e) => problems.push(format!("{e:#}")),
            }
        }
        if !problems.is_empty() {
            bail!(
                "{} plugin(s) cannot be used:\n  {}",
                problems.len(),
                problems.join("\n  ")
            );
        }
        Ok(PluginHost {
            plugins,
            env,
            daemon_name: opts.daemon_name,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    pub fn daemon_name(&self) -> &str {
        &self.daemon_name
    }

    pub fn plugins(&self) -> &[Arc<LoadedPlugin>] {
        &self.plugins
    }

    pub fn has(&self, kind: PluginKind) -> bool {
        self.plugins.iter().any(|p| p.kind() == kind)
    }

    /// What the upgrade state machine takes from plugins: the resolvers (with the
    /// installer) as its binary source, the hooks around the switch. Empty parts
    /// stay `None` so a run without such plugins behaves exactly as without plugins.
    pub fn extensions(self: &Arc<Self>, config: &Config) -> Extensions {
        Extensions {
            binary_source: self.has(PluginKind::Resolver).then(|| {
                Box::new(PluginBinarySource::new(self.clone(), config)) as Box<dyn BinarySource>
            }),
            hooks: self
                .has(PluginKind::Hook)
                .then(|| Box::new(PluginHooks::new(self.clone(), config)) as Box<dyn UpgradeHooks>),
        }
    }

    /// The credential rules, for the installer's downloads (`InstallOptions::authorizer`).
    pub fn authorizer(&self) -> Arc<Credentials> {
        self.env.credentials.clone()
    }

    fn node(&self, current_upgrade: Option<String>) -> NodeContext {
        NodeContext {
            daemon_name: self.daemon_name.clone(),
            current_upgrade,
            running_version: None,
        }
    }

    /// Asks the resolvers, highest `priority` first (then in load order), for the
    /// plan's artifacts. The first non-empty answer wins; a resolver that fails or
    /// says "not applicable" passes to the next. Resolvers are compiled here, on the
    /// first upgrade that needs a download.
    pub async fn resolve(&self, plan: &Plan, platform: &Platform) -> Result<Vec<Artifact>> {
        let mut resolvers = Vec::new();
        for (order, p) in self
            .plugins
            .iter()
            .filter(|p| p.kind() == PluginKind::Resolver)
            .enumerate()
        {
            match p.ready().await {
                Ok(r) => resolvers.push((std::cmp::Reverse(r.settings.priority), order, p)),
                Err(e) => tracing::warn!("resolver skipped: {e}"),
            }
        }
        resolvers.sort_by_key(|(prio, order, _)| (*prio, *order));
        let mut tried = Vec::new();
        for (_, _, p) in resolvers {
            match p.resolve(plan, platform).await {
                Ok(artifacts) if !artifacts.is_empty() => {
                    tracing::info!(plugin = %p.label(), "resolved {} to {} artifact(s)", plan.name, artifacts.len());
                    return Ok(artifacts);
                }
                Ok(_) => tried.push(format!("{}: no artifact", p.label())),
                Err(e) if e.is_not_applicable() => {
                    tracing::debug!("{e}");
                    tried.push(e.to_string());
                }
                Err(e) => {
                    tracing::warn!("{e}; trying the next resolver");
                    tried.push(e.to_string());
                }
            }
        }
        if tried.is_empty() {
            bail!(
                "no resolver plugin is loaded that could resolve {}",
                plan.name
            );
        }
        bail!(
            "no resolver produced a binary for {} ({}/{}): {}",
            plan.name,
            platform.os,
            platform.arch,
            tried.join("; ")
        )
    }

    /// The detectors, compiled and described (needed now: they run all the time).
    /// A detector that cannot be loaded is reported and left out.
    pub async fn detectors(&self) -> Vec<Detector> {
        let mut out = Vec::new();
        for p in self
            .plugins
            .iter()
            .filter(|p| p.kind() == PluginKind::Detector)
        {
            match p.ready().await {
                Ok(r) => {
                    let configured = r.settings.poll_interval().ok().flatten();
                    let interval =
                        configured.or(r.manifest.poll_interval_ms.map(Duration::from_millis));
                    out.push(Detector {
                        plugin: p.clone(),
                        name: r.manifest.name.clone(),
                        poll_interval: interval,
                        wants_log_lines: r.manifest.wants_log_lines,
                        log_filter: r.manifest.log_line_filter.clone(),
                        node: self.node(None),
                        failures: AtomicU64::new(0),
                    });
                }
                Err(e) => tracing::error!("detector not started: {e}"),
            }
        }
        out
    }

    /// Runs every hook's `pre-upgrade` in load order; the first failure aborts (the
    /// caller must then leave the old binary current).
    pub async fn run_hooks_pre(
        &self,
        plan: &Plan,
        new_binary: &Path,
        current_upgrade: Option<String>,
    ) -> Result<()> {
        let node = self.node(current_upgrade);
        for p in self.plugins.iter().filter(|p| p.kind() == PluginKind::Hook) {
            p.pre_upgrade(plan, &node, new_binary)
                .await
                .with_context(|| {
                    format!("pre-upgrade check of {} refused the upgrade", plan.name)
                })?;
            tracing::info!(plugin = %p.label(), "pre-upgrade check of {} passed", plan.name);
        }
        Ok(())
    }

    /// Tells every hook of an event (detected, failed), in load order; failures are
    /// logged only: a notification never changes the upgrade.
    pub async fn run_hooks_event(
        &self,
        event: &UpgradeEvent,
        plan: &Plan,
        current_upgrade: Option<String>,
    ) {
        let node = self.node(current_upgrade);
        for p in self.plugins.iter().filter(|p| p.kind() == PluginKind::Hook) {
            if let Err(e) = p.on_event(event, plan, &node).await {
                tracing::warn!("upgrade event for {}: {e}", plan.name);
            }
        }
    }

    /// Runs every hook's `post-upgrade`; failures are logged only (the switch is done).
    pub async fn run_hooks_post(
        &self,
        plan: &Plan,
        new_binary: &Path,
        current_upgrade: Option<String>,
    ) {
        let node = self.node(current_upgrade);
        for p in self.plugins.iter().filter(|p| p.kind() == PluginKind::Hook) {
            if let Err(e) = p.post_upgrade(plan, &node, new_binary).await {
                tracing::warn!("post-upgrade: {e}");
            }
        }
    }
}

/// One running detector, with the failure policy applied.
pub struct Detector {
    plugin: Arc<LoadedPlugin>,
    pub name: String,
    /// How often to call [`Detector::poll`]; None = never.
    pub poll_interval: Option<Duration>,
    /// Whether to feed it the node's output lines.
    pub wants_log_lines: bool,
    /// Only lines containing one of these reach it (empty = all lines).
    pub log_filter: Vec<String>,
    node: NodeContext,
    failures: AtomicU64,
}

impl Detector {
    /// Polls once, telling the detector which upgrade runs and what the running
    /// binary's `version` said. A failure is logged and counted and means "no
    /// upgrade now".
    pub async fn poll(
        &self,
        current_upgrade: Option<String>,
        running_version: Option<String>,
    ) -> Option<Plan> {
        let node = NodeContext {
            current_upgrade,
            running_version,
            ..self.node.clone()
        };
        self.apply_policy(self.plugin.poll(&node).await)
    }

    /// Offers one output line of the node.
    pub async fn on_log_line(&self, line: &str) -> Option<Plan> {
        self.apply_policy(self.plugin.on_log_line(line).await)
    }

    /// Failed calls so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn apply_policy(&self, result: Result<Option<Plan>, PluginError>) -> Option<Plan> {
        match result {
            Ok(Some(plan)) => {
                tracing::info!(plugin = %self.name, "detected upgrade {} at height {}", plan.name, plan.height);
                Some(plan)
            }
            Ok(None) => None,
            Err(e) => {
                let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(failures = n, "{e}; no upgrade from this detector");
                None
            }
        }
    }
}

/// Hook plugins for the upgrade state machine (`crate::upgrade::UpgradeHooks`).
pub struct PluginHooks {
    host: Arc<PluginHost>,
    layout: Layout,
}

impl PluginHooks {
    pub fn new(host: Arc<PluginHost>, config: &Config) -> Self {
        PluginHooks {
            host,
            layout: config.layout(),
        }
    }

    fn current_upgrade(&self) -> Option<String> {
        let dir = self.layout.current_dir().ok()?;
        if dir == self.layout.genesis_dir() {
            return None;
        }
        dir.file_name().map(|n| n.to_string_lossy().into_owned())
    }
}

impl UpgradeHooks for PluginHooks {
    fn pre_upgrade<'a>(
        &'a self,
        plan: &'a Plan,
        new_binary: &'a Path,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(
            self.host
                .run_hooks_pre(plan, new_binary, self.current_upgrade()),
        )
    }

    fn post_upgrade<'a>(&'a self, plan: &'a Plan) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // After the switch, the new binary is the current one.
            match self.layout.current_bin() {
                Ok(bin) => self.host.run_hooks_post(plan, &bin, None).await,
                Err(e) => tracing::warn!("post-upgrade hooks skipped: {e:#}"),
            }
        })
    }

    fn on_event<'a>(&'a self, event: &'a UpgradeEvent, plan: &'a Plan) -> BoxFuture<'a, ()> {
        Box::pin(
            self.host
                .run_hooks_event(event, plan, self.current_upgrade()),
        )
    }
}

/// Resolver plugins + the installer: gets a missing upgrade binary
/// (`crate::upgrade::BinarySource`). Artifacts are tried in the resolver's order;
/// downloads carry the operator's credentials for matching hosts.
pub struct PluginBinarySource {
    host: Arc<PluginHost>,
    install: InstallOptions,
}

impl PluginBinarySource {
    pub fn new(host: Arc<PluginHost>, config: &Config) -> Self {
        // The installer enforces DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM on every artifact,
        // whatever a resolver did (manifest-url also refuses such URLs itself).
        let install = InstallOptions {
            authorizer: Some(host.authorizer()),
            ..InstallOptions::for_config(config)
        };
        PluginBinarySource { host, install }
    }
}

impl BinarySource for PluginBinarySource {
    fn fetch<'a>(&'a self, plan: &'a Plan, layout: &'a Layout) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let artifacts = self.host.resolve(plan, &Platform::current()).await?;
            let mut failures = Vec::new();
            for artifact in &artifacts {
                match crate::install::install(layout, &plan.name, artifact, &self.install).await {
                    Ok(path) => {
                        tracing::info!("installed {} for {}", path.display(), plan.name);
                        return Ok(());
                    }
                    Err(e) => {
                        tracing::warn!("artifact {} failed: {e}", artifact.url);
                        failures.push(format!("{}: {e}", artifact.url));
                    }
                }
            }
            bail!(
                "no artifact for {} could be installed: {}",
                plan.name,
                failures.join("; ")
            )
        })
    }
}

/// The plugins the configuration and the `--plugin` flags ask for, in load order.
fn wanted_sources(
    config: &PluginsConfig,
    specs: &[String],
) -> Result<Vec<(PluginSource, Option<PluginSettings>)>> {
    let mut wanted: Vec<(PluginSource, Option<PluginSettings>)> = Vec::new();
    for (name, settings) in &config.plugins {
        if !settings.enabled {
            continue;
        }
        let source = match (&settings.path, &settings.bundled) {
            (Some(path), _) => PluginSource::Path(path.clone()),
            (None, Some(b)) => bundled_source(b).with_context(|| format!("[plugins.{name}]"))?,
            (None, None) => continue,
        };
        wanted.push((source, Some(settings.clone())));
    }
    for spec in specs {
        let source = source_of(spec)?;
        if wanted.iter().any(|(s, _)| *s == source) {
            continue;
        }
        let settings = config
            .plugins
            .values()
            .find(|s| targets(s, &source))
            .cloned();
        if settings.as_ref().is_some_and(|s| !s.enabled) {
            continue;
        }
        wanted.push((source, settings));
    }
    Ok(wanted)
}

/// Whether a settings table names this source as its `path` or `bundled` plugin.
fn targets(settings: &PluginSettings, source: &PluginSource) -> bool {
    match source {
        PluginSource::Path(p) => settings.path.as_ref() == Some(p),
        PluginSource::Bundled(b) => settings.bundled.as_deref() == Some(*b),
    }
}

fn bundled_source(name: &str) -> Result<PluginSource> {
    match bundled::get(name) {
        Some((n, _)) => Ok(PluginSource::Bundled(n)),
        None => bail!(
            "no bundled plugin is named {name:?} (bundled: {}); give a path to a .wasm file instead",
            bundled::names().join(", ")
        ),
    }
}

/// `--plugin` argument: a path when it looks like one (contains `/` or ends in
/// `.wasm`), a bundled name otherwise.
pub fn source_of(spec: &str) -> Result<PluginSource> {
    if spec.contains('/') || spec.ends_with(".wasm") {
        let path = PathBuf::from(spec);
        let path = std::path::absolute(&path).unwrap_or(path);
        return Ok(PluginSource::Path(path));
    }
    bundled_source(spec)
}

fn read_source(source: &PluginSource) -> Result<Arc<[u8]>> {
    match source {
        PluginSource::Path(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("plugin {}: cannot read it", path.display()))?;
            Ok(bytes.into())
        }
        PluginSource::Bundled(name) => {
            let (_, bytes) =
                bundled::get(name).with_context(|| format!("bundled plugin {name} vanished"))?;
            Ok(Arc::from(bytes))
        }
    }
}
