//! A throw-away node home with everything a scenario needs.
//!
//! Each test gets its own temporary directory holding the node home
//! (`home/`: `cosmovisor/`, `data/`, `config/fakechain.json`), a scratch
//! directory for the version binaries it makes, and the captured output of
//! every process it starts — so parallel tests never share a file, and a
//! failing test's files stay inspectable through the paths in its messages.
//!
//! Version folders are laid out by hand by default, so a scenario about the
//! supervisor does not depend on the CLI; the CLI's own commands (`init`,
//! `add-upgrade`) are exercised through [`TestHome::cli`].

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::bins;
use crate::chain::Chain;
use crate::process::{Exit, Running};
use crate::wait::{TIMEOUT, wait_for};

/// The daemon's file name inside every `bin/` (DAEMON_NAME).
pub const DAEMON_NAME: &str = "fake-chaind";

/// A finished CLI command.
#[derive(Debug)]
pub struct Finished {
    pub exit: Exit,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.exit == Exit::Code(0)
    }

    /// Panics with the output unless the command exited 0.
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "command failed: {self:#?}");
        self
    }
}

/// One test's node home. Removed when dropped, except when the test is failing:
/// then it is kept (and its path printed) so the logs named in the failure
/// message can still be read.
pub struct TestHome {
    tmp: Option<TempDir>,
    env: BTreeMap<String, String>,
    runs: usize,
}

impl TestHome {
    /// A home with `data/`, the chain config, `cosmovisor/genesis/bin/fake-chaind`
    /// (no `current` yet: wasmvisor creates it) and the default environment.
    pub fn new(chain: Chain) -> TestHome {
        let home = TestHome::bare();
        home.write_chain(&chain);
        std::fs::create_dir_all(home.data_dir()).expect("create data/");
        home.put_binary(&bins::fake_chaind(), &home.cosmovisor().join("genesis"));
        home
    }

    /// The common scenario: the chain halts for `v2` at `height`, and the `v2`
    /// binary is already in `upgrades/v2/bin/`.
    pub fn with_v2_at(height: u64) -> TestHome {
        let home = TestHome::new(Chain::upgrade_at("v2", height));
        home.install_upgrade("v2", "v2");
        home
    }

    /// An empty home directory and the default environment, nothing else.
    pub fn bare() -> TestHome {
        let tmp = tempfile::Builder::new()
            .prefix("wasmvisor-e2e-")
            .tempdir()
            .expect("create a temporary directory");
        for dir in ["home", "scratch", "logs"] {
            std::fs::create_dir_all(tmp.path().join(dir)).expect("create test dirs");
        }
        let mut home = TestHome {
            tmp: Some(tmp),
            env: BTreeMap::new(),
            runs: 0,
        };
        let home_dir = home.home().display().to_string();
        home.set_env("DAEMON_HOME", &home_dir);
        home.set_env("DAEMON_NAME", DAEMON_NAME);
        home.set_env("DAEMON_POLL_INTERVAL", "50ms");
        home.set_env("COSMOVISOR_COLOR_LOGS", "false");
        home
    }

    fn root(&self) -> &Path {
        self.tmp
            .as_ref()
            .expect("the temporary directory lives as long as the home")
            .path()
    }

    /// `$DAEMON_HOME`.
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    /// A directory outside the home for the test's own files.
    pub fn scratch(&self) -> PathBuf {
        self.root().join("scratch")
    }

    pub fn cosmovisor(&self) -> PathBuf {
        self.home().join("cosmovisor")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.home().join("data")
    }

    pub fn upgrade_info_file(&self) -> PathBuf {
        self.data_dir().join("upgrade-info.json")
    }

    pub fn journal_file(&self) -> PathBuf {
        self.cosmovisor().join("upgrade-journal.json")
    }

    /// Sets a variable of the supervisor's environment (which starts empty but
    /// for PATH: the developer's own environment never leaks in).
    pub fn set_env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn unset_env(&mut self, key: &str) -> &mut Self {
        self.env.remove(key);
        self
    }

