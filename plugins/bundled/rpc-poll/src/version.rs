//! Release versions as chains and binaries write them: `v2.1.0`, `2.1.0`, `v17`,
//! `v2.1.0-rc.1`, `v1.2.3+build.5`, or a line such as `lavap version 2.1.0`.
//! Ordered by semantic versioning: numbers numerically, missing minor/patch = 0, a
//! pre-release below its release, build metadata ignored. Anything else is refused
//! rather than guessed, because a wrong order would upgrade (or not) wrongly.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    core: [u64; 3],
    pre: Vec<Ident>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ident {
    Number(u64),
    Text(String),
}

impl Version {
    /// Parses one version (`v` prefix optional).
    pub fn parse(text: &str) -> Result<Version, String> {
        let text = text.trim();
        let bare = text
            .strip_prefix('v')
            .or_else(|| text.strip_prefix('V'))
            .unwrap_or(text);
        let bare = bare.split('+').next().unwrap_or_default();
        let (core_text, pre_text) = match bare.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (bare, None),
        };
        let parts: Vec<&str> = core_text.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return Err(format!("{text:?} is not a version like v1.2.3"));
        }
        let mut core = [0u64; 3];
        for (slot, part) in core.iter_mut().zip(&parts) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{text:?} is not a version like v1.2.3"));
            }
            *slot = part
                .parse()
                .map_err(|_| format!("{text:?}: {part} is too large"))?;
        }
        let pre = match pre_text {
            None => Vec::new(),
            Some(p) => p.split('.').map(Ident::parse).collect::<Result<_, _>>()?,
        };
        Ok(Version { core, pre })
    }

    /// The version in a line of text: the whole line, else its first word that is
    /// a version (`lavap version 2.1.0` → 2.1.0, `Version: v3` → 3.0.0).
    pub fn find_in(text: &str) -> Result<Version, String> {
        if let Ok(v) = Version::parse(text) {
            return Ok(v);
        }
        text.split_whitespace()
            .map(|w| w.trim_matches(|c: char| matches!(c, ',' | ';' | '"' | '\'' | '(' | ')')))
            .filter(|w| w.starts_with(|c: char| c.is_ascii_digit()) || w.starts_with(['v', 'V']))
            .find_map(|w| Version::parse(w).ok())
            .ok_or_else(|| format!("no version like v1.2.3 in {text:?}"))
    }
}

impl Ident {
    fn parse(part: &str) -> Result<Ident, String> {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!("bad pre-release part {part:?}"));
        }
        Ok(match part.parse() {
            Ok(n) if part.bytes().all(|b| b.is_ascii_digit()) => Ident::Number(n),
            _ => Ident::Text(part.to_string()),
        })
    }
}

impl Ord for Ident {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Ident::Number(a), Ident::Number(b)) => a.cmp(b),
            (Ident::Number(_), Ident::Text(_)) => Ordering::Less,
            (Ident::Text(_), Ident::Number(_)) => Ordering::Greater,
            (Ident::Text(a), Ident::Text(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Ident {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core.cmp(&other.core).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                // A pre-release comes before its release.
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn orders_like_semver() {
        assert!(v("v2.0.0") < v("v2.1.0"));
        assert!(v("2.1.0") == v("v2.1.0"));
        assert!(v("v1.10.0") > v("v1.9.9"), "numbers, not text");
        assert!(v("v2") == v("v2.0.0"));
        assert!(v("v1") < v("v2"));
        assert!(v("v2.1.0-rc.1") < v("v2.1.0"));
        assert!(v("v2.1.0-rc.1") < v("v2.1.0-rc.2"));
        assert!(v("v2.1.0-rc.2") < v("v2.1.0-rc.10"));
        assert!(
            v("v2.1.0-1") < v("v2.1.0-alpha"),
            "numeric parts sort first"
        );
        assert!(v("v2.1.0-alpha") < v("v2.1.0-alpha.1"));
        assert!(v("v2.1.0+abc") == v("v2.1.0"), "build metadata ignored");
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        for bad in [
            "",
            "v",
            "latest",
            "v1.2.3.4",
            "v1..2",
            "1.x",
            "v1.2.3-",
            "v1.2.3-a..b",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn finds_the_version_in_a_line() {
        assert_eq!(Version::find_in("lavap version 2.1.0").unwrap(), v("2.1.0"));
        assert_eq!(Version::find_in("Version: v3, commit abc").unwrap(), v("3"));
        assert_eq!(Version::find_in(" v17.2.0 ").unwrap(), v("17.2.0"));
        assert!(Version::find_in("unknown command \"version\"").is_err());
    }
}
