//! The node's output, when a detector plugin wants to read it.
//!
//! Without such a detector the node inherits the supervisor's stdout and stderr and
//! nothing here runs. With one, each stream goes through a pipe and a plain thread
//! that copies the bytes unchanged, in whole chunks, straight to the supervisor's
//! own file descriptor (no line buffering, no re-encoding), and hands each complete
//! line to a sink on the side. Lines longer than the limit are cut for the sink only;
//! bytes that are not UTF-8 are the sink's business (the copy is byte-exact).

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};

/// Receives each line of the node's output, without its line end.
pub type LineSink = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// Default cap on the bytes of one line handed to the sink.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

const CHUNK: usize = 128 * 1024;

/// Splits a byte stream into lines, cutting those longer than `max`.
pub struct LineSplitter {
    buf: Vec<u8>,
    max: usize,
    /// The current line already passed `max`: drop bytes until its end.
    overflowed: bool,
}

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        LineSplitter {
            buf: Vec::new(),
            max,
            overflowed: false,
        }
    }

    /// Feeds a chunk; `emit` gets every line completed by it.
    pub fn feed(&mut self, mut chunk: &[u8], emit: &mut dyn FnMut(&[u8])) {
        // memchr: the copier runs this over every byte the node writes (SIMD search
        // rather than a byte loop; it was the copier's largest cost).
        while let Some(pos) = memchr::memchr(b'\n', chunk) {
            let (line, rest) = (&chunk[..pos], &chunk[pos + 1..]);
            if self.buf.is_empty() && !self.overflowed {
                emit(strip_cr(&line[..line.len().min(self.max)]));
            } else {
                self.push(line);
                emit(strip_cr(&self.buf));
                self.buf.clear();
            }
            self.overflowed = false;
            chunk = rest;
        }
        self.push(chunk);
    }

    /// Emits a last line that had no line end.
    pub fn finish(&mut self, emit: &mut dyn FnMut(&[u8])) {
        if !self.buf.is_empty() {
            emit(strip_cr(&self.buf));
            self.buf.clear();
        }
        self.overflowed = false;
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = self.max.saturating_sub(self.buf.len());
        if bytes.len() > room {
            self.overflowed = true;
        }
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A pipe whose write end is given to the node.
pub struct Pipe {
    pub read: File,
    pub write: OwnedFd,
}

impl Pipe {
    pub fn new() -> Result<Self> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .context("creating a pipe for the node's output")?;
        Ok(Pipe {
            read: File::from(read),
            write,
        })
    }
}

/// Duplicates one of the supervisor's own descriptors (1 or 2) as a `File`, so
/// writes go straight to it without Rust's line-buffered `Stdout`.
pub fn own_stream(fd: i32) -> Result<File> {
    use std::os::fd::BorrowedFd;
    // SAFETY: fds 1 and 2 are open for the life of the process.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let owned = borrowed
        .try_clone_to_owned()
        .with_context(|| format!("duplicating fd {fd}"))?;
    Ok(File::from(owned))
}

/// Copies `from` to `to` on a thread until end of file, offering lines to `sink`.
pub fn spawn_copier(
    mut from: File,
    mut to: File,
    sink: LineSink,
    max_line: usize,
) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("node-output".into())
        .spawn(move || {
            let mut splitter = LineSplitter::new(max_line);
            let mut buf = vec![0u8; CHUNK];
            let mut emit = |line: &[u8]| sink(line);
            let mut out_ok = true;
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                // A closed stdout (e.g. `| head`) must not stop the node or the detectors.
                if out_ok && to.write_all(&buf[..n]).is_err() {
                    out_ok = false;
                }
                splitter.feed(&buf[..n], &mut emit);
            }
            splitter.finish(&mut emit);
        })
        .context("starting a thread for the node's output")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn split(chunks: &[&[u8]], max: usize) -> Vec<Vec<u8>> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, &mut |l| out.push(l.to_vec()));
        }
        s.finish(&mut |l| out.push(l.to_vec()));
        out
    }

    #[test]
    fn lines_across_chunks_and_crlf() {
        let lines = split(&[b"ab", b"c\r\nde\nf", b"g"], 100);
        assert_eq!(lines, vec![b"abc".to_vec(), b"de".to_vec(), b"fg".to_vec()]);
    }

    #[test]
    fn long_lines_are_cut_for_the_sink_only() {
        let long = vec![b'x'; 50];
        let mut input = long.clone();
        input.extend_from_slice(b"\nshort\n");
        let lines = split(&[&input[..20], &input[20..]], 10);
        assert_eq!(lines, vec![vec![b'x'; 10], b"short".to_vec()]);
    }

    #[test]
    fn copier_copies_bytes_exactly_and_offers_lines() {
        let input = Pipe::new().unwrap();
        let output = Pipe::new().unwrap();
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink: LineSink = {
            let seen = seen.clone();
            Arc::new(move |l: &[u8]| {
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(l).into_owned())
            })
        };
        let t = spawn_copier(input.read, File::from(output.write), sink, 1024).unwrap();
        let payload = b"one\n\xff\xfe not utf8\nUPGRADE \"v2\" NEEDED at height: 5: \n".to_vec();
        File::from(input.write).write_all(&payload).unwrap();
        t.join().unwrap();
        let mut copied = Vec::new();
        let mut r = output.read;
        r.read_to_end(&mut copied).unwrap();
        assert_eq!(copied, payload);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert!(seen[2].starts_with("UPGRADE \"v2\""));
    }
}
