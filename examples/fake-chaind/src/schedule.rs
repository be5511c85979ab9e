//! The chain's configuration and upgrade schedule, and what a binary does with it.
//!
//! A real chain learns of upgrades through governance; the fake one reads them
//! from `<home>/config/fakechain.json` so a test can say "v2 at height 10" in one
//! line. Every key is optional, unknown keys are refused (a typo must not
//! silently run a different scenario), and `FAKECHAIND_*` environment variables
//! override the file so a test can change one knob without rewriting it.
//!
//! A binary stamped with version V "handles" every plan up to and including the
//! one named V; it halts at the first plan after that. Started while the next
//! block is still below its own plan's height, it refuses to run — the SDK's
//! "BINARY UPDATED BEFORE TRIGGER" panic — which is how a supervisor that
//! switches too early gets caught. (The SDK lets the new binary execute the
//! plan's block itself, so a chain at plan height − 1 is not too early.)

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::store;

/// One scheduled upgrade, as x/upgrade's `Plan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub name: String,
    pub height: u64,
    #[serde(default)]
    pub info: String,
    /// Makes this a time-based plan as SDKs before 0.43 had: the halt line then
    /// reads `NEEDED at time: <time>` instead of `at height: <h>` (the fake still
    /// halts at `height`: its blocks have no real clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

impl Plan {
    /// x/upgrade's `Plan.DueAt()`: `height: 10` or `time: 2021-06-01T12:00:00Z`.
    pub fn due_at(&self) -> String {
        match &self.time {
            Some(time) => format!("time: {time}"),
            None => format!("height: {}", self.height),
        }
    }
}

/// The contents of `config/fakechain.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainConfig {
    pub chain_id: String,
    /// Pause between blocks; 0 produces blocks as fast as the disk allows.
    pub block_time_ms: u64,
    /// The upgrade plans, in any order (sorted by height on load).
    pub upgrades: Vec<Plan>,
    /// Exit codes of successive `pre-upgrade` calls; 0 once exhausted.
    pub pre_upgrade_exit: Vec<i32>,
    /// Exit with code 1 at an upgrade halt instead of waiting to be signalled.
    pub exit_on_halt: bool,
    /// Extra log lines printed per block, to measure log throughput.
    pub log_lines_per_block: u32,
    /// Exit 0 once this height is committed (a node with a known amount of output,
    /// for benchmarks); none = run until signalled or halted.
    pub stop_at_height: Option<u64>,
    /// Refuse to start a binary whose next block is below its own plan's height.
    pub strict_binary_check: bool,
    /// Write `data/upgrade-info.json` at a halt, as SDK 0.43+ does; `false` acts
    /// like an older SDK whose halt shows only in the log.
    pub write_upgrade_info: bool,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            chain_id: "fakechain-1".to_owned(),
            block_time_ms: 100,
            upgrades: Vec::new(),
            pre_upgrade_exit: Vec::new(),
            exit_on_halt: false,
            log_lines_per_block: 0,
            stop_at_height: None,
            strict_binary_check: true,
            write_upgrade_info: true,
        }
    }
}

