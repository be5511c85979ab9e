//! Reading the node's own stdout lines (`starting node version=… height=…`,
//! `committed state height=… version=…`) to tell where each version started
//! and stopped — the evidence that the chain continued across a switch.

/// The height version `version` of the node started from, per its start line in
/// `stdout` (the first such line).
pub fn start_height(stdout: &str, version: &str) -> Option<u64> {
    let marker = format!("starting node version={version} ");
    stdout
        .lines()
        .find(|l| l.contains(&marker))?
        .split_whitespace()
        .find_map(|w| w.strip_prefix("height="))?
        .parse()
        .ok()
}

/// The highest block height `version` reported committing in `stdout`.
pub fn last_committed(stdout: &str, version: &str) -> Option<u64> {
    let suffix = format!(" module=state version={version}");
    stdout
        .lines()
        .filter_map(|l| {
            l.strip_suffix(&suffix)?
                .split("height=")
                .nth(1)?
                .parse()
                .ok()
        })
        .max()
}

/// Asserts the chain continued across the switch from `old` to `new`: `new`
/// started from exactly the last height `old` committed (no reset, no gap) and
/// `old` committed nothing after that.
pub fn assert_continued(stdout: &str, old: &str, new: &str) -> u64 {
    let started = start_height(stdout, new)
        .unwrap_or_else(|| panic!("no start line of version {new} in:\n{stdout}"));
    let last_old =
        last_committed(stdout, old).unwrap_or_else(|| panic!("version {old} committed no block"));
    assert_eq!(
        started, last_old,
        "version {new} must start from the last height {old} committed"
    );
    started
}
