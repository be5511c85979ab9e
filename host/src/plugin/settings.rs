//! The operator's side of the plugin contract: the config file's `[plugins]` table.
//!
//! ```toml
//! [plugins.my-resolver]          # key = the plugin's manifest name
//! path = "/etc/wasmvisor/my-resolver.wasm"   # or: bundled = "log-scanner"
//!                                # (relative paths: from $DAEMON_HOME/cosmovisor)
//! sha256 = "9f86d0…"             # pin: refuse to load anything else
//! hosts = ["dl.example.com"]     # HTTP grant (narrows the manifest's http-hosts)
//! files = ["data/upgrade-info.json"]
//! priority = 10                  # resolvers: higher is asked first
//! enabled = true
//! timeout = "10s"                # per-call wall time
//! memory_mib = 32
//! max_result_kib = 256
//! poll_interval = "30s"          # detectors: override the manifest's interval
//! binary_commands = [["version"]]  # hooks: narrow the declared commands
//! plan_info_hosts = false        # refuse the dynamic `{plan-info}` grant (see egress.rs)
//! [plugins.my-resolver.config]   # values the plugin reads with config-get
//! bucket = "chain-binaries"
//!
//! [[plugins.credentials]]        # secrets the HOST applies to matching requests
//! hosts = ["api.github.com", "*.githubusercontent.com"]
//! bearer_env = "GITHUB_TOKEN"    # or bearer_file = "/run/secrets/gh"
//!
//! [[plugins.credentials]]
//! hosts = ["*.s3.amazonaws.com"]
//! sigv4 = { region = "us-east-1", access_key_id_env = "AWS_ACCESS_KEY_ID", secret_access_key_env = "AWS_SECRET_ACCESS_KEY" }
//! ```
//!
//! `credentials` is reserved (no plugin may be named so). Unknown keys are errors:
//! a typo in a security setting must not silently grant or deny something else.
//! `{plan-info}` is a manifest entry, not an operator grant: it is granted to a
//! plugin that declares it unless `plan_info_hosts = false`, so writing it in
//! `hosts` (or in a credential rule) is an error rather than a silent no-op.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::credentials::{CredentialKind, CredentialRule, Credentials, SecretSource, SigV4};
use super::egress::{OPERATOR_HOSTS, PLAN_INFO, parse_patterns};
use super::limits::LimitOverrides;

/// Settings of one plugin, as the operator wrote them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSettings {
    pub path: Option<PathBuf>,
    pub bundled: Option<String>,
    pub sha256: Option<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    pub binary_commands: Option<Vec<Vec<String>>>,
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub priority: i64,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    pub timeout: Option<String>,
    pub memory_mib: Option<u64>,
    pub max_result_kib: Option<u64>,
    pub poll_interval: Option<String>,
    /// `false` refuses `{plan-info}` (the hosts a plan's info names); unset = granted.
    pub plan_info_hosts: Option<bool>,
}

fn enabled_by_default() -> bool {
    true
}

impl PluginSettings {
    /// Config values as strings (TOML numbers and booleans are written back as text).
    pub fn config_values(&self) -> BTreeMap<String, String> {
        self.config
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    }

    pub fn limit_overrides(&self) -> Result<LimitOverrides> {
        Ok(LimitOverrides {
            call_timeout: self
                .timeout
                .as_deref()
                .map(parse_duration)
                .transpose()
                .context("timeout")?,
            memory_bytes: self.memory_mib.map(|m| (m as usize) << 20),
            max_result_bytes: self.max_result_kib.map(|k| (k as usize) << 10),
            max_http_response_bytes: None,
        })
    }

    pub fn poll_interval(&self) -> Result<Option<Duration>> {
        self.poll_interval
            .as_deref()
            .map(parse_duration)
            .transpose()
            .context("poll_interval")
    }

