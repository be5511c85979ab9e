//! One plugin: its bytes and identity at load time, compiled and described on first
//! use, then called with a fresh store per call inside its limits.
//!
//! Loading is cheap on purpose (read, hash, check the pin, read the contract from the
//! export names): compilation happens on the first call, so a `run` whose plugins
//! are never needed compiles nothing. A fresh store and instance per call (≈ 15 µs)
//! because an instance that trapped is poisoned, and because it gives every call the
//! same clean memory — a plugin keeps state only through `state-set`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::v0_1_0::{detector, hook, resolver, types};
use super::cache::{ComponentCache, Origin};
use super::contract::{Contract, read_contract};
use super::credentials::Credentials;
use super::egress::PlanInfoHosts;
use super::engine::Runtime;
use super::error::{PluginError, ReportedError};
use super::grants::{CapabilityGranter, EffectiveGrant, OperatorGrant};
use super::host_api::{CallScope, PluginContext, StoreData};
use super::limits::Limits;
use super::manifest::{Manifest, PluginKind, RawManifest};
use super::settings::PluginSettings;
use crate::install::{ArchiveKind, Artifact, Checksum};
use crate::upgrade::UpgradeEvent;
use crate::upgrade_info::Plan;
use hook::exports::wasmvisor::plugin::hooks::UpgradeEvent as WitUpgradeEvent;

/// Where a plugin's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    Path(PathBuf),
    Bundled(&'static str),
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginSource::Path(p) => write!(f, "{}", p.display()),
            PluginSource::Bundled(n) => write!(f, "bundled:{n}"),
        }
    }
}

/// The machine a binary is for, in Go's naming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
}

impl Platform {
    /// This machine (`linux`/`amd64`, `linux`/`arm64`, `darwin`/`arm64`…).
    pub fn current() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            other => other,
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            arch: arch.to_string(),
        }
    }
}

/// What a detector or hook knows about the node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeContext {
    pub daemon_name: String,
    /// The upgrade the node runs now (None = genesis).
    pub current_upgrade: Option<String>,
    /// What the running binary's `version` printed (first line; None = unknown).
    pub running_version: Option<String>,
}

/// A plugin as loaded: identity known, compiled lazily.
pub struct LoadedPlugin {
    pub source: PluginSource,
    pub sha256: String,
    pub contract: Contract,
    pub size: usize,
    bytes: Arc<[u8]>,
    settings: Option<PluginSettings>,
    env: Arc<LoadEnv>,
    ready: OnceCell<Ready>,
}

/// What every plugin of one host shares.
pub struct LoadEnv {
    pub home: Option<PathBuf>,
    pub cache: ComponentCache,
    pub credentials: Arc<Credentials>,
    /// All `[plugins.<name>]` tables, to find settings by manifest name.
    pub settings_by_name: std::collections::BTreeMap<String, PluginSettings>,
    /// Config values the host provides (see `grants::HOST_CONFIG_KEYS`).
    pub host_config: std::collections::BTreeMap<String, String>,
}

/// A compiled, described plugin.
pub struct Ready {
    pub manifest: Manifest,
    pub ctx: Arc<PluginContext>,
    pub origin: Origin,
    pub settings: PluginSettings,
    pub unused_grants: Vec<String>,
    pre: KindPre,
}

enum KindPre {
    Detector(detector::DetectorPre<StoreData>),
    Resolver(resolver::ResolverPre<StoreData>),
    Hook(hook::HookPre<StoreData>),
}

