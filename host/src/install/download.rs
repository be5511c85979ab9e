//! Fetching an artifact into the staging directory: HTTP(S) with reqwest, or a local
//! file (`file://` URL or absolute path), hashed while it is written.
//!
//! Receiving, hashing and writing run as three stages on their own threads, joined
//! by small bounded channels that pass each network chunk by reference count (no
//! copy): the async task only receives, one blocking thread hashes, another writes.
//! Memory stays bounded by the channels (a few MiB at most), and hashing overlaps
//! with receiving and writing instead of adding to them.
//!
//! Redirects are followed by hand, so every hop is a fresh request: the
//! [`RequestAuthorizer`] sees each final URL and decides again, and credentials
//! meant for one host never travel to the next. An artifact's extra headers (e.g.
//! GitHub's `accept: application/octet-stream`) go to its own origin only, so a
//! redirect to a storage host receives neither them nor the first host's token.
//! A server that stops sending for
//! `stall_timeout` is abandoned, as is one that redirects more than `max_redirects`
//! times or sends more than `max_download_bytes`.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue, LOCATION};
use tokio::sync::mpsc;
use url::Url;

use super::checksum::{Checksum, StreamHasher};
use super::error::{InstallError, IoContext};
use crate::progress::Progress;

/// Adds host-side credentials (bearer tokens, AWS SigV4 …) to download requests.
///
/// Called once per request, redirects included, with the URL that request goes to;
/// implementations add headers only when that URL matches one of their rules.
pub trait RequestAuthorizer: Send + Sync {
    fn authorize(&self, url: &Url, headers: &mut HeaderMap) -> anyhow::Result<()>;
}

/// Where an artifact comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Http(Url),
    Local(PathBuf),
}

impl Source {
    /// Accepts `http://`, `https://`, `file://` URLs and absolute paths.
    pub fn parse(location: &str) -> Result<Self, InstallError> {
        let bad = |reason: &str| InstallError::BadUrl {
            url: location.to_owned(),
            reason: reason.to_owned(),
        };
        if location.starts_with('/') {
            return Ok(Source::Local(PathBuf::from(location)));
        }
        let url = Url::parse(location).map_err(|e| {
            bad(&format!(
                "{e}; give an http(s):// or file:// URL or an absolute path"
            ))
        })?;
        match url.scheme() {
            "http" | "https" => Ok(Source::Http(url)),
            "file" => url
                .to_file_path()
                .map(Source::Local)
                .map_err(|()| bad("a file:// URL must name an absolute local path")),
            other => Err(bad(&format!(
                "unsupported scheme {other:?}; use http, https or file"
            ))),
        }
    }
}

/// Limits and hooks of one fetch.
pub struct FetchLimits {
    pub max_bytes: u64,
    pub connect_timeout: Duration,
    pub stall_timeout: Duration,
    pub max_redirects: usize,
    pub authorizer: Option<Arc<dyn RequestAuthorizer>>,
}

/// What a finished fetch produced.
#[derive(Debug)]
pub struct Fetched {
    pub bytes: u64,
    /// The URL the bytes finally came from (after redirects), for logs.
    pub from: String,
}

/// Headers the host alone decides: credentials, and what would corrupt the transfer.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "host",
    "range",
    "content-length",
    "transfer-encoding",
    "connection",
];

/// At most this many extra headers per artifact.
pub const MAX_EXTRA_HEADERS: usize = 16;

/// An artifact's extra headers as a request header map. Reserved names (credentials
/// above all) are dropped with a debug line rather than refused, as the contract
/// says; an invalid name or value is an error.
pub fn extra_headers(pairs: &[(String, String)]) -> Result<HeaderMap, InstallError> {
    if pairs.len() > MAX_EXTRA_HEADERS {
        return Err(InstallError::BadHeader {
            name: format!("({} headers)", pairs.len()),
            reason: format!("at most {MAX_EXTRA_HEADERS} extra headers are allowed"),
        });
    }
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let bad = |reason: &str| InstallError::BadHeader {
            name: name.clone(),
            reason: reason.to_owned(),
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| bad("not a valid header name"))?;
        if RESERVED_HEADERS.contains(&name.as_str()) {
            tracing::debug!(header = %name, "ignoring a reserved artifact header");
            continue;
        }
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| bad("the value holds characters a header cannot carry"))?;
        map.append(name, value);
    }
    Ok(map)
}

