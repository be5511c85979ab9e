//! Reading an endpoint's JSON answer: the fields the settings point at (RFC 6901
//! JSON pointers), numbers that may be written as strings (Cosmos REST writes
//! heights as `"123"`), and the decision whether an upgrade is due. Pure functions,
//! so every rule is tested natively without a host.

use serde_json::Value;
use wasmvisor_plugin_sdk::types::{Error, Plan};

use crate::version::Version;

/// What one answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// No upgrade now, and why (for the debug log).
    Nothing(String),
    /// An upgrade to `name`; its height when the answer holds one.
    Upgrade {
        name: String,
        height: Option<u64>,
        info: String,
    },
}

/// Parses an answer's body; `source` (e.g. `GET http://…`) names it in errors.
pub fn parse_json(body: &[u8], source: &str) -> Result<Value, Error> {
    serde_json::from_slice(body).map_err(|e| {
        let start: String = String::from_utf8_lossy(&body[..body.len().min(80)])
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        Error::InvalidInput(format!(
            "{source}: the answer is not JSON ({e}); it starts with {start:?} — check `url`/`path` point at the endpoint's JSON API"
        ))
    })
}

/// Plan mode: the name at `name` (absent, null or empty = no upgrade), its height and
/// info. With `ready`, the plan counts only once that flag is `true`.
pub fn read_plan(
    doc: &Value,
    name: &str,
    height: Option<&str>,
    info: Option<&str>,
    ready: Option<&str>,
    source: &str,
) -> Result<Reading, Error> {
    let Some(plan_name) = text_at(doc, name, source)? else {
        return Ok(Reading::Nothing(format!("{source}: no upgrade at {name}")));
    };
    if let Some(ready) = ready
        && !flag_at(doc, ready, source)?
    {
        return Ok(Reading::Nothing(format!(
            "{source}: upgrade {plan_name} accepted, not ready yet ({ready} is not true)"
        )));
    }
    let height = match height {
        None => None,
        Some(pointer) => Some(height_at(doc, pointer, source)?.ok_or_else(|| {
            Error::InvalidInput(format!(
                "{source}: upgrade {plan_name} has no height at {pointer}"
            ))
        })?),
    };
    Ok(Reading::Upgrade {
        name: plan_name,
        height,
        info: info_at(doc, info),
    })
}

/// Version mode: an upgrade to the chain's target version when `running` is below it
/// or below the minimum (the higher of the two is the upgrade's name).
pub fn read_version(
    doc: &Value,
    target: &str,
    min: Option<&str>,
    height: Option<&str>,
    info: Option<&str>,
    running: &str,
    source: &str,
) -> Result<Reading, Error> {
    let running_version = Version::find_in(running).map_err(|e| {
        Error::InvalidInput(format!(
            "the running binary's version cannot be compared: {e} (the first line of its `version` output)"
        ))
    })?;
    let mut wanted = Vec::new();
    for pointer in std::iter::once(target).chain(min) {
        if doc.pointer(pointer).is_none() {
            return Err(Error::InvalidInput(format!(
                "{source}: the answer has nothing at {pointer}; check the version pointers"
            )));
        }
        if let Some(text) = text_at(doc, pointer, source)? {
            let v = Version::parse(&text)
                .map_err(|e| Error::InvalidInput(format!("{source}: at {pointer}: {e}")))?;
            wanted.push((v, text));
        }
    }
    let Some((want, name)) = wanted.into_iter().max_by(|a, b| a.0.cmp(&b.0)) else {
        return Ok(Reading::Nothing(format!(
            "{source}: the chain sets no version at {target}"
        )));
    };
    if running_version >= want {
        return Ok(Reading::Nothing(format!(
            "running {running} is at or above the chain's {name}"
        )));
    }
    let height = match height {
        None => None,
        Some(pointer) => height_at(doc, pointer, source)?,
    };
    Ok(Reading::Upgrade {
        name,
        height,
        info: info_at(doc, info),
    })
}

/// The plan to report, given the node's height when the settings needed it:
/// the answer's height, else `node + offset`; with `wait`, only once the node is at
/// the plan's height − 1 (the block before the upgrade is committed).
pub fn decide(
    reading: Reading,
    node_height: Option<u64>,
    offset: u64,
    wait: bool,
) -> Result<Option<Plan>, String> {
    let Reading::Upgrade { name, height, info } = reading else {
        return Ok(None);
    };
    let height = match (height, node_height) {
        (Some(h), _) => h,
        (None, Some(node)) => node.saturating_add(offset).max(1),
        (None, None) => return Err(format!("upgrade {name} has no height")),
    };
    if wait && node_height.is_none_or(|node| node.saturating_add(1) < height) {
        return Ok(None);
    }
    Ok(Some(Plan { name, height, info }))
}

