//! The artifact installer: from `{url, checksum, archive kind}` to a checked binary
//! in `upgrades/<name>/bin/$DAEMON_NAME`.
//!
//! Steps, each in its own module: fetch into a private staging directory while
//! hashing ([`download`], [`checksum`]) — the checksum is verified before a single
//! byte is unpacked; unpack with hostile-archive defences ([`unpack`]); find the
//! binary by cosmovisor's rules and check it runs on this machine
//! ([`binary_check`]); move the result into place with one rename ([`staging`]).
//! The host does all of this, never a plugin: plugins only say where an artifact is.
//!
//! Failure leaves nothing that blocks a retry: the staging directory is removed on
//! every exit path, and the destination is only touched once everything checked out.

pub mod binary_check;
pub mod checksum;
pub mod download;
pub mod error;
pub mod staging;
pub mod unpack;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use checksum::{Checksum, HashAlgo};
pub use download::{RequestAuthorizer, Source};
pub use error::InstallError;
pub use unpack::ArchiveKind;

use crate::layout::Layout;
use crate::progress::{Progress, Unit};

/// Where to get one binary, as a resolver (or an operator) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `http(s)://…`, `file://…` or an absolute path.
    pub url: String,
    pub checksum: Option<Checksum>,
    pub archive: ArchiveKind,
    /// Path of the binary inside an archive, when the resolver knows it.
    pub binary_path: Option<String>,
    /// Extra request headers (name, value) for the download, sent to the artifact's
    /// origin only; credentials are never among them (see [`download::extra_headers`]).
    pub headers: Vec<(String, String)>,
}

impl Artifact {
    pub fn new(url: impl Into<String>) -> Self {
        Artifact {
            url: url.into(),
            checksum: None,
            archive: ArchiveKind::Auto,
            binary_path: None,
            headers: Vec::new(),
        }
    }

    /// Reads cosmovisor's (go-getter's) `?checksum=<type>:<hex>` and `?archive=<kind>`
    /// from a URL and removes them, so the request goes to the URL without them.
    /// Plain paths are taken as they are.
    pub fn from_url_with_query(location: &str) -> Result<Self, InstallError> {
        let location = location.trim();
        let Ok(mut url) = url::Url::parse(location) else {
            return Ok(Artifact::new(location));
        };
        let mut artifact = Artifact::new(location);
        let mut kept: Vec<(String, String)> = Vec::new();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "checksum" => artifact.checksum = Some(Checksum::parse(&value)?),
                "archive" => {
                    artifact.archive = ArchiveKind::parse(&value).ok_or_else(|| InstallError::BadUrl {
                        url: location.to_owned(),
                        reason: format!("unknown archive kind {value:?} (use zip, tar.gz, tar.xz, gz, tar or false)"),
                    })?;
                }
                _ => kept.push((key.into_owned(), value.into_owned())),
            }
        }
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        artifact.url = url.to_string();
        Ok(artifact)
    }

    pub fn with_checksum(mut self, checksum: Checksum) -> Self {
        self.checksum = Some(checksum);
        self
    }

    pub fn with_archive(mut self, kind: ArchiveKind) -> Self {
        self.archive = kind;
        self
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Policy and limits of installs. `Default` suits chain binaries of a few hundred MB.
#[derive(Clone)]
pub struct InstallOptions {
    /// Refuse an artifact without a checksum (`DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM`).
    /// Applies to every source given to `install`; a caller installing a local file
    /// the operator named on the command line may leave it off.
    pub must_have_checksum: bool,
    pub max_download_bytes: u64,
    /// Total bytes written while unpacking (stops decompression bombs).
    pub max_unpacked_bytes: u64,
    pub max_entries: u64,
    pub connect_timeout: Duration,
    /// Abandon a server that sends nothing for this long.
    pub stall_timeout: Duration,
    pub max_redirects: usize,
    /// Report progress (a bar on a terminal, log lines otherwise).
    pub progress: bool,
    /// Adds host-side credentials to matching requests.
    pub authorizer: Option<Arc<dyn RequestAuthorizer>>,
}

impl Default for InstallOptions {
    fn default() -> Self {
        InstallOptions {
            must_have_checksum: false,
            max_download_bytes: 4 << 30,
            max_unpacked_bytes: 8 << 30,
            max_entries: 100_000,
            connect_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
            max_redirects: 10,
            progress: true,
            authorizer: None,
        }
    }
}

impl InstallOptions {
    /// The defaults, with the checksum rule taken from the operator's configuration
    /// and progress off when supervisor logs are disabled.
    pub fn for_config(config: &crate::config::Config) -> Self {
        InstallOptions {
            must_have_checksum: config.download_must_have_checksum,
            progress: !config.disable_logs,
            ..InstallOptions::default()
        }
    }
}

impl std::fmt::Debug for InstallOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallOptions")
            .field("must_have_checksum", &self.must_have_checksum)
            .field("max_download_bytes", &self.max_download_bytes)
            .field("max_unpacked_bytes", &self.max_unpacked_bytes)
            .field("max_entries", &self.max_entries)
            .field("connect_timeout", &self.connect_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("max_redirects", &self.max_redirects)
            .field("progress", &self.progress)
            .field("authorizer", &self.authorizer.is_some())
            .finish()
    }
}

