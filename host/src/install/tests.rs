//! End-to-end installs against a real HTTP server on 127.0.0.1 serving real archives
//! whose payload is a real ELF (a copy of /bin/true).

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

// ---------------------------------------------------------------- the server

#[derive(Clone)]
enum Reply {
    Body(Arc<Vec<u8>>),
    Status(u16),
    Redirect(String),
    /// Announces `total` bytes, sends `sent`, then goes silent.
    Stall {
        sent: usize,
        total: usize,
    },
    /// Reads the request and never answers.
    Silent,
}

#[derive(Debug, Clone)]
struct Seen {
    target: String,
    authorization: Option<String>,
    /// The request head in lower case, for header checks.
    head: String,
}

#[derive(Clone)]
struct Server {
    base: String,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = Server {
            base,
            routes: Arc::default(),
            seen: Arc::default(),
        };
        let s = server.clone();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                tokio::spawn(async move { s.serve(conn).await });
            }
        });
        server
    }

    fn route(&self, path: &str, reply: Reply) -> String {
        self.routes.lock().unwrap().insert(path.to_owned(), reply);
        format!("{}{path}", self.base)
    }

    fn body(&self, path: &str, bytes: Vec<u8>) -> String {
        self.route(path, Reply::Body(Arc::new(bytes)))
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    async fn serve(&self, mut conn: TcpStream) {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let target = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let authorization = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("authorization: ")
                    .or_else(|| l.strip_prefix("Authorization: "))
            })
            .map(str::to_owned);
        self.seen.lock().unwrap().push(Seen {
            target: target.clone(),
            authorization,
            head: text.to_ascii_lowercase(),
        });
        let path = target.split('?').next().unwrap_or("/").to_owned();
        let reply = self
            .routes
            .lock()
            .unwrap()
            .get(&path)
            .cloned()
            .unwrap_or(Reply::Status(404));
        let _ = match reply {
            Reply::Body(bytes) => {
                let h = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    bytes.len()
                );
                conn.write_all(h.as_bytes())
                    .await
                    .and(conn.write_all(&bytes).await)
            }
            Reply::Status(code) => {
                let h = format!(
                    "HTTP/1.1 {code} Nope\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
                );
                conn.write_all(h.as_bytes()).await
            }
            Reply::Redirect(to) => {
                let h = format!(
                    "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                conn.write_all(h.as_bytes()).await
            }
            Reply::Silent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
            Reply::Stall { sent, total } => {
                let h = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
                );
                let _ = conn.write_all(h.as_bytes()).await;
                let _ = conn.write_all(&vec![7u8; sent]).await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
        };
    }
}

// ---------------------------------------------------------------- fixtures

fn elf() -> Vec<u8> {
    fs::read("/bin/true").expect("the tests need /bin/true")
}

fn foreign_elf() -> Vec<u8> {
    let mut e = elf();
    let other: u16 = if cfg!(target_arch = "aarch64") {
        62
    } else {
        183
    };
    e[18..20].copy_from_slice(&other.to_le_bytes());
    e
}

struct Home {
    _dir: tempfile::TempDir,
    layout: Layout,
}

fn home() -> Home {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path(), "appd", false);
    fs::create_dir_all(layout.upgrades_dir()).unwrap();
    Home { _dir: dir, layout }
}

