//! The host functions a plugin imports (`wasmvisor:plugin/host` and, for hooks,
//! `wasmvisor:plugin/binary`), each checked against the plugin's effective grant
//! and limits.
//!
//! A refusal is returned to the plugin as `error.denied` with a sentence saying what
//! was refused and what the operator would have to grant; the plugin decides what to
//! do with it, and the same refusal is logged under the plugin's name so the operator
//! sees it even when the plugin swallows the error. WASI is linked because Rust
//! guests import it, but its context grants nothing: no files, no environment, no
//! sockets; the guest's stderr goes to a small in-memory pipe that the host reads
//! after a trap (that is where a panic message lands).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncReadExt;
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::v0_1_0::{binary, host, types};
use super::credentials::Credentials;
use super::egress::{CheckedResolver, EgressError, PlanInfoHosts, Via};
use super::grants::EffectiveGrant;
use super::limits::{Limits, truncate_utf8};
use super::state::KvState;

/// Bytes of guest stderr kept per call (a panic message fits).
const STDERR_CAPTURE: usize = 16 << 10;
/// How long a plugin's idle HTTP connection is kept for reuse.
const IDLE_CONNECTION_TTL: Duration = Duration::from_secs(2);

/// Everything about one loaded plugin that its calls share.
pub struct PluginContext {
    pub name: String,
    pub grant: EffectiveGrant,
    pub limits: Limits,
    /// `$DAEMON_HOME`; None for offline calls without a home (files are then denied).
    pub home: Option<PathBuf>,
    pub credentials: Arc<Credentials>,
    http: OnceLock<Result<reqwest::Client, String>>,
    state: Mutex<KvState>,
}

impl PluginContext {
    pub fn new(
        name: String,
        grant: EffectiveGrant,
        limits: Limits,
        home: Option<PathBuf>,
        credentials: Arc<Credentials>,
    ) -> Self {
        let state_file = home.as_ref().map(|h| {
            h.join("cosmovisor")
                .join(".plugin-state")
                .join(format!("{name}.json"))
        });
        let state = KvState::new(state_file, limits.max_state_keys, limits.max_state_bytes);
        PluginContext {
            name,
            grant,
            limits,
            home,
            credentials,
            http: OnceLock::new(),
            state: Mutex::new(state),
        }
    }

    fn http_client(&self) -> Result<reqwest::Client, String> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    // A proxy would resolve names itself, out of reach of the
                    // address check: plugin requests always connect directly.
                    .no_proxy()
                    .dns_resolver(Arc::new(CheckedResolver {
                        egress: Arc::new(self.grant.egress.clone()),
                    }))
                    .timeout(self.limits.http_timeout)
                    // Shorter than the keep-alive of common servers (Node.js closes an
                    // idle connection after 5 s): a detector polling every few seconds
                    // would otherwise race the server's close and lose a request.
                    .pool_idle_timeout(IDLE_CONNECTION_TTL)
                    .user_agent(concat!("wasmvisor/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("cannot create the HTTP client: {e}"))
            })
            .clone()
    }

    /// Logs a refusal under the plugin's name and returns it as the plugin's error.
    fn deny(&self, what: String) -> types::Error {
        tracing::warn!(plugin = %self.name, "refused: {what}");
        types::Error::Denied(what)
    }
}

/// What one call may use beyond the plugin's standing grant.
#[derive(Debug, Clone, Default)]
pub struct CallScope {
    /// Hooks only: the binary `run-new-binary` runs.
    pub new_binary: Option<PathBuf>,
    /// Resolvers granted `{plan-info}`: the hosts this call's plan names.
    pub plan_hosts: PlanInfoHosts,
}

/// The data of one store = one plugin call.
pub struct StoreData {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limits: StoreLimits,
    pub plugin: Arc<PluginContext>,
    /// Hooks only: the binary `run-new-binary` runs.
    pub new_binary: Option<PathBuf>,
    /// Hosts of this call's plan info (empty unless `{plan-info}` is granted).
    pub plan_hosts: PlanInfoHosts,
    pub stderr: MemoryOutputPipe,
    log_lines: usize,
}

impl StoreData {
    pub fn new(plugin: Arc<PluginContext>, scope: CallScope) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        let limits = wasmtime::StoreLimitsBuilder::new()
            .memory_size(plugin.limits.memory_bytes)
            .trap_on_grow_failure(true)
            .instances(16)
            .tables(16)
            .memories(4)
            .table_elements(100_000)
            .build();
        StoreData {
            wasi,
            table: ResourceTable::new(),
            limits,
            plugin,
            new_binary: scope.new_binary,
            plan_hosts: scope.plan_hosts,
            stderr,
            log_lines: 0,
        }
    }

    /// What the guest wrote to stderr during this call (lossy UTF-8, trimmed).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_string()
    }
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for StoreData {}