/// What a binary of a given version must do at a given height.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Produce blocks; halt when the height reaches this plan's (if any).
    Run { halt_at: Option<&'a Plan> },
    /// The chain is already at (or past) a plan this binary cannot execute.
    HaltNow(&'a Plan),
    /// This binary implements a plan the chain has not reached yet.
    TooEarly(&'a Plan),
}

pub fn config_path(home: &Path) -> PathBuf {
    home.join("config").join("fakechain.json")
}

impl ChainConfig {
    /// Loads the config (defaults when the file is absent), then applies the
    /// environment overrides and validates the result.
    pub fn load(home: &Path) -> Result<Self> {
        let path = config_path(home);
        let mut config = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "invalid chain config {}: fix the JSON or delete the file to get defaults",
                    path.display()
                )
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Self::default(),
            Err(err) => {
                return Err(err).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        config.apply_env(|key| std::env::var(key).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Writes the default config when the file does not exist yet, as `init` would.
    pub fn write_default_if_absent(home: &Path) -> Result<()> {
        let path = config_path(home);
        if path.exists() {
            return Ok(());
        }
        let text = serde_json::to_vec_pretty(&Self::default())?;
        store::write_atomically(&path, &text)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(v) = var("FAKECHAIND_BLOCK_TIME_MS") {
            self.block_time_ms = parse_env("FAKECHAIND_BLOCK_TIME_MS", &v)?;
        }
        if let Some(v) = var("FAKECHAIND_LOG_LINES_PER_BLOCK") {
            self.log_lines_per_block = parse_env("FAKECHAIND_LOG_LINES_PER_BLOCK", &v)?;
        }
        if let Some(v) = var("FAKECHAIND_STOP_AT_HEIGHT") {
            self.stop_at_height = Some(parse_env("FAKECHAIND_STOP_AT_HEIGHT", &v)?);
        }
        if let Some(v) = var("FAKECHAIND_EXIT_ON_HALT") {
            self.exit_on_halt = parse_env("FAKECHAIND_EXIT_ON_HALT", &v)?;
        }
        if let Some(v) = var("FAKECHAIND_STRICT_BINARY_CHECK") {
            self.strict_binary_check = parse_env("FAKECHAIND_STRICT_BINARY_CHECK", &v)?;
        }
        if let Some(v) = var("FAKECHAIND_WRITE_UPGRADE_INFO") {
            self.write_upgrade_info = parse_env("FAKECHAIND_WRITE_UPGRADE_INFO", &v)?;
        }
        if let Some(v) = var("FAKECHAIND_UPGRADES") {
            self.upgrades = serde_json::from_str(&v).with_context(|| {
                format!(
                    "FAKECHAIND_UPGRADES={v:?} is not a JSON list of plans \
                     like [{{\"name\":\"v2\",\"height\":10,\"info\":\"\"}}]"
                )
            })?;
        }
        if let Some(v) = var("FAKECHAIND_PRE_UPGRADE_EXIT") {
            self.pre_upgrade_exit = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| parse_env("FAKECHAIND_PRE_UPGRADE_EXIT", s))
                .collect::<Result<_>>()?;
        }
        Ok(())
    }

    fn validate(&mut self) -> Result<()> {
        if let Some(code) = self
            .pre_upgrade_exit
            .iter()
            .find(|c| !(0..=255).contains(*c))
        {
            bail!("pre_upgrade_exit holds {code}; exit codes are 0 to 255");
        }
        self.upgrades.sort_by_key(|plan| plan.height);
        for plan in &self.upgrades {
            if plan.name.trim().is_empty() {
                bail!(
                    "an upgrade plan at height {} has an empty name",
                    plan.height
                );
            }
            if plan.height == 0 {
                bail!(
                    "upgrade plan {:?} has height 0; heights start at 1",
                    plan.name
                );
            }
            if let Some(time) = &plan.time
                && (time.is_empty() || time.contains(char::is_whitespace))
            {
                bail!(
                    "upgrade plan {:?} has time {time:?}; write one RFC 3339 time such as 2021-06-01T12:00:00Z",
                    plan.name
                );
            }
        }
        for pair in self.upgrades.windows(2) {
            if pair[0].height == pair[1].height {
                bail!(
                    "upgrade plans {:?} and {:?} share height {}; give each its own height",
                    pair[0].name,
                    pair[1].name,
                    pair[0].height
                );
            }
        }
        for (i, plan) in self.upgrades.iter().enumerate() {
            if self.upgrades[..i]
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(&plan.name))
            {
                bail!("upgrade plan name {:?} is scheduled twice", plan.name);
            }
        }
        Ok(())
    }

    /// What a binary of `version` must do when the chain's last block is `height`.
    pub fn verdict(&self, version: &str, height: u64) -> Verdict<'_> {
        let handled = self
            .upgrades
            .iter()
            .position(|plan| plan.name.eq_ignore_ascii_case(version))
            .map_or(0, |i| i + 1);
        if self.strict_binary_check && handled > 0 {
            // As in x/upgrade: the new binary may execute the plan's own block, so
            // it is early only when the next block is still below the plan height.
            let own = &self.upgrades[handled - 1];
            if own.height > height.saturating_add(1) {
                return Verdict::TooEarly(own);
            }
        }
        match self.upgrades.get(handled) {
            Some(plan) if plan.height <= height => Verdict::HaltNow(plan),
            halt_at => Verdict::Run { halt_at },
        }
    }
}

fn parse_env<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{key}={value:?} is not a valid value; unset it or fix it"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str, height: u64) -> Plan {
        Plan {
            name: name.into(),
            height,
            info: String::new(),
            time: None,
        }
    }

    fn schedule() -> ChainConfig {
        ChainConfig {
            upgrades: vec![plan("v2", 10), plan("v3", 20)],
            ..ChainConfig::default()
        }
    }

    #[test]
    fn genesis_runs_until_the_first_plan() {
        let c = schedule();
        assert_eq!(
            c.verdict("v1", 0),
            Verdict::Run {
                halt_at: Some(&c.upgrades[0])
            }
        );
        assert_eq!(c.verdict("v1", 10), Verdict::HaltNow(&c.upgrades[0]));
        assert_eq!(c.verdict("v1", 15), Verdict::HaltNow(&c.upgrades[0]));
    }

    #[test]
    fn a_version_handles_its_own_plan_and_halts_at_the_next() {
        let c = schedule();
        assert_eq!(
            c.verdict("v2", 10),
            Verdict::Run {
                halt_at: Some(&c.upgrades[1])
            }
        );
        assert_eq!(c.verdict("V2", 20), Verdict::HaltNow(&c.upgrades[1]));
        assert_eq!(c.verdict("v3", 20), Verdict::Run { halt_at: None });
    }

    #[test]
    fn a_binary_started_before_its_plan_height_is_too_early() {
        let mut c = schedule();
        assert_eq!(c.verdict("v2", 8), Verdict::TooEarly(&c.upgrades[0]));
        assert_eq!(c.verdict("v3", 12), Verdict::TooEarly(&c.upgrades[1]));
        c.strict_binary_check = false;
        assert_eq!(
            c.verdict("v2", 8),
            Verdict::Run {
                halt_at: Some(&c.upgrades[1])
            }
        );
    }

    #[test]
    fn a_binary_may_execute_its_own_plan_block() {
        // Committed height 9, plan at 10: the SDK halts in block 10 with 9
        // committed, and the new binary runs block 10 itself.
        let c = schedule();
        assert_eq!(
            c.verdict("v2", 9),
            Verdict::Run {
                halt_at: Some(&c.upgrades[1])
            }
        );
    }

    #[test]
    fn an_unscheduled_version_behaves_like_genesis() {
        let c = schedule();
        assert_eq!(
            c.verdict("v9", 3),
            Verdict::Run {
                halt_at: Some(&c.upgrades[0])
            }
        );
    }

    #[test]
    fn plans_are_sorted_and_checked() {
        let mut c = ChainConfig {
            upgrades: vec![plan("v3", 20), plan("v2", 10)],
            ..ChainConfig::default()
        };
        c.validate().unwrap();
        assert_eq!(c.upgrades[0].name, "v2");

        let mut same_height = ChainConfig {
            upgrades: vec![plan("v2", 10), plan("v3", 10)],
            ..ChainConfig::default()
        };
        assert!(same_height.validate().is_err());
        let mut same_name = ChainConfig {
            upgrades: vec![plan("v2", 10), plan("V2", 11)],
            ..ChainConfig::default()
        };
        assert!(same_name.validate().is_err());
        let mut zero = ChainConfig {
            upgrades: vec![plan("v2", 0)],
            ..ChainConfig::default()
        };
        assert!(zero.validate().is_err());
        let mut spaced_time = ChainConfig {
            upgrades: vec![Plan {
                time: Some("2021-06-01 12:00".into()),
                ..plan("v2", 3)
            }],
            ..ChainConfig::default()
        };
        assert!(spaced_time.validate().is_err());
    }

    #[test]
    fn a_time_based_plan_is_due_at_its_time() {
        let mut p = plan("v2", 3);
        assert_eq!(p.due_at(), "height: 3");
        p.time = Some("2021-06-01T12:00:00Z".into());
        assert_eq!(p.due_at(), "time: 2021-06-01T12:00:00Z");
        let parsed: Vec<Plan> =
            serde_json::from_str(r#"[{"name":"v2","height":3,"time":"2021-06-01T12:00:00Z"}]"#)
                .unwrap();
        assert_eq!(parsed, vec![p]);
    }

    #[test]
    fn the_file_format_is_strict_and_every_key_optional() {
        let c: ChainConfig = serde_json::from_str(r#"{"block_time_ms": 5}"#).unwrap();
        assert_eq!(c.block_time_ms, 5);
        assert!(c.strict_binary_check);
        let typo = serde_json::from_str::<ChainConfig>(r#"{"block_time": 5}"#);
        assert!(typo.is_err());
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut c = ChainConfig::default();
        c.apply_env(|key| match key {
            "FAKECHAIND_BLOCK_TIME_MS" => Some("7".into()),
            "FAKECHAIND_PRE_UPGRADE_EXIT" => Some("31, 31,0".into()),
            "FAKECHAIND_EXIT_ON_HALT" => Some("true".into()),
            "FAKECHAIND_UPGRADES" => Some(r#"[{"name":"v2","height":4}]"#.into()),
            "FAKECHAIND_WRITE_UPGRADE_INFO" => Some("false".into()),
            "FAKECHAIND_STOP_AT_HEIGHT" => Some("12".into()),
            _ => None,
        })
        .unwrap();
        assert!(!c.write_upgrade_info);
        assert_eq!(c.stop_at_height, Some(12));
        assert_eq!(c.block_time_ms, 7);
        assert_eq!(c.pre_upgrade_exit, vec![31, 31, 0]);
        assert!(c.exit_on_halt);
        assert_eq!(c.upgrades, vec![plan("v2", 4)]);

        let bad = ChainConfig::default()
            .apply_env(|key| (key == "FAKECHAIND_BLOCK_TIME_MS").then(|| "fast".into()));
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("FAKECHAIND_BLOCK_TIME_MS")
        );
    }
}