/// `latest_block_height` of a CometBFT `/status` answer (JSON-RPC `result` wrapper
/// or not), a decimal string or a number.
pub fn latest_height(doc: &Value, source: &str) -> Result<u64, Error> {
    for pointer in [
        "/result/sync_info/latest_block_height",
        "/sync_info/latest_block_height",
    ] {
        if let Some(h) = height_at(doc, pointer, source)? {
            return Ok(h);
        }
    }
    Err(Error::InvalidInput(format!(
        "{source}: no sync_info.latest_block_height in the answer; height_url must be the node's CometBFT RPC (port 26657)"
    )))
}

/// A non-empty string at `pointer`; None when absent, null or empty.
fn text_at(doc: &Value, pointer: &str, source: &str) -> Result<Option<String>, Error> {
    match doc.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            Ok((!s.is_empty()).then(|| s.to_string()))
        }
        Some(other) => Err(Error::InvalidInput(format!(
            "{source}: at {pointer} a name or version string was expected, found {}",
            short(other)
        ))),
    }
}

/// A height (> 0) at `pointer`: a JSON number or a decimal string. None when absent
/// or null.
fn height_at(doc: &Value, pointer: &str, source: &str) -> Result<Option<u64>, Error> {
    let bad = |what: String| {
        Error::InvalidInput(format!(
            "{source}: at {pointer} a block height was expected, found {what}"
        ))
    };
    let height = match doc.pointer(pointer) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| bad(n.to_string()))?,
        Some(Value::String(s)) => s.trim().parse().map_err(|_| bad(format!("{s:?}")))?,
        Some(other) => return Err(bad(short(other))),
    };
    if height == 0 {
        return Err(bad("0 (a plan's height is at least 1)".to_string()));
    }
    Ok(Some(height))
}

/// Whether the flag at `pointer` is set: `true` or `"true"`; absent, null or false
/// = not set.
fn flag_at(doc: &Value, pointer: &str, source: &str) -> Result<bool, Error> {
    match doc.pointer(pointer) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(false),
        Some(Value::Bool(true)) => Ok(true),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(Error::InvalidInput(format!(
            "{source}: at {pointer} true or false was expected, found {}",
            short(other)
        ))),
    }
}

