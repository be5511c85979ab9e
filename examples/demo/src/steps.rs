//! The demo as an ordered list of steps, each proving what it claims.
//!
//! A step does one thing an operator would do (or watches one thing wasmvisor
//! does) and prints the evidence; returning an error stops the demo with that
//! message. The first upgrade's binary is placed by `add-upgrade`; the second is
//! downloaded by wasmvisor from the plan's info (a loopback release server), so
//! one run shows detection, download, verification, backup, switch and restart.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::json;

use crate::evidence::{self, short};
use crate::narrate::{evidence as fact, say};
use crate::release;
use crate::release_server::ReleaseServer;
use crate::scenario::{BLOCK_TIME_MS, DAEMON_NAME, Demo, V2, V2_HEIGHT, V3, V3_HEIGHT};
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
            title: "The chain team publishes v3: a tar.gz on a release server (loopback HTTP) and its sha256",
            run: publish_v3,
        },
        Step {
            title: "Create a throw-away node home with two upgrades on its schedule",
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
            run: halt_v2,
        },
        Step {
            title: "wasmvisor stops the node, backs up data/, switches to v2, restarts it",
            run: upgrade_v2,
        },
        Step {
            title: "The chain continues on v2 past the upgrade height",
            run: continues_v2,
        },
        Step {
            title: "The chain halts again, asking for v3 — no v3 binary on this machine, only the plan's info",
            run: halt_v3,
        },
        Step {
            title: "wasmvisor downloads v3, verifies its sha256, backs up data/, switches, restarts",
            run: upgrade_v3,
        },
        Step {
            title: "The chain continues on v3",
            run: continues_v3,
        },
        Step {
            title: "SIGTERM to wasmvisor: the node flushes its state and both exit",
            run: stop,
        },
    ]
}

fn publish_v3(demo: &mut Demo) -> Result<()> {
    fs::create_dir_all(&demo.releases)
        .with_context(|| format!("cannot create {}", demo.releases.display()))?;
    let binary = demo.releases.join(format!("fake-chaind-{V3}"));
    let make = demo.fake_chaind([
        OsStr::new("make-version"),
        OsStr::new(V3),
        binary.as_os_str(),
    ]);
    demo.run_tool(make, "fake-chaind make-version")?;
    let version = evidence::binary_version(&binary)?;
    ensure!(
        version == V3,
        "the v3 release reports {version:?}, not {V3:?}"
    );
    demo.notes.v3_binary_sha256 = evidence::sha256_hex(&binary)?;
    ensure!(
        demo.notes.v3_binary_sha256 != evidence::sha256_hex(&demo.tools.fake_chaind)?,
        "the v3 release is byte-identical to genesis"
    );
    let archive = release::tar_gz(&binary, DAEMON_NAME)?;
    let archive_sha256 = release::sha256_hex(&archive);
    let path = format!(
        "/releases/{V3}/fake-chaind-{V3}-{}.tar.gz",
        release::platform().replace('/', "-")
    );
    let size = archive.len();
    let server = ReleaseServer::start(HashMap::from([(path.clone(), archive)]))?;
    let url = server.url(&path);
    demo.notes.v3_info = release::plan_info(&url, &archive_sha256);
    demo.release_server = Some(server);
    fact(
        &short(&binary, &demo.root),
        &format!(
            "version {version}, sha256 {}…",
            &demo.notes.v3_binary_sha256[..16]
        ),
    );
    fact(
        "published",
        &format!("{url} ({size} bytes, bin/{DAEMON_NAME} inside)"),
    );
    fact("its sha256", &archive_sha256);
    Ok(())
}

