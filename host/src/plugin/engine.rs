//! The one wasmtime `Engine` of the process, and the clock that bounds plugin calls.
//!
//! One engine because compiled code, type registries and the signal handlers are
//! per engine: every plugin shares them. The engine is created on first use only, so
//! a `wasmvisor run` that never needs a plugin never pays for it.
//!
//! Time limits use epoch interruption (cheaper than fuel: a load and compare at loop
//! heads). The epoch ticker is a thread that sleeps parked while no call runs and
//! ticks every [`TICK`] while at least one does — an idle supervisor does not wake
//! up 100 times a second for nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};
use std::time::Duration;

use anyhow::{Context, Result};
use wasmtime::{Config, Engine};

/// Granularity of time limits.
pub const TICK: Duration = Duration::from_millis(10);

/// The engine plus its epoch ticker.
pub struct Runtime {
    pub engine: Engine,
    ticker: Ticker,
}

struct Ticker {
    active: Arc<AtomicUsize>,
    thread: Thread,
}

/// Keeps the ticker running while alive (one per plugin call).
pub struct CallGuard {
    active: Arc<AtomicUsize>,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The engine configuration. Part of the compiled-code cache key (see `cache.rs`).
pub fn engine_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    // Plugins are small: 1 MiB of wasm stack is plenty and bounds deep recursion.
    config.max_wasm_stack(1 << 20);
    config
}

impl Runtime {
    /// The process-wide runtime, created on first use.
    pub fn shared() -> Result<&'static Runtime> {
        static RUNTIME: OnceLock<Runtime> = OnceLock::new();
        if let Some(rt) = RUNTIME.get() {
            return Ok(rt);
        }
        let rt = Runtime::new()?;
        Ok(RUNTIME.get_or_init(|| rt))
    }

    fn new() -> Result<Runtime> {
        let engine = Engine::new(&engine_config())
            .map_err(anyhow::Error::from)
            .context("creating the WebAssembly engine")?;
        let active = Arc::new(AtomicUsize::new(0));
        let ticking_engine = engine.clone();
        let ticking_active = active.clone();
        let handle = thread::Builder::new()
            .name("wasmvisor-epoch".into())
            .spawn(move || {
                loop {
                    if ticking_active.load(Ordering::SeqCst) == 0 {
                        thread::park();
                        continue;
                    }
                    thread::sleep(TICK);
                    ticking_engine.increment_epoch();
                }
            })
            .context("starting the plugin time-limit thread")?;
        Ok(Runtime {
            engine,
            ticker: Ticker {
                active,
                thread: handle.thread().clone(),
            },
        })
    }

    /// Marks a call as running; the ticker runs until the guard is dropped.
    pub fn begin_call(&self) -> CallGuard {
        self.ticker.active.fetch_add(1, Ordering::SeqCst);
        self.ticker.thread.unpark();
        CallGuard {
            active: self.ticker.active.clone(),
        }
    }
}

/// Ticks needed so that a deadline is not reached before `limit` has passed.
pub fn ticks_for(limit: Duration) -> u64 {
    (limit.as_micros() / TICK.as_micros()) as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_up() {
        assert_eq!(ticks_for(Duration::from_millis(95)), 10);
        assert_eq!(ticks_for(Duration::from_millis(100)), 11);
    }

    #[test]
    fn the_runtime_is_shared() {
        let a = Runtime::shared().unwrap() as *const Runtime;
        let b = Runtime::shared().unwrap() as *const Runtime;
        assert_eq!(a, b);
    }
}