impl Home {
    /// Everything in upgrades/, to prove a failure left nothing behind.
    fn upgrades(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.layout.upgrades_dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

fn quiet() -> InstallOptions {
    InstallOptions {
        progress: false,
        stall_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(2),
        ..InstallOptions::default()
    }
}

fn sha256(data: &[u8]) -> Checksum {
    digest(HashAlgo::Sha256, data)
}

fn digest(algo: HashAlgo, data: &[u8]) -> Checksum {
    let mut h = checksum::StreamHasher::new(algo);
    h.update(data);
    Checksum::parse(&format!("{}:{}", algo.name(), h.finish_hex())).unwrap()
}

enum Entry<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Device(&'a str),
    /// A regular file whose name is written raw, bypassing the tar crate's checks.
    RawName(&'a str, &'a [u8]),
}

fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        match *e {
            Entry::File(name, data, mode) => {
                h.set_size(data.len() as u64);
                h.set_mode(mode);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, name, data).unwrap();
            }
            Entry::Dir(name) => {
                h.set_size(0);
                h.set_mode(0o755);
                h.set_entry_type(tar::EntryType::Directory);
                b.append_data(&mut h, name, &[][..]).unwrap();
            }
            Entry::Symlink(name, to) => {
                h.set_size(0);
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, name, to).unwrap();
            }
            Entry::Device(name) => {
                h.set_size(0);
                h.set_mode(0o644);
                h.set_entry_type(tar::EntryType::Char);
                b.append_data(&mut h, name, &[][..]).unwrap();
            }
            Entry::RawName(name, data) => {
                h.set_size(data.len() as u64);
                h.set_mode(0o755);
                h.set_entry_type(tar::EntryType::Regular);
                let gnu = h.as_gnu_mut().unwrap();
                gnu.name[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                b.append(&h, data).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zip_bytes(entries: &[Entry]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for e in entries {
        match *e {
            Entry::File(name, data, mode) => {
                w.start_file(name, SimpleFileOptions::default().unix_permissions(mode))
                    .unwrap();
                w.write_all(data).unwrap();
            }
            Entry::Dir(name) => w.add_directory(name, SimpleFileOptions::default()).unwrap(),
            Entry::Symlink(name, to) => w
                .add_symlink(name, to, SimpleFileOptions::default())
                .unwrap(),
            _ => unreachable!("zip fixtures use files, dirs and symlinks"),
        }
    }
    w.finish().unwrap().into_inner()
}

fn assert_installed(h: &Home, bin: &Path) {
    assert_eq!(bin, h.layout.upgrade_bin("v2"));
    assert_eq!(fs::read(bin).unwrap(), elf());
    assert_eq!(
        fs::metadata(bin).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(h.upgrades(), vec!["v2"], "no staging directory is left");
    // The installed file really runs.
    assert!(std::process::Command::new(bin).status().unwrap().success());
}

async fn install_url(
    h: &Home,
    artifact: &Artifact,
    opts: &InstallOptions,
) -> Result<PathBuf, InstallError> {
    install(&h.layout, "V2", artifact, opts).await
}

// ---------------------------------------------------------------- formats

#[tokio::test]
async fn raw_binary_over_http_with_sha256() {
    let (h, srv) = (home(), Server::start().await);
    let url = srv.body("/appd", elf());
    let bin = install_url(
        &h,
        &Artifact::new(url).with_checksum(sha256(&elf())),
        &quiet(),
    )
    .await
    .unwrap();
    assert_installed(&h, &bin);
}

#[tokio::test]
async fn tar_gz_with_bin_dir_keeps_its_other_files() {
    let (h, srv) = (home(), Server::start().await);
    let archive = gz(&tar_bytes(&[
        Entry::Dir("bin"),
        Entry::File("bin/appd", &elf(), 0o755),
        Entry::File("lib/libwasmvm.so", b"lib", 0o644),
    ]));
    let url = srv.body("/appd-v2-linux-amd64.tar.gz", archive);
    let bin = install_url(&h, &Artifact::new(url), &quiet())
        .await
        .unwrap();
    assert_installed(&h, &bin);
    assert_eq!(
        fs::read(h.layout.upgrade_dir("v2").join("lib/libwasmvm.so")).unwrap(),
        b"lib"
    );
}

#[tokio::test]
async fn tar_xz_with_the_binary_at_the_top() {
    let (h, srv) = (home(), Server::start().await);
    let archive = xz(&tar_bytes(&[
        Entry::File("appd", &elf(), 0o755),
        Entry::File("README", b"r", 0o644),
    ]));
    let url = srv.body("/release.tar.xz", archive);
    let bin = install_url(&h, &Artifact::new(url), &quiet())
        .await
        .unwrap();
    assert_installed(&h, &bin);
}

#[tokio::test]
async fn zip_with_a_single_file_in_a_subfolder() {
    let (h, srv) = (home(), Server::start().await);
    let archive = zip_bytes(&[
        Entry::Dir("dist/"),
        Entry::File("dist/appd-linux-amd64", &elf(), 0o755),
    ]);
    let url = srv.body("/appd.zip", archive);
    let bin = install_url(&h, &Artifact::new(url), &quiet())
        .await
        .unwrap();
    assert_installed(&h, &bin);
}

#[tokio::test]
async fn gz_single_file_and_explicit_kind() {
    let (h, srv) = (home(), Server::start().await);
    let url = srv.body("/download", gz(&elf()));
    let artifact = Artifact::new(url).with_archive(ArchiveKind::Gz);
    let bin = install_url(&h, &artifact, &quiet()).await.unwrap();
    assert_installed(&h, &bin);
}

#[tokio::test]
async fn binary_path_hint_from_the_resolver_wins() {
    let (h, srv) = (home(), Server::start().await);
    let archive = gz(&tar_bytes(&[
        Entry::File("appd-v2/appd", &elf(), 0o755),
        Entry::File("appd-v2/other", &elf(), 0o755),
    ]));
    let url = srv.body("/a.tgz", archive);
    let mut artifact = Artifact::new(url);
    artifact.binary_path = Some("appd-v2/appd".into());
    let bin = install_url(&h, &artifact, &quiet()).await.unwrap();
    assert_eq!(fs::read(&bin).unwrap(), elf());
}

#[tokio::test]
async fn archive_without_the_binary_lists_what_it_holds() {
    let (h, srv) = (home(), Server::start().await);
    let archive = gz(&tar_bytes(&[
        Entry::File("x/one", b"1", 0o644),
        Entry::File("x/two", b"2", 0o644),
    ]));
    let url = srv.body("/a.tgz", archive);
    let err = install_url(&h, &Artifact::new(url), &quiet())
        .await
        .unwrap_err();
    assert!(matches!(err, InstallError::NoBinary { .. }), "{err}");
    assert!(err.to_string().contains("x/one, x/two"), "{err}");
    assert!(h.upgrades().is_empty());
}

// ---------------------------------------------------------------- checksums

#[tokio::test]
async fn every_checksum_type_verifies_and_a_mismatch_installs_nothing() {
    let srv = Server::start().await;
    let url = srv.body("/appd", elf());
    for algo in [
        HashAlgo::Md5,
        HashAlgo::Sha1,
        HashAlgo::Sha256,
        HashAlgo::Sha512,
    ] {
        let h = home();
        let bin = install_url(
            &h,
            &Artifact::new(&url).with_checksum(digest(algo, &elf())),
            &quiet(),
        )
        .await
        .unwrap();
        assert_installed(&h, &bin);

        let h = home();
        let wrong = digest(algo, b"something else");
        let err = install_url(&h, &Artifact::new(&url).with_checksum(wrong), &quiet())
            .await
            .unwrap_err();
        assert!(
            matches!(err, InstallError::ChecksumMismatch { .. }),
            "{algo:?}: {err}"
        );
        assert!(h.upgrades().is_empty(), "{algo:?}: {:?}", h.upgrades());
    }
}

#[tokio::test]
async fn checksum_in_the_url_query_is_used_and_stripped() {
    let (h, srv) = (home(), Server::start().await);
    let url = srv.body("/appd", elf());
    let artifact =
        Artifact::from_url_with_query(&format!("{url}?checksum={}&x=1", sha256(&elf()))).unwrap();
    assert_eq!(artifact.url, format!("{url}?x=1"));
    install_url(&h, &artifact, &quiet()).await.unwrap();
    assert_eq!(srv.seen()[0].target, "/appd?x=1");

    let bad = Artifact::from_url_with_query(&format!("{url}?checksum=sha256:{}", "0".repeat(64)))
        .unwrap();
    let h = home();
    assert!(matches!(
        install_url(&h, &bad, &quiet()).await,
        Err(InstallError::ChecksumMismatch { .. })
    ));
}

#[tokio::test]
async fn must_have_checksum_refuses_before_any_request() {
    let (h, srv) = (home(), Server::start().await);
    let url = srv.body("/appd", elf());
    let opts = InstallOptions {
        must_have_checksum: true,
        ..quiet()
    };
    let err = install_url(&h, &Artifact::new(url), &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(err, InstallError::ChecksumRequired { .. }),
        "{err}"
    );
    assert!(srv.seen().is_empty());
    assert!(h.upgrades().is_empty());
}

// ---------------------------------------------------------------- HTTP behaviour

#[tokio::test]
async fn one_redirect_is_followed_and_a_loop_is_cut() {
    let (h, srv) = (home(), Server::start().await);
    srv.body("/real/appd", elf());
    let url = srv.route("/old/appd", Reply::Redirect("../real/appd".into()));
    let bin = install_url(&h, &Artifact::new(url), &quiet())
        .await
        .unwrap();
    assert_installed(&h, &bin);

    let h = home();
    let a = srv.route("/a", Reply::Redirect("/b".into()));
    srv.route("/b", Reply::Redirect("/a".into()));
    let opts = InstallOptions {
        max_redirects: 5,
        ..quiet()
    };
    let err = install_url(&h, &Artifact::new(a), &opts).await.unwrap_err();
    assert!(
        matches!(err, InstallError::TooManyRedirects { max: 5, .. }),
        "{err}"
    );
    assert!(h.upgrades().is_empty());
}

#[tokio::test]
async fn a_server_that_stalls_mid_body_is_abandoned() {
    let (h, srv) = (home(), Server::start().await);
    let url = srv.route(
        "/appd",
        Reply::Stall {
            sent: 100_000,
            total: 1_000_000,
        },
    );
    let started = Instant::now();
    let err = install_url(&h, &Artifact::new(url), &quiet())
        .await
        .unwrap_err();
    assert!(matches!(err, InstallError::Stalled { .. }), "{err}");
    assert!(err.to_string().contains("after 100000 bytes"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(h.upgrades().is_empty());
}

#[tokio::test]
async fn a_server_that_never_answers_is_abandoned() {
    let (h, srv) = (home(), Server::start().await);
    let url = srv.route("/appd", Reply::Silent);
    let opts = InstallOptions {
        connect_timeout: Duration::from_millis(300),
        ..quiet()
    };
    let started = Instant::now();
    let err = install_url(&h, &Artifact::new(url), &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, InstallError::Stalled { .. }), "{err}");
    assert!(err.to_string().contains("no response headers"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(h.upgrades().is_empty());
}

#[tokio::test]
async fn http_errors_name_the_status() {
    let (h, srv) = (home(), Server::start().await);
    let url = format!("{}/missing", srv.base);
    let err = install_url(&h, &Artifact::new(url), &quiet())
        .await
        .unwrap_err();
    assert!(
        matches!(err, InstallError::HttpStatus { status: 404, .. }),
        "{err}"
    );
    assert!(!err.is_transient());
    assert!(h.upgrades().is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error() {
    let h = home();
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = install_url(
        &h,
        &Artifact::new(format!("http://127.0.0.1:{port}/x")),
        &quiet(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, InstallError::Network { .. }), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn downloads_past_the_limit_are_refused() {
    let (h, srv) = (home(), Server::start().await);
    let url = srv.body("/appd", elf());
    let opts = InstallOptions {
        max_download_bytes: 1000,
        ..quiet()
    };
    let err = install_url(&h, &Artifact::new(url), &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            InstallError::TooLarge {
                what: "download",
                ..
            }
        ),
        "{err}"
    );
    assert!(h.upgrades().is_empty());
}

struct TokenFor(String);

impl RequestAuthorizer for TokenFor {
    fn authorize(
        &self,
        url: &url::Url,
        headers: &mut reqwest::header::HeaderMap,
    ) -> anyhow::Result<()> {
        if url.authority() == self.0 {
            headers.insert("authorization", "Bearer s3cret".parse()?);
        }
        Ok(())
    }
}

#[tokio::test]
async fn credentials_go_only_to_their_host_across_redirects() {
    let (h, a, b) = (home(), Server::start().await, Server::start().await);
    let real = b.body("/appd", elf());
    let start = a.route("/appd", Reply::Redirect(real));
    let authority = start
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let opts = InstallOptions {
        authorizer: Some(Arc::new(TokenFor(authority))),
        ..quiet()
    };
    install_url(&h, &Artifact::new(start), &opts).await.unwrap();
    assert_eq!(a.seen()[0].authorization.as_deref(), Some("Bearer s3cret"));
    assert_eq!(b.seen().len(), 1);
    assert_eq!(
        b.seen()[0].authorization,
        None,
        "the token must not follow the redirect to another host"
    );
}

#[tokio::test]
async fn artifact_headers_go_to_its_origin_only_and_never_carry_credentials() {
    let (h, a, b) = (home(), Server::start().await, Server::start().await);
    let real = b.body("/appd", elf());
    let start = a.route("/asset", Reply::Redirect(real));
    let artifact = Artifact::new(start)
        .with_header("Accept", "application/octet-stream")
        .with_header("X-Extra", "1")
        .with_header("Authorization", "Bearer from-the-plugin");
    install_url(&h, &artifact, &quiet()).await.unwrap();
    let first = &a.seen()[0];
    assert!(
        first.head.contains("accept: application/octet-stream"),
        "{}",
        first.head
    );
    assert!(first.head.contains("x-extra: 1"), "{}", first.head);
    assert_eq!(
        first.authorization, None,
        "a plugin's authorization header must be dropped"
    );
    let second = &b.seen()[0];
    assert!(!second.head.contains("x-extra"), "{}", second.head);
    assert!(
        !second.head.contains("application/octet-stream"),
        "{}",
        second.head
    );
    assert_eq!(second.authorization, None);
}

#[tokio::test]
async fn artifact_headers_that_are_not_valid_are_refused_before_any_request() {
    let (h, srv) = (home(), Server::start().await);
    let url = srv.body("/appd", elf());
    for (name, value) in [("bad name", "x"), ("x-ok", "line\nbreak")] {
        let artifact = Artifact::new(&url).with_header(name, value);
        let err = install_url(&h, &artifact, &quiet()).await.unwrap_err();
        assert!(matches!(err, InstallError::BadHeader { .. }), "{err}");
    }
    let many = (0..=download::MAX_EXTRA_HEADERS).fold(Artifact::new(&url), |a, i| {
        a.with_header(format!("x-{i}"), "1")
    });
    assert!(matches!(
        install_url(&h, &many, &quiet()).await.unwrap_err(),
        InstallError::BadHeader { .. }
    ));
    assert!(srv.seen().is_empty());
    assert!(h.upgrades().is_empty());
}

// ---------------------------------------------------------------- hostile archives

async fn refused(archive: Vec<u8>, name: &str, opts: &InstallOptions) -> InstallError {
    let (h, srv) = (home(), Server::start().await);
    let url = srv.body(name, archive);
    let err = install_url(&h, &Artifact::new(url), opts)
        .await
        .unwrap_err();
    assert!(h.upgrades().is_empty(), "{name}: left {:?}", h.upgrades());
    assert!(!h.layout.home().join("x").exists() && !h.layout.upgrades_dir().join("x").exists());
    err
}

#[tokio::test]
async fn zip_slip_absolute_paths_links_and_devices_are_refused() {
    let e = elf();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("/slip.tgz", gz(&tar_bytes(&[Entry::RawName("../x", &e)]))),
        (
            "/deep-slip.tgz",
            gz(&tar_bytes(&[Entry::RawName("bin/../../../x", &e)])),
        ),
        (
            "/abs.tgz",
            gz(&tar_bytes(&[Entry::RawName("/tmp/wasmvisor-abs-x", &e)])),
        ),
        (
            "/link.tgz",
            gz(&tar_bytes(&[Entry::Symlink("bin/appd", "/bin/true")])),
        ),
        ("/dev.tar.xz", xz(&tar_bytes(&[Entry::Device("bin/appd")]))),
        ("/slip.zip", zip_bytes(&[Entry::File("../x", &e, 0o755)])),
        (
            "/link.zip",
            zip_bytes(&[Entry::Symlink("bin/appd", "/bin/true")]),
        ),
    ];
    for (name, archive) in cases {
        let err = refused(archive, name, &quiet()).await;
        assert!(
            matches!(err, InstallError::HostileArchive(_)),
            "{name}: {err}"
        );
    }
    assert!(!Path::new("/tmp/wasmvisor-abs-x").exists());
}

/// A zip whose only entry claims to be a character device: the writer cannot make
/// one, so the mode in the central directory (external attributes) is patched.
fn zip_with_device() -> Vec<u8> {
    let mut z = zip_bytes(&[Entry::File("bin/appd", b"x", 0o644)]);
    let at = z
        .windows(4)
        .position(|w| w == b"PK\x01\x02")
        .expect("a central directory header");
    let mode: u32 = 0o020_644;
    z[at + 38..at + 42].copy_from_slice(&(mode << 16).to_le_bytes());
    z
}

#[tokio::test]
async fn a_device_in_a_zip_is_refused() {
    let err = refused(zip_with_device(), "/dev.zip", &quiet()).await;
    assert!(matches!(err, InstallError::HostileArchive(_)), "{err}");
    assert!(err.to_string().contains("device"), "{err}");
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_the_unpacked_limit() {
    let zeros = vec![0u8; 16 << 20];
    let bomb = gz(&tar_bytes(&[Entry::File("bin/appd", &zeros, 0o755)]));
    assert!(bomb.len() < 1 << 20, "the fixture should compress well");
    let opts = InstallOptions {
        max_unpacked_bytes: 1 << 20,
        ..quiet()
    };
    let err = refused(bomb, "/bomb.tgz", &opts).await;
    assert!(
        matches!(
            err,
            InstallError::TooLarge {
                what: "unpacked archive",
                ..
            }
        ),
        "{err}"
    );

    let opts = InstallOptions {
        max_entries: 3,
        ..quiet()
    };
    let many: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
    let entries: Vec<Entry> = many.iter().map(|n| Entry::File(n, b"x", 0o644)).collect();
    let err = refused(gz(&tar_bytes(&entries)), "/many.tgz", &opts).await;
    assert!(
        matches!(
            err,
            InstallError::TooLarge {
                what: "number of archive entries",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn non_elf_and_foreign_payloads_are_refused() {
    let err = refused(b"<html>gateway error</html>".to_vec(), "/appd", &quiet()).await;
    assert!(matches!(err, InstallError::NotExecutable { .. }), "{err}");
    let err = refused(
        gz(&tar_bytes(&[Entry::File(
            "bin/appd",
            &foreign_elf(),
            0o755,
        )])),
        "/a.tgz",
        &quiet(),
    )
    .await;
    assert!(matches!(err, InstallError::WrongArch { .. }), "{err}");
    let err = refused(b"<html>not found</html>".to_vec(), "/appd.tar.gz", &quiet()).await;
    assert!(matches!(err, InstallError::BadArchive { .. }), "{err}");
}

// ---------------------------------------------------------------- local sources, retries, existing folders

#[tokio::test]
async fn file_urls_and_plain_paths_are_sources() {
    let src = tempfile::tempdir().unwrap();
    let path = src.path().join("appd.tar.gz");
    fs::write(
        &path,
        gz(&tar_bytes(&[Entry::File("bin/appd", &elf(), 0o755)])),
    )
    .unwrap();
    let sum = sha256(&fs::read(&path).unwrap());

    let h = home();
    let url = url::Url::from_file_path(&path).unwrap().to_string();
    let bin = install_url(&h, &Artifact::new(url).with_checksum(sum.clone()), &quiet())
        .await
        .unwrap();
    assert_installed(&h, &bin);

    let h = home();
    let bin = install_url(
        &h,
        &Artifact::new(path.to_str().unwrap()).with_checksum(sum),
        &quiet(),
    )
    .await
    .unwrap();
    assert_installed(&h, &bin);
    assert!(path.exists(), "the source file is copied, not moved");

    let h = home();
    let err = install_url(&h, &Artifact::new("/nonexistent/appd"), &quiet())
        .await
        .unwrap_err();
    assert!(matches!(err, InstallError::Io { .. }), "{err}");
    assert!(h.upgrades().is_empty());
}

#[tokio::test]
async fn a_retry_after_a_failed_install_succeeds() {
    let (h, srv) = (home(), Server::start().await);
    let url = srv.body("/appd", b"<html>truncated</html>".to_vec());
    assert!(
        install_url(&h, &Artifact::new(&url), &quiet())
            .await
            .is_err()
    );
    // A crashed earlier run's staging directory must not get in the way either.
    fs::create_dir_all(h.layout.upgrades_dir().join(".staging-v2-4194399/root/bin")).unwrap();
    srv.body("/appd", elf());
    let bin = install_url(&h, &Artifact::new(&url), &quiet())
        .await
        .unwrap();
    assert_installed(&h, &bin);
}

#[tokio::test]
async fn an_existing_folder_keeps_its_files_and_a_valid_binary_is_not_fetched_again() {
    let (h, srv) = (home(), Server::start().await);
    let dir = h.layout.upgrade_dir("v2");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("upgrade-info.json"), "{}").unwrap();
    let url = srv.body(
        "/appd.tgz",
        gz(&tar_bytes(&[Entry::File("bin/appd", &elf(), 0o755)])),
    );
    let bin = install_url(&h, &Artifact::new(&url), &quiet())
        .await
        .unwrap();
    assert_installed(&h, &bin);
    assert_eq!(
        fs::read_to_string(dir.join("upgrade-info.json")).unwrap(),
        "{}"
    );
    assert_eq!(srv.seen().len(), 1);

    let again = install_url(&h, &Artifact::new(&url), &quiet())
        .await
        .unwrap();
    assert_eq!(again, bin);
    assert_eq!(
        srv.seen().len(),
        1,
        "an installed binary is not downloaded again"
    );
}

#[tokio::test]
async fn an_unusable_binary_in_place_is_replaced() {
    let (h, srv) = (home(), Server::start().await);
    let bin = h.layout.upgrade_bin("v2");
    fs::create_dir_all(bin.parent().unwrap()).unwrap();
    fs::write(&bin, "half a download").unwrap();
    let url = srv.body("/appd", elf());
    let got = install_url(&h, &Artifact::new(url), &quiet())
        .await
        .unwrap();
    assert_installed(&h, &got);
}

#[test]
fn query_parsing_handles_archive_and_bad_values() {
    let a = Artifact::from_url_with_query("https://x.org/appd?archive=false").unwrap();
    assert_eq!(
        (a.url.as_str(), a.archive),
        ("https://x.org/appd", ArchiveKind::Raw)
    );
    assert!(Artifact::from_url_with_query("https://x.org/appd?archive=rar").is_err());
    assert!(Artifact::from_url_with_query("https://x.org/appd?checksum=sha256:12").is_err());
    let p = Artifact::from_url_with_query("/srv/appd").unwrap();
    assert_eq!(p.url, "/srv/appd");
}
