#!/usr/bin/env bash
# The whole test suite, as the README and CI run it:
#  1. the workspace, built with the test-only `failpoints` feature (the end-to-end
#     tests in tests/ run the real wasmvisor and fake-chaind binaries it builds);
#  2. its tests: unit, plugin (real wasm components) and end-to-end;
#  3. the plugins' own unit tests, compiled for this machine (they are wasm32-wasip2
#     crates, so the root workspace does not see them).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

cargo build --workspace --features wasmvisor/failpoints
cargo test --workspace --features wasmvisor/failpoints

native=$(rustc -vV | sed -n 's/^host: //p')
(cd plugins && cargo test --workspace --target "$native" --target-dir ../target/plugins-native)
