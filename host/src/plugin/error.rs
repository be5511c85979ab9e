//! What can go wrong with a plugin call, typed so callers can apply the failure
//! policy (a resolver's `NotApplicable` passes to the next one; everything else is
//! reported) and every message says which plugin did what.

use std::time::Duration;

/// A plugin call that did not produce a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin {plugin}: could not be loaded: {reason}")]
    Load { plugin: String, reason: String },
    #[error("plugin {plugin}: stopped after its time limit of {limit:?}")]
    Timeout { plugin: String, limit: Duration },
    #[error("plugin {plugin}: refused more memory than its limit of {limit_mib} MiB")]
    Memory { plugin: String, limit_mib: usize },
    #[error("plugin {plugin}: crashed (panic): {message}")]
    Panic { plugin: String, message: String },
    #[error("plugin {plugin}: crashed: {message}")]
    Trap { plugin: String, message: String },
    #[error("plugin {plugin}: returned {size} bytes, more than its limit of {limit}")]
    ResultTooLarge {
        plugin: String,
        size: usize,
        limit: usize,
    },
    #[error("plugin {plugin}: {message}")]
    Invalid { plugin: String, message: String },
    /// The plugin ran fine and reported an error of its own.
    #[error("plugin {plugin}: {error}")]
    Reported {
        plugin: String,
        error: ReportedError,
    },
}

/// An error a plugin returned (the WIT `error` variant).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportedError {
    #[error("not applicable: {0}")]
    NotApplicable(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("denied: {0}")]
    Denied(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("failed: {0}")]
    Failed(String),
}

impl PluginError {
    /// A resolver said "not mine": quietly try the next one.
    pub fn is_not_applicable(&self) -> bool {
        matches!(
            self,
            PluginError::Reported {
                error: ReportedError::NotApplicable(_),
                ..
            }
        )
    }

    /// Whether the sandbox stopped the plugin (time, memory, crash, oversized result).
    pub fn is_sandbox_stop(&self) -> bool {
        matches!(
            self,
            PluginError::Timeout { .. }
                | PluginError::Memory { .. }
                | PluginError::Panic { .. }
                | PluginError::Trap { .. }
                | PluginError::ResultTooLarge { .. }
        )
    }
}
