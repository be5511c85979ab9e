//! Binaries from a URL — `add-upgrade <name> <url>` and, with
//! DAEMON_ALLOW_DOWNLOAD_BINARIES, the plan's `info` at upgrade time — served by
//! a real loopback HTTP server as real archives. A wrong checksum or a hostile
//! archive is refused, and a refusal leaves nothing that blocks a retry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use wasmvisor_e2e::archive::{sha256_checksum, tar_gz, tar_gz_stored, zip};
use wasmvisor_e2e::http::Server;
use wasmvisor_e2e::{Chain, Exit, Finished, Running, TIMEOUT, TestHome};

const WRONG: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fn serve(files: &[(&str, Vec<u8>)]) -> Server {
    Server::start(
        files
            .iter()
            .map(|(path, body)| ((*path).to_owned(), body.clone()))
            .collect::<HashMap<_, _>>(),
    )
}

/// The v2 binary and a tar.gz holding it as `bin/fake-chaind`.
fn v2_tarball(home: &TestHome) -> (Vec<u8>, Vec<u8>) {
    let v2 = std::fs::read(home.make_version("v2")).expect("read v2");
    let archive = tar_gz(&[("bin/fake-chaind", &v2, 0o755)]);
    (v2, archive)
}

fn installed(home: &TestHome) -> PathBuf {
    home.cosmovisor().join("upgrades/v2/bin/fake-chaind")
}

/// Everything under `dir`, recursively (relative paths), to spot leftovers.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn assert_refused(done: &Finished, what: &str) {
    assert!(!done.success(), "must be refused: {done:#?}");
    assert!(
        done.stderr.to_lowercase().contains(what),
        "the error must mention {what:?}: {done:#?}"
    );
}