impl host::Host for StoreData {
    async fn log(&mut self, level: host::LogLevel, message: String) {
        let plugin = &self.plugin;
        self.log_lines += 1;
        if self.log_lines > plugin.limits.max_log_lines_per_call {
            if self.log_lines == plugin.limits.max_log_lines_per_call + 1 {
                tracing::warn!(plugin = %plugin.name, "more than {} log lines in one call; dropping the rest", plugin.limits.max_log_lines_per_call);
            }
            return;
        }
        let mut message = message;
        truncate_utf8(&mut message, plugin.limits.max_log_line_bytes);
        let name = plugin.name.as_str();
        match level {
            host::LogLevel::Trace | host::LogLevel::Debug => {
                tracing::debug!(plugin = %name, "{message}")
            }
            host::LogLevel::Info => tracing::info!(plugin = %name, "{message}"),
            host::LogLevel::Warn => tracing::warn!(plugin = %name, "{message}"),
            host::LogLevel::Error => tracing::error!(plugin = %name, "{message}"),
        }
    }

    async fn http_request(&mut self, req: host::Request) -> Result<host::Response, types::Error> {
        let plugin = self.plugin.clone();
        http_request(&plugin, &self.plan_hosts, req).await
    }

    async fn read_file(&mut self, path: String) -> Result<Vec<u8>, types::Error> {
        let plugin = self.plugin.clone();
        read_file(&plugin, &path).await
    }

    async fn config_get(&mut self, key: String) -> Option<String> {
        self.plugin.grant.config.get(&key).cloned()
    }

    async fn state_get(&mut self, key: String) -> Option<Vec<u8>> {
        let mut state = self.plugin.state.lock().unwrap_or_else(|p| p.into_inner());
        state.get(&key)
    }

    async fn state_set(&mut self, key: String, value: Vec<u8>) -> Result<(), types::Error> {
        let plugin = self.plugin.clone();
        let mut state = plugin.state.lock().unwrap_or_else(|p| p.into_inner());
        state.set(key, value).map_err(|e| plugin.deny(e))
    }

    async fn state_delete(&mut self, key: String) {
        let plugin = self.plugin.clone();
        let mut state = plugin.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = state.delete(&key) {
            tracing::warn!(plugin = %plugin.name, "{e}");
        }
    }

