#!/usr/bin/env bash
# Benchmark: how long the demo's two complete upgrades take, against a baseline
# measured in the same run — the same chain work without wasmvisor (fake-chaind
# v1 runs to the halt at height 8, v2 to the halt at 16, then v3 on to height 18,
# each started by hand, v3 already on disk). The difference is what wasmvisor
# (detect, stop, download + verify v3 over loopback, back up, pre-upgrade,
# switch, restart — twice) plus the demo's own setup and checks cost.
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
    echo '{"block_time_ms":50,"upgrades":[{"name":"v2","height":8},{"name":"v3","height":16}],"exit_on_halt":true}' \
        >"$home/config/fakechain.json"
    "$BIN/fake-chaind" make-version v2 "$home/v2" >/dev/null
    "$BIN/fake-chaind" make-version v3 "$home/v3" >/dev/null
    t0=$(now_ms)
    "$BIN/fake-chaind" start --home "$home" >/dev/null 2>&1 || true # exits 1 at the halt
    "$home/v2" start --home "$home" >/dev/null 2>&1 || true         # exits 1 at the next
    "$home/v3" start --home "$home" >"$home/v3.log" 2>&1 &
    pid=$!
    until grep -q "height=18 " "$home/v3.log"; do sleep 0.005; done
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
echo "runs: $RUNS (median; 50 ms blocks, v1 -> v2 at height 8, v2 -> v3 (downloaded) at 16, chain to 18)"
echo "baseline, chain work without wasmvisor: ${b} ms   (all: ${baseline[*]})"
echo "wasmvisor-demo, two complete upgrades:  ${d} ms   (all: ${demo[*]})"
echo "overhead (wasmvisor + demo setup/checks): $((d - b)) ms"