#[test]
fn add_upgrade_downloads_a_tar_gz_and_verifies_its_checksum() {
    let mut home = TestHome::new(Chain::default());
    let (v2, archive) = v2_tarball(&home);
    let checksum = sha256_checksum(&archive);
    let server = serve(&[("/v2.tar.gz", archive)]);
    let url = server.url("/v2.tar.gz");
    home.cli(&["add-upgrade", "v2", &url, "--checksum", &checksum])
        .assert_success();
    assert_eq!(std::fs::read(installed(&home)).expect("installed"), v2);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_tar_gz_with_stored_deflate_blocks_is_unpacked_as_a_tarball() {
    // gzip level 0 (Python's tarfile compresslevel=0, some CI packers): the first
    // 512 bytes of the file hold less than one tar block once decompressed.
    let mut home = TestHome::new(Chain::default());
    let v2 = std::fs::read(home.make_version("v2")).expect("read v2");
    let archive = tar_gz_stored(&[("bin/fake-chaind", &v2, 0o755)]);
    let checksum = sha256_checksum(&archive);
    let server = serve(&[("/v2.tar.gz", archive)]);
    home.cli(&[
        "add-upgrade",
        "v2",
        &server.url("/v2.tar.gz"),
        "--checksum",
        &checksum,
    ])
    .assert_success();
    assert_eq!(std::fs::read(installed(&home)).expect("installed"), v2);
}

#[test]
fn a_wrong_checksum_is_refused_and_leaves_nothing_that_blocks_a_retry() {
    let mut home = TestHome::new(Chain::default());
    let (v2, archive) = v2_tarball(&home);
    let good = sha256_checksum(&archive);
    let server = serve(&[("/v2.tar.gz", archive)]);
    let url = server.url("/v2.tar.gz");
    let before = tree(&home.home());

    let done = home.cli(&["add-upgrade", "v2", &url, "--checksum", WRONG]);
    assert_refused(&done, "checksum");
    assert!(!installed(&home).exists());
    let after: Vec<String> = tree(&home.home())
        .into_iter()
        .filter(|p| !before.contains(p) && p != "cosmovisor/upgrades")
        .collect();
    assert!(after.is_empty(), "a refused download left {after:?}");

    // The same command with the right checksum, no --force needed.
    home.cli(&["add-upgrade", "v2", &url, "--checksum", &good])
        .assert_success();
    assert_eq!(std::fs::read(installed(&home)).expect("installed"), v2);
}

#[test]
fn a_checksum_in_the_url_query_is_honoured() {
    let mut home = TestHome::new(Chain::default());
    let (v2, archive) = v2_tarball(&home);
    let good = sha256_checksum(&archive);
    let server = serve(&[("/v2.tar.gz", archive)]);
    let bad_url = format!("{}?checksum={WRONG}", server.url("/v2.tar.gz"));
    assert_refused(&home.cli(&["add-upgrade", "v2", &bad_url]), "checksum");
    let good_url = format!("{}?checksum={good}", server.url("/v2.tar.gz"));
    home.cli(&["add-upgrade", "v2", &good_url]).assert_success();
    assert_eq!(std::fs::read(installed(&home)).expect("installed"), v2);
}

#[test]
fn a_zip_slip_archive_is_refused_and_writes_nothing_outside() {
    let mut home = TestHome::new(Chain::default());
    let v2 = std::fs::read(home.make_version("v2")).expect("v2");
    for (file, archive) in [
        (
            "/evil.zip",
            zip(
                &[
                    ("bin/fake-chaind", &v2, 0o755),
                    ("../../../escaped-zip", b"pwned", 0o644),
                ],
                false,
            ),
        ),
        (
            "/evil.tar.gz",
            tar_gz(&[
                ("bin/fake-chaind", &v2, 0o755),
                ("../../../escaped-tar", b"pwned", 0o644),
            ]),
        ),
    ] {
        let checksum = sha256_checksum(&archive);
        let server = serve(&[(file, archive)]);
        let done = home.cli(&[
            "add-upgrade",
            "v2",
            &server.url(file),
            "--checksum",
            &checksum,
        ]);
        assert!(!done.success(), "{file} must be refused: {done:#?}");
        assert!(!installed(&home).exists(), "nothing installed from {file}");
    }
    let escaped: Vec<String> = tree(&home.home().join(".."))
        .into_iter()
        .filter(|p| p.contains("escaped-"))
        .collect();
    assert!(
        escaped.is_empty(),
        "an entry escaped the staging directory: {escaped:?}"
    );
    let v2_dir = home.cosmovisor().join("upgrades/v2");
    assert!(!v2_dir.join("bin").exists(), "{:?}", tree(&v2_dir));
}

#[test]
fn a_zip_with_the_binary_at_the_top_is_installed_into_bin() {
    let mut home = TestHome::new(Chain::default());
    let v2 = std::fs::read(home.make_version("v2")).expect("v2");
    // Deflated, so one test covers real decompression.
    let archive = zip(&[("fake-chaind", &v2, 0o755)], true);
    let checksum = sha256_checksum(&archive);
    let server = serve(&[("/v2.zip", archive)]);
    home.cli(&[
        "add-upgrade",
        "v2",
        &server.url("/v2.zip"),
        "--checksum",
        &checksum,
    ])
    .assert_success();
    assert_eq!(std::fs::read(installed(&home)).expect("installed"), v2);
}

#[test]
fn must_have_checksum_refuses_a_url_without_one() {
    let mut home = TestHome::new(Chain::default());
    home.set_env("DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM", "true");
    let (_, archive) = v2_tarball(&home);
    let server = serve(&[("/v2.tar.gz", archive)]);
    let done = home.cli(&["add-upgrade", "v2", &server.url("/v2.tar.gz")]);
    assert_refused(&done, "checksum");
    assert!(!installed(&home).exists());
}

/// wasmvisor exits non-zero with an error line of its own that names the checksum.
fn assert_upgrade_failed_on_checksum(home: &TestHome, wv: &mut Running) {
    let exit = wv.wait_exit(TIMEOUT);
    assert!(
        matches!(exit, Exit::Code(c) if c != 0),
        "the upgrade must fail\n{}",
        home.describe(wv)
    );
    let says_checksum = wv.stderr().lines().any(|l| {
        l.contains("module=wasmvisor") && l.contains("ERR") && l.to_lowercase().contains("checksum")
    });
    assert!(
        says_checksum,
        "wasmvisor's error must name the checksum\n{}",
        wv.output()
    );
}

/// `{"binaries":{"linux/<arch>":url,"any":url}}` for this machine.
fn plan_info(url: &str) -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    serde_json::json!({"binaries": {format!("linux/{arch}"): url, "any": url}}).to_string()
}