    /// Rewrites `config/fakechain.json`.
    pub fn write_chain(&self, chain: &Chain) {
        let path = self.home().join("config").join("fakechain.json");
        std::fs::create_dir_all(path.parent().expect("config/")).expect("create config/");
        std::fs::write(&path, chain.to_json().to_string()).expect("write fakechain.json");
    }

    /// Makes a distinct fake-chaind binary reporting version `name`.
    pub fn make_version(&self, name: &str) -> PathBuf {
        let out = self.scratch().join(format!("fake-chaind-{name}"));
        if !out.exists() {
            let status = Command::new(bins::fake_chaind())
                .arg("make-version")
                .arg(name)
                .arg(&out)
                .env_clear()
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run fake-chaind make-version");
            assert!(status.success(), "fake-chaind make-version {name} failed");
        }
        out
    }

    /// Copies `binary` to `<version_dir>/bin/fake-chaind`, executable.
    pub fn put_binary(&self, binary: &Path, version_dir: &Path) -> PathBuf {
        let bin_dir = version_dir.join("bin");
        std::fs::create_dir_all(&bin_dir).expect("create bin/");
        let dest = bin_dir.join(DAEMON_NAME);
        std::fs::copy(binary, &dest).expect("copy the binary");
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the binary");
        dest
    }

    /// Installs a version-`name` binary as `upgrades/<folder>/bin/fake-chaind`, by hand.
    pub fn install_upgrade(&self, name: &str, folder: &str) -> PathBuf {
        let binary = self.make_version(name);
        self.put_binary(&binary, &self.cosmovisor().join("upgrades").join(folder))
    }

