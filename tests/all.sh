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

# The s3 resolver's end-to-end tests run a real S3-compatible server (moto) and set
# it up with boto3 (installed with moto). Missing, it is installed here; if that
# fails, those tests fail saying what to install (they never skip).
if ! command -v moto_server >/dev/null || ! python3 -c 'import boto3' 2>/dev/null; then
    python3 -m pip install --quiet 'moto[server]>=5,<6' ||
        python3 -m pip install --quiet --user --break-system-packages 'moto[server]>=5,<6' ||
        echo "cannot install moto[server]: the s3 end-to-end tests will fail" >&2
    if command -v pyenv >/dev/null; then pyenv rehash || true; fi
    PATH="$PATH:$(python3 -m site --user-base)/bin"
    export PATH
fi

cargo build --workspace --features wasmvisor/failpoints
cargo test --workspace --features wasmvisor/failpoints

native=$(rustc -vV | sed -n 's/^host: //p')
(cd plugins && cargo test --workspace --target "$native" --target-dir ../target/plugins-native)