#[test]
fn a_missing_binary_is_downloaded_from_the_plan_info_at_upgrade_time() {
    let mut home = TestHome::new(Chain::default());
    let (_, archive) = v2_tarball(&home);
    let checksum = sha256_checksum(&archive);
    let server = serve(&[("/v2.tar.gz", archive)]);
    let url = format!("{}?checksum={checksum}", server.url("/v2.tar.gz"));
    home.write_chain(&Chain::default().with_upgrade_info("v2", 5, &plan_info(&url)));
    home.set_env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true");
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    home.assert_current("upgrades/v2");
    assert!(!server.requests().is_empty());
}

#[test]
fn a_plan_download_with_a_wrong_checksum_fails_the_upgrade_and_keeps_the_old_binary() {
    let mut home = TestHome::new(Chain::default());
    let (_, archive) = v2_tarball(&home);
    let server = serve(&[("/v2.tar.gz", archive)]);
    let url = format!("{}?checksum={WRONG}", server.url("/v2.tar.gz"));
    home.write_chain(&Chain::default().with_upgrade_info("v2", 5, &plan_info(&url)));
    home.set_env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true");
    let mut wv = home.start(&[]);
    assert_upgrade_failed_on_checksum(&home, &mut wv);
    home.assert_current("genesis");
    assert!(!installed(&home).exists());
    assert!(!server.requests().is_empty(), "the download was attempted");
}

#[test]
fn must_have_checksum_also_applies_to_the_plans_binary_urls() {
    // cosmovisor checks only the info URL; every URL must carry a checksum here.
    let mut home = TestHome::new(Chain::default());
    let (_, archive) = v2_tarball(&home);
    let server = serve(&[("/v2.tar.gz", archive)]);
    let url = server.url("/v2.tar.gz");
    home.write_chain(&Chain::default().with_upgrade_info("v2", 5, &plan_info(&url)));
    home.set_env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true");
    home.set_env("DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM", "true");
    let mut wv = home.start(&[]);
    assert_upgrade_failed_on_checksum(&home, &mut wv);
    home.assert_current("genesis");
    assert!(!installed(&home).exists());
}

