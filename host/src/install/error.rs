//! Everything that can stop an install, as one typed error.
//!
//! Callers branch on the kind (a resolver's artifact that 404s means "try the next
//! resolver"; a checksum mismatch must never be retried silently), and operators read
//! the message: each one says what failed and what to do about it.

use std::path::PathBuf;

/// Why an artifact could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "refusing to download {url} without a checksum (DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM=true); \
         add ?checksum=sha256:<hex> to the URL or give --checksum"
    )]
    ChecksumRequired { url: String },

    #[error("invalid checksum {spec:?}: {reason}")]
    BadChecksum { spec: String, reason: String },

    #[error(
        "{algo} checksum mismatch: expected {expected}, got {actual}; the file is corrupt or not \
         the one the plan names — nothing was installed; check the URL and the published checksum"
    )]
    ChecksumMismatch {
        algo: &'static str,
        expected: String,
        actual: String,
    },

    #[error("invalid artifact location {url:?}: {reason}")]
    BadUrl { url: String, reason: String },

    #[error(
        "{url} answered HTTP {status}; check that the URL is right and reachable from this host"
    )]
    HttpStatus { url: String, status: u16 },

    #[error("downloading {url} failed: {source}; check the network and the URL, then retry")]
    Network {
        url: String,
        #[source]
        source: reqwest::Error,
    },

    #[error(
        "{url}: {what} (no progress for {secs} s); the server stalled — retry later or raise the \
         stall timeout"
    )]
    Stalled {
        url: String,
        what: String,
        secs: u64,
    },

    #[error(
        "{url} redirected more than {max} times; the server is misconfigured (a redirect loop?)"
    )]
    TooManyRedirects { url: String, max: usize },

    #[error(
        "the {what} is larger than the limit of {limit} bytes; if the artifact is really that \
         large, raise the limit"
    )]
    TooLarge { what: &'static str, limit: u64 },

    #[error(
        "refusing the archive: {0}; it was not unpacked — ask the publisher for a clean archive"
    )]
    HostileArchive(String),

    #[error("the {kind} archive is damaged: {reason}; download it again or check the archive kind")]
    BadArchive { kind: &'static str, reason: String },

    #[error(
        "no binary named {daemon} in the artifact (looked for bin/{daemon}, {daemon} at the top, or a \
         single file); it holds: {found}"
    )]
    NoBinary { daemon: String, found: String },

    #[error("{path} is not an executable for this machine: {reason}")]
    NotExecutable { path: PathBuf, reason: String },

    #[error(
        "{path} is built for {found}, this machine needs {expected}; the resolver picked the wrong \
         platform's artifact"
    )]
    WrongArch {
        path: PathBuf,
        found: String,
        expected: String,
    },

    #[error(
        "invalid request header {name:?} for the download: {reason}; fix the resolver that produced it"
    )]
    BadHeader { name: String, reason: String },

    #[error("adding credentials to the request for {url} failed: {source:#}")]
    Authorizer {
        url: String,
        #[source]
        source: anyhow::Error,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl InstallError {
    /// An I/O error with what was being done when it happened.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        InstallError::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether trying the same artifact again may succeed (network trouble, a server
    /// error, a stall); a caller with other artifacts should move on otherwise.
    pub fn is_transient(&self) -> bool {
        match self {
            InstallError::Network { .. } | InstallError::Stalled { .. } => true,
            InstallError::HttpStatus { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Attaches a context to I/O results, giving an [`InstallError::Io`].
pub(crate) trait IoContext<T> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T, InstallError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T, InstallError> {
        self.map_err(|e| InstallError::io(f(), e))
    }
}
