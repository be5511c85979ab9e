//! Per-call limits of a plugin: wall time, memory, and the size of everything that
//! crosses the sandbox boundary (results, HTTP bodies, files, log lines, state).
//!
//! Why each exists: a plugin is third-party code running inside the supervisor that
//! must never fail. Wall time bounds a loop (epoch interruption traps the guest) and a
//! slow host call (the whole call is also wrapped in a timer); memory bounds a
//! runaway allocation (`StoreLimits` refuses the growth and traps); the size limits
//! bound what a plugin can make the host allocate on its behalf. Defaults suit every
//! bundled plugin; an operator overrides per plugin in `[plugins.<name>]`.

use std::time::Duration;

use serde::Serialize;

/// Every sandbox knob of one plugin, in one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Wall time of one call (guest code and the host calls it makes).
    pub call_timeout: Duration,
    /// Linear memory of the plugin, in bytes.
    pub memory_bytes: usize,
    /// Size of one call's result as the host sees it (sum of its strings and lists).
    pub max_result_bytes: usize,
    /// Body of one HTTP response.
    pub max_http_response_bytes: usize,
    /// Wall time of one HTTP request.
    pub http_timeout: Duration,
    /// One granted file read.
    pub max_file_bytes: usize,
    /// One log line (longer lines are cut, not refused).
    pub max_log_line_bytes: usize,
    /// Log lines per call (more are dropped, and the drop is reported once).
    pub max_log_lines_per_call: usize,
    /// Keys in the plugin's state.
    pub max_state_keys: usize,
    /// Total bytes (keys + values) of the plugin's state.
    pub max_state_bytes: usize,
    /// Wall time of `run-new-binary` (hooks).
    pub binary_timeout: Duration,
    /// Bytes kept of the new binary's stdout and of its stderr.
    pub max_binary_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_timeout: Duration::from_secs(30),
            memory_bytes: 64 << 20,
            max_result_bytes: 1 << 20,
            max_http_response_bytes: 4 << 20,
            http_timeout: Duration::from_secs(20),
            max_file_bytes: 1 << 20,
            max_log_line_bytes: 4 << 10,
            max_log_lines_per_call: 1000,
            max_state_keys: 64,
            max_state_bytes: 64 << 10,
            binary_timeout: Duration::from_secs(10),
            max_binary_output_bytes: 64 << 10,
        }
    }
}

/// Operator overrides from `[plugins.<name>]`; `None` keeps the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    pub call_timeout: Option<Duration>,
    pub memory_bytes: Option<usize>,
    pub max_result_bytes: Option<usize>,
    pub max_http_response_bytes: Option<usize>,
}

impl Limits {
    pub fn with_overrides(mut self, o: &LimitOverrides) -> Self {
        if let Some(t) = o.call_timeout {
            self.call_timeout = t;
        }
        if let Some(m) = o.memory_bytes {
            self.memory_bytes = m;
        }
        if let Some(r) = o.max_result_bytes {
            self.max_result_bytes = r;
        }
        if let Some(h) = o.max_http_response_bytes {
            self.max_http_response_bytes = h;
        }
        self
    }
}

/// Cuts `s` to at most `max` bytes on a char boundary.
pub fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_set() {
        let o = LimitOverrides {
            memory_bytes: Some(1 << 20),
            ..Default::default()
        };
        let l = Limits::default().with_overrides(&o);
        assert_eq!(l.memory_bytes, 1 << 20);
        assert_eq!(l.call_timeout, Limits::default().call_timeout);
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        let mut s = "aé".repeat(3);
        truncate_utf8(&mut s, 2);
        assert_eq!(s, "a");
    }
}
