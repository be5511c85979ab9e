//! One module per `wasmvisor` command. Each takes its inputs as values and writes
//! its output to a writer, so tests run the commands themselves, not the binary.

pub mod add_upgrade;
pub mod backup;
mod binary;
pub mod init;
pub mod prepare_upgrade;
pub mod run;
pub mod show_config;
pub mod show_upgrade_info;
pub mod version;