#[test]
fn a_supervisor_killed_mid_download_leaves_no_binary_and_the_next_start_completes() {
    let mut home = TestHome::new(Chain::default());
    let (v2, archive) = v2_tarball(&home);
    let checksum = sha256_checksum(&archive);
    let total = archive.len() as u64;
    let server = serve(&[("/v2.tar.gz", archive)]);
    server.throttle(std::time::Duration::from_millis(100));
    let url = format!("{}?checksum={checksum}", server.url("/v2.tar.gz"));
    home.write_chain(&Chain::default().with_upgrade_info("v2", 5, &plan_info(&url)));
    home.set_env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true");

    let mut wv = home.start(&[]);
    wasmvisor_e2e::wait_until(
        "the download to be under way",
        TIMEOUT,
        || server.bytes_sent() > 512 * 1024,
        || home.describe(&wv),
    );
    assert!(
        server.bytes_sent() < total,
        "the download must still be running"
    );
    wv.signal(nix::sys::signal::Signal::SIGKILL);
    assert_eq!(wv.wait_exit(TIMEOUT), Exit::Signal(libc::SIGKILL));
    home.assert_current("genesis");
    assert!(
        !installed(&home).exists(),
        "a half-downloaded binary must never be in place"
    );

    server.throttle(std::time::Duration::ZERO);
    let wv = home.start(&[]);
    home.wait_for_blocks_by("v2", 5, &wv);
    home.assert_current("upgrades/v2");
    assert_eq!(std::fs::read(installed(&home)).expect("installed"), v2);
    let leftovers: Vec<String> = tree(&home.cosmovisor().join("upgrades"))
        .into_iter()
        .filter(|p| p.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

/// The manifest-url scenario end to end: genesis → v2 from a zip holding one file
/// (inline `binaries`), then v2 → v3 from a plan whose `info` is a URL to a JSON
/// document pointing at a zip holding `bin/fake-chaind`. The document first names
/// a wrong checksum: the upgrade is refused and leaves nothing that blocks a retry;
/// once the release team corrects the document, the next start upgrades.
#[test]
fn a_chain_upgrades_twice_by_download_and_recovers_from_a_wrong_checksum() {
    let mut home = TestHome::new(Chain::default());
    let v2 = std::fs::read(home.make_version("v2")).expect("read v2");
    let v3 = std::fs::read(home.make_version("v3")).expect("read v3");
    let v2_zip = zip(&[("fake-chaind", &v2, 0o755)], true);
    let v3_zip = zip(&[("bin/fake-chaind", &v3, 0o755)], true);
    let server = serve(&[("/v2.zip", v2_zip.clone()), ("/v3.zip", v3_zip.clone())]);
    let v3_doc = |checksum: &str| {
        plan_info(&format!("{}?checksum={checksum}", server.url("/v3.zip"))).into_bytes()
    };
    server.set_file("/v3.json", v3_doc(WRONG));
    let v2_url = format!(
        "{}?checksum={}",
        server.url("/v2.zip"),
        sha256_checksum(&v2_zip)
    );
    home.write_chain(
        &Chain::default()
            .with_upgrade_info("v2", 4, &plan_info(&v2_url))
            .with_upgrade_info("v3", 9, &server.url("/v3.json")),
    );
    home.set_env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true");
    // The info document is on loopback, which a plugin reaches only when granted.
    let config = home.scratch().join("wasmvisor.toml");
    std::fs::write(&config, "[plugins.manifest-url]\nhosts = [\"127.0.0.1\"]\n")
        .expect("write the config");
    let home_dir = home.home().display().to_string();
    let run = |home: &TestHome| {
        home.command([
            "run",
            "--cosmovisor-config",
            config.to_str().expect("utf-8"),
            "start",
            "--home",
            &home_dir,
        ])
    };

    let cmd = run(&home);
    let mut wv = home.spawn(cmd);
    assert_upgrade_failed_on_checksum(&home, &mut wv);
    home.assert_current("upgrades/v2");
    assert_eq!(
        std::fs::read(home.cosmovisor().join("upgrades/v2/bin/fake-chaind")).expect("v2"),
        v2
    );
    let upgrades = home.cosmovisor().join("upgrades");
    assert!(
        !tree(&upgrades).iter().any(|p| p.starts_with("v3")),
        "a refused download leaves nothing for v3: {:?}",
        tree(&upgrades)
    );
    assert!(
        server.requests().iter().any(|r| r.starts_with("/v3.zip")),
        "the v3 download was attempted: {:?}",
        server.requests()
    );

    server.set_file("/v3.json", v3_doc(&sha256_checksum(&v3_zip)));
    let cmd = run(&home);
    let wv = home.spawn(cmd);
    home.wait_for_blocks_by("v3", 10, &wv);
    home.assert_current("upgrades/v3");
    assert_eq!(
        std::fs::read(home.cosmovisor().join("upgrades/v3/bin/fake-chaind")).expect("v3"),
        v3
    );
}