fn create_home(demo: &mut Demo) -> Result<()> {
    let config = json!({
        "block_time_ms": BLOCK_TIME_MS,
        "upgrades": [
            {"name": V2, "height": V2_HEIGHT, "info": ""},
            {"name": V3, "height": V3_HEIGHT, "info": demo.notes.v3_info},
        ],
    });
    let config_dir = demo.home.join("config");
    fs::create_dir_all(&config_dir)
        .with_context(|| format!("cannot create {}", config_dir.display()))?;
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
        &format!(
            "a block every {BLOCK_TIME_MS} ms, upgrade {V2:?} at height {V2_HEIGHT}, {V3:?} at height {V3_HEIGHT}"
        ),
    );
    fact(
        &format!("the {V3} plan's info (as governance voted it)"),
        &demo.notes.v3_info,
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
    command
        .arg(&demo.home)
        // v3 is not on this machine: wasmvisor may fetch it, and only with a checksum.
        .env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true")
        .env("DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM", "true");
    say(&format!(
        "$ DAEMON_HOME={} DAEMON_NAME={DAEMON_NAME} DAEMON_RESTART_AFTER_UPGRADE=true \\",
        demo.home.display()
    ));
    say("    DAEMON_ALLOW_DOWNLOAD_BINARIES=true DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM=true \\");
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

fn halt_v2(demo: &mut Demo) -> Result<()> {
    halt_for(demo, V2, V2_HEIGHT).map(drop)
}

fn halt_v3(demo: &mut Demo) -> Result<()> {
    let plan = halt_for(demo, V3, V3_HEIGHT)?;
    let local = demo.home.join("cosmovisor/upgrades").join(V3);
    ensure!(
        !local.exists(),
        "{} exists: v3 must come from the download",
        local.display()
    );
    fact(
        &format!("cosmovisor/upgrades/{V3}"),
        "absent: nobody placed the binary",
    );
    ensure!(
        plan["info"] == demo.notes.v3_info,
        "the plan's info is not the one the chain was given"
    );
    fact(
        "where to get it (the plan's info)",
        plan["info"].as_str().unwrap_or_default(),
    );
    Ok(())
}

/// Waits for the node's halt line for `name`, shows it and the plan the chain
/// wrote, and returns that plan.
fn halt_for(demo: &mut Demo, name: &str, height: u64) -> Result<serde_json::Value> {
    let needle = format!("UPGRADE \"{name}\" NEEDED at height: {height}");
    let line = demo.wait_until(&format!("the node's halt for {name}"), |demo| {
        Ok(demo.supervisor()?.line_containing(&needle))
    })?;
    fact("the node logged", line.trim());
    let (raw, info) = evidence::read_json(&demo.home.join("data/upgrade-info.json"))?;
    fact("data/upgrade-info.json", &raw);
    ensure!(
        info["name"] == name && info["height"] == height,
        "upgrade-info.json does not describe {name} at {height}"
    );
    Ok(info)
}

fn upgrade_v2(demo: &mut Demo) -> Result<()> {
    switch_to(demo, V2, V2_HEIGHT)
}

fn upgrade_v3(demo: &mut Demo) -> Result<()> {
    let downloaded = demo.wait_until("wasmvisor downloading and verifying v3", |demo| {
        let supervisor = demo.supervisor()?;
        Ok(supervisor
            .line_containing("sha256 verified")
            .filter(|line| line.contains("downloaded")))
    })?;
    fact("wasmvisor logged", downloaded.trim());
    let fetched = demo.wait_until("the release server answering the download", |demo| {
        let server = demo
            .release_server
            .as_ref()
            .context("the release server is not running")?;
        Ok(server.served().into_iter().find(|s| s.status == 200))
    })?;
    fact(
        "the release server served",
        &format!(
            "{} -> {} ({} bytes)",
            fetched.request, fetched.status, fetched.bytes
        ),
    );
    switch_to(demo, V3, V3_HEIGHT)?;
    let installed = demo
        .home
        .join("cosmovisor/upgrades")
        .join(V3)
        .join("bin")
        .join(DAEMON_NAME);
    let sha = evidence::sha256_hex(&installed)?;
    ensure!(
        sha == demo.notes.v3_binary_sha256,
        "{} is not the released v3 binary",
        installed.display()
    );
    fact(
        &short(&installed, &demo.home),
        &format!("sha256 {}… = the published v3 binary", &sha[..16]),
    );
    Ok(())
}

/// Waits for wasmvisor to switch `current` to `name` and restart the node, then
/// shows the evidence: the link, the binary's version, the applied plan, the backup.
fn switch_to(demo: &mut Demo, name: &str, height: u64) -> Result<()> {
    let before = demo
        .notes
        .currents
        .last()
        .cloned()
        .unwrap_or_else(|| demo.notes.current_before.clone());
    let version_before = demo
        .notes
        .versions
        .last()
        .cloned()
        .unwrap_or_else(|| demo.notes.version_before.clone());
    let flushes_before = demo.supervisor()?.count_containing(FLUSHING);
    let expected = format!("upgrades/{name}");
    let after = demo.wait_until(&format!("wasmvisor switching current to {name}"), |demo| {
        let target = evidence::current_target(&demo.home)?;
        Ok((target == expected).then_some(target))
    })?;
    let restarted = format!("starting node version={name}");
    demo.wait_until(&format!("the node restarting on {name}"), |demo| {
        Ok(demo.supervisor()?.line_containing(&restarted))
    })?;
    let supervisor = demo.supervisor()?;
    if supervisor.count_containing(FLUSHING) > flushes_before
        && let Some(flushed) = supervisor.last_line_containing(FLUSHING)
    {
        fact(
            &format!("{version_before} stopped gracefully (DAEMON_SHUTDOWN_GRACE)"),
            flushed.trim(),
        );
    }
    fact("cosmovisor/current", &format!("{before} -> {after}"));
    let current_bin = demo.home.join("cosmovisor/current/bin").join(DAEMON_NAME);
    let version = evidence::binary_version(&current_bin)?;
    fact(
        "current/bin/fake-chaind version",
        &format!("{version_before} -> {version}"),
    );
    ensure!(version == name, "current/bin reports {version}, not {name}");
    let (recorded, _) = evidence::read_json(
        &demo
            .home
            .join("cosmovisor/upgrades")
            .join(name)
            .join("upgrade-info.json"),
    )?;
    fact(
        &format!("upgrades/{name}/upgrade-info.json (the applied plan)"),
        &recorded,
    );
    demo.notes.currents.push(after);
    demo.notes.versions.push(version);
    check_backup(demo, height)
}

/// Exactly one new `data-backup-*` folder, holding the data at the halt `height`.
fn check_backup(demo: &mut Demo, height: u64) -> Result<()> {
    let backups = evidence::backups(&demo.home)?;
    let new: Vec<&PathBuf> = backups
        .iter()
        .filter(|b| !demo.notes.backups.contains(b))
        .collect();
    let [backup] = new.as_slice() else {
        bail!(
            "expected one new data-backup-* folder in {}, found {}",
            demo.home.display(),
            new.len()
        );
    };
    let (_, state) = evidence::read_json(&backup.join("fakechain_state.json"))
        .context("the backup does not hold the node's data")?;
    ensure!(
        state["height"] == height,
        "the backup holds height {}, expected the halt height {height}",
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
    let backup = (*backup).clone();
    demo.notes.backups.push(backup);
    Ok(())
}

fn continues_v2(demo: &mut Demo) -> Result<()> {
    continues_on(demo, V2, V2_HEIGHT + 4)
}

fn continues_v3(demo: &mut Demo) -> Result<()> {
    continues_on(demo, V3, V3_HEIGHT + 2)
}

/// Waits for `version` to commit block `height`, as the node's own log says (the
/// chain may already be further, even past a later upgrade, when this looks).
fn continues_on(demo: &mut Demo, version: &str, height: u64) -> Result<()> {
    let needle = format!("committed state height={height} module=state version={version}");
    let line = demo.wait_until(
        &format!("the chain reaching height {height} on {version}"),
        |demo| Ok(demo.supervisor()?.line_containing(&needle)),
    )?;
    fact("the node logged", line.trim());
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
