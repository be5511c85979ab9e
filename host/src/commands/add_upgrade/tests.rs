use std::io::{Read as _, Write as _};
use std::net::TcpListener;

use sha2::Digest as _;

use super::*;
use crate::commands::binary::tests::script;

struct Home {
    dir: tempfile::TempDir,
    config: Config,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("data")).unwrap();
        let config = Config::new(home, "appd");
        Home { dir, config }
    }

    fn layout(&self) -> Layout {
        self.config.layout()
    }

    fn binary(&self, file: &str, body: &str) -> String {
        let p = self.dir.path().join(file);
        script(&p, body);
        p.display().to_string()
    }

    fn add(&self, req: Request) -> Result<PathBuf> {
        add_upgrade(&self.config, &req)
    }
}

fn req(name: &str, source: &str) -> Request {
    Request {
        name: name.into(),
        source: source.into(),
        ..Request::default()
    }
}

fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[test]
fn copies_a_local_binary_into_the_upgrade_folder() {
    let h = Home::new();
    let src = h.binary("build", "echo v2");
    let bin = h.add(req("V2", &src)).unwrap();
    assert_eq!(bin, h.layout().upgrade_bin("v2"));
    assert_eq!(
        std::fs::read_to_string(&bin).unwrap(),
        "#!/bin/sh\necho v2\n"
    );
    assert!(
        !h.layout().upgrade_info_file().exists(),
        "no plan without --upgrade-height"
    );
}

#[test]
fn refuses_to_overwrite_without_force() {
    let h = Home::new();
    h.add(req("v2", &h.binary("a", "echo a"))).unwrap();
    let err = h.add(req("v2", &h.binary("b", "echo b"))).unwrap_err();
    assert_eq!(crate::cli::exit_code_for(&err), 2);
    assert!(err.to_string().contains("--force"), "{err}");
    let bin = h
        .add(Request {
            force: true,
            ..req("v2", &h.binary("b", "echo b"))
        })
        .unwrap();
    assert_eq!(std::fs::read_to_string(bin).unwrap(), "#!/bin/sh\necho b\n");
}

#[test]
fn local_checksum_is_checked() {
    let h = Home::new();
    let src = h.binary("a", "echo a");
    let right = sha256_of(&std::fs::read(&src).unwrap());
    h.add(Request {
        checksum: Some(right),
        ..req("v2", &src)
    })
    .unwrap();
    let wrong = sha256_of(b"something else");
    let err = h
        .add(Request {
            checksum: Some(wrong),
            force: true,
            ..req("v3", &src)
        })
        .unwrap_err();
    assert!(format!("{err:#}").contains("checksum"), "{err:#}");
    assert!(!h.layout().upgrade_bin("v3").exists());
    let err = h
        .add(Request {
            checksum: Some("crc32:00".into()),
            ..req("v4", &src)
        })
        .unwrap_err();
    assert_eq!(crate::cli::exit_code_for(&err), 2);
}

#[test]
fn empty_name_and_bad_source_are_usage_errors() {
    let h = Home::new();
    let err = h.add(req("  ", &h.binary("a", "true"))).unwrap_err();
    assert_eq!(crate::cli::exit_code_for(&err), 2);
    let err = h.add(req("v2", "/no/such/file")).unwrap_err();
    assert_eq!(crate::cli::exit_code_for(&err), 2);
}

