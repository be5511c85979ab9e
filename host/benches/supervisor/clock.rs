//! CLOCK_MONOTONIC in nanoseconds: one system-wide clock on Linux, so timestamps
//! taken in the bench, in wasmvisor's children and in a signal handler compare
//! directly. `clock_gettime` is async-signal-safe, which the probe's handler needs.

/// Nanoseconds on CLOCK_MONOTONIC.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given; CLOCK_MONOTONIC
    // always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