impl LoadedPlugin {
    /// Identifies a plugin without compiling it: hashes it, checks the pin, reads its contract.
    pub fn identify(
        source: PluginSource,
        bytes: Arc<[u8]>,
        settings: Option<PluginSettings>,
        env: Arc<LoadEnv>,
    ) -> Result<Self, PluginError> {
        let load_err = |reason: String| PluginError::Load {
            plugin: source.to_string(),
            reason,
        };
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if let Some(settings) = &settings {
            let pin = settings.pin().map_err(|e| load_err(format!("{e:#}")))?;
            if let Some(pin) = pin
                && pin != sha256
            {
                return Err(load_err(format!(
                    "its sha256 is {sha256} but the configuration pins {pin}; refusing to load it \
                     (if the plugin was updated on purpose, update `sha256` in the config)"
                )));
            }
        }
        let contract = read_contract(&bytes).map_err(|e| load_err(e.to_string()))?;
        Ok(LoadedPlugin {
            source,
            sha256,
            contract,
            size: bytes.len(),
            bytes,
            settings,
            env,
            ready: OnceCell::new(),
        })
    }

    pub fn kind(&self) -> PluginKind {
        self.contract.kind
    }

    /// A label for messages before the manifest is known.
    pub fn label(&self) -> String {
        match self.ready.get() {
            Some(r) => r.manifest.name.clone(),
            None => self.source.to_string(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.get().is_some()
    }

    /// Compiles (or loads from the cache) and describes the plugin, once.
    pub async fn ready(&self) -> Result<&Ready, PluginError> {
        self.ready.get_or_try_init(|| self.prepare()).await
    }

    async fn prepare(&self) -> Result<Ready, PluginError> {
        let label = self.source.to_string();
        let load_err = |reason: String| PluginError::Load {
            plugin: label.clone(),
            reason,
        };
        let runtime = Runtime::shared().map_err(|e| load_err(format!("{e:#}")))?;
        let (bytes, sha, cache) = (
            self.bytes.clone(),
            self.sha256.clone(),
            self.env.cache.clone(),
        );
        let (component, origin) =
            tokio::task::spawn_blocking(move || cache.load(&runtime.engine, &bytes, &sha))
                .await
                .map_err(|e| load_err(format!("compilation thread failed: {e}")))?
                .map_err(|e| load_err(format!("{e:#}")))?;
        let pre = instantiate_pre(runtime, &component, self.contract.kind)
            .map_err(|e| load_err(format!("{e:#}")))?;

        // Describe with no grants and default limits: `describe` must not need anything.
        let anonymous = Arc::new(PluginContext::new(
            label.clone(),
            EffectiveGrant::default(),
            Limits::default(),
            None,
            Arc::new(Credentials::default()),
        ));
        let raw = call_describe(&pre, anonymous).await?;
        let manifest = raw.validate(self.contract.kind).map_err(load_err)?;

        let settings = self
            .settings
            .clone()
            .or_else(|| self.env.settings_by_name.get(&manifest.name).cloned())
            .unwrap_or_default();
        let operator = OperatorGrant::from_settings(&settings)
            .map_err(|e| load_err(format!("{e:#}")))?
            .with_host_config(&self.env.host_config);
        let granter = CapabilityGranter::new(&manifest, &operator);
        let grant = granter.effective();
        let unused_grants = granter.unused_operator_entries();
        for note in &unused_grants {
            tracing::warn!(plugin = %manifest.name, "configuration: {note}");
        }
        let limits = Limits::default().with_overrides(
            &settings
                .limit_overrides()
                .map_err(|e| load_err(format!("{e:#}")))?,
        );
        let ctx = Arc::new(PluginContext::new(
            manifest.name.clone(),
            grant,
            limits,
            self.env.home.clone(),
            self.env.credentials.clone(),
        ));
        tracing::debug!(plugin = %manifest.name, kind = %manifest.kind, ?origin, "plugin ready");
        Ok(Ready {
            manifest,
            ctx,
            origin,
            settings,
            unused_grants,
            pre,
        })
    }

    /// Resolver: artifacts for a plan.
    pub async fn resolve(
        &self,
        plan: &Plan,
        platform: &Platform,
    ) -> Result<Vec<Artifact>, PluginError> {
        let ready = self.ready().await?;
        let KindPre::Resolver(pre) = &ready.pre else {
            return Err(wrong_kind(ready, PluginKind::Resolver));
        };
        let (wit_plan, wit_platform) = (
            to_wit_plan(plan),
            types::Platform {
                os: platform.os.clone(),
                arch: platform.arch.clone(),
            },
        );
        // `{plan-info}`: this call, and only this call, may read the plan's hosts.
        let scope = CallScope {
            plan_hosts: if ready.ctx.grant.egress.plan_info {
                PlanInfoHosts::from_info(&plan.info)
            } else {
                PlanInfoHosts::default()
            },
            ..CallScope::default()
        };
        let pre = pre.clone();
        let out = guarded(ready, scope, move |store| {
            Box::pin(async move {
                let instance = pre.instantiate_async(&mut *store).await?;
                instance
                    .wasmvisor_plugin_resolution()
                    .call_resolve(&mut *store, &wit_plan, &wit_platform)
                    .await
            })
        })
        .await?;
        let artifacts = out.map_err(|e| reported(ready, e))?;
        let size: usize = artifacts
            .iter()
            .map(|a| {
                a.url.len()
                    + a.path_in_archive.as_ref().map_or(0, String::len)
                    + a.checksum.as_ref().map_or(0, |c| c.hex.len())
                    + a.headers
                        .iter()
                        .map(|(k, v)| k.len() + v.len())
                        .sum::<usize>()
                    + 16
            })
            .sum();
        check_size(ready, size)?;
        artifacts
            .into_iter()
            .map(|a| from_wit_artifact(ready, a))
            .collect()
    }

    /// Detector: one poll.
    pub async fn poll(&self, node: &NodeContext) -> Result<Option<Plan>, PluginError> {
        let ready = self.ready().await?;
        let KindPre::Detector(pre) = &ready.pre else {
            return Err(wrong_kind(ready, PluginKind::Detector));
        };
        let ctx = types::DetectContext {
            daemon_name: node.daemon_name.clone(),
            current_upgrade: node.current_upgrade.clone(),
            running_version: node.running_version.clone(),
        };
        let pre = pre.clone();
        let out = guarded(ready, CallScope::default(), move |store| {
            Box::pin(async move {
                let instance = pre.instantiate_async(&mut *store).await?;
                instance
                    .wasmvisor_plugin_detection()
                    .call_poll(&mut *store, &ctx)
                    .await
            })
        })
        .await?;
        let plan = out.map_err(|e| reported(ready, e))?;
        plan.map(|p| from_wit_plan(ready, p)).transpose()
    }

    /// Detector: one line of the node's output.
    pub async fn on_log_line(&self, line: &str) -> Result<Option<Plan>, PluginError> {
        let ready = self.ready().await?;
        let KindPre::Detector(pre) = &ready.pre else {
            return Err(wrong_kind(ready, PluginKind::Detector));
        };
        let line = line.to_string();
        let pre = pre.clone();
        let plan = guarded(ready, CallScope::default(), move |store| {
            Box::pin(async move {
                let instance = pre.instantiate_async(&mut *store).await?;
                instance
                    .wasmvisor_plugin_detection()
                    .call_on_log_line(&mut *store, &line)
                    .await
            })
        })
        .await?;
        plan.map(|p| from_wit_plan(ready, p)).transpose()
    }

    /// Hook: before the switch. `new_binary` is what `run-new-binary` runs.
    pub async fn pre_upgrade(
        &self,
        plan: &Plan,
        node: &NodeContext,
        new_binary: &Path,
    ) -> Result<(), PluginError> {
        self.hook_call(plan, node, Some(new_binary), HookCall::Pre)
            .await
    }

    /// Hook: after the switch.
    pub async fn post_upgrade(
        &self,
        plan: &Plan,
        node: &NodeContext,
        new_binary: &Path,
    ) -> Result<(), PluginError> {
        self.hook_call(plan, node, Some(new_binary), HookCall::Post)
            .await
    }

    /// Hook: a notification (detected, failed). No new binary may be run.
    pub async fn on_event(
        &self,
        event: &UpgradeEvent,
        plan: &Plan,
        node: &NodeContext,
    ) -> Result<(), PluginError> {
        let event = match event {
            UpgradeEvent::Detected => WitUpgradeEvent::Detected,
            UpgradeEvent::Failed(reason) => WitUpgradeEvent::Failed(reason.clone()),
        };
        self.hook_call(plan, node, None, HookCall::Event(event))
            .await
    }

    async fn hook_call(
        &self,
        plan: &Plan,
        node: &NodeContext,
        new_binary: Option<&Path>,
        call: HookCall,
    ) -> Result<(), PluginError> {
        let ready = self.ready().await?;
        let KindPre::Hook(pre) = &ready.pre else {
            return Err(wrong_kind(ready, PluginKind::Hook));
        };
        let platform = Platform::current();
        let ctx = types::HookContext {
            daemon_name: node.daemon_name.clone(),
            previous_upgrade: node.current_upgrade.clone(),
            platform: types::Platform {
                os: platform.os,
                arch: platform.arch,
            },
        };
        let wit_plan = to_wit_plan(plan);
        let pre = pre.clone();
        let scope = CallScope {
            new_binary: new_binary.map(Path::to_path_buf),
            ..CallScope::default()
        };
        let out = guarded(ready, scope, move |store| {
            Box::pin(async move {
                let instance = pre.instantiate_async(&mut *store).await?;
                let hooks = instance.wasmvisor_plugin_hooks();
                match call {
                    HookCall::Pre => hooks.call_pre_upgrade(&mut *store, &wit_plan, &ctx).await,
                    HookCall::Post => hooks.call_post_upgrade(&mut *store, &wit_plan, &ctx).await,
                    HookCall::Event(event) => {
                        hooks
                            .call_on_event(&mut *store, &event, &wit_plan, &ctx)
                            .await
                    }
                }
            })
        })
        .await?;
        out.map_err(|e| reported(ready, e))
    }
}

/// Which function of the hook world a call goes to.
enum HookCall {
    Pre,
    Post,
    Event(WitUpgradeEvent),
}

type CallFuture<'a, R> =
    std::pin::Pin<Box<dyn std::future::Future<Output = wasmtime::Result<R>> + Send + 'a>>;

/// Runs one call in a fresh store inside the plugin's limits, and turns every way it
/// can fail into a [`PluginError`] that names the plugin.
async fn guarded<R>(
    ready: &Ready,
    scope: CallScope,
    call: impl for<'s> FnOnce(&'s mut Store<StoreData>) -> CallFuture<'s, R>,
) -> Result<R, PluginError> {
    let runtime = Runtime::shared().map_err(|e| PluginError::Load {
        plugin: ready.manifest.name.clone(),
        reason: format!("{e:#}"),
    })?;
    run_in_store(runtime, ready.ctx.clone(), scope, call).await
}

async fn run_in_store<R>(
    runtime: &'static Runtime,
    ctx: Arc<PluginContext>,
    scope: CallScope,
    call: impl for<'s> FnOnce(&'s mut Store<StoreData>) -> CallFuture<'s, R>,
) -> Result<R, PluginError> {
    let limit = ctx.limits.call_timeout;
    let mut store = Store::new(&runtime.engine, StoreData::new(ctx.clone(), scope));
    store.limiter(|data| &mut data.limits);
    let started = Instant::now();
    // Every tick: yield to the async runtime (a busy plugin never starves the
    // supervisor's other tasks), and stop the plugin once its time is up.
    store.epoch_deadline_callback(move |_| {
        if started.elapsed() >= limit {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        }
    });
    store.set_epoch_deadline(1);
    let _ticking = runtime.begin_call();
    let result = tokio::time::timeout(limit, call(&mut store)).await;
    let name = ctx.name.clone();
    match result {
        Err(_elapsed) => Err(PluginError::Timeout {
            plugin: name,
            limit,
        }),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(classify_trap(
            &name,
            &ctx.limits,
            e,
            store.data().stderr_text(),
        )),
    }
}

