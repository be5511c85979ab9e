//! One data backup through `wasmvisor::backup`, for `host/benches/backup.sh` to time
//! against `cp -a` (the script times every command the same way, from outside).
//!
//! `cargo bench -p wasmvisor --bench backup_tree -- <data dir> <backup root>`
//! Without the two directories (e.g. a plain `cargo bench`) it prints its usage and
//! succeeds, so it never breaks a run of all benches.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [data, root] = args.as_slice() else {
        eprintln!(
            "usage: backup_tree <data dir> <backup root>   (driven by host/benches/backup.sh)"
        );
        return ExitCode::SUCCESS;
    };
    let today = chrono::Local::now().date_naive();
    match wasmvisor::backup::backup(Path::new(data), Path::new(root), today, false) {
        Ok(r) => {
            println!(
                "path={} files={} bytes={} method={} elapsed_s={:.3}",
                r.path.display(),
                r.files,
                r.bytes,
                r.method,
                r.elapsed.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("backup failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
