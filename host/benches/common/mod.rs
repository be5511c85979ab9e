//! Helpers the bench targets share (`mod common;` in each, which Cargo finds here):
//! a loopback HTTP server, so each bench writes only its routing and answers; the
//! interleaved timing and order statistics their figures are printed with; and the
//! runtime and throwaway home the in-process plugin benches run in.

pub mod http;
pub mod samples;

/// The single-threaded runtime the supervisor runs plugins on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A throwaway `$DAEMON_HOME`, with the `data/` a node's home has.
pub fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("a temporary home");
    std::fs::create_dir_all(home.path().join("data")).expect("creating the home's data/");
    home
}
