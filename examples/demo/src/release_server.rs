//! The chain team's release page, played by a tiny HTTP server on 127.0.0.1.
//!
//! The demo's second upgrade is downloaded the way a real one is: the plan's `info`
//! names a URL with a checksum, and wasmvisor fetches it. The server binds port 0
//! on the loopback interface (nothing leaves the machine), answers `GET` for the
//! files it was given (404 otherwise), one connection at a time — a supervisor
//! downloads one binary at a time — and records every request so the demo can show
//! that the download really happened.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

/// Longest request head accepted; a download request is a few hundred bytes.
const MAX_HEAD: usize = 16 * 1024;
/// A client that sends nothing for this long is dropped.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One request served.
#[derive(Debug, Clone)]
pub struct Served {
    /// `GET /path?query`, as the client wrote it.
    pub request: String,
    pub status: u16,
    pub bytes: u64,
}

pub struct ReleaseServer {
    addr: SocketAddr,
    served: Arc<Mutex<Vec<Served>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ReleaseServer {
    /// Serves `files` (URL path → body) on 127.0.0.1 at a free port.
    pub fn start(files: HashMap<String, Vec<u8>>) -> Result<ReleaseServer> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .context("cannot open a loopback port for the release server")?;
        let addr = listener.local_addr()?;
        let served = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (served, stop) = (Arc::clone(&served), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("release-server".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        // A broken connection is the client's problem; keep serving.
                        let Ok(stream) = stream else { continue };
                        if let Some(record) = answer(&stream, &files) {
                            served
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(record);
                        }
                        // Closed only now: a client that has seen the end of the
                        // body finds its request in `served()`.
                        drop(stream);
                    }
                })
                .context("cannot start the release server thread")?
        };
        Ok(ReleaseServer {
            addr,
            served,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests answered so far.
    pub fn served(&self) -> Vec<Served> {
        self.served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for ReleaseServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request and answers it; `None` when the client sent no request line.
fn answer(stream: &TcpStream, files: &HashMap<String, Vec<u8>>) -> Option<Served> {
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let request = read_head(&mut reader)?;
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next()?, parts.next()?);
    let path = target.split('?').next().unwrap_or(target);
    let (status, body): (u16, &[u8]) = match files.get(path) {
        Some(body) if method == "GET" => (200, body),
        Some(_) => (405, b"only GET\n"),
        None => (404, b"not found\n"),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut out = stream;
    let sent = out
        .write_all(head.as_bytes())
        .and_then(|()| out.write_all(body))
        .and_then(|()| out.flush())
        .is_ok();
    Some(Served {
        request: format!("{method} {target}"),
        status,
        bytes: if sent { body.len() as u64 } else { 0 },
    })
}

/// The request line, after reading (and discarding) the headers up to the blank line.
fn read_head(reader: &mut impl BufRead) -> Option<String> {
    let mut request = String::new();
    let mut total = 0;
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).ok()?;
        total += n;
        if n == 0 || total > MAX_HEAD {
            return None;
        }
        if request.is_empty() {
            request = line.trim().to_owned();
        } else if line.trim().is_empty() {
            return (!request.is_empty()).then_some(request);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn get(server: &ReleaseServer, request: &str) -> String {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn serves_its_files_records_requests_and_refuses_the_rest() {
        let files = HashMap::from([("/v3.tar.gz".to_owned(), b"archive".to_vec())]);
        let server = ReleaseServer::start(files).unwrap();
        let ok = get(
            &server,
            "GET /v3.tar.gz?checksum=sha256:ab HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Length: 7\r\n") && ok.ends_with("\r\n\r\narchive"));
        let missing = get(&server, "GET /v4.tar.gz HTTP/1.1\r\n\r\n");
        assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
        let post = get(&server, "POST /v3.tar.gz HTTP/1.1\r\n\r\n");
        assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
        let served = server.served();
        assert_eq!(served.len(), 3);
        assert_eq!(served[0].request, "GET /v3.tar.gz?checksum=sha256:ab");
        assert_eq!((served[0].status, served[0].bytes), (200, 7));
        assert_eq!(served[1].status, 404);
        assert!(server.url("/x").starts_with("http://127.0.0.1:"));
    }
}
