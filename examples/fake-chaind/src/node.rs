//! `start`: the block loop, and the x/upgrade halt.
//!
//! Each block bumps the height, persists it, and logs one CometBFT-style line.
//! At a plan this binary cannot execute, the node does what the SDK does, in
//! the same order: the halt height is on disk, then `data/upgrade-info.json`
//! is written (unless configured off, as before SDK 0.43), then
//! `UPGRADE "<name>" NEEDED at height: <h>: <info>` (or `at time: <t>`) is logged
//! and the node stops producing blocks but stays alive — a supervisor has to
//! notice and stop it. SIGTERM/SIGINT at any point flush the state and exit 0.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::clock;
use crate::marker;
use crate::schedule::{ChainConfig, Plan, Verdict};
use crate::signals;
use crate::store::{self, ChainState};

/// How often a sleeping node looks at the signal flag.
const SIGNAL_CHECK: Duration = Duration::from_millis(5);

struct Node<'a> {
    home: &'a Path,
    config: ChainConfig,
    version: String,
    state: ChainState,
}

/// Runs the node in `home` until it is signalled (or halts with `exit_on_halt`).
pub fn start(home: &Path) -> Result<ExitCode> {
    ChainConfig::write_default_if_absent(home)?;
    let config = ChainConfig::load(home)?;
    signals::install()?;
    let mut node = Node {
        home,
        version: marker::own_version(),
        state: store::load_state(home)?,
        config,
    };
    if !store::state_path(home).exists() {
        node.save()?;
    }
    log(&format!(
        "INF starting node version={} chain_id={} height={} home={}",
        node.version,
        node.config.chain_id,
        node.state.height,
        home.display()
    ));
    node.run()
}

impl Node<'_> {
    fn run(&mut self) -> Result<ExitCode> {
        loop {
            let config = self.config.clone();
            match config.verdict(&self.version, self.state.height) {
                Verdict::TooEarly(plan) => return Ok(self.refuse_too_early(plan)),
                Verdict::HaltNow(plan) => return self.halt(plan),
                Verdict::Run { .. } => {}
            }
            if self.sleep_until_next_block()? {
                return self.flush_and_exit();
            }
            self.commit_block()?;
            if self
                .config
                .stop_at_height
                .is_some_and(|h| self.state.height >= h)
            {
                log(&format!(
                    "INF reached stop_at_height, exiting height={}",
                    self.state.height
                ));
                return Ok(ExitCode::SUCCESS);
            }
        }
    }

    fn commit_block(&mut self) -> Result<()> {
        self.state.height += 1;
        self.save()?;
        let height = self.state.height;
        let mut out = std::io::stdout().lock();
        // A closed stdout must not stop the chain, so write errors are ignored.
        let _ = writeln!(
            out,
            "INF committed state height={height} module=state version={}",
            self.version
        );
        for n in 0..self.config.log_lines_per_block {
            let _ = writeln!(
                out,
                "INF received proposal filler={n} height={height} module=consensus \
                 proposal=\"Proposal{{{height}/0 (A1B2C3D4E5F60718293A4B5C6D7E8F9012345678:1:DEADBEEF, -1)}}\""
            );
        }
        let _ = out.flush();
        Ok(())
    }

    fn save(&mut self) -> Result<()> {
        self.state.time = clock::now_rfc3339();
        self.state.version.clone_from(&self.version);
        store::save_state(self.home, &self.state)
    }

    /// Sleeps one block time; true when a stop signal arrived meanwhile.
    fn sleep_until_next_block(&self) -> Result<bool> {
        let deadline = Instant::now() + Duration::from_millis(self.config.block_time_ms);
        loop {
            if signals::received().is_some() {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            std::thread::sleep((deadline - now).min(SIGNAL_CHECK));
        }
    }

    fn halt(&mut self, plan: &Plan) -> Result<ExitCode> {
        // The halt height is on disk before upgrade-info.json appears, so a
        // supervisor that reacts to the file sees the node at the plan's height.
        if self.state.height < plan.height {
            self.state.height = plan.height;
        }
        self.save()?;
        if self.config.write_upgrade_info {
            store::write_upgrade_info(self.home, plan)?;
        }
        let message = format!(
            "UPGRADE \"{}\" NEEDED at {}: {}",
            plan.name,
            plan.due_at(),
            plan.info
        );
        log(&format!("ERR {message}"));
        eprintln!("panic: {message}");
        if self.config.exit_on_halt {
            return Ok(ExitCode::FAILURE);
        }
        log("INF node halted for the upgrade; waiting to be stopped module=x/upgrade");
        while signals::received().is_none() {
            std::thread::sleep(SIGNAL_CHECK);
        }
        self.flush_and_exit()
    }

    fn refuse_too_early(&self, plan: &Plan) -> ExitCode {
        let message = format!(
            "BINARY UPDATED BEFORE TRIGGER! UPGRADE \"{}\" - in binary but not executed on chain \
             (chain at height {}, plan height {}). Downgrade your binary",
            plan.name, self.state.height, plan.height
        );
        log(&format!("ERR {message}"));
        eprintln!("panic: {message}");
        ExitCode::FAILURE
    }

    fn flush_and_exit(&mut self) -> Result<ExitCode> {
        let signal = signals::received().unwrap_or("signal");
        log(&format!(
            "INF caught {signal}, flushing state… height={}",
            self.state.height
        ));
        self.save()?;
        log("INF state flushed, exiting");
        Ok(ExitCode::SUCCESS)
    }
}

fn log(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
