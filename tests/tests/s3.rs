//! The bundled `s3` resolver against a real S3-compatible server (moto, on
//! loopback; see `support/s3.rs`): the real `wasmvisor` upgrades the real
//! `fake-chaind` with a binary it finds in a bucket — public with a sidecar
//! checksum, private (only requests signed by the host with the operator's SigV4
//! keys are served), with the checksum in the object's metadata — and refuses a
//! wrong checksum, leaving nothing that blocks a retry.

use std::path::PathBuf;

use wasmvisor_e2e::archive::{sha256_checksum, tar_gz};
use wasmvisor_e2e::s3::{Keys, S3Server, Setup, Upload};
use wasmvisor_e2e::{Chain, Exit, Running, TIMEOUT, TestHome};

/// The key the default `key_template` (`{name}/{os}-{arch}`) gives for v2 here.
fn v2_key() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("v2/linux-{arch}")
}

fn hex_of(checksum: &str) -> String {
    checksum
        .strip_prefix("sha256:")
        .expect("sha256_checksum gives sha256:<hex>")
        .to_owned()
}

/// A home whose chain halts for v2 at height 5 (empty plan info), v2 not installed,
/// downloads allowed; the v2 binary, to upload.
fn home_and_v2() -> (TestHome, Vec<u8>) {
    let mut home = TestHome::new(Chain::upgrade_at("v2", 5));
    let v2 = std::fs::read(home.make_version("v2")).expect("read v2");
    home.set_env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true");
    (home, v2)
}

fn installed(home: &TestHome) -> PathBuf {
    home.cosmovisor().join("upgrades/v2/bin/fake-chaind")
}

