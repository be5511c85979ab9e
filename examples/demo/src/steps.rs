//! The demo as an ordered list of steps, each proving what it claims.
//!
//! A step does one thing an operator would do (or watches one thing wasmvisor
//! does) and prints the evidence; returning an error stops the demo with that
//! message. New scenarios — e.g. a second upgrade whose binary a bundled
//! resolver plugin downloads from a loopback server — are more entries in
//! `all()`, reusing the same helpers.

use std::ffi::OsStr;
use std::fs;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::json;

use crate::evidence::{self, short};
use crate::narrate::{evidence as fact, say};
use crate::scenario::{BLOCK_TIME_MS, DAEMON_NAME, Demo, V2, V2_HEIGHT};
use crate::supervisor::{self, Supervisor};

/// What fake-chaind logs when SIGTERM makes it persist its state.
const FLUSHING: &str = "flushing state";

pub struct Step {
    pub title: &'static str,
    pub run: fn(&mut Demo) -> Result<()>,
}

pub fn all() -> Vec<Step> {
    vec![
        Step {
            title: "Create a throw-away node home with an upgrade on its schedule",
            run: create_home,
        },
        Step {
            title: "wasmvisor init: set up cosmovisor/ with the genesis binary",
            run: init,
        },
        Step {
            title: "Cut the v2 release (a distinct binary, like a real release)",
            run: cut_v2,
        },
        Step {
            title: "wasmvisor add-upgrade v2: place the new binary before the chain needs it",
            run: add_upgrade,
        },
        Step {
            title: "wasmvisor run start: the node produces blocks on v1",
            run: start,
        },
        Step {
            title: "The chain reaches the plan height and halts, asking for v2",
            run: halt,
        },
        Step {
            title: "wasmvisor stops the node, backs up data/, switches to v2, restarts it",
            run: upgrade,
        },
        Step {
            title: "The chain continues on v2 past the upgrade height",
            run: continues,
        },
        Step {
            title: "SIGTERM to wasmvisor: the node flushes its state and both exit",
            run: stop,
        },
    ]
}

fn create_home(demo: &mut Demo) -> Result<()> {
    let config = json!({
        "block_time_ms": BLOCK_TIME_MS,
        "upgrades": [{"name": V2, "height": V2_HEIGHT, "info": ""}],
    });
    let config_dir = demo.home.join("config");
    fs::create_dir_all(&config_dir)
        .with_context(|| format!("cannot create {}", config_dir.display()))?;
    fs::create_dir_all(&demo.releases)?;
    fs::write(
        config_dir.join("fakechain.json"),
        serde_json::to_vec_pretty(&config)?,
    )?;
    say(&format!("DAEMON_HOME={}", demo.home.display()));
    let mut init = demo.fake_chaind([OsStr::new("init"), OsStr::new("--home")]);
    init.arg(&demo.home);
    demo.run_tool(init, "fake-chaind init")?;
    fact(
        "chain schedule (config/fakechain.json)",
        &format!("a block every {BLOCK_TIME_MS} ms, upgrade {V2:?} at height {V2_HEIGHT}"),
    );
    let genesis = evidence::binary_version(&demo.tools.fake_chaind)?;
    fact(
        "the node binary you run today",
        &format!("{} reports {genesis}", demo.tools.fake_chaind.display()),
    );
    ensure!(
        demo.home.join("data").is_dir(),
        "fake-chaind init did not create data/"
    );
    Ok(())
}

fn init(demo: &mut Demo) -> Result<()> {
    let command = demo.wasmvisor([OsStr::new("init"), demo.tools.fake_chaind.as_os_str()]);
    demo.run_tool(command, "wasmvisor init")?;
    let genesis_bin = demo.home.join("cosmovisor/genesis/bin").join(DAEMON_NAME);
    let current = evidence::current_target(&demo.home)?;
    ensure!(
        current == "genesis",
        "after init, current points at {current:?}, expected \"genesis\""
    );
    demo.notes.genesis_sha256 = evidence::sha256_hex(&genesis_bin)?;
    fact("cosmovisor/current", &format!("-> {current}"));
    fact(
        &short(&genesis_bin, &demo.home),
        &format!(
            "version {}, sha256 {}…",
            evidence::binary_version(&genesis_bin)?,
            &demo.notes.genesis_sha256[..16]
        ),
    );
    Ok(())
}

