//! The guest SDK for wasmvisor plugins: the WIT contract `wasmvisor:plugin@0.1.0`
//! as Rust types and traits, plus a few helpers, so that a plugin is one small file.
//!
//! Pick the module of your plugin's kind — [`resolver`], [`detector`] or [`hook`] —
//! implement its trait (`describe` returns the manifest, then the kind's own
//! functions) on a unit struct, and call the module's export macro:
//!
//! ```ignore
//! use wasmvisor_plugin_sdk::resolver::Resolver;
//! use wasmvisor_plugin_sdk::types::*;
//!
//! struct Mine;
//! impl Resolver for Mine {
//!     fn describe() -> Manifest {
//!         Manifest::new("mine", env!("CARGO_PKG_VERSION"), PluginKind::Resolver)
//!     }
//!     fn resolve(plan: Plan, platform: Platform) -> Result<Vec<Artifact>, Error> {
//!         Ok(vec![Artifact::new(format!("https://example.com/{}/{}-{}", plan.name, platform.os, platform.arch))])
//!     }
//! }
//! wasmvisor_plugin_sdk::export_resolver!(Mine);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`: the `.wasm` in
//! `target/wasm32-wasip2/release/` is the plugin.

#![allow(clippy::too_many_arguments)]

/// Generated bindings, one module per world. Types and host imports are shared:
/// they are generated once (in `resolver`) and reused by the other two.
#[doc(hidden)]
pub mod bindings {
    pub mod resolver {
        wit_bindgen::generate!({
            path: "../../wit/v0.1.0",
            world: "resolver",
            pub_export_macro: true,
            export_macro_name: "export_resolver",
            default_bindings_module: "wasmvisor_plugin_sdk::bindings::resolver",
            generate_all,
        });
    }
    pub mod detector {
        wit_bindgen::generate!({
            path: "../../wit/v0.1.0",
            world: "detector",
            pub_export_macro: true,
            export_macro_name: "export_detector",
            default_bindings_module: "wasmvisor_plugin_sdk::bindings::detector",
            with: {
                "wasmvisor:plugin/types@0.1.0": crate::bindings::resolver::wasmvisor::plugin::types,
                "wasmvisor:plugin/host@0.1.0": crate::bindings::resolver::wasmvisor::plugin::host,
            },
        });
    }
    pub mod hook {
        wit_bindgen::generate!({
            path: "../../wit/v0.1.0",
            world: "hook",
            pub_export_macro: true,
            export_macro_name: "export_hook",
            default_bindings_module: "wasmvisor_plugin_sdk::bindings::hook",
            with: {
                "wasmvisor:plugin/types@0.1.0": crate::bindings::resolver::wasmvisor::plugin::types,
                "wasmvisor:plugin/host@0.1.0": crate::bindings::resolver::wasmvisor::plugin::host,
            },
        });
    }
}

/// The shared data types: plan, platform, artifact, error, manifest, contexts.
pub mod types {
    pub use crate::bindings::resolver::wasmvisor::plugin::types::*;

    impl Manifest {
        /// A manifest that asks for nothing: no hosts, no files, no config keys.
        pub fn new(name: &str, version: &str, kind: PluginKind) -> Self {
            Manifest {
                name: name.to_string(),
                version: version.to_string(),
                kind,
                description: String::new(),
                http_hosts: Vec::new(),
                files: Vec::new(),
                config_keys: Vec::new(),
                poll_interval_ms: None,
                wants_log_lines: false,
                log_line_filter: Vec::new(),
                binary_commands: Vec::new(),
            }
        }

        pub fn description(mut self, text: &str) -> Self {
            self.description = text.to_string();
            self
        }

        /// Hosts this plugin sends HTTP requests to (`example.com`, `*.example.com`).
        pub fn http_hosts(mut self, hosts: &[&str]) -> Self {
            self.http_hosts = hosts.iter().map(|h| h.to_string()).collect();
            self
        }

        /// Files under `$DAEMON_HOME` this plugin reads.
        pub fn files(mut self, files: &[&str]) -> Self {
            self.files = files.iter().map(|f| f.to_string()).collect();
            self
        }

        /// Config keys this plugin reads with [`crate::host::config_get`].
        pub fn config_keys(mut self, keys: &[&str]) -> Self {
            self.config_keys = keys.iter().map(|k| k.to_string()).collect();
            self
        }

