//! A loopback HTTP server for artifact downloads.
//!
//! Tests must not touch the network, so downloads come from 127.0.0.1 on a
//! port the kernel picks. The server answers `GET <path>` from a fixed table
//! (404 otherwise; a test may change it while serving), one connection at a time, `Connection: close` — all a
//! download client needs — and counts requests so a test can tell whether a
//! download was attempted. A throttle (changeable while serving) sends bodies
//! in 64 KiB pieces with a pause between them, so a test can kill a download
//! half-way.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running server; stopped on drop.
pub struct Server {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    shared: Arc<Shared>,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    thread: Option<JoinHandle<()>>,
}

/// What the serving thread and the test both see.
#[derive(Default)]
struct Shared {
    /// Pause between 64 KiB pieces of a body, in milliseconds (0: no throttle).
    pause_ms: AtomicU64,
    /// Body bytes written to clients so far.
    sent: AtomicU64,
}

const PIECE: usize = 64 * 1024;

impl Server {
    /// Serves `files` (path → body) on 127.0.0.1:0.
    pub fn start(files: HashMap<String, Vec<u8>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared::default());
        let files = Arc::new(Mutex::new(files));
        let thread = {
            let stop = stop.clone();
            let requests = requests.clone();
            let shared = shared.clone();
            let files = files.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &files, &requests, &shared);
                    }
                }
            })
        };
        Server {
            addr,
            stop,
            requests,
            shared,
            files,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Pauses `pause` between 64 KiB pieces of every body from now on.
    pub fn throttle(&self, pause: Duration) {
        let ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX);
        self.shared.pause_ms.store(ms, Ordering::SeqCst);
    }

    /// Serves `body` at `path` from now on (a release team fixing a published file).
    pub fn set_file(&self, path: &str, body: Vec<u8>) {
        self.files
            .lock()
            .expect("files lock")
            .insert(path.to_owned(), body);
    }

    /// Body bytes sent so far, over all requests.
    pub fn bytes_sent(&self) -> u64 {
        self.shared.sent.load(Ordering::SeqCst)
    }

    /// The paths requested so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests lock").clone()
    }
}

fn serve(
    stream: TcpStream,
    files: &Mutex<HashMap<String, Vec<u8>>>,
    requests: &Mutex<Vec<String>>,
    shared: &Shared,
) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Drain the headers.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    requests.lock().expect("requests lock").push(path.clone());
    let route = path.split('?').next().unwrap_or_default();
    let mut stream = stream;
    let body = files.lock().expect("files lock").get(route).cloned();
    let _ = match body {
        Some(body) => stream
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )
            .and_then(|()| send_body(&mut stream, &body, shared)),
        None => stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
    };
    let _ = stream.flush();
}

/// Writes `body` in pieces, pausing between them as the throttle says.
fn send_body(stream: &mut TcpStream, body: &[u8], shared: &Shared) -> std::io::Result<()> {
    for piece in body.chunks(PIECE) {
        stream.write_all(piece)?;
        shared.sent.fetch_add(piece.len() as u64, Ordering::SeqCst);
        let pause = shared.pause_ms.load(Ordering::SeqCst);
        if pause > 0 {
            std::thread::sleep(Duration::from_millis(pause));
        }
    }
    Ok(())
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