/// The plan's info: a string as is, other JSON as its text, nothing = "".
fn info_at(doc: &Value, pointer: Option<&str>) -> String {
    match pointer.and_then(|p| doc.pointer(p)) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A value for an error message, cut to a readable length.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SRC: &str = "GET http://node/x";

    fn cosmos(doc: &Value) -> Result<Reading, Error> {
        read_plan(
            doc,
            "/plan/name",
            Some("/plan/height"),
            Some("/plan/info"),
            None,
            SRC,
        )
    }

    fn vega(doc: &Value) -> Result<Reading, Error> {
        read_plan(
            doc,
            "/result/AcceptedReleaseInfo/VegaReleaseTag",
            Some("/result/AcceptedReleaseInfo/UpgradeBlockHeight"),
            None,
            Some("/result/ReadyToUpgrade"),
            SRC,
        )
    }

    fn lava(doc: &Value, running: &str) -> Result<Reading, Error> {
        read_version(
            doc,
            "/params/version/provider_target",
            Some("/params/version/provider_min"),
            None,
            None,
            running,
            SRC,
        )
    }

    fn invalid(e: Error) -> String {
        match e {
            Error::InvalidInput(m) => m,
            other => panic!("expected invalid-input, got {other:?}"),
        }
    }

    fn upgrade(name: &str, height: Option<u64>, info: &str) -> Reading {
        Reading::Upgrade {
            name: name.into(),
            height,
            info: info.into(),
        }
    }

    #[test]
    fn a_cosmos_plan_with_its_height_as_a_string() {
        let doc = json!({"plan": {"name": "v2", "time": "0001-01-01T00:00:00Z", "height": "1200",
            "info": "{\"binaries\":{}}", "upgraded_client_state": null}});
        assert_eq!(
            cosmos(&doc).unwrap(),
            upgrade("v2", Some(1200), "{\"binaries\":{}}")
        );
        assert!(matches!(
            cosmos(&json!({"plan": null})).unwrap(),
            Reading::Nothing(_)
        ));
        assert!(matches!(cosmos(&json!({})).unwrap(), Reading::Nothing(_)));
        let numeric = json!({"plan": {"name": "v3", "height": 77}});
        assert_eq!(cosmos(&numeric).unwrap(), upgrade("v3", Some(77), ""));
    }

    #[test]
    fn a_malformed_plan_is_invalid_input_naming_the_field() {
        let cases = [
            (
                json!({"plan": {"name": "v2", "height": "12a"}}),
                "/plan/height",
            ),
            (json!({"plan": {"name": "v2", "height": "0"}}), "at least 1"),
            (
                json!({"plan": {"name": "v2", "height": -4}}),
                "/plan/height",
            ),
            (json!({"plan": {"name": "v2"}}), "no height"),
            (json!({"plan": {"name": 2, "height": "5"}}), "/plan/name"),
        ];
        for (doc, needle) in cases {
            let e = invalid(cosmos(&doc).unwrap_err());
            assert!(e.contains(needle) && e.contains(SRC), "{doc}: {e}");
        }
        let e = invalid(parse_json(b"<html>502 Bad Gateway</html>", SRC).unwrap_err());
        assert!(e.contains("not JSON") && e.contains("<html>"), "{e}");
    }

    #[test]
    fn a_vega_release_counts_once_the_core_is_ready() {
        let status = |ready: Value| {
            json!({"result": {"AcceptedReleaseInfo": {"VegaReleaseTag": "v0.74.0",
                "UpgradeBlockHeight": 5000}, "ReadyToUpgrade": ready}, "error": null, "id": "1"})
        };
        assert!(matches!(
            vega(&status(json!(false))).unwrap(),
            Reading::Nothing(_)
        ));
        assert_eq!(
            vega(&status(json!(true))).unwrap(),
            upgrade("v0.74.0", Some(5000), "")
        );
        let none = json!({"result": {"AcceptedReleaseInfo": {"VegaReleaseTag": "",
            "UpgradeBlockHeight": 0}, "ReadyToUpgrade": false}});
        assert!(matches!(vega(&none).unwrap(), Reading::Nothing(_)));
        let e = invalid(vega(&status(json!(1))).unwrap_err());
        assert!(e.contains("true or false"), "{e}");
    }

    #[test]
    fn a_lava_target_above_the_running_version_is_an_upgrade() {
        let params = |target: &str, min: &str| {
            json!({"params": {"version": {"provider_target": target, "provider_min": min,
                "consumer_target": "9.9.9", "consumer_min": "0.1.0"}}})
        };
        assert_eq!(
            lava(&params("v2.1.0", "v2.0.0"), "v2.0.0").unwrap(),
            upgrade("v2.1.0", None, "")
        );
        assert!(matches!(
            lava(&params("v2.1.0", "v2.0.0"), "v2.1.0").unwrap(),
            Reading::Nothing(_)
        ));
        assert!(matches!(
            lava(&params("2.1.0", "2.0.0"), "v2.2.0").unwrap(),
            Reading::Nothing(_)
        ));
        // A minimum above the target (a chain mid-change): the higher one is needed.
        assert_eq!(
            lava(&params("v2.1.0", "v2.3.0"), "v2.0.0").unwrap(),
            upgrade("v2.3.0", None, "")
        );
        // The running binary's first line as real binaries print it.
        assert_eq!(
            lava(&params("2.1.0", "2.0.0"), "lavap version 1.9.0").unwrap(),
            upgrade("2.1.0", None, "")
        );
        let e = invalid(lava(&params("v2.1.0", "v2.0.0"), "unknown command").unwrap_err());
        assert!(e.contains("running binary"), "{e}");
        let e = invalid(lava(&params("latest", "v2.0.0"), "v1.0.0").unwrap_err());
        assert!(e.contains("provider_target"), "{e}");
        let e = invalid(lava(&json!({"params": {}}), "v1.0.0").unwrap_err());
        assert!(
            e.contains("nothing at /params/version/provider_target"),
            "{e}"
        );
    }

    #[test]
    fn the_height_comes_from_the_answer_or_the_node() {
        let r = upgrade("v2", None, "");
        assert_eq!(
            decide(r.clone(), Some(41), 1, false)
                .unwrap()
                .unwrap()
                .height,
            42
        );
        assert_eq!(
            decide(r.clone(), Some(41), 10, false)
                .unwrap()
                .unwrap()
                .height,
            51
        );
        assert!(decide(r, None, 1, false).is_err());
        assert!(
            decide(Reading::Nothing("x".into()), Some(5), 1, false)
                .unwrap()
                .is_none()
        );
        let planned = upgrade("v2", Some(100), "i");
        let plan = decide(planned.clone(), None, 1, false).unwrap().unwrap();
        assert_eq!(
            (plan.name.as_str(), plan.height, plan.info.as_str()),
            ("v2", 100, "i")
        );
        // Held back until the node has committed height − 1.
        assert!(
            decide(planned.clone(), Some(98), 1, true)
                .unwrap()
                .is_none()
        );
        assert!(decide(planned.clone(), None, 1, true).unwrap().is_none());
        assert!(decide(planned, Some(99), 1, true).unwrap().is_some());
    }

    #[test]
    fn cometbft_status_heights() {
        let rpc = json!({"jsonrpc": "2.0", "id": -1, "result": {"sync_info": {"latest_block_height": "42"}}});
        assert_eq!(latest_height(&rpc, SRC).unwrap(), 42);
        let bare = json!({"sync_info": {"latest_block_height": 7}});
        assert_eq!(latest_height(&bare, SRC).unwrap(), 7);
        let e = invalid(latest_height(&json!({"height": 3}), SRC).unwrap_err());
        assert!(e.contains("26657"), "{e}");
    }
}