/// The plugin's table for `bucket` on `server` (the loopback address granted),
/// plus `extra` config lines; with `keys`, a SigV4 credential rule for the server
/// whose secrets come from the environment.
fn write_config(
    home: &mut TestHome,
    server: &S3Server,
    bucket: &str,
    extra: &str,
    keys: Option<&Keys>,
) -> PathBuf {
    let authority = server.authority();
    let endpoint = server.endpoint();
    let mut text = format!(
        "[plugins.s3]\nbundled = \"s3\"\nhosts = [\"{authority}\"]\n\
         [plugins.s3.config]\nbucket = \"{bucket}\"\nendpoint = \"{endpoint}\"\n{extra}\n"
    );
    if let Some(keys) = keys {
        home.set_env("TEST_S3_KEY_ID", &keys.access_key_id);
        home.set_env("TEST_S3_SECRET", &keys.secret_access_key);
        text.push_str(&format!(
            "[[plugins.credentials]]\nhosts = [\"{authority}\"]\n\
             sigv4 = {{ region = \"us-east-1\", access_key_id_env = \"TEST_S3_KEY_ID\", secret_access_key_env = \"TEST_S3_SECRET\" }}\n"
        ));
    }
    let path = home.scratch().join("wasmvisor.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

fn run_with(home: &mut TestHome, config: &std::path::Path) -> Running {
    let home_dir = home.home().display().to_string();
    let cmd = home.command([
        "run",
        "--cosmovisor-config",
        config.to_str().expect("utf-8 path"),
        "start",
        "--home",
        &home_dir,
    ]);
    home.spawn(cmd)
}

/// Runs until the upgrade is done and v2 makes blocks.
fn assert_upgrades(home: &mut TestHome, config: &std::path::Path, v2: &[u8]) {
    let wv = run_with(home, config);
    home.wait_for_blocks_by("v2", 5, &wv);
    home.assert_current("upgrades/v2");
    assert_eq!(std::fs::read(installed(home)).expect("installed"), v2);
}

/// Runs until wasmvisor gives up on the upgrade; its stderr.
fn assert_upgrade_fails(home: &mut TestHome, config: &std::path::Path) -> String {
    let mut wv = run_with(home, config);
    let exit = wv.wait_exit(TIMEOUT);
    assert!(
        matches!(exit, Exit::Code(c) if c != 0),
        "the upgrade must fail: {}",
        home.describe(&wv)
    );
    home.assert_current("genesis");
    assert!(!installed(home).exists(), "nothing may be installed");
    wv.stderr()
}

#[test]
fn a_public_object_with_a_sidecar_checksum_is_installed_at_the_upgrade() {
    let (mut home, v2) = home_and_v2();
    let archive = tar_gz(&[("bin/fake-chaind", &v2, 0o755)]);
    let sum = hex_of(&sha256_checksum(&archive));
    let key = v2_key();
    let file_name = key.rsplit('/').next().expect("a file name").to_owned();
    let server = S3Server::start(&home.scratch());
    server.setup(
        &Setup {
            buckets: vec!["chain-public".into()],
            uploads: vec![
                Upload::new("chain-public", &key, archive).public(),
                Upload::new(
                    "chain-public",
                    &format!("{key}.sha256"),
                    format!("{sum}  {file_name}\n"),
                )
                .public(),
            ],
            ..Setup::default()
        },
        &home.scratch(),
    );
    assert_eq!(
        server.unsigned_status("GET", &format!("/chain-public/{key}")),
        200,
        "the object is public"
    );
    let config = write_config(
        &mut home,
        &server,
        "chain-public",
        "checksum = \"sidecar\"",
        None,
    );
    assert_upgrades(&mut home, &config, &v2);
}

#[test]
fn a_private_bucket_works_only_with_the_operators_sigv4_credential() {
    let (mut home, v2) = home_and_v2();
    let archive = tar_gz(&[("bin/fake-chaind", &v2, 0o755)]);
    let sum = hex_of(&sha256_checksum(&archive));
    let key = v2_key();
    let server = S3Server::start(&home.scratch());
    let keys = server
        .setup(
            &Setup {
                buckets: vec!["chain-private".into()],
                uploads: vec![
                    Upload::new("chain-private", &key, archive),
                    Upload::new("chain-private", &format!("{key}.sha256"), sum),
                ],
                reader: true,
                enforce_signatures: true,
            },
            &home.scratch(),
        )
        .expect("the reader's keys");

    // Only the signed path works: unsigned and forged requests are refused.
    let path = format!("/chain-private/{key}");
    assert_eq!(server.unsigned_status("GET", &path), 403, "unsigned GET");
    let forged = format!(
        "AWS4-HMAC-SHA256 Credential={}/20250101/us-east-1/s3/aws4_request, \
         SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={}",
        keys.access_key_id,
        "0".repeat(64)
    );
    let empty_sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!(
        server.status_with(
            "GET",
            &path,
            &[
                ("authorization", &forged),
                ("x-amz-date", "20250101T000000Z"),
                ("x-amz-content-sha256", empty_sha),
            ],
        ),
        403,
        "a wrong signature"
    );

    // Without a credential rule: a clear error, nothing installed.
    let config = write_config(&mut home, &server, "chain-private", "", None);
    let stderr = assert_upgrade_fails(&mut home, &config);
    for part in [
        "403",
        "private",
        "[[plugins.credentials]]",
        &format!("hosts = [\"{}\"]", server.authority()),
        "sigv4",
    ] {
        assert!(
            stderr.contains(part),
            "the error must say {part:?}:\n{stderr}"
        );
    }

    // The operator adds the credential and starts again: no clean-up needed.
    let config = write_config(&mut home, &server, "chain-private", "", Some(&keys));
    assert_upgrades(&mut home, &config, &v2);
    let log = server.log_text();
    assert!(
        log.contains(&format!("\"GET /chain-private/{key} HTTP/1.1\" 200")),
        "moto served the signed download:\n{log}"
    );
}

#[test]
fn s3s_own_sha256_in_the_object_metadata_verifies_a_raw_binary() {
    let (mut home, v2) = home_and_v2();
    let key = v2_key();
    let server = S3Server::start(&home.scratch());
    server.setup(
        &Setup {
            buckets: vec!["chain-meta".into()],
            // No sidecar: the checksum can only come from the metadata.
            uploads: vec![
                Upload::new("chain-meta", &key, v2.clone())
                    .public()
                    .with_s3_checksum(),
            ],
            ..Setup::default()
        },
        &home.scratch(),
    );
    let config = write_config(
        &mut home,
        &server,
        "chain-meta",
        "checksum = \"metadata\"\narchive = \"raw\"",
        None,
    );
    assert_upgrades(&mut home, &config, &v2);
}

#[test]
fn a_wrong_checksum_in_the_metadata_is_refused_and_a_corrected_object_installs() {
    let (mut home, v2) = home_and_v2();
    let archive = tar_gz(&[("bin/fake-chaind", &v2, 0o755)]);
    let good = hex_of(&sha256_checksum(&archive));
    let key = v2_key();
    let server = S3Server::start(&home.scratch());
    let upload = |sum: &str| {
        Upload::new("chain-wrong", &key, archive.clone())
            .public()
            .metadata("sha256", sum)
    };
    server.setup(
        &Setup {
            buckets: vec!["chain-wrong".into()],
            uploads: vec![upload(&"0".repeat(64))],
            ..Setup::default()
        },
        &home.scratch(),
    );
    let config = write_config(&mut home, &server, "chain-wrong", "", None);
    let stderr = assert_upgrade_fails(&mut home, &config);
    let says_checksum = stderr.lines().any(|l| {
        l.contains("module=wasmvisor") && l.contains("ERR") && l.to_lowercase().contains("checksum")
    });
    assert!(says_checksum, "the error must name the checksum:\n{stderr}");

    // The publisher fixes the metadata; the next start completes the upgrade.
    server.setup(
        &Setup {
            uploads: vec![upload(&good)],
            ..Setup::default()
        },
        &home.scratch(),
    );
    assert_upgrades(&mut home, &config, &v2);
}

#[test]
fn plugin_resolve_names_the_object_and_its_checksum_or_the_missing_key() {
    let mut home = TestHome::new(Chain::default());
    let sum = "ab".repeat(32);
    let server = S3Server::start(&home.scratch());
    server.setup(
        &Setup {
            buckets: vec!["chain-cli".into()],
            uploads: vec![
                Upload::new("chain-cli", "releases/v3.1.0/appd-3.1.0-linux-arm64", "x")
                    .public()
                    .metadata("sha256", &sum),
            ],
            ..Setup::default()
        },
        &home.scratch(),
    );
    let plan = home.scratch().join("plan.json");
    let endpoint = format!("endpoint={}", server.endpoint());
    let authority = server.authority();
    let resolve = |home: &mut TestHome, name: &str| {
        std::fs::write(&plan, TestHome::plan_json(name, 10)).expect("write the plan");
        home.cli(&[
            "plugin",
            "resolve",
            "s3",
            "--plan",
            plan.to_str().expect("utf-8"),
            "--os",
            "linux",
            "--arch",
            "arm64",
            "--grant-host",
            &authority,
            "--set",
            "bucket=chain-cli",
            "--set",
            &endpoint,
            "--set",
            "key_template=releases/{name}/appd-{version}-{os}-{arch}",
        ])
    };
    let found = resolve(&mut home, "v3.1.0");
    found.assert_success();
    let artifacts: serde_json::Value = serde_json::from_str(&found.stdout).expect("JSON on stdout");
    assert_eq!(
        artifacts[0]["url"],
        format!(
            "{}/chain-cli/releases/v3.1.0/appd-3.1.0-linux-arm64",
            server.endpoint()
        )
    );
    assert_eq!(artifacts[0]["checksum"], format!("sha256:{sum}"));

    let missing = resolve(&mut home, "v9.9.9");
    assert!(!missing.success(), "{missing:#?}");
    assert!(
        missing
            .stderr
            .contains("no object releases/v9.9.9/appd-9.9.9-linux-arm64 in bucket chain-cli"),
        "{missing:#?}"
    );
}
