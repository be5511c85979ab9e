#!/usr/bin/env bash
# Memory and CPU of the real supervisor with two detector plugins active:
# `log-scanner` (bundled; reads the node's output through its line filter) and the
# `detector-basic` fixture (polled every second, and fed every output line), while
# fake-chaind produces blocks (one log line each, plus filler lines). Target: RSS
# ≤ 40 MiB. Baseline in the same run: the same node under wasmvisor with no plugin.
#
#   host/benches/two_detectors_rss.sh [seconds]      (default 30)
set -euo pipefail
secs=${1:-30}
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
cargo build --release -p wasmvisor -p fake-chaind >/dev/null 2>&1
wv=$repo/target/release/wasmvisor
fixture=$repo/target/plugins/wasm32-wasip2/release/fixture_detector_basic.wasm
[ -f "$fixture" ] || { echo "missing $fixture (cargo build builds it)" >&2; exit 1; }

measure() { # label, then wasmvisor run flags
    local label=$1; shift
    local home; home=$(mktemp -d)
    mkdir -p "$home/data" "$home/config" "$home/cosmovisor/genesis/bin"
    cp target/release/fake-chaind "$home/cosmovisor/genesis/bin/"
    ln -s genesis "$home/cosmovisor/current"
    echo '{"block_time_ms":20,"log_lines_per_block":20}' >"$home/config/fakechain.json"
    env -i PATH="$PATH" DAEMON_HOME="$home" DAEMON_NAME=fake-chaind \
        "$wv" run "$@" start --home "$home" >/dev/null 2>"$home/wv.err" &
    local pid=$!
    sleep 3
    local t0; t0=$(awk '{print $14+$15}' /proc/$pid/stat)
    sleep "$secs"
    local t1; t1=$(awk '{print $14+$15}' /proc/$pid/stat)
    local rss hwm
    rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
    hwm=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
    kill -TERM $pid; wait $pid 2>/dev/null || true
    local hz; hz=$(getconf CLK_TCK)
    printf '%-28s RSS %6.1f MiB  peak %6.1f MiB  CPU %5.2f %% of a core over %ss\n' \
        "$label" "$(echo "$rss/1024" | bc -l)" "$(echo "$hwm/1024" | bc -l)" \
        "$(echo "($t1-$t0)*100/$hz/$secs" | bc -l)" "$secs"
    grep -c "plugin enabled" "$home/wv.err" >/dev/null || true
    rm -rf "$home"
}
command -v bc >/dev/null || apt-get install -y bc >/dev/null 2>&1
measure "no plugin (baseline)"
measure "two detectors" --plugin log-scanner --plugin "$fixture"
