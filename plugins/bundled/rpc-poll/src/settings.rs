//! The operator's settings (`[plugins.<name>.config]`), with the presets as
//! defaults: a preset only fills in the keys the operator did not set, so any part
//! of one can be overridden (a key set to `""` removes the preset's value). Read and
//! checked once per poll so that a bad value is one clear error before any request.

use wasmvisor_plugin_sdk::types::Error;

pub const PRESET: &str = "preset";
pub const URL: &str = "url";
pub const PATH: &str = "path";
pub const BODY: &str = "body";
pub const NAME_POINTER: &str = "name_pointer";
pub const HEIGHT_POINTER: &str = "height_pointer";
pub const INFO_POINTER: &str = "info_pointer";
pub const READY_POINTER: &str = "ready_pointer";
pub const VERSION_POINTER: &str = "version_pointer";
pub const MIN_VERSION_POINTER: &str = "min_version_pointer";
pub const HEIGHT_URL: &str = "height_url";
pub const HEIGHT_OFFSET: &str = "height_offset";
pub const WAIT_FOR_HEIGHT: &str = "wait_for_height";

/// Every key this plugin reads (declared in its manifest).
pub const KEYS: &[&str] = &[
    PRESET,
    URL,
    PATH,
    BODY,
    NAME_POINTER,
    HEIGHT_POINTER,
    INFO_POINTER,
    READY_POINTER,
    VERSION_POINTER,
    MIN_VERSION_POINTER,
    HEIGHT_URL,
    HEIGHT_OFFSET,
    WAIT_FOR_HEIGHT,
];

/// The JSON-RPC request a Vega-style core answers with its protocol-upgrade status.
pub const VEGA_BODY: &str =
    r#"{"jsonrpc":"2.0","method":"protocolupgrade.UpgradeStatus","params":[],"id":"wasmvisor"}"#;

/// One preset: the defaults it gives to keys.
fn preset_defaults(preset: &str) -> Option<&'static [(&'static str, &'static str)]> {
    Some(match preset {
        // Cosmos SDK REST (gRPC gateway): the plan x/upgrade has scheduled, or
        // `{"plan":null}`; its height is a decimal string.
        "cosmos" => &[
            (PATH, "/cosmos/upgrade/v1beta1/current_plan"),
            (NAME_POINTER, "/plan/name"),
            (HEIGHT_POINTER, "/plan/height"),
            (INFO_POINTER, "/plan/info"),
        ],
        // Vega core's `protocolupgrade.UpgradeStatus` (JSON-RPC over HTTP POST): the
        // accepted release tag and its block height, and whether the core is ready
        // to stop for it.
        "vega" => &[
            (BODY, VEGA_BODY),
            (NAME_POINTER, "/result/AcceptedReleaseInfo/VegaReleaseTag"),
            (
                HEIGHT_POINTER,
                "/result/AcceptedReleaseInfo/UpgradeBlockHeight",
            ),
            (READY_POINTER, "/result/ReadyToUpgrade"),
        ],
        // Lava's on-chain protocol version (x/protocol params, REST): the provider's
        // target and minimum versions, compared with the running binary's.
        "lava" => &[
            (PATH, "/lavanet/lava/protocol/params"),
            (VERSION_POINTER, "/params/version/provider_target"),
            (MIN_VERSION_POINTER, "/params/version/provider_min"),
        ],
        _ => return None,
    })
}

pub const PRESETS: &[&str] = &["cosmos", "vega", "lava"];

/// What to ask and how to read the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The full URL polled.
    pub url: String,
    /// A body to POST (`content-type: application/json`); none = GET.
    pub body: Option<String>,
    pub mode: Mode,
    /// Where the answer's height is missing: the plan's height is
    /// `latest_block_height` of this CometBFT `/status` URL + `height_offset`.
    pub status_url: Option<String>,
    pub height_offset: u64,
    /// Report a plan only once the node (by `status_url`) is at its height − 1.
    pub wait_for_height: bool,
}

/// How the answer names an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The answer holds the plan itself (its name, maybe its height and info).
    Plan {
        name: String,
        height: Option<String>,
        info: Option<String>,
        /// A flag that must be `true` before the plan is reported.
        ready: Option<String>,
    },
    /// The answer holds the version the chain wants; an upgrade is needed when the
    /// running binary's version is below it (or below the minimum).
    Version {
        target: String,
        min: Option<String>,
        height: Option<String>,
        info: Option<String>,
    },
}

