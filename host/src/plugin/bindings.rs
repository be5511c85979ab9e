//! Host-side bindings of the frozen contract `wit/v0.1.0`, one per world.
//!
//! `types` and `host` are generated once (with the `hook` world, which imports
//! everything) and shared by the other worlds through `with`, so one `Host` impl
//! serves every plugin kind. All imports are async: HTTP, file reads and running
//! the new binary wait on I/O without blocking the supervisor's runtime.
//! A future contract gets its own module (`v0_2_0`) beside this one.

pub mod v0_1_0 {
    pub mod hook {
        wasmtime::component::bindgen!({
            path: "../wit/v0.1.0",
            world: "hook",
            imports: { default: async },
            exports: { default: async },
        });
    }

    pub mod resolver {
        wasmtime::component::bindgen!({
            path: "../wit/v0.1.0",
            world: "resolver",
            imports: { default: async },
            exports: { default: async },
            with: {
                "wasmvisor:plugin/types": super::hook::wasmvisor::plugin::types,
                "wasmvisor:plugin/host": super::hook::wasmvisor::plugin::host,
            },
        });
    }

    pub mod detector {
        wasmtime::component::bindgen!({
            path: "../wit/v0.1.0",
            world: "detector",
            imports: { default: async },
            exports: { default: async },
            with: {
                "wasmvisor:plugin/types": super::hook::wasmvisor::plugin::types,
                "wasmvisor:plugin/host": super::hook::wasmvisor::plugin::host,
            },
        });
    }

    pub use hook::wasmvisor::plugin::binary;
    pub use hook::wasmvisor::plugin::host;
    pub use hook::wasmvisor::plugin::types;
}
