//! Which network destinations a plugin may reach, decided once per plugin.
//!
//! Accepted host forms (in a manifest's `http-hosts` and an operator's `hosts`):
//! `example.com` (that name, any port), `example.com:8443` (that port only),
//! `*.example.com` (any subdomain, not the name itself), and IP literals
//! `10.0.0.7`, `10.0.0.7:26657`, `[fd00::1]`, `[fd00::1]:8080`. Anything else — a bare
//! `*`, a URL, a path — is an error at load time, not a silent "allow nothing".
//!
//! Fail-closed rule for names: a request goes to the addresses the granted name
//! resolves to, minus the addresses no plugin should reach by accident — loopback,
//! link-local (which holds the cloud metadata endpoint 169.254.169.254), unspecified,
//! and the other metadata addresses. Such an address is used only when it is itself
//! granted by the operator (e.g. `127.0.0.1` for a node RPC on the same machine).
//! The check happens in the HTTP client's resolver, on the addresses actually
//! connected to, so DNS rebinding between check and connect is not a way around it.
//! Private ranges (10/8, 192.168/16) are not refused: nodes talk to them legitimately.
//! A URL whose host is an IP literal gets the same check (no name resolution
//! happens for it, so the check is made on the literal).
//!
//! The dynamic entry `{plan-info}` (manifest only) means "the hosts of the http(s)
//! URLs written in the plan's `info`, for the duration of one `resolve` call".
//! cosmovisor operators configure no hosts, and a plan's info URL may name any
//! host, so a resolver such as `manifest-url` cannot list its hosts in advance.
//! The set is computed by the host from the plan itself ([`PlanInfoHosts`]): the
//! whole trimmed info when it is a URL, every string value that is a URL when it is
//! JSON — exact host and port, nothing wider. Those hosts may be read (GET, HEAD),
//! never written to, and the special-address rule above still applies to them: a
//! plan naming `127.0.0.1` reaches it only if the operator grants `127.0.0.1`.
//!
//! The dynamic entry `{operator-hosts}` (manifest only) means "exactly the hosts the
//! operator lists in `hosts`, as written". A webhook or a GitHub Enterprise server
//! lives on a host only the operator knows; without this entry a plugin could only
//! declare a fixed list, and the operator could narrow it but never name their own.
//! Nothing is reachable through it until the operator writes a host, and the
//! special-address rule still applies.
//! A bare `*` stays an error: `{plan-info}` and `{operator-hosts}` are the only
//! dynamic forms.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use serde::Serialize;

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct HostPattern {
    host: HostMatch,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Exact(String),
    /// `*.suffix`: stores `.suffix`.
    Subdomains(String),
    Ip(IpAddr),
    /// `{plan-info}`: stands for the hosts of the plan's info URLs (see the module doc).
    PlanInfo,
    /// `{operator-hosts}`: stands for the hosts the operator lists (see the module doc).
    OperatorHosts,
}

/// The manifest entry that asks for the plan's info hosts.
pub const PLAN_INFO: &str = "{plan-info}";
/// The manifest entry that asks for whatever hosts the operator lists.
pub const OPERATOR_HOSTS: &str = "{operator-hosts}";

/// Why a pattern or a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error(
        "{0:?} is not a host pattern (use example.com, *.example.com, example.com:8443 or an IP address)"
    )]
    BadPattern(String),
    #[error("{0:?} is not an http(s) URL with a host")]
    BadUrl(String),
    #[error("host {0} is not granted to this plugin")]
    NotGranted(String),
    #[error(
        "host {host} resolves only to {addrs} (loopback, link-local or metadata addresses), which are refused unless the operator grants that address itself"
    )]
    SpecialAddress { host: String, addrs: String },
}

