//! Crash points for the crash-safety tests.
//!
//! Built only with the `failpoints` cargo feature (the test command enables it; a
//! normal build compiles every `hit` to nothing). With it, `WASMVISOR_FAILPOINT=<name>`
//! makes the supervisor SIGKILL itself right after the named upgrade step — the
//! harshest stop there is — so the tests can check the next start resumes correctly.

/// The environment variable naming the failpoint to trigger.
pub const ENV: &str = "WASMVISOR_FAILPOINT";

/// Kills the process at once when `name` is the armed failpoint.
#[inline]
pub fn hit(name: &str) {
    #[cfg(feature = "failpoints")]
    if std::env::var(ENV).is_ok_and(|armed| armed == name) {
        eprintln!("wasmvisor: failpoint {name} reached: killing the supervisor (test)");
        // SAFETY-free: kill(2) on our own pid has no memory-safety implications.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
        std::process::abort();
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}