fn classify_trap(plugin: &str, limits: &Limits, e: wasmtime::Error, stderr: String) -> PluginError {
    let plugin = plugin.to_string();
    let text = format!("{e:#}");
    if matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return PluginError::Timeout {
            plugin,
            limit: limits.call_timeout,
        };
    }
    if text.contains("forcing trap when growing memory") {
        return PluginError::Memory {
            plugin,
            limit_mib: limits.memory_bytes >> 20,
        };
    }
    if let Some(pos) = stderr.find("panicked at") {
        let message = stderr[pos..].lines().collect::<Vec<_>>().join(" ");
        return PluginError::Panic { plugin, message };
    }
    let first_line = text.lines().next().unwrap_or("unknown trap").to_string();
    let message = if stderr.is_empty() {
        first_line
    } else {
        format!("{first_line} (stderr: {stderr})")
    };
    PluginError::Trap { plugin, message }
}

async fn call_describe(pre: &KindPre, ctx: Arc<PluginContext>) -> Result<RawManifest, PluginError> {
    let runtime = Runtime::shared().map_err(|e| PluginError::Load {
        plugin: ctx.name.clone(),
        reason: format!("{e:#}"),
    })?;
    let m = match pre {
        KindPre::Detector(p) => {
            let p = p.clone();
            run_in_store(runtime, ctx, CallScope::default(), move |s| {
                Box::pin(async move {
                    p.instantiate_async(&mut *s)
                        .await?
                        .wasmvisor_plugin_detection()
                        .call_describe(&mut *s)
                        .await
                })
            })
            .await?
        }
        KindPre::Resolver(p) => {
            let p = p.clone();
            run_in_store(runtime, ctx, CallScope::default(), move |s| {
                Box::pin(async move {
                    p.instantiate_async(&mut *s)
                        .await?
                        .wasmvisor_plugin_resolution()
                        .call_describe(&mut *s)
                        .await
                })
            })
            .await?
        }
        KindPre::Hook(p) => {
            let p = p.clone();
            run_in_store(runtime, ctx, CallScope::default(), move |s| {
                Box::pin(async move {
                    p.instantiate_async(&mut *s)
                        .await?
                        .wasmvisor_plugin_hooks()
                        .call_describe(&mut *s)
                        .await
                })
            })
            .await?
        }
    };
    Ok(RawManifest {
        name: m.name,
        version: m.version,
        kind: match m.kind {
            types::PluginKind::Detector => PluginKind::Detector,
            types::PluginKind::Resolver => PluginKind::Resolver,
            types::PluginKind::Hook => PluginKind::Hook,
        },
        description: m.description,
        http_hosts: m.http_hosts,
        files: m.files,
        config_keys: m.config_keys,
        poll_interval_ms: m.poll_interval_ms,
        wants_log_lines: m.wants_log_lines,
        log_line_filter: m.log_line_filter,
        binary_commands: m.binary_commands,
    })
}

