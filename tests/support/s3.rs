//! A real S3-compatible server on loopback for the `s3` resolver's tests: moto's
//! server (`pip install 'moto[server]'`, binary `moto_server`), started on
//! 127.0.0.1 on a free port and killed on drop.
//!
//! Buckets, objects and an IAM user are created with boto3 (installed with moto),
//! the same client chain teams publish with. moto checks nothing by default;
//! [`Setup::enforce_signatures`] then makes it verify every request's SigV4
//! signature against its IAM users (moto's `reset-auth` switch, the server form of
//! `INITIAL_NO_AUTH_ACTION_COUNT`): a signed request with unknown or wrong keys is
//! refused, an unsigned one reads only public objects. In that mode moto answers
//! an unsigned request for a *missing* key with a 500 rather than a 404, so tests
//! about public objects keep the default mode.
//!
//! A missing `moto_server` (or boto3) fails the test with what to install: the
//! tests never skip.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const INSTALL: &str =
    "install it with `pip install 'moto[server]'` (tests/all.sh does when it is missing)";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server; killed on drop.
pub struct S3Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

/// SigV4 keys of an IAM user allowed to read every bucket.
#[derive(Debug, Clone)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// One object to upload.
#[derive(Debug, Clone)]
pub struct Upload {
    pub bucket: String,
    pub key: String,
    pub body: Vec<u8>,
    /// `public-read` ACL (readable without a signature).
    pub public: bool,
    /// User metadata (`x-amz-meta-<name>`).
    pub metadata: Vec<(String, String)>,
    /// Upload with S3's own sha256 checksum (`x-amz-checksum-sha256`).
    pub s3_checksum: bool,
}

impl Upload {
    /// A private object without metadata.
    pub fn new(bucket: &str, key: &str, body: impl Into<Vec<u8>>) -> Upload {
        Upload {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            body: body.into(),
            public: false,
            metadata: Vec::new(),
            s3_checksum: false,
        }
    }

    pub fn public(mut self) -> Upload {
        self.public = true;
        self
    }

    pub fn metadata(mut self, name: &str, value: &str) -> Upload {
        self.metadata.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn with_s3_checksum(mut self) -> Upload {
        self.s3_checksum = true;
        self
    }
}

/// What to create on the server, in one boto3 run.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    pub buckets: Vec<String>,
    pub uploads: Vec<Upload>,
    /// Create an IAM user with `s3:*` and return its keys.
    pub reader: bool,
    /// Afterwards, verify every request's signature (see the module doc).
    pub enforce_signatures: bool,
}

/// boto3 does the work; the spec comes on stdin, the keys go to stdout as JSON.
const SETUP_PY: &str = r#"
import json, sys, urllib.request
import boto3
spec = json.load(sys.stdin)
kw = dict(endpoint_url=spec["endpoint"], region_name="us-east-1",
          aws_access_key_id="setup", aws_secret_access_key="setup")
s3 = boto3.client("s3", **kw)
for bucket in spec["buckets"]:
    s3.create_bucket(Bucket=bucket)
for u in spec["uploads"]:
    args = dict(Bucket=u["bucket"], Key=u["key"], Body=open(u["file"], "rb").read(),
                Metadata=dict(u["metadata"]))
    if u["public"]:
        args["ACL"] = "public-read"
    if u["s3_checksum"]:
        args["ChecksumAlgorithm"] = "SHA256"
    s3.put_object(**args)
out = {}
if spec["reader"]:
    iam = boto3.client("iam", **kw)
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="read-all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    out = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
if spec["enforce_signatures"]:
    req = urllib.request.Request(spec["endpoint"] + "/moto-api/reset-auth", data=b"0",
                                 method="POST", headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(req).read()
json.dump(out, sys.stdout)
"#;

impl S3Server {
    /// Starts `moto_server` on 127.0.0.1 and waits until it answers; its output goes
    /// to `<log_dir>/moto-<port>.log`.
    pub fn start(log_dir: &Path) -> S3Server {
        let mut last = String::new();
        // The port is free when picked and taken by moto a moment later: another
        // process may win it in between, so a server that exits early is retried.
        for _ in 0..3 {
            let port = free_port();
            let log = log_dir.join(format!("moto-{port}.log"));
            let out = std::fs::File::create(&log).expect("create the moto log");
            let err = out.try_clone().expect("clone the moto log handle");
            let child = Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start moto_server ({e}): {INSTALL}"));
            let mut server = S3Server { child, port, log };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("moto_server did not start: {last}");
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "it exited ({status}) on port {}: {}",
                    self.port,
                    self.log_text()
                ));
            }
            if http_status(self.port, "GET", "/moto-api/", &[]).is_ok_and(|s| s == 200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "no answer on port {} within {READY_TIMEOUT:?}: {}",
            self.port,
            self.log_text()
        ))
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`: what a grant or a credential rule names.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates what `setup` says; the reader's keys when it asks for one.
    pub fn setup(&self, setup: &Setup, scratch: &Path) -> Option<Keys> {
        let uploads: Vec<Value> = setup
            .uploads
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let file = scratch.join(format!("s3-upload-{i}"));
                std::fs::write(&file, &u.body).expect("write an upload body");
                json!({
                    "bucket": u.bucket, "key": u.key, "file": file,
                    "public": u.public, "metadata": u.metadata, "s3_checksum": u.s3_checksum,
                })
            })
            .collect();
        let spec = json!({
            "endpoint": self.endpoint(),
            "buckets": setup.buckets,
            "uploads": uploads,
            "reader": setup.reader,
            "enforce_signatures": setup.enforce_signatures,
        });
        let mut child = Command::new("python3")
            .args(["-c", SETUP_PY])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 for boto3 ({e}): {INSTALL}"));
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(spec.to_string().as_bytes())
            .expect("send the setup spec");
        let out = child.wait_with_output().expect("wait for the boto3 setup");
        assert!(
            out.status.success(),
            "the boto3 setup failed (is boto3 importable by python3? {INSTALL}):\n{}\nserver log: {}",
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        let keys: Value = serde_json::from_slice(&out.stdout).expect("the setup's JSON");
        Some(Keys {
            access_key_id: keys["access_key_id"].as_str()?.to_owned(),
            secret_access_key: keys["secret_access_key"].as_str()?.to_owned(),
        })
    }

    /// The status of an unsigned request (`method path`) to the server.
    pub fn unsigned_status(&self, method: &str, path: &str) -> u16 {
        http_status(self.port, method, path, &[])
            .unwrap_or_else(|e| panic!("{method} {path} to moto: {e}"))
    }

    /// The status of a request carrying these headers (e.g. a forged signature).
    pub fn status_with(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
        http_status(self.port, method, path, headers)
            .unwrap_or_else(|e| panic!("{method} {path} to moto: {e}"))
    }

    /// The server's log so far (for failure messages).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("pick a free loopback port")
        .port()
}

/// One HTTP/1.1 request, `Connection: close`; the status code of the answer.
fn http_status(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<u16, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&head);
    text.get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))
}