/// Installs `artifact` as the binary of plan `plan_name`; returns the binary's path.
///
/// When `upgrades/<folder>/bin/$DAEMON_NAME` already holds a binary that passes the
/// checks, nothing is downloaded. An existing folder without one keeps its other files.
pub async fn install(
    layout: &Layout,
    plan_name: &str,
    artifact: &Artifact,
    opts: &InstallOptions,
) -> Result<PathBuf, InstallError> {
    let target = layout.upgrade_dir(plan_name);
    let existing = layout.bin_in(&target);
    if std::fs::symlink_metadata(&existing).is_ok() {
        match binary_check::check_and_seal(&existing) {
            Ok(()) => {
                tracing::info!(
                    "{} is already installed; nothing to download",
                    existing.display()
                );
                return Ok(existing);
            }
            Err(e) => tracing::warn!("replacing the unusable {}: {e}", existing.display()),
        }
    }
    if opts.must_have_checksum && artifact.checksum.is_none() {
        return Err(InstallError::ChecksumRequired {
            url: artifact.url.clone(),
        });
    }
    let source = Source::parse(&artifact.url)?;
    let headers = download::extra_headers(&artifact.headers)?;
    let staging = staging::Staging::create(&layout.upgrades_dir(), &layout.folder_name(plan_name))?;

    let progress = reporter(opts, &format!("downloading {plan_name}"), Unit::Bytes);
    let limits = download::FetchLimits {
        max_bytes: opts.max_download_bytes,
        connect_timeout: opts.connect_timeout,
        stall_timeout: opts.stall_timeout,
        max_redirects: opts.max_redirects,
        authorizer: opts.authorizer.clone(),
    };
    let fetched = download::fetch_with_headers(
        &source,
        &staging.download(),
        artifact.checksum.as_ref(),
        &headers,
        &limits,
        &progress,
    )
    .await
    .inspect_err(|_| progress.abandon())?;
    match &artifact.checksum {
        Some(c) => tracing::info!(
            "downloaded {} bytes from {}, {} verified",
            fetched.bytes,
            fetched.from,
            c.algo.name()
        ),
        None => tracing::info!(
            "downloaded {} bytes from {} (no checksum given)",
            fetched.bytes,
            fetched.from
        ),
    }

    let kind = match artifact.archive {
        ArchiveKind::Auto => unpack::detect(&staging.download(), &artifact.url)?,
        known => known,
    };
    let daemon = layout.daemon_name().to_owned();
    let hint = artifact.binary_path.clone();
    let unpack_limits = unpack::UnpackLimits {
        max_bytes: opts.max_unpacked_bytes,
        max_entries: opts.max_entries,
    };
    let unpack_progress = match kind {
        ArchiveKind::Raw => Progress::hidden(),
        _ => reporter(opts, &format!("unpacking {plan_name}"), Unit::Bytes),
    };
    let installed = tokio::task::spawn_blocking(move || -> Result<PathBuf, InstallError> {
        let root = staging.root();
        let single = std::path::Path::new("bin").join(&daemon);
        unpack::unpack(
            kind,
            &staging.download(),
            &root,
            &single,
            unpack_limits,
            &unpack_progress,
        )
        .inspect_err(|_| unpack_progress.abandon())?;
        unpack_progress.finish();
        let _ = std::fs::remove_file(staging.download());
        let binary = binary_check::locate(&root, &daemon, hint.as_deref())?;
        binary_check::check_and_seal(&binary)?;
        staging.commit(&target, &binary)
    })
    .await
    .map_err(|e| InstallError::io("unpacking", std::io::Error::other(e)))??;
    tracing::info!(
        "installed {} (artifact kind: {})",
        installed.display(),
        kind.name()
    );
    Ok(installed)
}

fn reporter(opts: &InstallOptions, label: &str, unit: Unit) -> Progress {
    if opts.progress {
        Progress::new(label, None, unit)
    } else {
        Progress::hidden()
    }
}