impl Settings {
    /// Reads the settings through `get` (the host's `config-get`).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        let preset = get(PRESET)
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty() && p != "custom" && p != "none");
        let defaults = match &preset {
            None => &[][..],
            Some(p) => preset_defaults(p).ok_or_else(|| {
                invalid(format!(
                    "config `preset` is {p:?}; use one of {} (or leave it out and set the pointers yourself)",
                    PRESETS.join(", ")
                ))
            })?,
        };
        // The operator's value (even "", which removes a default) wins over the preset's.
        let value = |key: &str| -> Option<String> {
            let v = get(key).or_else(|| {
                defaults
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
            })?;
            let v = v.trim().to_string();
            (!v.is_empty()).then_some(v)
        };
        let base = value(URL).ok_or_else(|| {
            invalid(format!(
                "config `url` is not set; add the node's endpoint, e.g. url = \"http://127.0.0.1:1317\"{}",
                preset
                    .as_deref()
                    .map(|p| format!(" (preset {p} adds its own path)"))
                    .unwrap_or_default()
            ))
        })?;
        check_url(URL, &base)?;
        let url = match value(PATH) {
            Some(path) => join(&base, &path),
            None => base,
        };
        let pointer = |key: &str| -> Result<Option<String>, Error> {
            let p = value(key);
            if let Some(p) = &p
                && !p.starts_with('/')
            {
                return Err(invalid(format!(
                    "config `{key}` is {p:?}: a JSON pointer starts with / (e.g. \"/plan/name\")"
                )));
            }
            Ok(p)
        };
        let mode = match (pointer(VERSION_POINTER)?, pointer(NAME_POINTER)?) {
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "config sets both `{VERSION_POINTER}` and `{NAME_POINTER}`; a poll reads either a plan or a version — unset one (\"\")"
                )));
            }
            (Some(target), None) => Mode::Version {
                target,
                min: pointer(MIN_VERSION_POINTER)?,
                height: pointer(HEIGHT_POINTER)?,
                info: pointer(INFO_POINTER)?,
            },
            (None, Some(name)) => Mode::Plan {
                name,
                height: pointer(HEIGHT_POINTER)?,
                info: pointer(INFO_POINTER)?,
                ready: pointer(READY_POINTER)?,
            },
            (None, None) => {
                return Err(invalid(format!(
                    "config sets neither `{NAME_POINTER}` nor `{VERSION_POINTER}`; choose a `preset` ({}) or say where the answer holds the upgrade's name",
                    PRESETS.join(", ")
                )));
            }
        };
        let status_url = match value(HEIGHT_URL) {
            None => None,
            Some(u) => {
                check_url(HEIGHT_URL, &u)?;
                Some(status_url(&u))
            }
        };
        let height_offset = match value(HEIGHT_OFFSET) {
            None => 1,
            Some(v) => v.parse().map_err(|_| {
                invalid(format!(
                    "config `{HEIGHT_OFFSET}` is {v:?}; write a whole number of blocks (default 1)"
                ))
            })?,
        };
        let wait_for_height = match value(WAIT_FOR_HEIGHT).as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "config `{WAIT_FOR_HEIGHT}` is {other:?}; use \"true\" or \"false\""
                )));
            }
        };
        let height_in_answer = match &mode {
            Mode::Plan { height, .. } | Mode::Version { height, .. } => height.is_some(),
        };
        if !height_in_answer && status_url.is_none() {
            return Err(invalid(format!(
                "config sets no `{HEIGHT_POINTER}` and no `{HEIGHT_URL}`: the plan needs a height; set height_url to the node's CometBFT RPC (e.g. \"http://127.0.0.1:26657\")"
            )));
        }
        if wait_for_height && status_url.is_none() {
            return Err(invalid(format!(
                "config `{WAIT_FOR_HEIGHT}` needs `{HEIGHT_URL}` (the node's CometBFT RPC) to know the node's height"
            )));
        }
        Ok(Settings {
            url,
            body: value(BODY),
            mode,
            status_url,
            height_offset,
            wait_for_height,
        })
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidInput(message)
}

fn check_url(key: &str, url: &str) -> Result<(), Error> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(invalid(format!(
            "config `{key}` is {url:?}; write an http:// or https:// URL"
        )))
    }
}

