//! Cost of the bundled `s3` resolver: `cargo bench -p wasmvisor --bench s3`.
//!
//! Target: a resolution through a bundled resolver (the plugin call, without the
//! download) takes ≤ 5 ms against a loopback server. The server here is a minimal
//! S3 look-alike in this process (HEAD answers with `x-amz-meta-sha256`, GET of
//! `<key>.sha256` with the sidecar), so the figure is the plugin's and the host's
//! cost, not a Python server's. Prints medians and 99th percentiles, each beside a
//! baseline measured in the same run — native reqwest doing the same requests with
//! a reused client:
//! - checksum from metadata: one HEAD (baseline: one native HEAD);
//! - checksum from a sidecar: HEAD + GET (baseline: native HEAD + GET);
//! - metadata, private bucket: the same HEAD, SigV4-signed by the host from a
//!   credential rule (baseline: one native HEAD, unsigned).

#[allow(dead_code)] // shared by the benches; each uses a part
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use wasmvisor::config::Config;
use wasmvisor::plugin::{Platform, PluginHost};
use wasmvisor::upgrade_info::Plan;

use common::http::{self, Request, Response, Server};
use common::samples::{interleaved, ms, percentile};

const ROUNDS: usize = 300;
const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const BUCKET: &str = "chain-bins";

/// Answers like S3 for one object: HEAD `/<bucket>/<key>` with the metadata
/// checksum, GET `/<bucket>/<key>.sha256` with the sidecar, 404 otherwise. Counts
/// requests that carried a SigV4 signature.
fn s3_object(signed: Arc<AtomicUsize>) -> impl Fn(&Request) -> Response {
    let object = format!("/{BUCKET}/v2/linux-amd64");
    let sidecar = format!("{object}.sha256");
    move |request| {
        if request
            .header("authorization")
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("aws4-hmac-sha256"))
        {
            signed.fetch_add(1, Ordering::Relaxed);
        }
        match (request.method.as_str(), request.path.as_str()) {
            ("HEAD", path) if path == object => Response::new(200)
                .header("content-length", 52428800)
                .header("x-amz-meta-sha256", SHA),
            ("GET", path) if path == sidecar => Response::ok(format!("{SHA}  linux-amd64\n")),
            _ => Response::new(404),
        }
    }
}

/// A plugin host with the bundled `s3` for the loopback bucket; `extra` is more
/// TOML for the `[plugins]` table (a credential rule).
fn host_for(home: &std::path::Path, port: u16, checksum: &str, extra: &str) -> PluginHost {
    let mut config = Config::new(home, "chaind");
    config.plugins = toml::from_str(&format!(
        "[s3]\nbundled = \"s3\"\nhosts = [\"127.0.0.1:{port}\"]\n\
         [s3.config]\nbucket = \"{BUCKET}\"\nendpoint = \"http://127.0.0.1:{port}\"\nchecksum = \"{checksum}\"\n{extra}"
    ))
    .unwrap();
    PluginHost::load(&config, &[]).unwrap()
}

fn main() {
    // Before any thread exists: the credential rule reads its keys from here.
    // SAFETY: single-threaded at this point.
    unsafe {
        std::env::set_var("BENCH_S3_KEY_ID", "AKIDEXAMPLE");
        std::env::set_var(
            "BENCH_S3_SECRET",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        );
    }
    let rt = common::runtime();
    let home = common::home();
    let signed = Arc::new(AtomicUsize::new(0));
    let server = Server::start(s3_object(signed.clone())).unwrap();
    let port = server.port();
    let credential = format!(
        "[[credentials]]\nhosts = [\"127.0.0.1:{port}\"]\n\
         sigv4 = {{ region = \"us-east-1\", access_key_id_env = \"BENCH_S3_KEY_ID\", secret_access_key_env = \"BENCH_S3_SECRET\" }}\n"
    );
    let cases = [
        (
            "metadata (1 HEAD)",
            host_for(home.path(), port, "metadata", ""),
            false,
        ),
        (
            "sidecar (HEAD + GET)",
            host_for(home.path(), port, "sidecar", ""),
            true,
        ),
        (
            "metadata, SigV4-signed by the host",
            host_for(home.path(), port, "metadata", &credential),
            false,
        ),
    ];
    let platform = Platform {
        os: "linux".into(),
        arch: "amd64".into(),
    };
    let plan = Plan {
        name: "v2".into(),
        height: 10,
        info: String::new(),
    };
    let object = format!("http://127.0.0.1:{port}/{BUCKET}/v2/linux-amd64");

    rt.block_on(async {
        let client = http::client();
        for (label, host, sidecar) in &cases {
            let plugin = &host.plugins()[0];
            // Compile once (or load from the cache), outside the measurements.
            let started = Instant::now();
            let first = plugin.resolve(&plan, &platform).await.unwrap();
            println!(
                "s3 {label}: first resolve (compile/cache + describe + call): {:.1} ms",
                ms(started.elapsed())
            );
            assert_eq!(first[0].url, object);
            assert_eq!(first[0].checksum.as_ref().unwrap().to_string(), format!("sha256:{SHA}"));

            let (mut wasm, mut native) = interleaved(
                ROUNDS,
                async || plugin.resolve(&plan, &platform).await.unwrap(),
                async || {
                    let head = client.head(&object).send().await.unwrap();
                    std::hint::black_box(head.headers().get("x-amz-meta-sha256"));
                    if *sidecar {
                        std::hint::black_box(http::get(&client, &format!("{object}.sha256")).await);
                    }
                },
            )
            .await;
            println!(
                "s3 {label}: resolve median {:.2} ms, p99 {:.2} ms   (baseline, native reqwest: median {:.2} ms, p99 {:.2} ms)",
                ms(percentile(&mut wasm, 0.5)),
                ms(percentile(&mut wasm, 0.99)),
                ms(percentile(&mut native, 0.5)),
                ms(percentile(&mut native, 0.99)),
            );
        }
    });
    // The signed case must really have been signed (first call + every round).
    assert!(
        signed.load(Ordering::Relaxed) > ROUNDS,
        "the host did not sign the private-bucket requests"
    );
}
