//! Bundled hook `webhook`: tells an operator's endpoint (a chat relay, an alert
//! manager, a dashboard) what the supervisor is doing to the node, as one JSON POST
//! per event, through the host's HTTP client (granted hosts only, host-side
//! credentials). A notification is not a safety check: by default a failing webhook
//! is logged and the upgrade goes on; `fail_upgrade_on_error = "true"` makes a
//! failed `binary-installed` notification abort the upgrade (the old binary stays).
//!
//! Four events, from four calls of the hook world: `detected` and `failed` from
//! `on-event` (notifications: the host only logs their errors), `binary-installed`
//! from `pre-upgrade` (before the switch: the one that can refuse) and `switched`
//! from `post-upgrade`.

use wasmvisor_plugin_sdk::hook::{Hook, UpgradeEvent};
use wasmvisor_plugin_sdk::host::{self, Method, Request};
use wasmvisor_plugin_sdk::time::UtcTime;
use wasmvisor_plugin_sdk::types::*;

/// Events this plugin can send, in the order they happen (`failed` replaces the
/// last two when the attempt fails).
const EVENTS: &[&str] = &[DETECTED, BINARY_INSTALLED, SWITCHED, FAILED];
const DETECTED: &str = "detected";
const BINARY_INSTALLED: &str = "binary-installed";
const SWITCHED: &str = "switched";
const FAILED: &str = "failed";

struct Webhook;

impl Hook for Webhook {
    fn describe() -> Manifest {
        Manifest::new("webhook", env!("CARGO_PKG_VERSION"), PluginKind::Hook)
            .description("POSTs a JSON event to a configured URL when an upgrade is detected, installed, switched or failed")
            .config_keys(&["url", "events", "fail_upgrade_on_error"])
            // The destination is the operator's: `{operator-hosts}` grants exactly the
            // hosts listed in `hosts` of [plugins.webhook], nothing before that.
            .http_hosts(&["{operator-hosts}"])
    }

    fn pre_upgrade(plan: Plan, ctx: HookContext) -> Result<(), Error> {
        notify(&Event::new(BINARY_INSTALLED), &plan, &ctx)
    }

    fn post_upgrade(plan: Plan, ctx: HookContext) -> Result<(), Error> {
        notify(&Event::new(SWITCHED), &plan, &ctx)
    }

    fn on_event(event: UpgradeEvent, plan: Plan, ctx: HookContext) -> Result<(), Error> {
        let event = match event {
            UpgradeEvent::Detected => Event::new(DETECTED),
            UpgradeEvent::Failed(reason) => Event {
                name: FAILED,
                reason: Some(reason),
            },
        };
        // The host only logs what a notification returns, so say it as a warning
        // of our own, like the other events.
        notify(&event, &plan, &ctx)
    }
}

/// One event to send: its name and, for `failed`, the reason.
struct Event {
    name: &'static str,
    reason: Option<String>,
}

impl Event {
    fn new(name: &'static str) -> Self {
        Event { name, reason: None }
    }
}

/// Sends `event` when subscribed, applying the failure policy (which only
/// `binary-installed` can act on: the other calls cannot stop anything).
fn notify(event: &Event, plan: &Plan, ctx: &HookContext) -> Result<(), Error> {
    let fail_on_error = match host::config_get("fail_upgrade_on_error")
        .as_deref()
        .map(str::trim)
    {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(Error::InvalidInput(format!(
                "config `fail_upgrade_on_error` is {other:?}; use \"true\" or \"false\""
            )));
        }
    };
    match send_if_subscribed(event, plan, ctx) {
        Ok(()) => Ok(()),
        Err(e) if fail_on_error && event.name == BINARY_INSTALLED => Err(e),
        Err(e) => {
            let goes_on = if event.name == BINARY_INSTALLED {
                " (the upgrade goes on; set fail_upgrade_on_error = \"true\" to stop it instead)"
            } else {
                ""
            };
            host::warn(&format!(
                "webhook {} for {} not delivered{goes_on}: {}",
                event.name,
                plan.name,
                describe_error(&e)
            ));
            Ok(())
        }
    }
}