    async fn now_unix_ms(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

async fn http_request(
    plugin: &PluginContext,
    plan_hosts: &PlanInfoHosts,
    req: host::Request,
) -> Result<host::Response, types::Error> {
    let url = url::Url::parse(&req.url)
        .map_err(|e| types::Error::InvalidInput(format!("URL {:?}: {e}", req.url)))?;
    if plugin.grant.egress.is_empty() {
        return Err(plugin.deny(format!(
            "HTTP to {url}: this plugin is granted no HTTP hosts"
        )));
    }
    let (_, via) = plugin
        .grant
        .egress
        .check_url_for_call(&url, plan_hosts)
        .map_err(|e| plugin.deny(format!("HTTP to {url}: {e}")))?;
    if via == Via::PlanInfo && !matches!(req.method, host::Method::Get | host::Method::Head) {
        return Err(plugin.deny(format!(
            "HTTP to {url}: a host named by the plan's info may only be read (GET, HEAD)"
        )));
    }
    let client = plugin.http_client().map_err(types::Error::Failed)?;
    let method = match req.method {
        host::Method::Get => reqwest::Method::GET,
        host::Method::Head => reqwest::Method::HEAD,
        host::Method::Post => reqwest::Method::POST,
        host::Method::Put => reqwest::Method::PUT,
    };
    let mut builder = client.request(method, url.clone());
    for (name, value) in &req.headers {
        // Credentials and routing are the host's business.
        if name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("host") {
            continue;
        }
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(body) = req.body {
        builder = builder.body(body);
    }
    let mut request = builder
        .build()
        .map_err(|e| types::Error::InvalidInput(format!("request to {url}: {e}")))?;
    plugin
        .credentials
        .authorize(&mut request)
        .map_err(|e| types::Error::Failed(format!("request to {url}: {e}")))?;
    let mut response = execute_once_more_if_stale(&client, request)
        .await
        .map_err(|e| match egress_error(&e) {
            Some(refusal) => plugin.deny(format!("HTTP to {url}: {refusal}")),
            None => types::Error::Unavailable(format!("HTTP to {url}: {}", error_chain(&e))),
        })?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let max = plugin.limits.max_http_response_bytes;
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| types::Error::Unavailable(format!("reading {url}: {}", error_chain(&e))))?
    {
        if body.len() + chunk.len() > max {
            return Err(plugin.deny(format!(
                "the response from {url} is larger than the limit of {max} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(host::Response {
        status,
        headers,
        body,
    })
}

/// Sends the request; a GET or HEAD that failed because the server closed a pooled
/// connection as it was reused is sent once more, on a fresh connection. Other
/// methods are not repeated: the server may have acted on them.
async fn execute_once_more_if_stale(
    client: &reqwest::Client,
    request: reqwest::Request,
) -> reqwest::Result<reqwest::Response> {
    let idempotent = matches!(
        *request.method(),
        reqwest::Method::GET | reqwest::Method::HEAD
    );
    let again = idempotent.then(|| request.try_clone()).flatten();
    match client.execute(request).await {
        Err(e) if closed_by_peer(&e) => match again {
            Some(again) => client.execute(again).await,
            None => Err(e),
        },
        other => other,
    }
}

/// Whether the error is the peer closing the connection before any answer (hyper's
/// "connection closed before message completed"), not a refusal or a time limit.
fn closed_by_peer(e: &reqwest::Error) -> bool {
    if e.is_timeout() || e.is_connect() || egress_error(e).is_some() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            return h.is_incomplete_message() || h.is_closed() || h.is_canceled();
        }
        source = s.source();
    }
    false
}

fn egress_error(e: &reqwest::Error) -> Option<EgressError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refusal) = s.downcast_ref::<EgressError>() {
            return Some(refusal.clone());
        }
        source = s.source();
    }
    None
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

async fn read_file(plugin: &PluginContext, path: &str) -> Result<Vec<u8>, types::Error> {
    if !plugin.grant.files.iter().any(|f| f == path) {
        return Err(plugin.deny(format!(
            "reading {path:?}: not granted (granted files: {})",
            if plugin.grant.files.is_empty() {
                "none".to_string()
            } else {
                plugin.grant.files.join(", ")
            }
        )));
    }
    let Some(home) = &plugin.home else {
        return Err(plugin.deny(format!("reading {path}: no $DAEMON_HOME in this context")));
    };
    let full = home.join(path);
    let real = match tokio::fs::canonicalize(&full).await {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(types::Error::Unavailable(format!("{path} does not exist")));
        }
        Err(e) => return Err(types::Error::Unavailable(format!("{path}: {e}"))),
    };
    let real_home = tokio::fs::canonicalize(home)
        .await
        .unwrap_or_else(|_| home.clone());
    if !real.starts_with(&real_home) {
        return Err(plugin.deny(format!(
            "reading {path}: it leads outside $DAEMON_HOME (symlink)"
        )));
    }
    read_limited(&real, plugin.limits.max_file_bytes)
        .await
        .map_err(|e| match e {
            ReadError::TooLarge(max) => {
                plugin.deny(format!("{path} is larger than the limit of {max} bytes"))
            }
            ReadError::Io(e) => types::Error::Unavailable(format!("{path}: {e}")),
        })
}

enum ReadError {
    TooLarge(usize),
    Io(std::io::Error),
}

async fn read_limited(path: &Path, max: usize) -> Result<Vec<u8>, ReadError> {
    let file = tokio::fs::File::open(path).await.map_err(ReadError::Io)?;
    let mut data = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut data)
        .await
        .map_err(ReadError::Io)?;
    if data.len() > max {
        return Err(ReadError::TooLarge(max));
    }
    Ok(data)
}

impl binary::Host for StoreData {
    async fn run_new_binary(
        &mut self,
        args: Vec<String>,
    ) -> Result<binary::CommandOutput, types::Error> {
        let plugin = self.plugin.clone();
        let Some(binary) = self.new_binary.clone() else {
            return Err(
                plugin.deny("run-new-binary: there is no new binary in this call".to_string())
            );
        };
        if !plugin.grant.binary_commands.contains(&args) {
            return Err(plugin.deny(format!(
                "run-new-binary {args:?}: not among the granted binary-commands {:?}",
                plugin.grant.binary_commands
            )));
        }
        run_binary(
            &binary,
            &args,
            plugin.home.as_deref(),
            plugin.limits.binary_timeout,
            plugin.limits.max_binary_output_bytes,
        )
        .await
        .map_err(|e| {
            types::Error::Failed(format!(
                "running {} {}: {e}",
                binary.display(),
                args.join(" ")
            ))
        })
    }
}