/// One linker per world, built once per process (they only depend on the engine).
fn instantiate_pre(
    runtime: &Runtime,
    component: &Component,
    kind: PluginKind,
) -> anyhow::Result<KindPre> {
    static LINKERS: OnceLock<Result<[Linker<StoreData>; 3], String>> = OnceLock::new();
    let linkers = LINKERS
        .get_or_init(|| build_linkers(&runtime.engine).map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("linking the plugin interface: {e}"))?;
    Ok(match kind {
        PluginKind::Detector => KindPre::Detector(detector::DetectorPre::new(
            linkers[0].instantiate_pre(component)?,
        )?),
        PluginKind::Resolver => KindPre::Resolver(resolver::ResolverPre::new(
            linkers[1].instantiate_pre(component)?,
        )?),
        PluginKind::Hook => {
            KindPre::Hook(hook::HookPre::new(linkers[2].instantiate_pre(component)?)?)
        }
    })
}

fn build_linkers(engine: &wasmtime::Engine) -> anyhow::Result<[Linker<StoreData>; 3]> {
    let base = || -> anyhow::Result<Linker<StoreData>> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Ok(linker)
    };
    let mut d = base()?;
    detector::Detector::add_to_linker::<_, HasSelf<StoreData>>(&mut d, |s| s)?;
    let mut r = base()?;
    resolver::Resolver::add_to_linker::<_, HasSelf<StoreData>>(&mut r, |s| s)?;
    let mut h = base()?;
    hook::Hook::add_to_linker::<_, HasSelf<StoreData>>(&mut h, |s| s)?;
    Ok([d, r, h])
}