impl HostPattern {
    pub fn parse(text: &str) -> Result<Self, EgressError> {
        let bad = || EgressError::BadPattern(text.to_string());
        let t = text.trim();
        if t == PLAN_INFO {
            return Ok(HostPattern {
                host: HostMatch::PlanInfo,
                port: None,
            });
        }
        if t == OPERATOR_HOSTS {
            return Ok(HostPattern {
                host: HostMatch::OperatorHosts,
                port: None,
            });
        }
        if t.is_empty() || t.contains('/') || t.contains('@') || t.contains(' ') {
            return Err(bad());
        }
        // Bracketed IPv6, with or without a port.
        if let Some(rest) = t.strip_prefix('[') {
            let (ip, after) = rest.split_once(']').ok_or_else(bad)?;
            let ip: Ipv6Addr = ip.parse().map_err(|_| bad())?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(bad)?
                        .parse()
                        .map_err(|_| bad())?,
                ),
            };
            return Ok(HostPattern {
                host: HostMatch::Ip(IpAddr::V6(ip)),
                port,
            });
        }
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Ok(HostPattern {
                host: HostMatch::Ip(ip),
                port: None,
            });
        }
        let (host, port) = match t.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| bad())?)),
            None => (t, None),
        };
        let host = host.to_ascii_lowercase();
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(HostPattern {
                host: HostMatch::Ip(ip),
                port,
            });
        }
        let matcher = match host.strip_prefix("*.") {
            Some(suffix) if valid_name(suffix) && suffix.contains('.') => {
                HostMatch::Subdomains(format!(".{suffix}"))
            }
            Some(_) => return Err(bad()),
            None if valid_name(&host) => HostMatch::Exact(host),
            None => return Err(bad()),
        };
        Ok(HostPattern {
            host: matcher,
            port,
        })
    }

    /// Whether `host` (lower case, IPv6 without brackets) on `port` matches.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match &self.host {
            HostMatch::Exact(name) => name == host,
            HostMatch::Subdomains(suffix) => {
                host.len() > suffix.len() && host.ends_with(suffix.as_str())
            }
            HostMatch::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
            // Never a destination by itself: the host expands it per call.
            HostMatch::PlanInfo | HostMatch::OperatorHosts => false,
        }
    }

    /// Whether this is the dynamic `{plan-info}` entry.
    pub fn is_plan_info(&self) -> bool {
        matches!(self.host, HostMatch::PlanInfo)
    }

    /// Whether this is the dynamic `{operator-hosts}` entry.
    pub fn is_operator_hosts(&self) -> bool {
        matches!(self.host, HostMatch::OperatorHosts)
    }

    /// Whether this is a dynamic entry (only a manifest may declare one).
    pub fn is_dynamic(&self) -> bool {
        self.is_plan_info() || self.is_operator_hosts()
    }

    /// Whether this pattern is an IP address rather than a name.
    pub fn is_address(&self) -> bool {
        matches!(self.host, HostMatch::Ip(_))
    }

    /// Whether this pattern names exactly `ip` (any port, or `port`).
    fn grants_address(&self, ip: IpAddr, port: u16) -> bool {
        // Port 0 = not known yet (the resolver runs before the port is attached).
        matches!(self.host, HostMatch::Ip(granted) if granted == ip)
            && self.port.is_none_or(|p| port == 0 || p == port)
    }

    /// Whether `self` allows nothing that `wider` does not (used to intersect
    /// what a plugin declares with what the operator grants).
    pub fn is_within(&self, wider: &HostPattern) -> bool {
        let port_ok = match (self.port, wider.port) {
            (_, None) => true,
            (Some(a), Some(b)) => a == b,
            (None, Some(_)) => false,
        };
        let host_ok = match (&self.host, &wider.host) {
            (a, b) if a == b => true,
            (HostMatch::Exact(name), HostMatch::Subdomains(suffix)) => {
                name.len() > suffix.len() && name.ends_with(suffix.as_str())
            }
            (HostMatch::Subdomains(a), HostMatch::Subdomains(b)) => a.ends_with(b.as_str()),
            _ => false,
        };
        port_ok && host_ok
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, self.port) {
            (HostMatch::Exact(n), None) => write!(f, "{n}"),
            (HostMatch::Exact(n), Some(p)) => write!(f, "{n}:{p}"),
            (HostMatch::Subdomains(s), None) => write!(f, "*{s}"),
            (HostMatch::Subdomains(s), Some(p)) => write!(f, "*{s}:{p}"),
            (HostMatch::Ip(IpAddr::V6(ip)), None) => write!(f, "[{ip}]"),
            (HostMatch::Ip(ip), None) => write!(f, "{ip}"),
            (HostMatch::Ip(IpAddr::V6(ip)), Some(p)) => write!(f, "[{ip}]:{p}"),
            (HostMatch::Ip(ip), Some(p)) => write!(f, "{ip}:{p}"),
            (HostMatch::PlanInfo, _) => f.write_str(PLAN_INFO),
            (HostMatch::OperatorHosts, _) => f.write_str(OPERATOR_HOSTS),
        }
    }
}

impl From<HostPattern> for String {
    fn from(p: HostPattern) -> String {
        p.to_string()
    }
}

/// Parses a list of patterns, reporting every bad one at once.
pub fn parse_patterns(texts: &[String]) -> Result<Vec<HostPattern>, EgressError> {
    texts.iter().map(|t| HostPattern::parse(t)).collect()
}