/// Runs `binary args…` with no shell, empty stdin, a minimal environment, a time
/// limit, and bounded captured output.
pub async fn run_binary(
    binary: &Path,
    args: &[String],
    home: Option<&Path>,
    timeout: Duration,
    max_output: usize,
) -> Result<binary::CommandOutput, String> {
    let mut command = tokio::process::Command::new(binary);
    command
        .args(args)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for var in ["PATH", "HOME", "LANG"] {
        if let Some(v) = std::env::var_os(var) {
            command.env(var, v);
        }
    }
    if let Some(home) = home {
        command.current_dir(home).env("DAEMON_HOME", home);
    }
    let mut child = command.spawn().map_err(|e| e.to_string())?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let work = async {
        let (out, err) = tokio::join!(
            read_capped(stdout, max_output),
            read_capped(stderr, max_output)
        );
        let status = child.wait().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((status, out, err))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok((status, stdout, stderr))) => Ok(binary::CommandOutput {
            exit_code: status.code(),
            stdout,
            stderr,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("did not finish within {timeout:?} (killed)")),
    }
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(reader: Option<R>, max: usize) -> String {
    let Some(mut reader) = reader else {
        return String::new();
    };
    let mut buf = Vec::new();
    let _ = (&mut reader).take(max as u64).read_to_end(&mut buf).await;
    // Drain the rest so the child never blocks on a full pipe.
    let _ = tokio::io::copy(&mut reader, &mut tokio::io::sink()).await;
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    truncate_utf8(&mut text, max);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::egress::Egress;

    /// A plugin granted only `{plan-info}`, as manifest-url is.
    fn plan_info_plugin() -> PluginContext {
        let grant = EffectiveGrant {
            egress: Egress {
                plan_info: true,
                ..Egress::default()
            },
            ..EffectiveGrant::default()
        };
        PluginContext::new(
            "p".into(),
            grant,
            Limits::default(),
            None,
            Arc::new(Credentials::default()),
        )
    }

    fn request(method: host::Method, url: &str) -> host::Request {
        host::Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Some(b"secret".to_vec()),
        }
    }

    #[tokio::test]
    async fn a_plan_info_host_may_not_be_written_to() {
        let plugin = plan_info_plugin();
        let hosts = PlanInfoHosts::from_info("https://dl.example.com/plan.json");
        for method in [host::Method::Post, host::Method::Put] {
            let err = http_request(
                &plugin,
                &hosts,
                request(method, "https://dl.example.com/upload"),
            )
            .await
            .unwrap_err();
            assert!(
                matches!(&err, types::Error::Denied(m) if m.contains("may only be read")),
                "{err:?}"
            );
        }
    }

    #[tokio::test]
    async fn without_the_plans_hosts_a_plan_info_plugin_reaches_nothing() {
        let plugin = plan_info_plugin();
        let err = http_request(
            &plugin,
            &PlanInfoHosts::default(),
            request(host::Method::Get, "https://dl.example.com/plan.json"),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, types::Error::Denied(m) if m.contains("not granted")),
            "{err:?}"
        );
    }

    /// A keep-alive server that drops the first connection when its second request
    /// arrives (as a server whose idle timer fires just then does), and answers on
    /// any later connection. Returns its address.
    fn server_dropping_a_reused_connection() -> std::net::SocketAddr {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                let Ok(conn) = conn else { return };
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut writer = conn;
                    for served in 0.. {
                        let mut line = String::new();
                        // Headers up to the blank line (the test sends no bodies
                        // that matter: a POST's body is read as headers, harmlessly).
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        if n == 0 && served == 1 {
                            return; // closes the reused connection, unanswered
                        }
                        let _ = writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
                    }
                });
            }
        });
        addr
    }

    async fn send(
        client: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
    ) -> reqwest::Result<u16> {
        let request = client.request(method, url).build()?;
        Ok(execute_once_more_if_stale(client, request)
            .await?
            .status()
            .as_u16())
    }

    #[tokio::test]
    async fn a_get_on_a_connection_the_server_closed_is_sent_again() {
        let url = format!("http://{}/", server_dropping_a_reused_connection());
        let client = reqwest::Client::new();
        assert_eq!(
            send(&client, reqwest::Method::GET, &url).await.unwrap(),
            200
        );
        assert_eq!(
            send(&client, reqwest::Method::GET, &url).await.unwrap(),
            200
        );
    }

    #[tokio::test]
    async fn a_post_on_a_connection_the_server_closed_is_not_repeated() {
        let url = format!("http://{}/", server_dropping_a_reused_connection());
        let client = reqwest::Client::new();
        assert_eq!(
            send(&client, reqwest::Method::GET, &url).await.unwrap(),
            200
        );
        let err = send(&client, reqwest::Method::POST, &url)
            .await
            .unwrap_err();
        assert!(closed_by_peer(&err), "{err:?}");
    }
}