/// Whether two URLs share scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Fetches `source` into `dest`, verifying `checksum` (if any) over the bytes written.
/// `dest` holds exactly the verified bytes on success; on failure it may hold a part.
pub async fn fetch(
    source: &Source,
    dest: &Path,
    checksum: Option<&Checksum>,
    limits: &FetchLimits,
    progress: &Progress,
) -> Result<Fetched, InstallError> {
    fetch_with_headers(source, dest, checksum, &HeaderMap::new(), limits, progress).await
}

/// [`fetch`] with extra request headers (see [`extra_headers`]) for the source's
/// origin; ignored for local files.
pub async fn fetch_with_headers(
    source: &Source,
    dest: &Path,
    checksum: Option<&Checksum>,
    headers: &HeaderMap,
    limits: &FetchLimits,
    progress: &Progress,
) -> Result<Fetched, InstallError> {
    let (bytes, digest, from) = match source {
        Source::Local(path) => {
            let (path, dest, progress) = (path.clone(), dest.to_owned(), progress.clone());
            let algo = checksum.map(|c| c.algo);
            let max = limits.max_bytes;
            let (n, digest) =
                tokio::task::spawn_blocking(move || copy_local(&path, &dest, algo, max, &progress))
                    .await
                    .map_err(|e| {
                        InstallError::io("copying the artifact", std::io::Error::other(e))
                    })??;
            (n, digest, source_label(source))
        }
        Source::Http(url) => http_fetch(url, dest, checksum, headers, limits, progress).await?,
    };
    if let (Some(expected), Some(actual)) = (checksum, digest) {
        expected.verify(&actual)?;
    }
    progress.finish();
    Ok(Fetched { bytes, from })
}

fn source_label(source: &Source) -> String {
    match source {
        Source::Http(u) => u.to_string(),
        Source::Local(p) => p.display().to_string(),
    }
}

/// The disk side: hashes and writes. Network chunks are usually hundreds of KiB and
/// go to the file as they are; only small ones are coalesced (`BufWriter` passes
/// writes larger than its buffer straight through, so no copy for the big ones).
/// Writeback is started every few MiB, so the fsync before the file becomes a
/// binary waits for the tail only and dirty pages never pile up.
struct Sink {
    out: BufWriter<File>,
    hasher: Option<StreamHasher>,
    written: u64,
    /// Bytes of the file whose writeback has been started.
    flushed: u64,
    path: PathBuf,
}

const COALESCE: usize = 64 << 10;
const READ_BUFFER: usize = 1 << 20;
const WRITEBACK_EVERY: u64 = 8 << 20;

impl Sink {
    fn create(path: &Path, algo: Option<super::checksum::HashAlgo>) -> Result<Self, InstallError> {
        let file = File::create(path).ctx(|| format!("creating {}", path.display()))?;
        Ok(Sink {
            out: BufWriter::with_capacity(COALESCE, file),
            hasher: algo.map(StreamHasher::new),
            written: 0,
            flushed: 0,
            path: path.to_owned(),
        })
    }

    fn write(&mut self, chunk: &[u8]) -> Result<(), InstallError> {
        if let Some(h) = &mut self.hasher {
            h.update(chunk);
        }
        self.written += chunk.len() as u64;
        self.out
            .write_all(chunk)
            .ctx(|| format!("writing {}", self.path.display()))?;
        let on_disk = self.written - self.out.buffer().len() as u64;
        if on_disk - self.flushed >= WRITEBACK_EVERY {
            start_writeback(self.out.get_ref(), self.flushed, on_disk - self.flushed);
            self.flushed = on_disk;
        }
        Ok(())
    }

    fn finish(self) -> Result<(u64, Option<String>), InstallError> {
        let path = self.path;
        self.out
            .into_inner()
            .map_err(|e| InstallError::io(format!("writing {}", path.display()), e.into_error()))?;
        Ok((self.written, self.hasher.map(StreamHasher::finish_hex)))
    }
}

/// Asks the kernel to start writing a range back now (it does not wait for it).
/// Purely an optimisation: failure changes nothing, the final fsync still happens.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: a plain syscall on a file descriptor we own; no memory is passed.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

