//! Bundled detector `rpc-poll`: asks a node's HTTP API on an interval whether the
//! chain wants an upgrade, for chains whose upgrades are announced there rather than
//! (or before) in `upgrade-info.json`. Presets for a Cosmos SDK chain's scheduled
//! plan (reported as soon as it is scheduled, so the binary can be fetched early;
//! the host switches at the plan's height), a Vega-style "release X accepted for
//! height H, ready" status, and a Lava-style on-chain target version compared with
//! the running binary's version (from the host's detect context). A custom endpoint
//! is any JSON answer with RFC 6901 pointers to its fields.
//!
//! Failure policy: an endpoint that cannot be reached is `unavailable`; an answer
//! that is not what the settings describe is `invalid-input` naming the URL and the
//! field; both mean "no upgrade from this detector now" and are logged by the host.

mod answer;
mod settings;
mod version;

use wasmvisor_plugin_sdk::detector::Detector;
use wasmvisor_plugin_sdk::host::{self, Method, Request};
use wasmvisor_plugin_sdk::types::*;

use answer::Reading;
use settings::{Mode, Settings};

/// Default poll interval; `poll_interval` in the plugin's table overrides it.
const POLL_EVERY_MS: u64 = 5_000;

struct RpcPoll;

impl Detector for RpcPoll {
    fn describe() -> Manifest {
        Manifest::new("rpc-poll", env!("CARGO_PKG_VERSION"), PluginKind::Detector)
            .description(
                "polls a node's HTTP API for an upgrade: Cosmos plan, Vega release, Lava version, or JSON pointers",
            )
            .config_keys(settings::KEYS)
            // The node's API is the operator's: `{operator-hosts}` grants exactly the
            // hosts listed in `hosts` of the plugin's table (e.g. "127.0.0.1:1317").
            .http_hosts(&["{operator-hosts}"])
            .poll_every_ms(POLL_EVERY_MS)
    }

    fn poll(ctx: DetectContext) -> Result<Option<Plan>, Error> {
        let settings = Settings::read(host::config_get)?;
        let source = format!(
            "{} {}",
            if settings.body.is_some() {
                "POST"
            } else {
                "GET"
            },
            settings.url
        );
        let doc = fetch(&settings.url, settings.body.as_deref(), &source)?;
        let reading = match &settings.mode {
            Mode::Plan {
                name,
                height,
                info,
                ready,
            } => answer::read_plan(
                &doc,
                name,
                height.as_deref(),
                info.as_deref(),
                ready.as_deref(),
                &source,
            )?,
            Mode::Version {
                target,
                min,
                height,
                info,
            } => {
                let running = ctx.running_version.as_deref().ok_or_else(|| {
                    Error::Unavailable(format!(
                        "the running binary's version is unknown, so the chain's version cannot be compared: `{} version` failed or printed nothing (see the supervisor's log; with `wasmvisor plugin detect`, pass --running-version)",
                        ctx.daemon_name
                    ))
                })?;
                answer::read_version(
                    &doc,
                    target,
                    min.as_deref(),
                    height.as_deref(),
                    info.as_deref(),
                    running,
                    &source,
                )?
            }
        };
        let node_height = match (&reading, &settings.status_url) {
            (Reading::Nothing(why), _) => {
                host::debug(why);
                return Ok(None);
            }
            (Reading::Upgrade { height, .. }, Some(url))
                if height.is_none() || settings.wait_for_height =>
            {
                let source = format!("GET {url}");
                Some(answer::latest_height(&fetch(url, None, &source)?, &source)?)
            }
            _ => None,
        };
        answer::decide(
            reading,
            node_height,
            settings.height_offset,
            settings.wait_for_height,
        )
        .map_err(Error::InvalidInput)
    }

    fn on_log_line(_line: String) -> Option<Plan> {
        None
    }
}

/// GETs `url` (or POSTs `body` as JSON) through the host and parses the JSON answer.
/// A non-2xx status is `unavailable` (the node may be starting or syncing).
fn fetch(url: &str, body: Option<&str>, source: &str) -> Result<serde_json::Value, Error> {
    let mut headers = vec![("accept".to_string(), "application/json".to_string())];
    if body.is_some() {
        headers.push(("content-type".to_string(), "application/json".to_string()));
    }
    let response = host::http_request(&Request {
        method: if body.is_some() {
            Method::Post
        } else {
            Method::Get
        },
        url: url.to_string(),
        headers,
        body: body.map(|b| b.as_bytes().to_vec()),
    })?;
    if !(200..300).contains(&response.status) {
        return Err(Error::Unavailable(format!(
            "{source}: HTTP status {}",
            response.status
        )));
    }
    answer::parse_json(&response.body, source)
}

wasmvisor_plugin_sdk::export_detector!(RpcPoll);