/// `base` + `path` with exactly one `/` between them.
fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// CometBFT's `/status` under an RPC address, unless the URL already names it.
fn status_url(rpc: &str) -> String {
    if rpc.trim_end_matches('/').ends_with("/status") {
        rpc.to_string()
    } else {
        join(rpc, "/status")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, Error> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::read(|key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    fn message(e: Error) -> String {
        match e {
            Error::InvalidInput(m) => m,
            other => panic!("expected invalid-input, got {other:?}"),
        }
    }

    #[test]
    fn the_cosmos_preset_reads_the_current_plan() {
        let s = read(&[("preset", "cosmos"), ("url", "http://127.0.0.1:1317/")]).unwrap();
        assert_eq!(
            s.url,
            "http://127.0.0.1:1317/cosmos/upgrade/v1beta1/current_plan"
        );
        assert_eq!(s.body, None);
        assert_eq!(
            s.mode,
            Mode::Plan {
                name: "/plan/name".into(),
                height: Some("/plan/height".into()),
                info: Some("/plan/info".into()),
                ready: None,
            }
        );
        assert!(!s.wait_for_height);
        assert_eq!(s.status_url, None);
    }

    #[test]
    fn the_vega_preset_posts_json_rpc_and_waits_for_ready() {
        let s = read(&[("preset", "Vega"), ("url", "http://127.0.0.1:3003")]).unwrap();
        assert_eq!(s.url, "http://127.0.0.1:3003");
        assert_eq!(s.body.as_deref(), Some(VEGA_BODY));
        let Mode::Plan { ready, .. } = &s.mode else {
            panic!("{s:?}")
        };
        assert_eq!(ready.as_deref(), Some("/result/ReadyToUpgrade"));
        // An operator whose node answers `status` may take the plan early instead.
        let early = read(&[
            ("preset", "vega"),
            ("url", "http://127.0.0.1:3003"),
            ("ready_pointer", ""),
        ])
        .unwrap();
        let Mode::Plan { ready, .. } = &early.mode else {
            panic!("{early:?}")
        };
        assert_eq!(*ready, None);
    }

    #[test]
    fn the_lava_preset_compares_versions_and_needs_a_height_source() {
        let e = message(read(&[("preset", "lava"), ("url", "http://127.0.0.1:1317")]).unwrap_err());
        assert!(e.contains("height_url"), "{e}");
        let s = read(&[
            ("preset", "lava"),
            ("url", "http://127.0.0.1:1317"),
            ("height_url", "http://127.0.0.1:26657"),
            ("version_pointer", "/params/version/consumer_target"),
        ])
        .unwrap();
        assert_eq!(s.url, "http://127.0.0.1:1317/lavanet/lava/protocol/params");
        assert_eq!(
            s.status_url.as_deref(),
            Some("http://127.0.0.1:26657/status")
        );
        assert_eq!(s.height_offset, 1);
        assert_eq!(
            s.mode,
            Mode::Version {
                target: "/params/version/consumer_target".into(),
                min: Some("/params/version/provider_min".into()),
                height: None,
                info: None,
            }
        );
    }

    #[test]
    fn a_custom_endpoint_needs_its_pointers() {
        let e = message(read(&[("url", "http://h/x")]).unwrap_err());
        assert!(e.contains("name_pointer") && e.contains("preset"), "{e}");
        let s = read(&[
            ("url", "http://h/upgrade"),
            ("name_pointer", "/next/tag"),
            ("height_pointer", "/next/block"),
        ])
        .unwrap();
        assert_eq!(s.url, "http://h/upgrade");
        let e = message(
            read(&[
                ("url", "http://h/x"),
                ("name_pointer", "next.tag"),
                ("height_pointer", "/h"),
            ])
            .unwrap_err(),
        );
        assert!(e.contains("starts with /"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("preset", "osmosis"), ("url", "http://h")],
                "cosmos, vega, lava",
            ),
            (&[("preset", "cosmos")], "`url` is not set"),
            (
                &[("preset", "cosmos"), ("url", "127.0.0.1:1317")],
                "http://",
            ),
            (
                &[
                    ("preset", "cosmos"),
                    ("url", "http://h"),
                    ("wait_for_height", "yes"),
                ],
                "wait_for_height",
            ),
            (
                &[
                    ("preset", "cosmos"),
                    ("url", "http://h"),
                    ("wait_for_height", "true"),
                ],
                "needs `height_url`",
            ),
            (
                &[
                    ("preset", "lava"),
                    ("url", "http://h"),
                    ("height_url", "http://r"),
                    ("height_offset", "-1"),
                ],
                "height_offset",
            ),
            (
                &[
                    ("preset", "cosmos"),
                    ("url", "http://h"),
                    ("version_pointer", "/v"),
                ],
                "both",
            ),
        ];
        for (pairs, needle) in cases {
            let e = message(read(pairs).unwrap_err());
            assert!(e.contains(needle), "{pairs:?}: {e}");
        }
    }

    #[test]
    fn a_status_url_is_kept_as_given() {
        let s = read(&[
            ("preset", "cosmos"),
            ("url", "http://h"),
            ("height_url", "http://r:26657/status"),
            ("wait_for_height", "true"),
        ])
        .unwrap();
        assert_eq!(s.status_url.as_deref(), Some("http://r:26657/status"));
        assert!(s.wait_for_height);
    }
}