fn copy_local(
    path: &Path,
    dest: &Path,
    algo: Option<super::checksum::HashAlgo>,
    max: u64,
    progress: &Progress,
) -> Result<(u64, Option<String>), InstallError> {
    let mut file = File::open(path).ctx(|| format!("opening the artifact {}", path.display()))?;
    let meta = file
        .metadata()
        .ctx(|| format!("reading {}", path.display()))?;
    if !meta.is_file() {
        return Err(InstallError::BadUrl {
            url: path.display().to_string(),
            reason: "not a regular file".to_owned(),
        });
    }
    if meta.len() > max {
        return Err(InstallError::TooLarge {
            what: "download",
            limit: max,
        });
    }
    progress.set_total(Some(meta.len()));
    let mut sink = Sink::create(dest, algo)?;
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let n = file
            .read(&mut buf)
            .ctx(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        if sink.written + n as u64 > max {
            return Err(InstallError::TooLarge {
                what: "download",
                limit: max,
            });
        }
        sink.write(&buf[..n])?;
        progress.inc(n as u64);
    }
    sink.finish()
}

const CHANNEL_CHUNKS: usize = 16;

async fn http_fetch(
    start: &Url,
    dest: &Path,
    checksum: Option<&Checksum>,
    extra: &HeaderMap,
    limits: &FetchLimits,
    progress: &Progress,
) -> Result<(u64, Option<String>, String), InstallError> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(limits.connect_timeout)
        .user_agent(concat!("wasmvisor/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| InstallError::Network {
            url: start.to_string(),
            source: e,
        })?;

    let mut response = open_following_redirects(&client, start, extra, limits).await?;
    let url = response.url().to_string();
    let length = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = length
        && len > limits.max_bytes
    {
        return Err(InstallError::TooLarge {
            what: "download",
            limit: limits.max_bytes,
        });
    }
    progress.set_total(length);

    // Hashing and writing each get a thread: on two cores, with the kernel busy on
    // the socket, three short stages beat one long one.
    let (write_tx, mut write_rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let mut sink = Sink::create(dest, None)?;
    let writer = tokio::task::spawn_blocking(move || {
        while let Some(chunk) = write_rx.blocking_recv() {
            sink.write(&chunk)?;
        }
        sink.finish()
    });
    let (hash_tx, hasher) = match checksum {
        Some(c) => {
            let (tx, mut rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
            let mut h = StreamHasher::new(c.algo);
            let task = tokio::task::spawn_blocking(move || {
                while let Some(chunk) = rx.blocking_recv() {
                    h.update(&chunk);
                }
                h.finish_hex()
            });
            (Some(tx), Some(task))
        }
        None => (None, None),
    };

    let received = receive_body(&mut response, &url, limits, progress, write_tx, hash_tx).await;
    // The writer's own error (disk full …) explains a closed channel better than the
    // receive side can, so it wins when both failed.
    let joined = |e: tokio::task::JoinError| {
        InstallError::io("writing the download", std::io::Error::other(e))
    };
    let (n, _) = writer.await.map_err(joined)??;
    let digest = match hasher {
        Some(task) => Some(task.await.map_err(joined)?),
        None => None,
    };
    received?;
    Ok((n, digest, url))
}

async fn receive_body(
    response: &mut reqwest::Response,
    url: &str,
    limits: &FetchLimits,
    progress: &Progress,
    write_tx: mpsc::Sender<Bytes>,
    hash_tx: Option<mpsc::Sender<Bytes>>,
) -> Result<(), InstallError> {
    let mut done: u64 = 0;
    loop {
        let chunk = match tokio::time::timeout(limits.stall_timeout, response.chunk()).await {
            Err(_) => {
                return Err(InstallError::Stalled {
                    url: url.to_owned(),
                    what: format!("the body stopped after {done} bytes"),
                    secs: limits.stall_timeout.as_secs().max(1),
                });
            }
            Ok(Err(e)) => {
                return Err(InstallError::Network {
                    url: url.to_owned(),
                    source: e,
                });
            }
            Ok(Ok(None)) => return Ok(()),
            Ok(Ok(Some(chunk))) => chunk,
        };
        done += chunk.len() as u64;
        if done > limits.max_bytes {
            return Err(InstallError::TooLarge {
                what: "download",
                limit: limits.max_bytes,
            });
        }
        progress.inc(chunk.len() as u64);
        // Both stages share the chunk (a reference count, not a copy). A closed
        // channel means that stage failed; the caller reports its error.
        if let Some(tx) = &hash_tx
            && tx.send(chunk.clone()).await.is_err()
        {
            return Ok(());
        }
        if write_tx.send(chunk).await.is_err() {
            return Ok(());
        }
    }
}

/// Sends GET requests, following up to `max_redirects` redirects by hand, and returns
/// the first non-redirect response, which must be a success.
async fn open_following_redirects(
    client: &reqwest::Client,
    start: &Url,
    extra: &HeaderMap,
    limits: &FetchLimits,
) -> Result<reqwest::Response, InstallError> {
    let mut url = start.clone();
    // Waiting for headers covers connecting too, so it gets both allowances.
    let header_wait = limits.connect_timeout + limits.stall_timeout;
    for _hop in 0..=limits.max_redirects {
        // A fresh map per hop: nothing of the previous hop's request is carried over.
        let mut headers = if same_origin(&url, start) {
            extra.clone()
        } else {
            HeaderMap::new()
        };
        if let Some(auth) = &limits.authorizer {
            auth.authorize(&url, &mut headers)
                .map_err(|source| InstallError::Authorizer {
                    url: url.to_string(),
                    source,
                })?;
        }
        let sent =
            tokio::time::timeout(header_wait, client.get(url.clone()).headers(headers).send())
                .await;
        let response = match sent {
            Err(_) => {
                return Err(InstallError::Stalled {
                    url: url.to_string(),
                    what: "no response headers".to_owned(),
                    secs: header_wait.as_secs().max(1),
                });
            }
            Ok(Err(e)) => {
                return Err(InstallError::Network {
                    url: url.to_string(),
                    source: e,
                });
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status();
        if status.is_redirection() {
            url = redirect_target(&url, response.headers())?;
            tracing::debug!(to = %url, "following a redirect");
            continue;
        }
        if !status.is_success() {
            return Err(InstallError::HttpStatus {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        return Ok(response);
    }
    Err(InstallError::TooManyRedirects {
        url: start.to_string(),
        max: limits.max_redirects,
    })
}

fn redirect_target(from: &Url, headers: &HeaderMap) -> Result<Url, InstallError> {
    let bad = |reason: String| InstallError::BadUrl {
        url: from.to_string(),
        reason,
    };
    let location = headers
        .get(LOCATION)
        .ok_or_else(|| bad("a redirect without a Location header".to_owned()))?
        .to_str()
        .map_err(|_| bad("a redirect Location that is not text".to_owned()))?;
    let next = from
        .join(location)
        .map_err(|e| bad(format!("a redirect to {location:?}: {e}")))?;
    // A remote server must not be able to point us at local files or other schemes.
    match next.scheme() {
        "http" | "https" => Ok(next),
        other => Err(bad(format!(
            "a redirect to the {other:?} scheme, which is refused"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_parsed_by_form() {
        assert_eq!(
            Source::parse("/srv/appd").unwrap(),
            Source::Local("/srv/appd".into())
        );
        assert_eq!(
            Source::parse("file:///srv/appd").unwrap(),
            Source::Local("/srv/appd".into())
        );
        assert!(matches!(
            Source::parse("https://x.org/a.tgz").unwrap(),
            Source::Http(_)
        ));
        for bad in [
            "ftp://x.org/a",
            "relative/path",
            "s3://bucket/key",
            "file://host/x",
        ] {
            assert!(
                matches!(Source::parse(bad), Err(InstallError::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn redirects_resolve_relative_and_refuse_other_schemes() {
        let from = Url::parse("http://a.example/x/y").unwrap();
        let mut h = HeaderMap::new();
        h.insert(LOCATION, "../z".parse().unwrap());
        assert_eq!(
            redirect_target(&from, &h).unwrap().as_str(),
            "http://a.example/z"
        );
        h.insert(LOCATION, "file:///etc/passwd".parse().unwrap());
        assert!(redirect_target(&from, &h).is_err());
        assert!(redirect_target(&from, &HeaderMap::new()).is_err());
    }
}
