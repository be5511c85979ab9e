//! One artifact install through `wasmvisor::install`, for `host/benches/download.sh`
//! to time against `curl -o` from the same loopback server.
//!
//! `cargo bench -p wasmvisor --bench download -- <home> <url> [type:hex] [--fetch-only]`
//!
//! By default this is the whole `install()` (download + checksum while streaming,
//! kind detection, ELF check, fsync, rename into `upgrades/bench/bin/appd`). With
//! `--fetch-only` it stops after the verified download, which is what `curl -o`
//! does. Without arguments (a plain `cargo bench`) it prints its usage and succeeds.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use wasmvisor::install::{self, Artifact, Checksum, InstallOptions};
use wasmvisor::layout::Layout;
use wasmvisor::progress::Progress;

fn main() -> ExitCode {
    let fetch_only = std::env::args().any(|a| a == "--fetch-only");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (home, url, checksum) = match args.as_slice() {
        [home, url] => (home, url, None),
        [home, url, sum] => (home, url, Some(sum)),
        _ => {
            eprintln!(
                "usage: download <home> <url> [type:hex] [--fetch-only]   (driven by host/benches/download.sh)"
            );
            return ExitCode::SUCCESS;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let result = runtime.block_on(run(
        Path::new(home),
        url,
        checksum.map(String::as_str),
        fetch_only,
    ));
    match result {
        Ok((bytes, what)) => {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{what} bytes={bytes} elapsed_s={secs:.3} mb_s={:.1}",
                bytes as f64 / secs / 1e6
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("install failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    home: &Path,
    url: &str,
    checksum: Option<&str>,
    fetch_only: bool,
) -> Result<(u64, String), install::InstallError> {
    let mut artifact = Artifact::from_url_with_query(url)?;
    if let Some(sum) = checksum {
        artifact.checksum = Some(Checksum::parse(sum)?);
    }
    let opts = InstallOptions::default();
    if fetch_only {
        let source = install::Source::parse(&artifact.url)?;
        let limits = install::download::FetchLimits {
            max_bytes: opts.max_download_bytes,
            connect_timeout: opts.connect_timeout,
            stall_timeout: opts.stall_timeout,
            max_redirects: opts.max_redirects,
            authorizer: None,
        };
        let dest = home.join("fetched");
        let fetched = install::download::fetch(
            &source,
            &dest,
            artifact.checksum.as_ref(),
            &limits,
            &Progress::hidden(),
        )
        .await?;
        return Ok((fetched.bytes, "fetch".to_owned()));
    }
    let layout = Layout::new(home, "appd", false);
    let bin = install::install(&layout, "bench", &artifact, &opts).await?;
    let bytes = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
    Ok((bytes, "install".to_owned()))
}