    /// A `wasmvisor` command with this home's environment and nothing else.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(bins::wasmvisor());
        cmd.args(args)
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("HOME", self.scratch())
            .envs(&self.env)
            .current_dir(self.scratch());
        cmd
    }

    /// Runs the genesis binary directly (no supervisor) until the chain halts at
    /// its first plan and exits, as a node that died at the upgrade height
    /// leaves its home: the height on disk and `data/upgrade-info.json` written.
    pub fn run_chain_to_halt(&self) {
        let out = Command::new(bins::fake_chaind())
            .arg("start")
            .arg("--home")
            .arg(self.home())
            .env_clear()
            .env("FAKECHAIND_EXIT_ON_HALT", "true")
            .output()
            .expect("run fake-chaind to its halt");
        assert!(
            self.upgrade_info_file().is_file(),
            "fake-chaind did not halt for an upgrade: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    /// Starts `cmd`, capturing its output under a fresh label.
    pub fn spawn(&mut self, cmd: Command) -> Running {
        self.runs += 1;
        let label = format!("run{}", self.runs);
        Running::spawn(cmd, &self.root().join("logs"), &label)
    }

    /// `wasmvisor run start --home <home> <extra…>`: the supervised node.
    pub fn start(&mut self, extra: &[&str]) -> Running {
        let home = self.home().display().to_string();
        let mut args = vec!["run", "start", "--home", home.as_str()];
        args.extend_from_slice(extra);
        let cmd = self.command(&args);
        self.spawn(cmd)
    }

    /// Runs `wasmvisor <args>` to completion (at most [`TIMEOUT`]).
    pub fn cli(&mut self, args: &[&str]) -> Finished {
        let cmd = self.command(args);
        self.finish(cmd)
    }

    /// Runs `cmd` to completion (at most [`TIMEOUT`]).
    pub fn finish(&mut self, cmd: Command) -> Finished {
        let mut running = self.spawn(cmd);
        let exit = running.wait_exit(TIMEOUT);
        Finished {
            exit,
            stdout: running.stdout(),
            stderr: running.stderr(),
        }
    }

    /// The node's `status` document (read from its persisted state).
    pub fn status(&self) -> Value {
        self.try_status()
            .unwrap_or_else(|e| panic!("fake-chaind status failed: {e}"))
    }

    fn try_status(&self) -> Result<Value, String> {
        let out = Command::new(bins::fake_chaind())
            .arg("status")
            .arg("--home")
            .arg(self.home())
            .env_clear()
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
    }

    /// Height of the last committed block.
    pub fn height(&self) -> u64 {
        self.status()["sync_info"]["latest_block_height"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .expect("latest_block_height is a number in a string")
    }

    /// Version of the binary that committed the last block.
    pub fn node_version(&self) -> String {
        self.status()["node_info"]["version"]
            .as_str()
            .expect("node_info.version")
            .to_owned()
    }

    /// Where `cosmovisor/current` points, as written in the link (`None`: no link).
    pub fn current_target(&self) -> Option<PathBuf> {
        std::fs::read_link(self.cosmovisor().join("current")).ok()
    }

    /// Waits until a block above `height` was committed by version `version`.
    pub fn wait_for_blocks_by(&self, version: &str, above: u64, running: &Running) -> u64 {
        wait_for(
            &format!("version {version} to commit a block above height {above}"),
            TIMEOUT,
            || {
                let status = self.status();
                let height: u64 = status["sync_info"]["latest_block_height"]
                    .as_str()?
                    .parse()
                    .ok()?;
                (status["node_info"]["version"] == version && height > above).then_some(height)
            },
            || self.describe(running),
        )
    }

    /// Waits until the node's height reaches `height` (whatever version).
    pub fn wait_for_height(&self, height: u64, running: &Running) -> u64 {
        wait_for(
            &format!("the node to reach height {height}"),
            TIMEOUT,
            || Some(self.height()).filter(|h| *h >= height),
            || self.describe(running),
        )
    }

    /// Writes `data/upgrade-info.json` with `content` (atomically, as the chain does).
    pub fn write_upgrade_info(&self, content: &str) {
        let tmp = self.data_dir().join(".upgrade-info.tmp");
        std::fs::write(&tmp, content).expect("write upgrade-info");
        std::fs::rename(&tmp, self.upgrade_info_file()).expect("rename upgrade-info");
    }

    /// Marks `plan_json` as staged by the operator, as `add-upgrade --upgrade-height`
    /// does, and writes it to `data/upgrade-info.json`.
    pub fn stage_by_hand(&self, plan_json: &str) {
        std::fs::write(self.cosmovisor().join("staged-upgrade.json"), plan_json)
            .expect("write staged-upgrade.json");
        self.write_upgrade_info(plan_json);
    }

    /// `data-backup-*` entries (files or directories) under `dir`, sorted.
    pub fn backups_in(&self, dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| n.contains("data-backup-"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Everything a failing assertion wants to see: the supervisor's output, the
    /// `current` link, the node's status and the journal.
    pub fn describe(&self, running: &Running) -> String {
        let status = self.try_status();
        format!(
            "{}\n--- current -> {:?}\n--- status height={:?} version={:?}\n--- journal: {:?}\n--- data/upgrade-info.json: {:?}",
            running.output(),
            self.current_target(),
            status
                .as_ref()
                .map(|s| s["sync_info"]["latest_block_height"].clone()),
            status.as_ref().map(|s| s["node_info"]["version"].clone()),
            std::fs::read_to_string(self.journal_file()).ok(),
            std::fs::read_to_string(self.upgrade_info_file()).ok(),
        )
    }

    /// Asserts `cosmovisor/current` is the relative link `target`, naming a binary.
    pub fn assert_current(&self, target: &str) {
        assert_eq!(
            self.current_target().as_deref(),
            Some(Path::new(target)),
            "cosmovisor/current should be the relative link {target}"
        );
        let bin = self.cosmovisor().join(target).join("bin").join(DAEMON_NAME);
        assert!(
            bin.is_file(),
            "current names {target}, whose binary {} is missing",
            bin.display()
        );
    }

    /// The JSON of an upgrade-info.json for `name` at `height`.
    pub fn plan_json(name: &str, height: u64) -> String {
        json!({"name": name, "time": "0001-01-01T00:00:00Z", "height": height, "info": ""})
            .to_string()
    }
}

impl Drop for TestHome {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(tmp) = self.tmp.take()
        {
            eprintln!("test files kept for inspection: {}", tmp.keep().display());
        }
    }
}
