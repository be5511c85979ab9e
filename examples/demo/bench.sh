#!/usr/bin/env bash
# Benchmark: how long the demo's complete upgrade takes, against a baseline
# measured in the same run — the same chain work without wasmvisor (fake-chaind
# v1 runs to the halt at height 8, then v2 runs on to height 12, started by
# hand). The difference is what wasmvisor (detect, stop, back up, pre-upgrade,
# switch, restart) plus the demo's own setup and checks cost.
#
# Usage: examples/demo/bench.sh [bin-dir, default target/release] (RUNS=5)
# Build first: cargo build --release --workspace
set -euo pipefail

BIN=$(cd "${1:-target/release}" && pwd)
RUNS=${RUNS:-5}
for tool in wasmvisor fake-chaind wasmvisor-demo; do
    [[ -x "$BIN/$tool" ]] || { echo "missing $BIN/$tool: cargo build --release --workspace" >&2; exit 1; }
done

now_ms() { date +%s%3N; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

baseline_once() {
    local home pid t0
    home=$(mktemp -d)
    mkdir -p "$home/config"
    echo '{"block_time_ms":50,"upgrades":[{"name":"v2","height":8}],"exit_on_halt":true}' \
        >"$home/config/fakechain.json"
    "$BIN/fake-chaind" make-version v2 "$home/v2" >/dev/null
    t0=$(now_ms)
    "$BIN/fake-chaind" start --home "$home" >/dev/null 2>&1 || true # exits 1 at the halt
    "$home/v2" start --home "$home" >"$home/v2.log" 2>&1 &
    pid=$!
    until grep -q "height=12 " "$home/v2.log"; do sleep 0.005; done
    kill -TERM "$pid"
    wait "$pid"
    echo $(($(now_ms) - t0))
    rm -rf "$home"
}

demo_once() {
    local out t0
    out=$(mktemp)
    t0=$(now_ms)
    "$BIN/wasmvisor-demo" >"$out" 2>&1 || { cat "$out" >&2; exit 1; }
    echo $(($(now_ms) - t0))
    rm -f "$out"
}

baseline=()
demo=()
for _ in $(seq "$RUNS"); do
    baseline+=("$(baseline_once)")
    demo+=("$(demo_once)")
done
b=$(printf '%s\n' "${baseline[@]}" | median)
d=$(printf '%s\n' "${demo[@]}" | median)
echo "runs: $RUNS (median; 50 ms blocks, upgrade v1 -> v2 at height 8, chain to height 12)"
echo "baseline, chain work without wasmvisor: ${b} ms   (all: ${baseline[*]})"
echo "wasmvisor-demo, complete upgrade:       ${d} ms   (all: ${demo[*]})"
echo "overhead (wasmvisor + demo setup/checks): $((d - b)) ms"
