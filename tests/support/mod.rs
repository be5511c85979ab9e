//! Harness for the end-to-end tests: the real `wasmvisor` binary supervising the
//! real `fake-chaind`, in throw-away homes.
//!
//! - [`bins`] finds the binaries beside the test executable;
//! - [`chain`] writes the fake chain's schedule; [`chain_log`] reads its lines;
//! - [`home`] builds a node home (genesis, upgrade versions, chain schedule) and
//!   the clean environment wasmvisor runs with;
//! - [`process`] runs wasmvisor with captured output and kills its whole process
//!   group on drop, so no test leaves a node running;
//! - [`wait`] polls conditions with generous deadlines instead of sleeping;
//! - [`http`] and [`archive`] serve real artifacts from a loopback server;
//! - [`grpc`] plays the node's upgrade-plan query on a loopback gRPC server;
//! - [`procfs`] tells whether a process is still alive.
//!
//! Run with `cargo build --workspace --features wasmvisor/failpoints && cargo test
//! --workspace --features wasmvisor/failpoints` (the crash tests need the
//! failpoints). `WASMVISOR_E2E_BINS=<dir>` takes both binaries from another
//! directory. A failing test keeps its temporary directory (the path is printed):
//! the captured stdout/stderr of every wasmvisor it ran are in `logs/`.

pub mod api;
pub mod archive;
pub mod bins;
pub mod chain;
pub mod chain_log;
pub mod grpc;
pub mod home;
pub mod http;
pub mod process;
pub mod procfs;
pub mod s3;
pub mod wait;

pub use chain::Chain;
pub use chain_log::{assert_continued, last_committed, start_height};
pub use home::{Finished, TestHome};
pub use process::{Exit, Running};
pub use wait::{SETTLE, TIMEOUT, wait_for, wait_until};