#[test]
fn upgrade_height_stages_the_plan() {
    let h = Home::new();
    h.add(Request {
        upgrade_height: Some(120),
        ..req("v2", &h.binary("a", "true"))
    })
    .unwrap();
    let layout = h.layout();
    let plan = upgrade_info::read(&layout.upgrade_info_file())
        .unwrap()
        .unwrap();
    assert_eq!(
        plan,
        Plan {
            name: "v2".into(),
            height: 120,
            info: String::new()
        }
    );
    let raw = std::fs::read_to_string(layout.upgrade_info_file()).unwrap();
    assert!(raw.contains("\"time\":\"0001-01-01T00:00:00Z\""), "{raw}");
    assert!(detect::is_staged(&layout, &plan));
    let leftovers: Vec<_> = std::fs::read_dir(layout.data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "upgrade-info.json")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_different_pending_plan_is_not_clobbered() {
    let h = Home::new();
    let layout = h.layout();
    let pending = Plan {
        name: "v2".into(),
        height: 100,
        info: String::new(),
    };
    std::fs::write(layout.upgrade_info_file(), pending.to_json()).unwrap();
    let src = h.binary("a", "true");

    let err = h
        .add(Request {
            upgrade_height: Some(200),
            ..req("v3", &src)
        })
        .unwrap_err();
    assert!(err.to_string().contains("v2 at height 100"), "{err}");
    assert!(
        !layout.upgrade_bin("v3").exists(),
        "refused before installing anything"
    );

    // The same plan again is fine; --force replaces a different one.
    h.add(Request {
        upgrade_height: Some(100),
        ..req("V2", &src)
    })
    .unwrap();
    h.add(Request {
        upgrade_height: Some(200),
        force: true,
        ..req("v3", &src)
    })
    .unwrap();
    assert_eq!(
        upgrade_info::read(&layout.upgrade_info_file())
            .unwrap()
            .unwrap()
            .name,
        "v3"
    );
}

#[test]
fn an_applied_plan_may_be_replaced() {
    let h = Home::new();
    let layout = h.layout();
    let applied = Plan {
        name: "v2".into(),
        height: 100,
        info: String::new(),
    };
    script(&layout.upgrade_bin("v2"), "true");
    std::fs::write(
        layout.upgrade_dir("v2").join("upgrade-info.json"),
        applied.to_json(),
    )
    .unwrap();
    crate::switch::point_current_at(&layout, &layout.relative_upgrade_target("v2")).unwrap();
    std::fs::write(layout.upgrade_info_file(), applied.to_json()).unwrap();

    h.add(Request {
        upgrade_height: Some(300),
        ..req("v3", &h.binary("a", "true"))
    })
    .unwrap();
    assert_eq!(
        upgrade_info::read(&layout.upgrade_info_file())
            .unwrap()
            .unwrap()
            .height,
        300
    );
}

#[test]
fn staging_needs_the_data_dir() {
    let h = Home::new();
    std::fs::remove_dir(h.layout().data_dir()).unwrap();
    let err = h
        .add(Request {
            upgrade_height: Some(5),
            ..req("v2", &h.binary("a", "true"))
        })
        .unwrap_err();
    assert_eq!(crate::cli::exit_code_for(&err), 2);
    assert!(err.to_string().contains("does not exist"), "{err}");
}

/// A loopback HTTP server answering `/appd` with `body` and anything else with 404.
fn serve(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&request)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            let (status, payload) = if line.starts_with("GET /appd ") {
                ("200 OK", body.clone())
            } else {
                ("404 Not Found", b"not here".to_vec())
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                payload.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&payload);
        }
    });
    format!("http://{addr}")
}

#[test]
fn downloads_from_an_http_url_with_a_checksum() {
    let h = Home::new();
    let body = b"#!/bin/sh\necho downloaded\n".to_vec();
    let base = serve(body.clone());
    let url = format!("{base}/appd");
    let bin = h
        .add(Request {
            checksum: Some(sha256_of(&body)),
            ..req("v2", &url)
        })
        .unwrap();
    assert_eq!(std::fs::read(&bin).unwrap(), body);

    let err = h
        .add(Request {
            checksum: Some(sha256_of(b"x")),
            ..req("v3", &url)
        })
        .unwrap_err();
    assert!(
        format!("{err:#}").to_lowercase().contains("checksum"),
        "{err:#}"
    );
    assert!(!h.layout().upgrade_bin("v3").exists());
}

#[test]
fn must_have_checksum_is_enforced_for_urls() {
    let mut h = Home::new();
    h.config.download_must_have_checksum = true;
    let base = serve(b"#!/bin/sh\n".to_vec());
    let err = h.add(req("v2", &format!("{base}/appd"))).unwrap_err();
    assert!(
        format!("{err:#}").to_lowercase().contains("checksum"),
        "{err:#}"
    );
}

#[test]
fn a_failed_forced_download_keeps_the_old_binary() {
    let h = Home::new();
    let bin = h.add(req("v2", &h.binary("a", "echo old"))).unwrap();
    let base = serve(Vec::new());
    let err = h
        .add(Request {
            force: true,
            ..req("v2", &format!("{base}/missing"))
        })
        .unwrap_err();
    assert!(format!("{err:#}").contains("404"), "{err:#}");
    assert_eq!(
        crate::cli::exit_code_for(&err),
        1,
        "a failed download is a runtime failure"
    );
    assert_eq!(
        std::fs::read_to_string(&bin).unwrap(),
        "#!/bin/sh\necho old\n"
    );
    let names: Vec<_> = std::fs::read_dir(bin.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["appd"]);
}

#[test]
fn forced_download_replaces_the_binary_and_file_urls_work() {
    let h = Home::new();
    h.add(req("v2", &h.binary("a", "echo old"))).unwrap();
    let newer = h.binary("newer", "echo new");
    let bin = h
        .add(Request {
            force: true,
            ..req("v2", &format!("file://{newer}"))
        })
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&bin).unwrap(),
        "#!/bin/sh\necho new\n"
    );
    let names: Vec<_> = std::fs::read_dir(bin.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["appd"]);
}