fn cut_v2(demo: &mut Demo) -> Result<()> {
    let out = demo.releases.join(format!("fake-chaind-{V2}"));
    let make = demo.fake_chaind([OsStr::new("make-version"), OsStr::new(V2), out.as_os_str()]);
    demo.run_tool(make, "fake-chaind make-version")?;
    let version = evidence::binary_version(&out)?;
    ensure!(
        version == V2,
        "the new release reports {version:?}, not {V2:?}"
    );
    let sha = evidence::sha256_hex(&out)?;
    ensure!(
        sha != demo.notes.genesis_sha256,
        "the v2 release is byte-identical to genesis"
    );
    fact(
        &short(&out, &demo.root),
        &format!(
            "version {version}, sha256 {}… (differs from genesis)",
            &sha[..16]
        ),
    );
    demo.notes.v2_binary = out;
    Ok(())
}

fn add_upgrade(demo: &mut Demo) -> Result<()> {
    let command = demo.wasmvisor([
        OsStr::new("add-upgrade"),
        OsStr::new(V2),
        demo.notes.v2_binary.as_os_str(),
    ]);
    demo.run_tool(command, "wasmvisor add-upgrade")?;
    let placed = demo
        .home
        .join("cosmovisor/upgrades")
        .join(V2)
        .join("bin")
        .join(DAEMON_NAME);
    let version = evidence::binary_version(&placed)
        .with_context(|| format!("add-upgrade did not place {}", placed.display()))?;
    ensure!(version == V2, "{} reports {version:?}", placed.display());
    fact(&short(&placed, &demo.home), &format!("version {version}"));
    fact(
        "cosmovisor/current (unchanged until the chain asks)",
        &format!("-> {}", evidence::current_target(&demo.home)?),
    );
    Ok(())
}

fn start(demo: &mut Demo) -> Result<()> {
    let mut command =
        demo.wasmvisor([OsStr::new("run"), OsStr::new("start"), OsStr::new("--home")]);
    command.arg(&demo.home);
    say(&format!(
        "$ DAEMON_HOME={} DAEMON_NAME={DAEMON_NAME} DAEMON_RESTART_AFTER_UPGRADE=true \\",
        demo.home.display()
    ));
    say(&format!(
        "    wasmvisor run start --home {}",
        demo.home.display()
    ));
    say("(│ = stdout of wasmvisor and the node, ┆ = stderr: wasmvisor's log and the node's panic)");
    demo.notes.current_before = evidence::current_target(&demo.home)?;
    demo.supervisor = Some(Supervisor::spawn(command)?);
    let fake_chaind = demo.tools.fake_chaind.clone();
    let home = demo.home.clone();
    let status = demo.wait_until("the node committing blocks", |_| {
        let status = evidence::chain_status(&fake_chaind, &home)?;
        Ok((status.height >= 2).then_some(status))
    })?;
    demo.notes.version_before.clone_from(&status.version);
    fact(
        "fake-chaind status",
        &format!("height {} committed by {}", status.height, status.version),
    );
    Ok(())
}

fn halt(demo: &mut Demo) -> Result<()> {
    let needle = format!("UPGRADE \"{V2}\" NEEDED at height: {V2_HEIGHT}");
    let line = demo.wait_until("the node's upgrade halt", |demo| {
        Ok(demo.supervisor()?.line_containing(&needle))
    })?;
    fact("the node logged", line.trim());
    let (raw, info) = evidence::read_json(&demo.home.join("data/upgrade-info.json"))?;
    fact("data/upgrade-info.json", &raw);
    ensure!(
        info["name"] == V2 && info["height"] == V2_HEIGHT,
        "upgrade-info.json does not describe {V2} at {V2_HEIGHT}"
    );
    Ok(())
}

