//! `status`: the node's state as CometBFT's `/status` JSON.
//!
//! A real `status` asks the running node over RPC; the fake one reads what the
//! node persisted, so it answers the same whether or not the node is running
//! (and a supervisor or test can poll the height without parsing logs).
//! Numbers are strings, as CometBFT encodes 64-bit integers.

use std::path::Path;

use anyhow::Result;
use serde_json::{Value, json};

use crate::marker;
use crate::schedule::ChainConfig;
use crate::store::{self, ChainState};

/// Prints the status document to stdout.
pub fn print(home: &Path) -> Result<()> {
    let config = ChainConfig::load(home)?;
    let state = store::load_state(home)?;
    println!(
        "{}",
        document(&config.chain_id, &state, &marker::own_version())
    );
    Ok(())
}

/// The status document; `node_info.version` is the version of the binary that
/// committed the latest block (the one a running node would report), or this
/// binary's when nothing was committed yet.
fn document(chain_id: &str, state: &ChainState, own_version: &str) -> Value {
    let version = if state.version.is_empty() {
        own_version
    } else {
        &state.version
    };
    let height = state.height.to_string();
    let block_hash = fake_hash(state.height);
    json!({
        "node_info": {
            "protocol_version": {"p2p": "8", "block": "11", "app": "0"},
            "id": "f4ce0c4a1d0e6c4a1d0e6c4a1d0e6c4a1d0e6c4a",
            "listen_addr": "tcp://0.0.0.0:26656",
            "network": chain_id,
            "version": version,
            "channels": "40202122233038606100",
            "moniker": "fake-chaind",
            "other": {"tx_index": "on", "rpc_address": "tcp://127.0.0.1:26657"}
        },
        "sync_info": {
            "latest_block_hash": block_hash,
            "latest_app_hash": fake_hash(state.height.wrapping_mul(31)),
            "latest_block_height": height,
            "latest_block_time": state.time,
            "earliest_block_hash": fake_hash(1),
            "earliest_app_hash": fake_hash(31),
            "earliest_block_height": if state.height == 0 { "0" } else { "1" },
            "earliest_block_time": state.time,
            "catching_up": false
        },
        "validator_info": {
            "address": "F4CE0C4A1D0E6C4A1D0E6C4A1D0E6C4A1D0E6C4A",
            "pub_key": {
                "type": "tendermint/PubKeyEd25519",
                "value": "ZmFrZWNoYWluZC12YWxpZGF0b3ItcHVia2V5LTAwMDA="
            },
            "voting_power": "10"
        }
    })
}

/// A stable 32-byte upper-case hex string derived from a number.
fn fake_hash(seed: u64) -> String {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    (0..4)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{x:016X}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heights_are_strings_and_the_committing_version_is_reported() {
        let state = ChainState {
            height: 12,
            time: "2026-01-01T00:00:00.000Z".into(),
            version: "v2".into(),
        };
        let doc = document("fakechain-1", &state, "v3");
        assert_eq!(doc["sync_info"]["latest_block_height"], "12");
        assert_eq!(doc["sync_info"]["catching_up"], false);
        assert_eq!(doc["node_info"]["version"], "v2");
        assert_eq!(doc["node_info"]["network"], "fakechain-1");
        assert_eq!(fake_hash(12).len(), 64);
    }

    #[test]
    fn a_fresh_node_reports_height_zero_and_its_own_version() {
        let doc = document("c", &ChainState::default(), "v1");
        assert_eq!(doc["sync_info"]["latest_block_height"], "0");
        assert_eq!(doc["node_info"]["version"], "v1");
    }
}