/// The effective egress policy of one plugin. Empty = no HTTP at all.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Egress {
    /// Destinations the plugin may name (declared ∩ granted).
    pub allowed: Vec<HostPattern>,
    /// Addresses the operator granted explicitly: only these special addresses
    /// (loopback, link-local, metadata) may be connected to.
    #[serde(skip)]
    pub address_grants: Vec<HostPattern>,
    /// `{plan-info}` is granted: a resolve call may also read from the hosts its
    /// plan's info names ([`PlanInfoHosts`]).
    pub plan_info: bool,
}

/// A checked destination: what the HTTP client may connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub host: String,
    pub port: u16,
}

impl Egress {
    /// No HTTP at all (no static host, no `{plan-info}`).
    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty() && !self.plan_info
    }

    /// Checks a URL against the allowlist (not yet the addresses a name resolves to:
    /// see [`Egress::filter_addresses`]; an IP literal is checked here).
    pub fn check_url(&self, url: &url::Url) -> Result<Destination, EgressError> {
        self.check_url_for_call(url, &PlanInfoHosts::default())
            .map(|(d, _)| d)
    }

    /// [`Egress::check_url`] for one call that may also reach `plan_hosts` (empty
    /// unless `{plan-info}` is granted). Says which grant let the URL through.
    pub fn check_url_for_call(
        &self,
        url: &url::Url,
        plan_hosts: &PlanInfoHosts,
    ) -> Result<(Destination, Via), EgressError> {
        let (host, port) = url_host_port(url)?;
        let via = if self.allowed.iter().any(|p| p.matches(&host, port)) {
            Via::Allowlist
        } else if plan_hosts.hosts.iter().any(|p| p.matches(&host, port)) {
            Via::PlanInfo
        } else {
            let shown = if url.port().is_some() {
                format!("{host}:{port}")
            } else {
                host
            };
            return Err(EgressError::NotGranted(shown));
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            self.filter_addresses(&host, vec![SocketAddr::new(ip, port)])?;
        }
        Ok((Destination { host, port }, via))
    }

    /// Drops the special addresses the operator did not grant; an error when none is left.
    pub fn filter_addresses(
        &self,
        host: &str,
        addrs: Vec<SocketAddr>,
    ) -> Result<Vec<SocketAddr>, EgressError> {
        let (kept, refused): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|a| {
            !is_special(a.ip())
                || self
                    .address_grants
                    .iter()
                    .any(|g| g.grants_address(a.ip(), a.port()))
        });
        if kept.is_empty() && !refused.is_empty() {
            let addrs = refused
                .iter()
                .map(|a| a.ip().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(EgressError::SpecialAddress {
                host: host.to_string(),
                addrs,
            });
        }
        Ok(kept)
    }
}

/// Which grant let a URL through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A host declared by the plugin and granted by the operator.
    Allowlist,
    /// A host the plan's info names (`{plan-info}`): read-only.
    PlanInfo,
}

fn url_host_port(url: &url::Url) -> Result<(String, u16), EgressError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(EgressError::BadUrl(url.to_string()));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(EgressError::BadUrl(url.to_string())),
    };
    let port = url
        .port_or_known_default()
        .ok_or_else(|| EgressError::BadUrl(url.to_string()))?;
    Ok((host, port))
}

/// The hosts one plan's `info` names: what `{plan-info}` grants for that call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanInfoHosts {
    hosts: Vec<HostPattern>,
}

impl PlanInfoHosts {
    /// The exact `host:port` of every http(s) URL in `info`: the whole trimmed info
    /// when it is a URL, each string value (at any depth) when it is JSON. Anything
    /// else names no host.
    pub fn from_info(info: &str) -> Self {
        let info = info.trim();
        let mut urls = Vec::new();
        if info.starts_with('{') || info.starts_with('[') {
            if let Ok(doc) = serde_json::from_str::<serde_json::Value>(info) {
                collect_strings(&doc, &mut urls);
            }
        } else {
            urls.push(info.to_string());
        }
        let mut hosts: Vec<HostPattern> = Vec::new();
        for text in urls {
            let Ok(url) = url::Url::parse(text.trim()) else {
                continue;
            };
            let Ok((host, port)) = url_host_port(&url) else {
                continue;
            };
            let matcher = match host.parse::<IpAddr>() {
                Ok(ip) => HostMatch::Ip(ip),
                Err(_) => HostMatch::Exact(host),
            };
            let pattern = HostPattern {
                host: matcher,
                port: Some(port),
            };
            if !hosts.contains(&pattern) {
                hosts.push(pattern);
            }
        }
        PlanInfoHosts { hosts }
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    pub fn hosts(&self) -> &[HostPattern] {
        &self.hosts
    }
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Loopback, link-local, unspecified and cloud metadata addresses (also when
/// IPv4-mapped into IPv6).
pub fn is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_special_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_special_v4(v4);
            }
            let aws_metadata: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6 == aws_metadata
        }
    }
}

