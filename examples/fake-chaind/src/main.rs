//! fake-chaind: a stand-in for a Cosmos SDK node, for wasmvisor's demo and tests.
//!
//! It does the parts of a node that a supervisor depends on — blocks at a
//! known rate, persisted height, x/upgrade's halt with `upgrade-info.json`,
//! `version`, `pre-upgrade`, graceful SIGTERM — with nothing else, so an
//! end-to-end upgrade takes seconds and every outcome is deterministic.

mod cli;
mod clock;
mod marker;
mod node;
mod schedule;
mod signals;
mod status;
mod store;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use cli::Command;
use schedule::ChainConfig;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args, |key| std::env::var(key).ok()) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("error: {message}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Start { home } => node::start(&home),
        Command::Status { home } => status::print(&home).map(|()| ExitCode::SUCCESS),
        Command::PreUpgrade { home } => pre_upgrade(&home),
        Command::Init { home } => init(&home),
        Command::Version { json } => {
            print_version(json);
            Ok(ExitCode::SUCCESS)
        }
        Command::MakeVersion { name, out } => {
            marker::make_version(&name, &out)?;
            println!("wrote {} (version {name})", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Help => {
            println!("{}", cli::USAGE);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_version(json: bool) {
    let version = marker::own_version();
    if json {
        let doc = json!({
            "name": "fakechain",
            "server_name": "fake-chaind",
            "version": version,
            "commit": "",
            "build_tags": "",
            "go": "rust",
            "build_deps": [],
            "cosmos_sdk_version": "v0.50.0-fake"
        });
        println!("{doc}");
    } else {
        println!("{version}");
    }
}

/// Exits with the next code of the configured `pre_upgrade_exit` sequence; the
/// position is persisted so a supervisor's retries walk through the sequence.
fn pre_upgrade(home: &Path) -> Result<ExitCode> {
    let config = ChainConfig::load(home)?;
    let call = store::next_pre_upgrade_call(home)?;
    let code = config.pre_upgrade_exit.get(call).copied().unwrap_or(0);
    println!(
        "pre-upgrade: version {} call #{} exits with code {code}",
        marker::own_version(),
        call + 1
    );
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

fn init(home: &Path) -> Result<ExitCode> {
    ChainConfig::write_default_if_absent(home)?;
    let config = ChainConfig::load(home)?;
    if !store::state_path(home).exists() {
        store::save_state(home, &store::ChainState::default())?;
    }
    println!(
        "initialised {} (chain {}, config {})",
        home.display(),
        config.chain_id,
        schedule::config_path(home).display()
    );
    Ok(ExitCode::SUCCESS)
}
