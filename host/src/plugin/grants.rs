//! The capability granter: what a plugin may actually do is what it declares in its
//! manifest AND what the operator grants in `[plugins.<name>]` — deny by default.
//!
//! One `grant_*` per capability, each small and tested on its own:
//! - HTTP hosts and files are sensitive (exfiltration, keys on disk): the operator
//!   must list them; a declared host or file the operator did not list is denied,
//!   and an operator entry the plugin never declared grants nothing.
//! - `{plan-info}` (declared in `http-hosts`): the hosts of the URLs in the plan's
//!   `info`, for one `resolve` call (computed per call: `egress::PlanInfoHosts`).
//!   Granted when declared, unless the operator sets `plan_info_hosts = false`: those
//!   destinations are chosen by the chain's plan, not by the plugin, they are the
//!   same ones the host downloads from when `DAEMON_ALLOW_DOWNLOAD_BINARIES` is on,
//!   and cosmovisor operators configure no hosts. They are read-only (GET, HEAD).
//! - `{operator-hosts}` (declared in `http-hosts`): every host the operator lists in
//!   `hosts`, as written — for plugins whose destination only the operator knows
//!   (a webhook URL, a GitHub Enterprise server). Nothing until the operator lists one.
//! - Config keys: a value reaches the plugin only when the key is declared and the
//!   operator set it. Host-provided keys ([`HOST_CONFIG_KEYS`], e.g.
//!   `must-have-checksum` from `DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM`) are set by the
//!   host for every plugin that declares them and override the operator's value:
//!   they state the supervisor's policy, which a plugin's table must not contradict.
//! - Binary commands (hooks): the declared argument lists are granted unless the
//!   operator narrows them — the host runs that same binary with full privileges a
//!   moment later anyway, and fixed argument lists cannot express a command injection.
//!
//! `wasmvisor plugin inspect` prints declared vs effective, with the reason for each
//! denial, so an operator sees the result before running anything.

use std::collections::BTreeMap;

use serde::Serialize;

use super::egress::{Egress, HostPattern};
use super::manifest::Manifest;
use super::settings::PluginSettings;

/// What the operator grants (parsed from [`PluginSettings`]).
#[derive(Debug, Clone, Default)]
pub struct OperatorGrant {
    pub hosts: Vec<HostPattern>,
    pub files: Vec<String>,
    pub binary_commands: Option<Vec<Vec<String>>>,
    pub config: BTreeMap<String, String>,
    /// `plan_info_hosts = false`: `{plan-info}` is refused.
    pub refuse_plan_info: bool,
    /// Values the host itself provides (override `config` for declared keys).
    pub host_config: BTreeMap<String, String>,
}

/// Config keys whose value the host provides (see the module doc).
pub const HOST_CONFIG_KEYS: &[&str] = &[MUST_HAVE_CHECKSUM];
/// `"true"`/`"false"`: whether `DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM` is on.
pub const MUST_HAVE_CHECKSUM: &str = "must-have-checksum";

/// The host-provided config values for a supervisor with this configuration.
pub fn host_config(config: &crate::config::Config) -> BTreeMap<String, String> {
    BTreeMap::from([(
        MUST_HAVE_CHECKSUM.to_string(),
        config.download_must_have_checksum.to_string(),
    )])
}

impl OperatorGrant {
    pub fn from_settings(s: &PluginSettings) -> anyhow::Result<Self> {
        Ok(OperatorGrant {
            hosts: super::egress::parse_patterns(&s.hosts)?,
            files: s.files.clone(),
            binary_commands: s.binary_commands.clone(),
            config: s.config_values(),
            refuse_plan_info: s.plan_info_hosts == Some(false),
            host_config: BTreeMap::new(),
        })
    }

    /// Adds the host-provided values.
    pub fn with_host_config(mut self, values: &BTreeMap<String, String>) -> Self {
        self.host_config = values.clone();
        self
    }
}