fn is_special_v4(ip: Ipv4Addr) -> bool {
    let alibaba_metadata = Ipv4Addr::new(100, 100, 100, 200);
    ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip == alibaba_metadata
}

/// The HTTP client's resolver for one plugin: resolves with the system resolver,
/// then applies [`Egress::filter_addresses`], so the check is on what is connected to.
pub struct CheckedResolver {
    pub egress: Arc<Egress>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let egress = self.egress.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: reqwest attaches the URL's port afterwards (already checked
            // against the allowlist by `check_url`).
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = egress
                .filter_addresses(&host, addrs)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn egress(allowed: &[&str], address_grants: &[&str]) -> Egress {
        Egress {
            allowed: allowed
                .iter()
                .map(|p| HostPattern::parse(p).unwrap())
                .collect(),
            address_grants: address_grants
                .iter()
                .map(|p| HostPattern::parse(p).unwrap())
                .collect(),
            plan_info: false,
        }
    }

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn accepts_the_documented_forms() {
        for p in [
            "example.com",
            "example.com:8443",
            "*.example.com",
            "10.0.0.7",
            "10.0.0.7:26657",
            "[fd00::1]",
            "[::1]:8080",
        ] {
            let parsed = HostPattern::parse(p).unwrap();
            assert_eq!(parsed.to_string(), p);
        }
    }

    #[test]
    fn rejects_wildcards_urls_and_garbage() {
        for p in [
            "*",
            "*.com",
            "https://example.com",
            "example.com/path",
            "",
            "user@example.com",
            "exa mple.com",
            "a:b",
        ] {
            assert!(HostPattern::parse(p).is_err(), "{p} should be rejected");
        }
    }

    #[test]
    fn empty_allowlist_allows_nothing() {
        assert!(matches!(
            egress(&[], &[]).check_url(&url("https://example.com/")),
            Err(EgressError::NotGranted(_))
        ));
    }

    #[test]
    fn subdomain_pattern_does_not_match_the_bare_name_or_lookalikes() {
        let e = egress(&["*.example.com"], &[]);
        assert!(e.check_url(&url("https://dl.example.com/x")).is_ok());
        assert!(e.check_url(&url("https://example.com/x")).is_err());
        assert!(e.check_url(&url("https://badexample.com/x")).is_err());
    }

    #[test]
    fn port_pattern_matches_only_that_port() {
        let e = egress(&["example.com:8443"], &[]);
        assert!(e.check_url(&url("https://example.com:8443/")).is_ok());
        assert!(e.check_url(&url("https://example.com/")).is_err());
    }

    #[test]
    fn non_http_schemes_are_refused() {
        let e = egress(&["example.com"], &[]);
        assert!(matches!(
            e.check_url(&url("file://example.com/etc/passwd")),
            Err(EgressError::BadUrl(_))
        ));
    }

    #[test]
    fn granted_name_resolving_to_loopback_is_refused() {
        let e = egress(&["localhost"], &[]);
        let addrs = vec!["127.0.0.1:80".parse().unwrap(), "[::1]:80".parse().unwrap()];
        assert!(matches!(
            e.filter_addresses("localhost", addrs),
            Err(EgressError::SpecialAddress { .. })
        ));
    }

    #[test]
    fn loopback_is_allowed_when_the_address_itself_is_granted() {
        let e = egress(&["localhost"], &["127.0.0.1"]);
        let addrs = vec!["127.0.0.1:80".parse().unwrap(), "[::1]:80".parse().unwrap()];
        assert_eq!(
            e.filter_addresses("localhost", addrs).unwrap(),
            vec!["127.0.0.1:80".parse().unwrap()]
        );
    }