fn wrong_kind(ready: &Ready, wanted: PluginKind) -> PluginError {
    PluginError::Invalid {
        plugin: ready.manifest.name.clone(),
        message: format!("is a {}, not a {wanted}", ready.manifest.kind),
    }
}

fn check_size(ready: &Ready, size: usize) -> Result<(), PluginError> {
    let limit = ready.ctx.limits.max_result_bytes;
    if size > limit {
        return Err(PluginError::ResultTooLarge {
            plugin: ready.manifest.name.clone(),
            size,
            limit,
        });
    }
    Ok(())
}

fn reported(ready: &Ready, e: types::Error) -> PluginError {
    let error = match e {
        types::Error::NotApplicable(m) => ReportedError::NotApplicable(m),
        types::Error::InvalidInput(m) => ReportedError::InvalidInput(m),
        types::Error::Denied(m) => ReportedError::Denied(m),
        types::Error::Unavailable(m) => ReportedError::Unavailable(m),
        types::Error::Failed(m) => ReportedError::Failed(m),
    };
    PluginError::Reported {
        plugin: ready.manifest.name.clone(),
        error,
    }
}

fn to_wit_plan(plan: &Plan) -> types::Plan {
    types::Plan {
        name: plan.name.clone(),
        height: plan.height,
        info: plan.info.clone(),
    }
}

