//! Plugins compiled into the `wasmvisor` binary (built from `plugins/bundled/` by
//! build.rs), usable by name (`--plugin log-scanner`) or exported to a file.

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// The bytes of a bundled plugin.
pub fn get(name: &str) -> Option<(&'static str, &'static [u8])> {
    BUNDLED.iter().find(|(n, _)| *n == name).copied()
}

/// Names of all bundled plugins, sorted.
pub fn names() -> Vec<&'static str> {
    BUNDLED.iter().map(|(n, _)| *n).collect()
}
