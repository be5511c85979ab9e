//! The fake chain's schedule, `config/fakechain.json`: block time, upgrade plans,
//! what `pre-upgrade` answers, and whether the node exits at a halt — one line
//! of a test says "v2 at height 10".

use serde_json::{Value, json};

/// Block time of the fake chain in most scenarios: fast, yet slow enough that
/// "the height keeps growing" is observable on a loaded machine.
pub const BLOCK_TIME_MS: u64 = 40;

/// The fake chain's `config/fakechain.json`.
#[derive(Debug, Clone)]
pub struct Chain {
    pub block_time_ms: u64,
    /// `(name, height, info)` of each scheduled upgrade.
    pub upgrades: Vec<(String, u64, String)>,
    /// Exit codes of successive `pre-upgrade` calls (0 once exhausted).
    pub pre_upgrade_exit: Vec<i32>,
    /// Exit with code 1 at an upgrade halt instead of waiting to be stopped.
    pub exit_on_halt: bool,
}

impl Default for Chain {
    fn default() -> Self {
        Chain {
            block_time_ms: BLOCK_TIME_MS,
            upgrades: Vec::new(),
            pre_upgrade_exit: Vec::new(),
            exit_on_halt: false,
        }
    }
}

impl Chain {
    /// A chain that halts for `name` at `height`.
    pub fn upgrade_at(name: &str, height: u64) -> Chain {
        Chain::default().with_upgrade(name, height)
    }

    pub fn with_upgrade(mut self, name: &str, height: u64) -> Chain {
        self.upgrades.push((name.to_owned(), height, String::new()));
        self
    }

    /// Adds a plan whose `info` field (download information) is `info`.
    pub fn with_upgrade_info(mut self, name: &str, height: u64, info: &str) -> Chain {
        self.upgrades
            .push((name.to_owned(), height, info.to_owned()));
        self
    }

    pub(crate) fn to_json(&self) -> Value {
        let upgrades: Vec<Value> = self
            .upgrades
            .iter()
            .map(|(name, height, info)| json!({"name": name, "height": height, "info": info}))
            .collect();
        json!({
            "block_time_ms": self.block_time_ms,
            "upgrades": upgrades,
            "pre_upgrade_exit": self.pre_upgrade_exit,
            "exit_on_halt": self.exit_on_halt,
        })
    }
}