/// The effective capabilities of one plugin.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EffectiveGrant {
    pub egress: Egress,
    pub files: Vec<String>,
    pub config: BTreeMap<String, String>,
    pub binary_commands: Vec<Vec<String>>,
    /// Human-readable reasons for everything declared but not granted.
    pub denied: Vec<String>,
}

pub struct CapabilityGranter<'a> {
    declared: &'a Manifest,
    operator: &'a OperatorGrant,
}

impl<'a> CapabilityGranter<'a> {
    pub fn new(declared: &'a Manifest, operator: &'a OperatorGrant) -> Self {
        CapabilityGranter { declared, operator }
    }

    /// The narrower of a declared pattern and each operator pattern it overlaps.
    pub fn grant_http_host(&self, declared: &HostPattern) -> Vec<HostPattern> {
        self.operator
            .hosts
            .iter()
            .filter_map(|granted| {
                if declared.is_within(granted) {
                    Some(declared.clone())
                } else if granted.is_within(declared) {
                    Some(granted.clone())
                } else {
                    None
                }
            })
            .collect()
    }

    pub fn grant_file(&self, declared: &str) -> bool {
        self.operator.files.iter().any(|f| f == declared)
    }

    pub fn grant_config_key(&self, declared: &str) -> Option<String> {
        self.operator
            .host_config
            .get(declared)
            .or_else(|| self.operator.config.get(declared))
            .cloned()
    }

    /// `{operator-hosts}`: the operator's own host list, as written.
    pub fn grant_operator_hosts(&self) -> Vec<HostPattern> {
        self.operator.hosts.clone()
    }

    pub fn grant_plan_info(&self) -> bool {
        !self.operator.refuse_plan_info
    }

    pub fn grant_binary_command(&self, declared: &[String]) -> bool {
        match &self.operator.binary_commands {
            None => true,
            Some(allowed) => allowed.iter().any(|a| a == declared),
        }
    }

    /// Special addresses (loopback, metadata…) the operator granted by IP: see `egress.rs`.
    fn address_grants(&self) -> Vec<HostPattern> {
        self.operator
            .hosts
            .iter()
            .filter(|h| h.is_address())
            .cloned()
            .collect()
    }

    pub fn effective(&self) -> EffectiveGrant {
        let name = &self.declared.name;
        let mut g = EffectiveGrant::default();
        for declared in &self.declared.http_hosts {
            if declared.is_plan_info() {
                if self.grant_plan_info() {
                    g.egress.plan_info = true;
                } else {
                    g.denied.push(format!(
                        "http host {declared}: refused by `plan_info_hosts = false` in [plugins.{name}]"
                    ));
                }
                continue;
            }
            let (granted, why_none) = if declared.is_operator_hosts() {
                (
                    self.grant_operator_hosts(),
                    "the operator lists no host (add them to",
                )
            } else {
                (
                    self.grant_http_host(declared),
                    "declared but not granted (add it to",
                )
            };
            if granted.is_empty() {
                g.denied.push(format!(
                    "http host {declared}: {why_none} `hosts` in [plugins.{name}])"
                ));
            }
            for p in granted {
                if !g.egress.allowed.contains(&p) {
                    g.egress.allowed.push(p);
                }
            }
        }
        g.egress.address_grants = self.address_grants();
        for file in &self.declared.files {
            if self.grant_file(file) {
                g.files.push(file.clone());
            } else {
                g.denied.push(format!(
                    "file {file}: declared but not granted (add it to `files` in [plugins.{name}])"
                ));
            }
        }
        for key in &self.declared.config_keys {
            if let Some(v) = self.grant_config_key(key) {
                g.config.insert(key.clone(), v);
            }
        }
        for command in &self.declared.binary_commands {
            if self.grant_binary_command(command) {
                g.binary_commands.push(command.clone());
            } else {
                g.denied.push(format!(
                    "binary command {command:?}: not in `binary_commands` of [plugins.{name}]"
                ));
            }
        }
        g
    }

