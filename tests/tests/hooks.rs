//! Hook plugins around a real upgrade: the bundled `webhook` announces the switch only
//! once the new binary is running (the post-upgrade call comes after its start).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmvisor_e2e::TestHome;

/// One POST the webhook sent, and whether the v2 node process existed when it came.
struct Received {
    body: String,
    v2_running: bool,
}

/// Whether a process runs the executable `exe` (by `/proc/<pid>/exe`).
fn process_running(exe: &Path) -> bool {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .any(|e| std::fs::read_link(e.path().join("exe")).is_ok_and(|p| p == exe))
        })
        .unwrap_or(false)
}

/// A loopback endpoint recording every request body, checking at arrival time
/// whether the new binary already runs.
fn start_endpoint(v2_exe: PathBuf) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let v2_running = process_running(&v2_exe);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then the body by content-length.
            while let Ok(n) = s.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        let body =
                            String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                        store
                            .lock()
                            .expect("lock")
                            .push(Received { body, v2_running });
                        break;
                    }
                }
            }
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n");
        }
    });
    (port, seen)
}

#[test]
fn the_webhook_announces_the_switch_once_the_new_binary_runs() {
    let mut home = TestHome::with_v2_at(5);
    let v2_exe = home.home().join("cosmovisor/upgrades/v2/bin/fake-chaind");
    let (port, seen) = start_endpoint(v2_exe);
    let config = home.scratch().join("wasmvisor.toml");
    std::fs::write(
        &config,
        format!(
            "[plugins.webhook]\nbundled = \"webhook\"\nhosts = [\"127.0.0.1\"]\n\
             [plugins.webhook.config]\nurl = \"http://127.0.0.1:{port}/events\"\n"
        ),
    )
    .expect("write the config");
    let home_dir = home.home().display().to_string();
    let cmd = home.command([
        "run",
        "--cosmovisor-config",
        config.to_str().expect("utf-8"),
        "start",
        "--home",
        &home_dir,
    ]);
    let wv = home.spawn(cmd);
    home.wait_for_blocks_by("v2", 6, &wv);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while seen.lock().expect("lock").len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = seen.lock().expect("lock");
    let events: Vec<&str> = seen
        .iter()
        .map(|r| {
            if r.body.contains("\"switched\"") {
                "switched"
            } else if r.body.contains("\"binary-installed\"") {
                "binary-installed"
            } else {
                "other"
            }
        })
        .collect();
    assert_eq!(events, ["binary-installed", "switched"], "{}", wv.output());
    assert!(
        !seen[0].v2_running,
        "binary-installed comes before the switch"
    );
    assert!(
        seen[1].v2_running,
        "switched is sent once the v2 node runs\n{}",
        wv.output()
    );
}
