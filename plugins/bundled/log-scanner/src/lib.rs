//! Bundled detector `log-scanner`: a Cosmos SDK node that reaches an upgrade height
//! without the plan's binary logs `UPGRADE "<name>" NEEDED at height: <h>: <info>`
//! and halts. cosmovisor v0.1 and oraivisor detected upgrades from that line; this
//! plugin does the same for nodes that never write `upgrade-info.json`.

use wasmvisor_plugin_sdk::detector::Detector;
use wasmvisor_plugin_sdk::types::*;

struct LogScanner;

impl Detector for LogScanner {
    fn describe() -> Manifest {
        Manifest::new(
            "log-scanner",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Detector,
        )
        .description("detects `UPGRADE \"x\" NEEDED at height: N` in the node's output")
        // Only these lines can hold a plan: the host hands over nothing else, and
        // never skips one of them however fast the node writes.
        .log_lines_containing(&["UPGRADE \""])
    }

    fn poll(_ctx: DetectContext) -> Result<Option<Plan>, Error> {
        Ok(None)
    }

    fn on_log_line(line: String) -> Option<Plan> {
        parse(&line)
    }
}

/// `... UPGRADE "v2" NEEDED at height: 123: {"binaries":...}` → plan v2 at 123.
fn parse(line: &str) -> Option<Plan> {
    let start = line.find("UPGRADE \"")? + "UPGRADE \"".len();
    let rest = &line[start..];
    let (name, rest) = rest.split_once('"')?;
    let rest = rest
        .trim_start()
        .strip_prefix("NEEDED at height:")?
        .trim_start();
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let height: u64 = rest[..digits_end].parse().ok().filter(|h| *h > 0)?;
    let info = rest[digits_end..]
        .trim_start()
        .strip_prefix(':')
        .unwrap_or("")
        .trim();
    if name.is_empty() {
        return None;
    }
    Some(Plan {
        name: name.to_string(),
        height,
        info: info.to_string(),
    })
}

wasmvisor_plugin_sdk::export_detector!(LogScanner);