        /// Detectors: poll every `ms` milliseconds.
        pub fn poll_every_ms(mut self, ms: u64) -> Self {
            self.poll_interval_ms = Some(ms);
            self
        }

        /// Detectors: receive the node's output lines.
        pub fn wants_log_lines(mut self) -> Self {
            self.wants_log_lines = true;
            self
        }

        /// Receive only the node's output lines that contain one of `needles` (the
        /// host filters them, fast; no matching line is ever skipped).
        pub fn log_lines_containing(mut self, needles: &[&str]) -> Self {
            self.wants_log_lines = true;
            self.log_line_filter = needles.iter().map(|n| n.to_string()).collect();
            self
        }

        /// Hooks: an argument list the new binary may be run with.
        pub fn binary_command(mut self, args: &[&str]) -> Self {
            self.binary_commands
                .push(args.iter().map(|a| a.to_string()).collect());
            self
        }
    }

    impl Artifact {
        /// A download of unknown format (the host detects it) without a checksum.
        pub fn new(url: impl Into<String>) -> Self {
            Artifact {
                url: url.into(),
                checksum: None,
                archive: ArchiveKind::Auto,
                path_in_archive: None,
                headers: Vec::new(),
            }
        }

        pub fn sha256(mut self, hex: impl Into<String>) -> Self {
            self.checksum = Some(Checksum {
                algorithm: ChecksumAlgorithm::Sha256,
                hex: hex.into(),
            });
            self
        }

        pub fn archive(mut self, kind: ArchiveKind) -> Self {
            self.archive = kind;
            self
        }

        pub fn path_in_archive(mut self, path: impl Into<String>) -> Self {
            self.path_in_archive = Some(path.into());
            self
        }

        /// An extra request header for the download (e.g. `accept`). `authorization` is
        /// ignored by the host: credentials come from the operator's rules.
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.headers.push((name.into(), value.into()));
            self
        }
    }
}

/// What the host offers: logging, HTTP, granted files, config, state, clock.
pub mod host {
    pub use crate::bindings::resolver::wasmvisor::plugin::host::*;

    /// GET a URL; the body of a 2xx answer, an `unavailable` error otherwise.
    pub fn http_get(url: &str) -> Result<Vec<u8>, crate::types::Error> {
        let response = http_request(&Request {
            method: Method::Get,
            url: url.to_string(),
            headers: Vec::new(),
            body: None,
        })?;
        if (200..300).contains(&response.status) {
            Ok(response.body)
        } else {
            Err(crate::types::Error::Unavailable(format!(
                "GET {url}: HTTP status {}",
                response.status
            )))
        }
    }

    pub fn info(message: &str) {
        log(LogLevel::Info, message);
    }

    pub fn warn(message: &str) {
        log(LogLevel::Warn, message);
    }

    pub fn debug(message: &str) {
        log(LogLevel::Debug, message);
    }
}

/// Write a resolver: implement [`resolver::Resolver`], then
/// `export_resolver!(YourType);`.
pub mod resolver {
    pub use crate::bindings::resolver::exports::wasmvisor::plugin::resolution::Guest as Resolver;
}

/// Write a detector: implement [`detector::Detector`], then
/// `export_detector!(YourType);`.
pub mod detector {
    pub use crate::bindings::detector::exports::wasmvisor::plugin::detection::Guest as Detector;
}

/// Write a hook: implement [`hook::Hook`], then
/// `export_hook!(YourType);`. [`hook::run_new_binary`] asks the host to run the
/// new binary with one of the manifest's `binary-commands`. [`hook::UpgradeEvent`]
/// is what `on_event` receives (detected, failed); a hook with nothing to say
/// about events returns `Ok(())`.
pub mod hook {
    pub use crate::bindings::hook::exports::wasmvisor::plugin::hooks::Guest as Hook;
    pub use crate::bindings::hook::exports::wasmvisor::plugin::hooks::UpgradeEvent;
    pub use crate::bindings::hook::wasmvisor::plugin::binary::{CommandOutput, run_new_binary};
}

pub mod template;
pub mod time;

pub use bindings::detector::export_detector;
pub use bindings::hook::export_hook;
pub use bindings::resolver::export_resolver;