    /// The pin, normalised to lower-case hex; an error when it is not 64 hex digits.
    pub fn pin(&self) -> Result<Option<String>> {
        match &self.sha256 {
            None => Ok(None),
            Some(p) if p.len() == 64 && p.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(Some(p.to_ascii_lowercase()))
            }
            Some(p) => bail!("sha256 {p:?} is not 64 hexadecimal digits"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    hosts: Vec<String>,
    bearer_env: Option<String>,
    bearer_file: Option<PathBuf>,
    sigv4: Option<RawSigV4>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigV4 {
    region: String,
    #[serde(default = "s3")]
    service: String,
    access_key_id_env: Option<String>,
    access_key_id_file: Option<PathBuf>,
    secret_access_key_env: Option<String>,
    secret_access_key_file: Option<PathBuf>,
    session_token_env: Option<String>,
    session_token_file: Option<PathBuf>,
}

fn s3() -> String {
    "s3".to_string()
}

fn secret(what: &str, env: Option<String>, file: Option<PathBuf>) -> Result<Option<SecretSource>> {
    match (env, file) {
        (Some(v), None) => Ok(Some(SecretSource::Env(v))),
        (None, Some(f)) => Ok(Some(SecretSource::File(f))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => bail!("give {what}_env or {what}_file, not both"),
    }
}

/// Everything the `[plugins]` table says.
#[derive(Debug, Clone, Default)]
pub struct PluginsConfig {
    /// By plugin name.
    pub plugins: BTreeMap<String, PluginSettings>,
    pub credentials: Credentials,
    /// Config values the host provides to plugins that declare the key (not from
    /// the table: set by the caller from the supervisor's configuration).
    pub host_config: BTreeMap<String, String>,
}

impl PluginsConfig {
    /// Parses the `[plugins]` table (as `Config::plugins` holds it).
    pub fn from_table(table: &toml::Table) -> Result<Self> {
        let mut out = PluginsConfig::default();
        for (key, value) in table {
            if key == "credentials" {
                let raw: Vec<RawCredential> = value
                    .clone()
                    .try_into()
                    .context("[[plugins.credentials]]: expected an array of tables with hosts and bearer_env/bearer_file/sigv4")?;
                for (i, r) in raw.into_iter().enumerate() {
                    let rule = credential_rule(r)
                        .with_context(|| format!("[[plugins.credentials]] entry {}", i + 1))?;
                    out.credentials.rules.push(rule);
                }
                continue;
            }
            let settings: PluginSettings = value
                .clone()
                .try_into()
                .with_context(|| format!("[plugins.{key}]"))?;
            if settings.path.is_some() && settings.bundled.is_some() {
                bail!("[plugins.{key}]: give `path` or `bundled`, not both");
            }
            settings.pin().with_context(|| format!("[plugins.{key}]"))?;
            settings
                .limit_overrides()
                .with_context(|| format!("[plugins.{key}]"))?;
            settings
                .poll_interval()
                .with_context(|| format!("[plugins.{key}]"))?;
            let hosts = parse_patterns(&settings.hosts)
                .map_err(anyhow::Error::new)
                .with_context(|| format!("[plugins.{key}] hosts"))?;
            if hosts.iter().any(|h| h.is_plan_info()) {
                bail!(
                    "[plugins.{key}] hosts: {PLAN_INFO} is not an operator grant; it is granted to plugins \
                     that declare it (write `plan_info_hosts = false` to refuse it)"
                );
            }
            if hosts.iter().any(|h| h.is_operator_hosts()) {
                bail!(
                    "[plugins.{key}] hosts: {OPERATOR_HOSTS} is not an operator grant; list the hosts themselves"
                );
            }
            out.plugins.insert(key.clone(), settings);
        }
        Ok(out)
    }
}

fn credential_rule(r: RawCredential) -> Result<CredentialRule> {
    if r.hosts.is_empty() {
        bail!("`hosts` is empty: say which hosts get this credential");
    }
    let hosts = parse_patterns(&r.hosts)?;
    if hosts.iter().any(|h| h.is_dynamic()) {
        bail!(
            "`hosts`: {PLAN_INFO} and {OPERATOR_HOSTS} are not allowed in a credential rule; name the hosts"
        );
    }
    let bearer = secret("bearer", r.bearer_env, r.bearer_file)?;
    let kind = match (bearer, r.sigv4) {
        (Some(token), None) => CredentialKind::Bearer(token),
        (None, Some(s)) => CredentialKind::SigV4(SigV4 {
            region: s.region,
            service: s.service,
            access_key_id: secret("access_key_id", s.access_key_id_env, s.access_key_id_file)?
                .context("sigv4 needs access_key_id_env or access_key_id_file")?,
            secret_access_key: secret(
                "secret_access_key",
                s.secret_access_key_env,
                s.secret_access_key_file,
            )?
            .context("sigv4 needs secret_access_key_env or secret_access_key_file")?,
            session_token: secret("session_token", s.session_token_env, s.session_token_file)?,
        }),
        (None, None) => bail!("give bearer_env, bearer_file or sigv4"),
        (Some(_), Some(_)) => bail!("give a bearer token or sigv4, not both"),
    };
    Ok(CredentialRule { hosts, kind })
}

/// `300ms`, `10s`, `5m`, `1h` (and combinations such as `1m30s`); must be > 0.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    let mut total = Duration::ZERO;
    let mut rest = t;
    if rest.is_empty() {
        bail!("empty duration; write e.g. 10s or 500ms");
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(digits);
        let n: u64 = num
            .parse()
            .with_context(|| format!("{text:?} is not a duration such as 10s or 500ms"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => bail!("{text:?} is not a duration such as 10s or 500ms (units: ms, s, m, h)"),
        };
        rest = next;
    }
    if total.is_zero() {
        bail!("duration {text:?} must be greater than zero");
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PluginsConfig> {
        let doc: toml::Table = toml::from_str(text).unwrap();
        PluginsConfig::from_table(doc["plugins"].as_table().unwrap())
    }

    #[test]
    fn full_plugin_table_parses() {
        let c = parse(
            r#"
            [plugins.my-resolver]
            path = "/x/my.wasm"
            sha256 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
            hosts = ["dl.example.com"]
            priority = 5
            timeout = "1m30s"
            [plugins.my-resolver.config]
            bucket = "b"
            retries = 3
            "#,
        )
        .unwrap();
        let s = &c.plugins["my-resolver"];
        assert!(s.enabled);
        assert_eq!(
            s.pin().unwrap().unwrap(),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        assert_eq!(s.config_values()["retries"], "3");
        assert_eq!(
            s.limit_overrides().unwrap().call_timeout,
            Some(Duration::from_secs(90))
        );
    }

    #[test]
    fn a_typo_in_a_setting_is_an_error() {
        let err = parse("[plugins.x]\nhost = [\"a.com\"]\n").unwrap_err();
        assert!(format!("{err:#}").contains("host"), "{err:#}");
    }

    #[test]
    fn a_bad_pin_is_an_error() {
        let err = parse("[plugins.x]\nsha256 = \"abc\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("64 hexadecimal"), "{err:#}");
    }

    #[test]
    fn credentials_parse_and_need_exactly_one_kind() {
        let c = parse(
            r#"
            [[plugins.credentials]]
            hosts = ["api.github.com"]
            bearer_env = "GITHUB_TOKEN"
            [[plugins.credentials]]
            hosts = ["*.s3.amazonaws.com"]
            sigv4 = { region = "eu-west-1", access_key_id_env = "A", secret_access_key_file = "/run/s" }
            "#,
        )
        .unwrap();
        assert_eq!(c.credentials.rules.len(), 2);
        assert!(parse("[[plugins.credentials]]\nhosts = [\"a.com\"]\n").is_err());
    }

    #[test]
    fn plan_info_is_not_an_operator_host_or_credential_host() {
        let err = parse("[plugins.x]\nhosts = [\"{plan-info}\"]\n").unwrap_err();
        assert!(format!("{err:#}").contains("plan_info_hosts"), "{err:#}");
        let err = parse("[[plugins.credentials]]\nhosts = [\"{plan-info}\"]\nbearer_env = \"T\"\n")
            .unwrap_err();
        assert!(format!("{err:#}").contains("credential rule"), "{err:#}");
        let ok = parse("[plugins.x]\nplan_info_hosts = false\n").unwrap();
        assert_eq!(ok.plugins["x"].plan_info_hosts, Some(false));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        for bad in ["0s", "", "10", "ten s", "-3m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
