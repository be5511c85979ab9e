//! wasmvisor: a cosmovisor drop-in supervisor. One module per concern; see DESIGN.md.

pub mod app_args;
pub mod backup;
pub mod child;
pub mod cli;
pub mod commands;
pub mod config;
pub mod detect;
pub mod failpoint;
pub mod fsutil;
pub mod install;
pub mod journal;
pub mod layout;
pub mod log_tap;
pub mod logging;
pub mod node_height;
pub mod node_plan;
pub mod plugin;
pub mod prestage;
pub mod preupgrade;
pub mod progress;
pub mod running_version;
pub mod supervisor;
pub mod switch;
pub mod upgrade;
pub mod upgrade_info;
pub mod watch;