fn upgrade(demo: &mut Demo) -> Result<()> {
    let expected = format!("upgrades/{V2}");
    let after = demo.wait_until("wasmvisor switching current to v2", |demo| {
        let target = evidence::current_target(&demo.home)?;
        Ok((target == expected).then_some(target))
    })?;
    let restarted = format!("starting node version={V2}");
    demo.wait_until("the node restarting on v2", |demo| {
        Ok(demo.supervisor()?.line_containing(&restarted))
    })?;
    demo.notes.current_after.clone_from(&after);
    if let Some(flushed) = demo.supervisor()?.last_line_containing(FLUSHING) {
        fact(
            "v1 stopped gracefully (DAEMON_SHUTDOWN_GRACE)",
            flushed.trim(),
        );
    }
    fact(
        "cosmovisor/current",
        &format!("{} -> {after}", demo.notes.current_before),
    );
    let current_bin = demo.home.join("cosmovisor/current/bin").join(DAEMON_NAME);
    demo.notes.version_after = evidence::binary_version(&current_bin)?;
    fact(
        "current/bin/fake-chaind version",
        &format!(
            "{} -> {}",
            demo.notes.version_before, demo.notes.version_after
        ),
    );
    ensure!(
        demo.notes.version_after == V2,
        "current/bin reports {}, not {V2}",
        demo.notes.version_after
    );
    let (recorded, _) = evidence::read_json(
        &demo
            .home
            .join("cosmovisor/upgrades")
            .join(V2)
            .join("upgrade-info.json"),
    )?;
    fact(
        &format!("upgrades/{V2}/upgrade-info.json (the applied plan)"),
        &recorded,
    );
    check_backup(demo)
}

fn check_backup(demo: &mut Demo) -> Result<()> {
    let backups = evidence::backups(&demo.home)?;
    let [backup] = backups.as_slice() else {
        bail!(
            "expected one data-backup-* folder in {}, found {}",
            demo.home.display(),
            backups.len()
        );
    };
    let (_, state) = evidence::read_json(&backup.join("fakechain_state.json"))
        .context("the backup does not hold the node's data")?;
    ensure!(
        state["height"] == V2_HEIGHT,
        "the backup holds height {}, expected the halt height {V2_HEIGHT}",
        state["height"]
    );
    let files = fs::read_dir(backup)?.count();
    fact(
        &short(backup, &demo.home),
        &format!(
            "{files} files, fakechain_state.json at height {} by {}",
            state["height"],
            state["version"].as_str().unwrap_or("?")
        ),
    );
    demo.notes.backup = Some(backup.clone());
    Ok(())
}

fn continues(demo: &mut Demo) -> Result<()> {
    let target = V2_HEIGHT + 4;
    let fake_chaind = demo.tools.fake_chaind.clone();
    let home = demo.home.clone();
    let status = demo.wait_until("the chain growing past the upgrade on v2", |_| {
        let status = evidence::chain_status(&fake_chaind, &home)?;
        Ok((status.height >= target && status.version == V2).then_some(status))
    })?;
    fact(
        "fake-chaind status",
        &format!(
            "height {} committed by {} (upgrade was at {V2_HEIGHT})",
            status.height, status.version
        ),
    );
    Ok(())
}

fn stop(demo: &mut Demo) -> Result<()> {
    let supervisor = demo.supervisor()?;
    let flushes_before = supervisor.count_containing(FLUSHING);
    let status = supervisor.terminate(Duration::from_secs(15))?;
    let flushed = (supervisor.count_containing(FLUSHING) > flushes_before)
        .then(|| supervisor.last_line_containing(FLUSHING))
        .flatten();
    fact("wasmvisor", &supervisor::describe(status));
    ensure!(
        status.success(),
        "wasmvisor ended with {} after SIGTERM",
        supervisor::describe(status)
    );
    let flushed = flushed.context("the node never logged that it flushed its state")?;
    fact("the node logged", flushed.trim());
    demo.supervisor = None;
    let final_status = evidence::chain_status(&demo.tools.fake_chaind, &demo.home)?;
    demo.notes.final_height = final_status.height;
    fact(
        "final height on disk",
        &format!("{} by {}", final_status.height, final_status.version),
    );
    Ok(())
}