fn from_wit_plan(ready: &Ready, p: types::Plan) -> Result<Plan, PluginError> {
    check_size(ready, p.name.len() + p.info.len())?;
    if p.name.trim().is_empty() || p.height == 0 {
        return Err(PluginError::Invalid {
            plugin: ready.manifest.name.clone(),
            message: format!(
                "returned an invalid plan (name {:?}, height {}): a plan needs a name and a height > 0",
                p.name, p.height
            ),
        });
    }
    Ok(Plan {
        name: p.name,
        height: p.height,
        info: p.info,
    })
}

fn from_wit_artifact(ready: &Ready, a: types::Artifact) -> Result<Artifact, PluginError> {
    let invalid = |message: String| PluginError::Invalid {
        plugin: ready.manifest.name.clone(),
        message,
    };
    let checksum = match a.checksum {
        None => None,
        Some(c) => {
            let algo = match c.algorithm {
                types::ChecksumAlgorithm::Md5 => "md5",
                types::ChecksumAlgorithm::Sha1 => "sha1",
                types::ChecksumAlgorithm::Sha256 => "sha256",
                types::ChecksumAlgorithm::Sha512 => "sha512",
            };
            Some(
                Checksum::parse(&format!("{algo}:{}", c.hex))
                    .map_err(|e| invalid(format!("returned a bad checksum for {}: {e}", a.url)))?,
            )
        }
    };
    let archive = match a.archive {
        types::ArchiveKind::Auto => ArchiveKind::Auto,
        types::ArchiveKind::Raw => ArchiveKind::Raw,
        types::ArchiveKind::Zip => ArchiveKind::Zip,
        types::ArchiveKind::TarGz => ArchiveKind::TarGz,
        types::ArchiveKind::TarXz => ArchiveKind::TarXz,
        types::ArchiveKind::Gzip => ArchiveKind::Gz,
    };
    // Checked now so that a bad header is blamed on this plugin, not on the download.
    crate::install::download::extra_headers(&a.headers)
        .map_err(|e| invalid(format!("returned an artifact for {} with {e}", a.url)))?;
    Ok(Artifact {
        url: a.url,
        checksum,
        archive,
        binary_path: a.path_in_archive,
        headers: a.headers,
    })
}
