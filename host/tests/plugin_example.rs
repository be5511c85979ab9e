//! The chain teams' template (`examples/custom-resolver`) must keep building and
//! loading against this host: build it for wasm32-wasip2 as its README says, then
//! load it, read its manifest, and call it. Its own logic is tested in the example
//! itself (`cargo test` there); without network, the call here stops at the egress
//! check, which proves the component links, describes itself and reaches the host.

use std::path::{Path, PathBuf};
use std::process::Command;

use wasmvisor::plugin::{
    ComponentCache, HostOptions, Platform, PluginError, PluginHost, PluginKind, PluginsConfig,
    ReportedError,
};
use wasmvisor::upgrade_info::Plan;

fn build_example() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target = root.join("target/plugins/example");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(root.join("examples/custom-resolver"))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target);
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
    ] {
        cargo.env_remove(var);
    }
    let out = cargo.output().unwrap();
    assert!(
        out.status.success(),
        "building the example failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("wasm32-wasip2/release/example_chain_resolver.wasm")
}

#[tokio::test]
async fn the_custom_resolver_template_builds_loads_and_calls_the_host() {
    let wasm = build_example();
    let home = tempfile::tempdir().unwrap();
    let host = PluginHost::load_with(
        PluginsConfig::default(),
        &[wasm.display().to_string()],
        HostOptions {
            home: Some(home.path().to_path_buf()),
            daemon_name: "exampled".into(),
            cache: ComponentCache::under_home(home.path()),
        },
    )
    .unwrap();
    let plugin = &host.plugins()[0];
    assert_eq!(plugin.kind(), PluginKind::Resolver);
    let ready = plugin.ready().await.unwrap();
    assert_eq!(ready.manifest.name, "example-chain-resolver");
    assert_eq!(
        ready.manifest.http_hosts[0].to_string(),
        "releases.example-chain.io"
    );

    let plan = Plan {
        name: "v2".into(),
        height: 5,
        info: String::new(),
    };
    let platform = Platform {
        os: "linux".into(),
        arch: "amd64".into(),
    };
    let err = plugin.resolve(&plan, &platform).await.unwrap_err();
    match err {
        PluginError::Reported {
            error: ReportedError::Denied(m),
            ..
        } => {
            assert!(
                m.contains("https://releases.example-chain.io/v2/SHA256SUMS"),
                "{m}"
            )
        }
        other => panic!("expected the egress denial (no host granted), got {other}"),
    }
}
