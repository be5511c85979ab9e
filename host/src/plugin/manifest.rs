//! A plugin's manifest: what it is and what it asks for, as the plugin itself
//! declares it.
//!
//! Why an exported `describe()` function rather than a custom section: it is typed
//! by the WIT contract (a plugin author fills in a Rust struct, the compiler checks
//! it, no build tooling writes sections), and it costs one instantiation of a
//! component the host compiles anyway before its first call. The kind and contract
//! version, which the host needs before compiling, come from the component's export
//! names instead (see `contract.rs`). The manifest is validated here; a bad one stops
//! the plugin from loading with a message naming the field.

use serde::Serialize;

use super::egress::{HostPattern, parse_patterns};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Detector,
    Resolver,
    Hook,
}

impl PluginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Detector => "detector",
            PluginKind::Resolver => "resolver",
            PluginKind::Hook => "hook",
        }
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub kind: PluginKind,
    pub description: String,
    pub http_hosts: Vec<HostPattern>,
    pub files: Vec<String>,
    pub config_keys: Vec<String>,
    pub poll_interval_ms: Option<u64>,
    pub wants_log_lines: bool,
    pub log_line_filter: Vec<String>,
    pub binary_commands: Vec<Vec<String>>,
}

/// The manifest exactly as the plugin returned it, before validation.
#[derive(Debug, Clone)]
pub struct RawManifest {
    pub name: String,
    pub version: String,
    pub kind: PluginKind,
    pub description: String,
    pub http_hosts: Vec<String>,
    pub files: Vec<String>,
    pub config_keys: Vec<String>,
    pub poll_interval_ms: Option<u64>,
    pub wants_log_lines: bool,
    pub log_line_filter: Vec<String>,
    pub binary_commands: Vec<Vec<String>>,
}

/// Most strings a log-line filter may hold, and the longest one (bytes).
pub const MAX_LOG_FILTERS: usize = 16;
pub const MAX_LOG_FILTER_LEN: usize = 256;

/// Shortest poll interval a detector may ask for (protects the node's RPC).
pub const MIN_POLL_INTERVAL_MS: u64 = 100;

impl RawManifest {
    /// Checks every field; all problems are reported together.
    pub fn validate(self, exported_kind: PluginKind) -> Result<Manifest, String> {
        let mut problems = Vec::new();
        if !valid_name(&self.name) {
            problems.push(format!(
                "name {:?} must be 1-64 characters of a-z, 0-9 and '-'",
                self.name
            ));
        }
        if self.kind != exported_kind {
            problems.push(format!(
                "kind says {} but the component exports the {} interface",
                self.kind, exported_kind
            ));
        }
        let http_hosts = match parse_patterns(&self.http_hosts) {
            Ok(h) => h,
            Err(e) => {
                problems.push(format!("http-hosts: {e}"));
                Vec::new()
            }
        };
        for file in &self.files {
            if let Err(e) = check_relative_path(file) {
                problems.push(format!("files: {file:?} {e}"));
            }
        }
        if let Some(ms) = self
            .poll_interval_ms
            .filter(|ms| *ms < MIN_POLL_INTERVAL_MS)
        {
            problems.push(format!(
                "poll-interval-ms {ms} is below the minimum of {MIN_POLL_INTERVAL_MS}"
            ));
        }
        if self.log_line_filter.len() > MAX_LOG_FILTERS
            || self
                .log_line_filter
                .iter()
                .any(|n| n.is_empty() || n.len() > MAX_LOG_FILTER_LEN)
        {
            problems.push(format!(
                "log-line-filter: at most {MAX_LOG_FILTERS} non-empty strings of at most {MAX_LOG_FILTER_LEN} bytes"
            ));
        }
        if self.binary_commands.iter().any(Vec::is_empty) {
            problems.push("binary-commands: an argument list is empty".to_string());
        }
        if !problems.is_empty() {
            return Err(format!("invalid manifest: {}", problems.join("; ")));
        }
        Ok(Manifest {
            name: self.name,
            version: self.version,
            kind: self.kind,
            description: self.description,
            http_hosts,
            files: self.files,
            config_keys: self.config_keys,
            poll_interval_ms: self.poll_interval_ms,
            wants_log_lines: self.wants_log_lines || !self.log_line_filter.is_empty(),
            log_line_filter: self.log_line_filter,
            binary_commands: self.binary_commands,
        })
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A path relative to `$DAEMON_HOME`: no leading `/`, no `..`, no empty or `.` parts.
pub fn check_relative_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() || path.starts_with('/') {
        return Err("must be a relative path under $DAEMON_HOME");
    }
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err("must not contain '..', '.' or empty parts");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawManifest {
        RawManifest {
            name: "my-resolver".into(),
            version: "1.0.0".into(),
            kind: PluginKind::Resolver,
            description: String::new(),
            http_hosts: vec!["*.example.com".into()],
            files: vec!["data/upgrade-info.json".into()],
            config_keys: vec![],
            poll_interval_ms: None,
            wants_log_lines: false,
            log_line_filter: vec![],
            binary_commands: vec![],
        }
    }

    #[test]
    fn an_empty_or_oversized_log_filter_is_refused() {
        let mut m = raw();
        m.log_line_filter = vec![String::new()];
        assert!(m.validate(PluginKind::Resolver).is_err());
        let mut m = raw();
        m.log_line_filter = vec!["x".repeat(MAX_LOG_FILTER_LEN + 1)];
        assert!(m.validate(PluginKind::Resolver).is_err());
        let mut m = raw();
        m.log_line_filter = vec!["UPGRADE".into()];
        assert!(m.validate(PluginKind::Resolver).unwrap().wants_log_lines);
    }

    #[test]
    fn a_good_manifest_validates() {
        let m = raw().validate(PluginKind::Resolver).unwrap();
        assert_eq!(m.http_hosts[0].to_string(), "*.example.com");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut r = raw();
        r.name = "Bad Name".into();
        r.http_hosts = vec!["*".into()];
        r.files = vec!["../etc/passwd".into()];
        let err = r.validate(PluginKind::Detector).unwrap_err();
        for part in ["name", "kind says resolver", "http-hosts", "files"] {
            assert!(err.contains(part), "{err} should mention {part}");
        }
    }

    #[test]
    fn paths_must_stay_under_home() {
        assert!(check_relative_path("data/upgrade-info.json").is_ok());
        for bad in ["/etc/passwd", "data/../config/x", "./data", "data//x", ""] {
            assert!(check_relative_path(bad).is_err(), "{bad}");
        }
    }
}
