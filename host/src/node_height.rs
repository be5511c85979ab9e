//! Asking the node how far it got: `<app> status --home $DAEMON_HOME`, as cosmovisor
//! does, parsed from CometBFT's JSON (`sync_info.latest_block_height`, or the older
//! `SyncInfo` spelling; some SDK versions print it on stderr).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

/// How long a `status` call may take before the height counts as unknown.
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `bin status --home home` and returns the latest block height.
pub async fn query(bin: &Path, home: &Path) -> Result<u64> {
    let run = tokio::process::Command::new(bin)
        .arg("status")
        .arg("--home")
        .arg(home)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(STATUS_TIMEOUT, run)
        .await
        .map_err(|_| {
            anyhow!(
                "`{} status` did not answer within {STATUS_TIMEOUT:?}",
                bin.display()
            )
        })?
        .with_context(|| format!("running `{} status`", bin.display()))?;
    if !out.status.success() {
        bail!("`{} status` failed ({})", bin.display(), out.status);
    }
    parse_status(&out.stdout).or_else(|_| parse_status(&out.stderr))
}

/// Extracts the height from a status JSON document.
pub fn parse_status(output: &[u8]) -> Result<u64> {
    let doc: Value = serde_json::from_slice(output).context("the status output is not JSON")?;
    let info = doc
        .get("sync_info")
        .or_else(|| doc.get("SyncInfo"))
        .or_else(|| doc.get("result").and_then(|r| r.get("sync_info")))
        .ok_or_else(|| anyhow!("the status output has no sync_info"))?;
    match info.get("latest_block_height") {
        Some(Value::String(s)) => s
            .parse()
            .with_context(|| format!("latest_block_height {s:?} is not a number")),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| anyhow!("latest_block_height {n} is not a height")),
        _ => bail!("the status output has no latest_block_height"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cometbft_and_legacy_shapes() {
        assert_eq!(
            parse_status(br#"{"sync_info":{"latest_block_height":"42"}}"#).unwrap(),
            42
        );
        assert_eq!(
            parse_status(br#"{"SyncInfo":{"latest_block_height":"7"}}"#).unwrap(),
            7
        );
        assert_eq!(
            parse_status(br#"{"result":{"sync_info":{"latest_block_height":9}}}"#).unwrap(),
            9
        );
        assert!(parse_status(br#"{"sync_info":{}}"#).is_err());
        assert!(parse_status(b"Error: connection refused").is_err());
    }
}
