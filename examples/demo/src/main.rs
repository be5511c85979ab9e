//! wasmvisor-demo: a complete, narrated chain upgrade in a temporary home.
//!
//! `cargo build --release --workspace && target/release/wasmvisor-demo` shows
//! a newcomer, in seconds, what wasmvisor does: a fake Cosmos node runs under
//! wasmvisor and halts at two upgrade heights. For v2 wasmvisor backs up its
//! data, switches to the binary placed by `add-upgrade` and restarts it; for v3
//! it first downloads the binary the plan's info names (from a loopback release
//! server the demo starts) and verifies its sha256. Every claim is checked;
//! anything that did not happen ends the demo with exit code 1.

mod evidence;
mod narrate;
mod release;
mod release_server;
mod scenario;
mod steps;
mod supervisor;
mod tools;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use scenario::{DEFAULT_PATIENCE, Demo, V2, V2_HEIGHT, V3, V3_HEIGHT};
use tools::Tools;

const USAGE: &str = "\
Usage: wasmvisor-demo [--keep] [--timeout <seconds>]

Runs two complete wasmvisor upgrades of the fake chain daemon in a temporary
home — v1 -> v2 with a binary placed by add-upgrade, then v2 -> v3 with a binary
wasmvisor downloads (from a loopback server) and verifies — and narrates each
step with the evidence.

  --keep               keep the temporary home afterwards (it is always kept on failure)
  --timeout <seconds>  how long to wait for any one thing to happen (default 30)

Needs wasmvisor and fake-chaind beside this executable:
  cargo build --release --workspace && target/release/wasmvisor-demo";

struct Options {
    keep: bool,
    patience: Duration,
}

/// `Ok(None)` means help was asked for; `Err` is a usage error.
fn parse_options(args: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options {
        keep: false,
        patience: DEFAULT_PATIENCE,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--keep" => options.keep = true,
            "--timeout" => {
                let value = iter.next().ok_or("--timeout needs a number of seconds")?;
                let seconds: f64 = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| {
                        format!("--timeout {value:?} is not a positive number of seconds")
                    })?;
                options.patience = Duration::from_secs_f64(seconds);
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_options(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            narrate::failure(&format!("{err:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> Result<()> {
    let started = Instant::now();
    let tools = Tools::beside_this_executable()?;
    let root = tempfile::Builder::new()
        .prefix("wasmvisor-demo-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    println!(
        "wasmvisor demo: a fake Cosmos chain upgrades from v1 to {V2} at height {V2_HEIGHT}, then to {V3} (downloaded) at height {V3_HEIGHT}"
    );
    println!("working in {}", root.path().display());

    let mut demo = Demo::new(tools, root.path().to_path_buf(), options.patience);
    let steps = steps::all();
    let total = steps.len();
    for (index, step) in steps.iter().enumerate() {
        narrate::step(index + 1, total, step.title);
        if let Err(err) = (step.run)(&mut demo) {
            // Stop wasmvisor and the node before reporting, and keep the evidence.
            drop(demo);
            let kept = root.keep();
            return Err(err.context(format!(
                "step {} ({}) failed; the home is kept in {}",
                index + 1,
                step.title,
                kept.display()
            )));
        }
    }
    let notes = &demo.notes;
    let backups: Vec<String> = notes
        .backups
        .iter()
        .map(|b| evidence::short(b, &demo.home))
        .collect();
    narrate::success(&format!(
        "{} upgrades done in {:.1}s: current {} -> {}, version {} -> {} ({V3} downloaded and verified), backups {}, chain at height {}",
        notes.currents.len(),
        started.elapsed().as_secs_f64(),
        notes.current_before,
        notes.currents.join(" -> "),
        notes.version_before,
        notes.versions.join(" -> "),
        backups.join(", "),
        notes.final_height
    ));
    drop(demo);
    if options.keep {
        let kept = root.keep();
        println!("kept {}", kept.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        parse_options(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_default_to_cleaning_up_with_thirty_seconds_of_patience() {
        let options = parse(&[]).unwrap().unwrap();
        assert!(!options.keep);
        assert_eq!(options.patience, DEFAULT_PATIENCE);
        let options = parse(&["--timeout", "2.5", "--keep"]).unwrap().unwrap();
        assert!(options.keep);
        assert_eq!(options.patience, Duration::from_millis(2500));
        assert!(parse(&["--help"]).unwrap().is_none());
    }

    #[test]
    fn bad_options_are_refused() {
        for bad in [
            &["--timeout"][..],
            &["--timeout", "-1"],
            &["--timeout", "x"],
            &["-k"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