    /// Operator settings that grant nothing because the plugin never declared them
    /// (worth a warning: usually a typo or a plugin version change).
    pub fn unused_operator_entries(&self) -> Vec<String> {
        let mut out = Vec::new();
        for h in &self.operator.hosts {
            let used = self
                .declared
                .http_hosts
                .iter()
                .any(|d| d.is_operator_hosts() || d.is_within(h) || h.is_within(d));
            if !used && !h.is_address() {
                out.push(format!("host {h} is not declared by the plugin"));
            }
        }
        for f in &self.operator.files {
            if !self.declared.files.contains(f) {
                out.push(format!("file {f} is not declared by the plugin"));
            }
        }
        for k in self.operator.config.keys() {
            if self.operator.host_config.contains_key(k) && self.declared.config_keys.contains(k) {
                out.push(format!(
                    "config key {k} is set by the host (from the supervisor's configuration); this value is ignored"
                ));
            } else if !self.declared.config_keys.contains(k) {
                out.push(format!(
                    "config key {k} is not declared by the plugin (it will not see it)"
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::manifest::PluginKind;

    fn manifest() -> Manifest {
        Manifest {
            name: "p".into(),
            version: "1".into(),
            kind: PluginKind::Resolver,
            description: String::new(),
            http_hosts: vec![
                HostPattern::parse("*.example.com").unwrap(),
                HostPattern::parse("api.other.org").unwrap(),
            ],
            files: vec!["data/upgrade-info.json".into()],
            config_keys: vec!["bucket".into()],
            poll_interval_ms: None,
            wants_log_lines: false,
            log_line_filter: vec![],
            binary_commands: vec![
                vec!["version".into()],
                vec!["version".into(), "--long".into()],
            ],
        }
    }

    fn operator(hosts: &[&str], files: &[&str]) -> OperatorGrant {
        OperatorGrant {
            hosts: hosts
                .iter()
                .map(|h| HostPattern::parse(h).unwrap())
                .collect(),
            files: files.iter().map(|f| f.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn operator_hosts_grants_exactly_what_the_operator_lists() {
        let mut m = manifest();
        m.http_hosts = vec![HostPattern::parse("{operator-hosts}").unwrap()];
        let none = CapabilityGranter::new(&m, &OperatorGrant::default()).effective();
        assert!(none.egress.allowed.is_empty());
        assert!(
            none.denied[0].contains("lists no host"),
            "{:?}",
            none.denied
        );
        let op = operator(&["hooks.example.net", "10.0.0.7:8080"], &[]);
        let g = CapabilityGranter::new(&m, &op).effective();
        let allowed: Vec<String> = g.egress.allowed.iter().map(|h| h.to_string()).collect();
        assert_eq!(allowed, ["hooks.example.net", "10.0.0.7:8080"]);
        assert!(
            CapabilityGranter::new(&m, &op)
                .unused_operator_entries()
                .is_empty()
        );
    }

    #[test]
    fn nothing_is_granted_by_default() {
        let m = manifest();
        let op = OperatorGrant::default();
        let g = CapabilityGranter::new(&m, &op).effective();
        assert!(g.egress.is_empty());
        assert!(g.files.is_empty());
        assert!(g.config.is_empty());
        assert_eq!(g.denied.len(), 3, "{:?}", g.denied);
    }

    #[test]
    fn operator_narrows_a_declared_wildcard() {
        let m = manifest();
        let op = operator(&["dl.example.com"], &[]);
        let g = CapabilityGranter::new(&m, &op).effective();
        assert_eq!(
            g.egress.allowed,
            vec![HostPattern::parse("dl.example.com").unwrap()]
        );
    }

    #[test]
    fn operator_cannot_widen_beyond_the_declaration() {
        let m = manifest();
        let op = operator(
            &["evil.net", "*.other.org"],
            &["config/priv_validator_key.json"],
        );
        let granter = CapabilityGranter::new(&m, &op);
        let g = granter.effective();
        assert_eq!(
            g.egress.allowed,
            vec![HostPattern::parse("api.other.org").unwrap()]
        );
        assert!(g.files.is_empty());
        let unused = granter.unused_operator_entries();
        assert!(unused.iter().any(|u| u.contains("evil.net")), "{unused:?}");
        assert!(
            unused.iter().any(|u| u.contains("priv_validator_key")),
            "{unused:?}"
        );
    }

    #[test]
    fn granted_file_must_match_exactly() {
        let m = manifest();
        let op = operator(&[], &["data/upgrade-info.json"]);
        assert!(CapabilityGranter::new(&m, &op).grant_file("data/upgrade-info.json"));
        assert!(!CapabilityGranter::new(&m, &op).grant_file("data/upgrade-info.json.batch"));
    }

    #[test]
    fn config_values_reach_the_plugin_only_for_declared_keys() {
        let m = manifest();
        let mut op = OperatorGrant::default();
        op.config.insert("bucket".into(), "b".into());
        op.config.insert("secret".into(), "s".into());
        let g = CapabilityGranter::new(&m, &op).effective();
        assert_eq!(g.config.len(), 1);
        assert_eq!(g.config["bucket"], "b");
    }

    #[test]
    fn binary_commands_are_declared_ones_unless_narrowed() {
        let m = manifest();
        let all = CapabilityGranter::new(&m, &OperatorGrant::default()).effective();
        assert_eq!(all.binary_commands.len(), 2);
        let op = OperatorGrant {
            binary_commands: Some(vec![vec!["version".into()]]),
            ..Default::default()
        };
        let narrowed = CapabilityGranter::new(&m, &op).effective();
        assert_eq!(narrowed.binary_commands, vec![vec!["version".to_string()]]);
    }

    fn plan_info_manifest() -> Manifest {
        Manifest {
            http_hosts: vec![HostPattern::parse("{plan-info}").unwrap()],
            config_keys: vec![MUST_HAVE_CHECKSUM.into()],
            ..manifest()
        }
    }

    #[test]
    fn declared_plan_info_is_granted_without_operator_configuration() {
        let m = plan_info_manifest();
        let g = CapabilityGranter::new(&m, &OperatorGrant::default()).effective();
        assert!(g.egress.plan_info);
        assert!(g.egress.allowed.is_empty(), "no static host comes with it");
        assert!(!g.egress.is_empty());
    }

    #[test]
    fn the_operator_can_refuse_plan_info() {
        let m = plan_info_manifest();
        let op = OperatorGrant {
            refuse_plan_info: true,
            ..Default::default()
        };
        let g = CapabilityGranter::new(&m, &op).effective();
        assert!(!g.egress.plan_info);
        assert!(
            g.denied.iter().any(|d| d.contains("plan_info_hosts")),
            "{:?}",
            g.denied
        );
    }

    #[test]
    fn plan_info_is_not_granted_to_a_plugin_that_does_not_declare_it() {
        let g = CapabilityGranter::new(&manifest(), &OperatorGrant::default()).effective();
        assert!(!g.egress.plan_info);
    }

    #[test]
    fn host_config_overrides_the_operator_for_declared_keys_only() {
        let m = plan_info_manifest();
        let mut op = OperatorGrant::default();
        op.config.insert(MUST_HAVE_CHECKSUM.into(), "false".into());
        let mut host = BTreeMap::new();
        host.insert(MUST_HAVE_CHECKSUM.to_string(), "true".to_string());
        let op = op.with_host_config(&host);
        let granter = CapabilityGranter::new(&m, &op);
        assert_eq!(granter.effective().config[MUST_HAVE_CHECKSUM], "true");
        assert!(
            granter
                .unused_operator_entries()
                .iter()
                .any(|u| u.contains("set by the host"))
        );
        let undeclared = CapabilityGranter::new(&manifest(), &op).effective();
        assert!(!undeclared.config.contains_key(MUST_HAVE_CHECKSUM));
    }

    #[test]
    fn ip_grants_become_address_exceptions() {
        let m = manifest();
        let op = operator(&["127.0.0.1", "dl.example.com"], &[]);
        let g = CapabilityGranter::new(&m, &op).effective();
        assert_eq!(
            g.egress.address_grants,
            vec![HostPattern::parse("127.0.0.1").unwrap()]
        );
    }
}
