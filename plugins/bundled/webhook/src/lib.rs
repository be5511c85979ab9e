//! Bundled hook `webhook`: tells an operator's endpoint (a chat relay, an alert
//! manager, a dashboard) what the supervisor is doing to the node, as one JSON POST
//! per event, through the host's HTTP client (granted hosts only, host-side
//! credentials). A notification is not a safety check: by default a failing webhook
//! is logged and the upgrade goes on; `fail_upgrade_on_error = "true"` makes a
//! failed `binary-installed` notification abort the upgrade (the old binary stays).
//!
//! The `hook` world of `wasmvisor:plugin@0.1.0` is called before the switch
//! (`binary-installed`) and after it (`switched`); "upgrade detected" and "upgrade
//! failed" have no call in that contract, so this plugin cannot send them.

use wasmvisor_plugin_sdk::hook::Hook;
use wasmvisor_plugin_sdk::host::{self, Method, Request};
use wasmvisor_plugin_sdk::types::*;

/// Events this plugin can send, in the order they happen.
const EVENTS: &[&str] = &[BINARY_INSTALLED, SWITCHED];
const BINARY_INSTALLED: &str = "binary-installed";
const SWITCHED: &str = "switched";
/// Events of the issue that the 0.1.0 hook contract gives no call for.
const NOT_AVAILABLE: &[&str] = &["detected", "failed"];

struct Webhook;

impl Hook for Webhook {
    fn describe() -> Manifest {
        Manifest::new("webhook", env!("CARGO_PKG_VERSION"), PluginKind::Hook)
            .description("POSTs a JSON event to a configured URL before and after each switch")
            .config_keys(&["url", "events", "fail_upgrade_on_error"])
            // The destination is the operator's: `{operator-hosts}` grants exactly the
            // hosts listed in `hosts` of [plugins.webhook], nothing before that.
            .http_hosts(&["{operator-hosts}"])
    }

    fn pre_upgrade(plan: Plan, ctx: HookContext) -> Result<(), Error> {
        notify(BINARY_INSTALLED, &plan, &ctx)
    }

    fn post_upgrade(plan: Plan, ctx: HookContext) -> Result<(), Error> {
        notify(SWITCHED, &plan, &ctx)
    }
}

/// Sends `event` when subscribed, applying the failure policy.
fn notify(event: &str, plan: &Plan, ctx: &HookContext) -> Result<(), Error> {
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
        Err(e) if fail_on_error => Err(e),
        Err(e) => {
            host::warn(&format!(
                "webhook {event} for {} not delivered (the upgrade goes on; set fail_upgrade_on_error = \"true\" to stop it instead): {}",
                plan.name,
                describe_error(&e)
            ));
            Ok(())
        }
    }
}

fn send_if_subscribed(event: &str, plan: &Plan, ctx: &HookContext) -> Result<(), Error> {
    let url = host::config_get("url")
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            Error::InvalidInput(
                "config `url` is not set; add url = \"https://…\" to [plugins.webhook.config]"
                    .to_string(),
            )
        })?;
    if !subscribed(event)? {
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
    host::debug(&format!("webhook {event} for {} delivered", plan.name));
    Ok(())
}

/// Whether `events` (comma list; unset = all) includes `event`. An unknown name is
/// an error, so a typo does not silently turn notifications off.
fn subscribed(event: &str) -> Result<bool, Error> {
    let Some(list) = host::config_get("events") else {
        return Ok(true);
    };
    let mut wanted = false;
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if NOT_AVAILABLE.contains(&name) {
            host::warn(&format!(
                "webhook event {name:?} cannot be sent: the hook contract 0.1.0 has no call for it (available: {})",
                EVENTS.join(", ")
            ));
        } else if !EVENTS.contains(&name) {
            return Err(Error::InvalidInput(format!(
                "config `events` names {name:?}; known events: {}",
                EVENTS.join(", ")
            )));
        }
        wanted |= name == event;
    }
    Ok(wanted)
}

/// `{"event":…,"plan":{"name","height","info"},"daemon":…,"previous_upgrade":…,"time_ms":…}`
fn event_json(event: &str, plan: &Plan, ctx: &HookContext, time_ms: u64) -> String {
    let previous = match &ctx.previous_upgrade {
        Some(p) => json_string(p),
        None => "null".to_string(),
    };
    format!(
        r#"{{"event":{},"plan":{{"name":{},"height":{},"info":{}}},"daemon":{},"previous_upgrade":{},"platform":{},"time_ms":{}}}"#,
        json_string(event),
        json_string(&plan.name),
        plan.height,
        json_string(&plan.info),
        json_string(&ctx.daemon_name),
        previous,
        json_string(&format!("{}/{}", ctx.platform.os, ctx.platform.arch)),
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
