//! Which contract (WIT package version) and which world a component was built for,
//! read from the component's own exports — never guessed from its file name.
//!
//! This runs before anything is compiled: parsing the top-level export section of a
//! 50 KB component takes microseconds, so `wasmvisor run` can refuse a component
//! built for an unknown contract (or a plain core module) with a clear message at
//! start-up, and knows each plugin's kind without paying for compilation.

use serde::Serialize;
use wasmparser::{Encoding, Parser, Payload};

use super::manifest::PluginKind;

/// The contract versions this host implements (one frozen folder `wit/vX.Y.Z` each).
pub const SUPPORTED_VERSIONS: &[&str] = &["0.1.0"];

/// The package every plugin interface lives in.
pub const PACKAGE: &str = "wasmvisor:plugin";

/// What a component says it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contract {
    pub kind: PluginKind,
    /// The WIT package version, e.g. `0.1.0`.
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    #[error(
        "not a WebAssembly component (a core module or another file?); build the plugin for wasm32-wasip2"
    )]
    NotAComponent,
    #[error("not a valid WebAssembly component: {0}")]
    Malformed(String),
    #[error(
        "exports no {PACKAGE} interface (detection, resolution or hooks): it is not a wasmvisor plugin"
    )]
    NotAPlugin,
    #[error(
        "built for {PACKAGE}@{found}, which this wasmvisor does not know (it supports {}); use a wasmvisor that supports it, or rebuild the plugin against wit/v{}",
        SUPPORTED_VERSIONS.join(", "),
        SUPPORTED_VERSIONS.last().copied().unwrap_or("?")
    )]
    UnsupportedVersion { found: String },
    #[error(
        "exports more than one plugin kind ({0}); a plugin is exactly one of detector, resolver, hook"
    )]
    SeveralKinds(String),
}

/// Reads the contract from a component's top-level exports.
pub fn read_contract(bytes: &[u8]) -> Result<Contract, ContractError> {
    let mut depth = 0usize;
    let mut found: Vec<(PluginKind, String)> = Vec::new();
    let mut unknown_version: Option<String> = None;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| ContractError::Malformed(e.to_string()))?;
        match payload {
            Payload::Version { encoding, .. } if depth == 0 && encoding != Encoding::Component => {
                return Err(ContractError::NotAComponent);
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    let export = export.map_err(|e| ContractError::Malformed(e.to_string()))?;
                    match classify(export.name.name) {
                        Some((kind, version)) if SUPPORTED_VERSIONS.contains(&version.as_str()) => {
                            found.push((kind, version))
                        }
                        Some((_, version)) => unknown_version = Some(version),
                        None => {}
                    }
                }
            }
            _ => {}
        }
    }
    match found.as_slice() {
        [(kind, version)] => Ok(Contract {
            kind: *kind,
            version: version.clone(),
        }),
        [] => Err(match unknown_version {
            Some(found) => ContractError::UnsupportedVersion { found },
            None => ContractError::NotAPlugin,
        }),
        several => Err(ContractError::SeveralKinds(
            several
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

/// `wasmvisor:plugin/resolution@0.1.0` → (resolver, "0.1.0"); versionless exports
/// (`wasmvisor:plugin/resolution`) report version "unversioned".
fn classify(name: &str) -> Option<(PluginKind, String)> {
    let rest = name.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    let (interface, version) = match rest.split_once('@') {
        Some((i, v)) => (i, v.to_string()),
        None => (rest, "unversioned".to_string()),
    };
    let kind = match interface {
        "detection" => PluginKind::Detector,
        "resolution" => PluginKind::Resolver,
        "hooks" => PluginKind::Hook,
        _ => return None,
    };
    Some((kind, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_names_map_to_kind_and_version() {
        assert_eq!(
            classify("wasmvisor:plugin/resolution@0.1.0"),
            Some((PluginKind::Resolver, "0.1.0".into()))
        );
        assert_eq!(
            classify("wasmvisor:plugin/hooks@0.9.0"),
            Some((PluginKind::Hook, "0.9.0".into()))
        );
        assert_eq!(classify("wasi:cli/run@0.2.0"), None);
        assert_eq!(classify("wasmvisor:plugin/types@0.1.0"), None);
    }

    #[test]
    fn a_core_module_is_not_a_component() {
        // The smallest core module: magic + version 1.
        let module = b"\0asm\x01\0\0\0";
        assert_eq!(read_contract(module), Err(ContractError::NotAComponent));
    }

    #[test]
    fn garbage_is_reported_as_malformed() {
        assert!(matches!(
            read_contract(b"not wasm at all"),
            Err(ContractError::Malformed(_))
        ));
    }
}
