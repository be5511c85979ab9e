//! Polling instead of sleeping.
//!
//! The suite runs on loaded 2-core CI machines, so no assertion may depend on a
//! fixed sleep: a test waits for a condition with a generous deadline and fails
//! with a description of what never happened (plus whatever context the caller
//! attaches) when it runs out.

use std::time::{Duration, Instant};

/// Default deadline for anything the supervisor should do "soon".
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// How often conditions are checked.
pub const POLL: Duration = Duration::from_millis(20);

/// Polls `probe` until it returns `Some`, and returns that value. Panics after
/// `timeout` with `what` and the output of `context` (e.g. the supervisor's logs).
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
    context: impl FnOnce() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                context()
            );
        }
        std::thread::sleep(POLL);
    }
}

/// Polls `condition` until it holds; see [`wait_for`].
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
    context: impl FnOnce() -> String,
) {
    wait_for(what, timeout, || condition().then_some(()), context);
}

/// How long a test watches for something that must *not* happen (an early
/// switch, an error line) before it moves on.
pub const SETTLE: Duration = Duration::from_millis(600);
