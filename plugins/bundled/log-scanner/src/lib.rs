//! Bundled detector `log-scanner`: a Cosmos SDK node that reaches an upgrade without
//! the plan's binary logs `UPGRADE "<name>" NEEDED at height: <h>: <info>` (or, for
//! the time-based plans of SDK versions before 0.43, `... NEEDED at time: <t>: <info>`)
//! and halts. cosmovisor v0.1 and oraivisor detected upgrades from that line; this
//! plugin does the same for nodes that never write `upgrade-info.json`.
//!
//! A time-based plan has no height, but the host's plan needs one. The node logs the
//! line only in the block where it halts, so the plan is due *now*: it is reported at
//! height 1, which every node height has reached, so the host's height gate lets it
//! through at once instead of waiting for a height nobody knows. (cosmovisor v0.1 did
//! the same: it acted on the line and never read the time.)

mod line;

use wasmvisor_plugin_sdk::detector::Detector;
use wasmvisor_plugin_sdk::host;
use wasmvisor_plugin_sdk::types::*;

use line::{Due, Needed};

/// The height reported for a time-based plan: already reached by any node.
pub const DUE_NOW: u64 = 1;

struct LogScanner;

impl Detector for LogScanner {
    fn describe() -> Manifest {
        Manifest::new(
            "log-scanner",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Detector,
        )
        .description(
            "detects `UPGRADE \"x\" NEEDED at height: N` (or `at time: T`) in the node's output",
        )
        // Only these lines can hold a plan: the host hands over nothing else, and
        // never skips one of them however fast the node writes.
        .log_lines_containing(&["UPGRADE \""])
    }

    fn poll(_ctx: DetectContext) -> Result<Option<Plan>, Error> {
        Ok(None)
    }

    fn on_log_line(line: String) -> Option<Plan> {
        let needed = line::parse(&line)?;
        if let Due::Time(time) = &needed.due {
            host::info(&format!(
                "time-based plan {:?} (due {time}): the node halted for it, so it is due now; reported at height {DUE_NOW} (the line gives no height)",
                needed.name
            ));
        }
        Some(to_plan(needed))
    }
}

fn to_plan(needed: Needed) -> Plan {
    Plan {
        name: needed.name,
        height: match needed.due {
            Due::Height(h) => h,
            Due::Time(_) => DUE_NOW,
        },
        info: needed.info,
    }
}

wasmvisor_plugin_sdk::export_detector!(LogScanner);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_height_plan_keeps_its_height_and_info() {
        let plan = to_plan(
            line::parse(r#"ERR UPGRADE "v2" NEEDED at height: 77: https://x/y module=x/upgrade"#)
                .unwrap(),
        );
        assert_eq!(
            (plan.name.as_str(), plan.height, plan.info.as_str()),
            ("v2", 77, "https://x/y")
        );
    }

    #[test]
    fn a_time_plan_is_due_now() {
        let plan = to_plan(
            line::parse(
                r#"ERR UPGRADE "v2" NEEDED at time: 2021-06-01T12:00:00Z: {"binaries":{}}"#,
            )
            .unwrap(),
        );
        assert_eq!(
            (plan.name.as_str(), plan.height, plan.info.as_str()),
            ("v2", DUE_NOW, r#"{"binaries":{}}"#)
        );
    }
}