    #[test]
    fn metadata_and_link_local_addresses_are_special() {
        for ip in [
            "169.254.169.254",
            "fe80::1",
            "fd00:ec2::254",
            "0.0.0.0",
            "::ffff:127.0.0.1",
            "100.100.100.200",
        ] {
            assert!(is_special(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.0.0.1", "192.168.1.1", "93.184.216.34", "2001:db8::1"] {
            assert!(!is_special(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass_and_specials_are_dropped_from_a_mixed_answer() {
        let e = egress(&["example.com"], &[]);
        let addrs = vec![
            "93.184.216.34:443".parse().unwrap(),
            "127.0.0.1:443".parse().unwrap(),
        ];
        assert_eq!(
            e.filter_addresses("example.com", addrs).unwrap(),
            vec!["93.184.216.34:443".parse().unwrap()]
        );
    }

    #[test]
    fn narrowing_is_checked_pattern_by_pattern() {
        let p = |s| HostPattern::parse(s).unwrap();
        assert!(p("dl.example.com").is_within(&p("*.example.com")));
        assert!(p("example.com:443").is_within(&p("example.com")));
        assert!(!p("example.com").is_within(&p("example.com:443")));
        assert!(!p("*.example.com").is_within(&p("dl.example.com")));
        assert!(p("*.dl.example.com").is_within(&p("*.example.com")));
    }

    #[test]
    fn plan_info_is_the_only_dynamic_form_and_never_matches_by_itself() {
        let p = HostPattern::parse("{plan-info}").unwrap();
        assert!(p.is_plan_info());
        assert_eq!(p.to_string(), "{plan-info}");
        assert!(!p.matches("example.com", 443));
        let o = HostPattern::parse("{operator-hosts}").unwrap();
        assert!(o.is_operator_hosts() && o.is_dynamic() && !o.matches("example.com", 443));
        assert_eq!(o.to_string(), "{operator-hosts}");
        for bad in ["*", "{plan}", "{plan-info}.com", "{*}", "{operator}"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plan_info_hosts_of_a_url_info_are_its_exact_host_and_port() {
        let h =
            PlanInfoHosts::from_info("  https://Dl.Example.com/plan.json?checksum=sha256:ab \n");
        let shown: Vec<String> = h.hosts().iter().map(|p| p.to_string()).collect();
        assert_eq!(shown, vec!["dl.example.com:443"]);
    }

    #[test]
    fn plan_info_hosts_of_json_info_are_every_url_value() {
        let h = PlanInfoHosts::from_info(
            r#"{"binaries":{"linux/amd64":"https://a.example.com/x","any":"http://127.0.0.1:8080/y","n":3,"t":"not a url"},"extra":["https://a.example.com/z"]}"#,
        );
        let mut shown: Vec<String> = h.hosts().iter().map(|p| p.to_string()).collect();
        shown.sort();
        assert_eq!(shown, vec!["127.0.0.1:8080", "a.example.com:443"]);
    }

    #[test]
    fn plan_info_without_urls_names_no_host() {
        for info in [
            "",
            "see the forum",
            "{broken",
            "file:///etc/passwd",
            r#"{"a":1}"#,
        ] {
            assert!(PlanInfoHosts::from_info(info).is_empty(), "{info}");
        }
    }

    #[test]
    fn plan_hosts_are_reachable_only_in_the_call_that_carries_them() {
        let e = Egress {
            plan_info: true,
            ..Egress::default()
        };
        let plan = PlanInfoHosts::from_info("https://dl.example.com/plan.json");
        let (_, via) = e
            .check_url_for_call(&url("https://dl.example.com/other.json"), &plan)
            .unwrap();
        assert_eq!(via, Via::PlanInfo);
        assert!(
            e.check_url(&url("https://dl.example.com/plan.json"))
                .is_err()
        );
        assert!(
            e.check_url_for_call(&url("https://dl.example.com:8443/x"), &plan)
                .is_err(),
            "another port is another destination"
        );
        assert!(
            e.check_url_for_call(&url("https://evil.example.com/x"), &plan)
                .is_err()
        );
    }

    #[test]
    fn a_loopback_literal_named_by_the_plan_is_refused_unless_granted_by_address() {
        let plan = PlanInfoHosts::from_info("http://127.0.0.1:9000/plan.json");
        let refused = Egress {
            plan_info: true,
            ..Egress::default()
        };
        assert!(matches!(
            refused.check_url_for_call(&url("http://127.0.0.1:9000/plan.json"), &plan),
            Err(EgressError::SpecialAddress { .. })
        ));
        let granted = Egress {
            plan_info: true,
            address_grants: vec![HostPattern::parse("127.0.0.1").unwrap()],
            ..Egress::default()
        };
        assert!(
            granted
                .check_url_for_call(&url("http://127.0.0.1:9000/plan.json"), &plan)
                .is_ok()
        );
    }
}
