//! The plan file, `upgrade-info.json`: what the chain writes when it halts for an
//! upgrade, and what wasmvisor records beside a binary once it switched to it.
//!
//! cosmovisor panics on a malformed file; here every defect is a typed error the
//! caller logs while the node keeps running. An empty file is its own case: the chain
//! may be half-way through writing it, so the caller waits and reads again.

use std::io::ErrorKind;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The zero time Go writes for plans without a time (time-based upgrades are gone).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// An upgrade plan: which binary the chain wants, from which height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    pub height: u64,
    /// Download information (a URL or inline JSON), possibly empty.
    #[serde(default)]
    pub info: String,
}

/// Why a plan file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("the file is empty (the chain may still be writing it)")]
    Empty,
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid plan: {0}")]
    Invalid(String),
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
}

impl PlanError {
    /// Whether reading again shortly may succeed (the writer was mid-write).
    pub fn is_transient(&self) -> bool {
        matches!(self, PlanError::Empty)
    }
}

#[derive(Deserialize)]
struct RawPlan {
    name: Option<String>,
    height: Option<serde_json::Value>,
    info: Option<serde_json::Value>,
    time: Option<serde_json::Value>,
}

/// Parses and validates the content of an `upgrade-info.json`.
pub fn parse(bytes: &[u8]) -> Result<Plan, PlanError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(PlanError::Empty);
    }
    let raw: RawPlan = serde_json::from_slice(bytes)?;
    let name = raw.name.unwrap_or_default();
    if name.trim().is_empty() {
        return Err(PlanError::Invalid("\"name\" is missing or empty".into()));
    }
    let height = match raw.height {
        Some(serde_json::Value::Number(n)) => n.as_u64().filter(|h| *h > 0),
        _ => None,
    }
    .ok_or_else(|| PlanError::Invalid("\"height\" must be a JSON number greater than 0".into()))?;
    let info = match raw.info {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s,
        Some(_) => return Err(PlanError::Invalid("\"info\" must be a string".into())),
    };
    match raw.time {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(t)) if t == ZERO_TIME || t.is_empty() => {}
        Some(_) => {
            return Err(PlanError::Invalid(
                "\"time\" must be absent or zero: time-based upgrades are not supported".into(),
            ));
        }
    }
    Ok(Plan { name, height, info })
}

/// Reads a plan file; `Ok(None)` when it does not exist.
pub fn read(path: &Path) -> Result<Option<Plan>, PlanError> {
    match std::fs::read(path) {
        Ok(bytes) => parse(&bytes).map(Some),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Plan {
    /// The JSON cosmovisor writes (with the zero time), for `upgrades/<name>/upgrade-info.json`.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "name": self.name,
            "time": ZERO_TIME,
            "height": self.height,
            "info": self.info,
        })
        .to_string()
    }

    /// Whether `other` names the same upgrade (plan names compare case-insensitively).
    pub fn same_name(&self, other: &Plan) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_cosmos_plan_and_ignores_unknown_keys() {
        let p = parse(
            br#"{"name":"v2","time":"0001-01-01T00:00:00Z","height":123,"info":"x","extra":1}"#,
        )
        .unwrap();
        assert_eq!(
            p,
            Plan {
                name: "v2".into(),
                height: 123,
                info: "x".into()
            }
        );
    }

    #[test]
    fn empty_file_is_transient() {
        assert!(parse(b"").unwrap_err().is_transient());
        assert!(parse(b"  \n").unwrap_err().is_transient());
    }

    #[test]
    fn rejects_bad_plans_with_a_reason() {
        for (input, needle) in [
            (&br#"{"height":5}"#[..], "name"),
            (br#"{"name":"","height":5}"#, "name"),
            (br#"{"name":"v2","height":0}"#, "height"),
            (br#"{"name":"v2","height":-3}"#, "height"),
            (br#"{"name":"v2","height":"12"}"#, "height"),
            (br#"{"name":"v2","height":1.5}"#, "height"),
            (br#"{"name":"v2","height":3,"info":7}"#, "info"),
            (
                br#"{"name":"v2","height":3,"time":"2025-01-01T00:00:00Z"}"#,
                "time",
            ),
        ] {
            let err = parse(input).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
        assert!(matches!(parse(b"{not json"), Err(PlanError::Json(_))));
    }

    #[test]
    fn round_trips_through_the_written_form() {
        let p = Plan {
            name: "V2 beta".into(),
            height: 9,
            info: String::new(),
        };
        assert_eq!(parse(p.to_json().as_bytes()).unwrap(), p);
    }
}