fn send_if_subscribed(event: &Event, plan: &Plan, ctx: &HookContext) -> Result<(), Error> {
    let url = host::config_get("url")
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            Error::InvalidInput(
                "config `url` is not set; add url = \"https://…\" to [plugins.webhook.config]"
                    .to_string(),
            )
        })?;
    if !subscribed(host::config_get("events").as_deref(), event.name)? {
        return Ok(());
    }
    let body = event_json(event, plan, ctx, host::now_unix_ms());
    let response = host::http_request(&Request {
        method: Method::Post,
        url: url.clone(),
        headers: vec![
            ("content-type".to_string(), "application/json".to_string()),
            (
                "user-agent".to_string(),
                concat!("wasmvisor-webhook/", env!("CARGO_PKG_VERSION")).to_string(),
            ),
        ],
        body: Some(body.into_bytes()),
    })?;
    if !(200..300).contains(&response.status) {
        return Err(Error::Unavailable(format!(
            "POST {url}: HTTP status {} ({})",
            response.status,
            String::from_utf8_lossy(&response.body[..response.body.len().min(200)]).trim()
        )));
    }
    host::debug(&format!(
        "webhook {} for {} delivered",
        event.name, plan.name
    ));
    Ok(())
}

/// Whether `events` (comma list; unset = all) includes `event`. An unknown name is
/// an error, so a typo does not silently turn notifications off.
fn subscribed(list: Option<&str>, event: &str) -> Result<bool, Error> {
    let Some(list) = list else {
        return Ok(true);
    };
    let mut wanted = false;
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !EVENTS.contains(&name) {
            return Err(Error::InvalidInput(format!(
                "config `events` names {name:?}; known events: {}",
                EVENTS.join(", ")
            )));
        }
        wanted |= name == event;
    }
    Ok(wanted)
}

/// `{"event","plan":{"name","height","info"},"daemon","previous_upgrade","platform",
/// "reason"?,"time","time_ms"}`; `reason` only in `failed` events.
fn event_json(event: &Event, plan: &Plan, ctx: &HookContext, time_ms: u64) -> String {
    let previous = match &ctx.previous_upgrade {
        Some(p) => json_string(p),
        None => "null".to_string(),
    };
    let reason = match &event.reason {
        Some(r) => format!(r#","reason":{}"#, json_string(r)),
        None => String::new(),
    };
    format!(
        r#"{{"event":{},"plan":{{"name":{},"height":{},"info":{}}},"daemon":{},"previous_upgrade":{},"platform":{}{reason},"time":{},"time_ms":{}}}"#,
        json_string(event.name),
        json_string(&plan.name),
        plan.height,
        json_string(&plan.info),
        json_string(&ctx.daemon_name),
        previous,
        json_string(&format!("{}/{}", ctx.platform.os, ctx.platform.arch)),
        json_string(&UtcTime::from_unix_ms(time_ms).rfc3339()),
        time_ms
    )
}

/// A JSON string literal (RFC 8259 escaping).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn describe_error(e: &Error) -> &str {
    match e {
        Error::NotApplicable(m)
        | Error::InvalidInput(m)
        | Error::Denied(m)
        | Error::Unavailable(m)
        | Error::Failed(m) => m,
    }
}

wasmvisor_plugin_sdk::export_hook!(Webhook);

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> HookContext {
        HookContext {
            daemon_name: "gaiad".into(),
            previous_upgrade: Some("v1".into()),
            platform: Platform {
                os: "linux".into(),
                arch: "amd64".into(),
            },
        }
    }

    fn plan() -> Plan {
        Plan {
            name: "v2".into(),
            height: 42,
            info: "{\"x\":\"y\"}".into(),
        }
    }

    #[test]
    fn failed_events_carry_the_reason_and_others_do_not() {
        let failed = Event {
            name: FAILED,
            reason: Some("bad \"checksum\"\nline".into()),
        };
        let body = event_json(&failed, &plan(), &ctx(), 1_795_852_800_123);
        assert_eq!(
            body,
            r#"{"event":"failed","plan":{"name":"v2","height":42,"info":"{\"x\":\"y\"}"},"daemon":"gaiad","previous_upgrade":"v1","platform":"linux/amd64","reason":"bad \"checksum\"\nline","time":"2026-11-28T08:00:00.123Z","time_ms":1795852800123}"#
        );
        let detected = event_json(&Event::new(DETECTED), &plan(), &ctx(), 0);
        assert!(!detected.contains("reason"), "{detected}");
        assert!(
            detected.contains(r#""time":"1970-01-01T00:00:00.000Z""#),
            "{detected}"
        );
    }

    #[test]
    fn the_event_list_selects_and_refuses_typos() {
        assert!(subscribed(None, FAILED).unwrap());
        assert!(subscribed(Some("detected, failed"), FAILED).unwrap());
        assert!(!subscribed(Some("detected"), SWITCHED).unwrap());
        assert!(!subscribed(Some(""), DETECTED).unwrap());
        assert!(matches!(
            subscribed(Some("detected,swiched"), DETECTED),
            Err(Error::InvalidInput(_))
        ));
    }
}
