#!/usr/bin/env bash
# Log throughput with a log-reading plugin active. Target: with `log-scanner`, a node
# writing SIZE MiB of log lines (default 1 GiB) reaches the supervisor's stdout at
# ≥ 80 % of the throughput of the same node writing to a plain pipe, measured in the
# same run.
#
# The node is the release fake-chaind: blocks as fast as it can (`block_time_ms` 0),
# each a CometBFT-style `committed state` line plus LINES filler lines of ~170 bytes
# (`received proposal … module=consensus proposal=…`), one write(2) per line as a Go
# node's logger does, persisting its height every block; it exits 0 once the height
# that makes SIZE MiB is committed (`stop_at_height`). Its stdout goes into a pipe
# read by `wc -c` (a reader like journald), its stderr to /dev/null:
#
#   baseline        fake-chaind start | wc -c
#   log-scanner     wasmvisor run --plugin log-scanner start | wc -c
#                   (the node's stdout goes through a pipe and the supervisor's copier
#                   thread, which hands each line to the plugin's memchr filter)
#   no plugin       wasmvisor run start | wc -c   (inherited stdout, for reference)
#
# Each variant runs RUNS times (interleaved); the median wall time gives MiB/s. The
# byte counts must be equal: nothing may be lost or added on the way. The CPU time of
# the whole pipeline (user + sys, bash's `time`) is reported too: its excess over the
# baseline is what the supervisor's copy costs.
#
#   host/benches/log_throughput.sh [SIZE MiB, default 1024]   (RUNS=3 LINES=1000)
set -euo pipefail
size_mib=${1:-1024}
runs=${RUNS:-3}
lines=${LINES:-1000}
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
cargo build --release -p wasmvisor -p fake-chaind >/dev/null 2>&1 ||
    { echo "cargo build --release -p wasmvisor -p fake-chaind failed" >&2; exit 1; }
wv=$repo/target/release/wasmvisor
node=$repo/target/release/fake-chaind

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# A fresh node home (same path length every time, so the output is byte-identical).
new_home() {
    local home; home=$(mktemp -d /tmp/wv-logbench.XXXXXXXX)
    mkdir -p "$home/data" "$home/config" "$home/cosmovisor/genesis/bin"
    cp "$node" "$home/cosmovisor/genesis/bin/fake-chaind"
    echo "{\"block_time_ms\":0,\"log_lines_per_block\":$lines,\"stop_at_height\":$1}" \
        >"$home/config/fakechain.json"
    echo "$home"
}

# The height whose blocks make at least size_mib MiB, from a 20-block sample.
sample=$(new_home 20)
per_block=$(( $("$node" start --home "$sample" 2>/dev/null | wc -c) / 20 ))
rm -rf "$sample"
height=$(( (size_mib * 1048576 + per_block - 1) / per_block ))

# Runs one variant once; prints "<wall ns> <cpu ms> <bytes>".
run_once() {
    local variant=$1 home
    home=$(new_home "$height")
    local TIMEFORMAT='%3R %3U %3S'
    case $variant in
        baseline) { time "$node" start --home "$home" 2>/dev/null | wc -c >"$home.bytes"; } 2>"$home.time" ;;
        scanner) { time env -i PATH="$PATH" DAEMON_HOME="$home" DAEMON_NAME=fake-chaind \
            "$wv" run --plugin log-scanner start --home "$home" 2>"$home.err" | wc -c >"$home.bytes"; } 2>"$home.time" ;;
        plain) { time env -i PATH="$PATH" DAEMON_HOME="$home" DAEMON_NAME=fake-chaind \
            "$wv" run start --home "$home" 2>"$home.err" | wc -c >"$home.bytes"; } 2>"$home.time" ;;
    esac
    if [[ $variant != baseline ]] && grep -q " ERR " "$home.err"; then
        echo "wasmvisor ($variant) reported an error:" >&2; cat "$home.err" >&2; exit 1
    fi
    local real user sys
    read -r real user sys <"$home.time"
    awk -v r="$real" -v u="$user" -v s="$sys" -v b="$(cat "$home.bytes")" \
        'BEGIN {printf "%.0f %.0f %s\n", r * 1e9, (u + s) * 1000, b}'
    rm -rf "$home" "$home.err" "$home.time" "$home.bytes"
}

declare -A times cpu
expected=""
for _ in $(seq "$runs"); do
    for variant in baseline scanner plain; do
        result=$(run_once "$variant")
        read -r ns cpu_ms bytes <<<"$result"
        expected=${expected:-$bytes}
        if [[ $bytes != "$expected" ]]; then
            echo "$variant passed on $bytes bytes, the node wrote $expected" >&2
            exit 1
        fi
        times[$variant]+="$ns "
        cpu[$variant]+="$cpu_ms "
    done
done

mibps() { awk -v b="$expected" -v ns="$1" 'BEGIN {printf "%.0f", b / 1048576 / (ns / 1e9)}'; }
report() { # label, variant
    local med; med=$(printf '%s\n' ${times[$2]} | median)
    local cpu_med; cpu_med=$(printf '%s\n' ${cpu[$2]} | median)
    printf '%-44s %6s MiB/s  CPU %5.1f s  (median %.2f s; all: %s)\n' "$1" "$(mibps "$med")" \
        "$(awk -v ms="$cpu_med" 'BEGIN {print ms / 1000}')" \
        "$(awk -v ns="$med" 'BEGIN {print ns / 1e9}')" \
        "$(for t in ${times[$2]}; do awk -v ns="$t" 'BEGIN {printf "%.2fs ", ns / 1e9}'; done)"
}
echo "node output: $expected bytes ($(awk -v b="$expected" 'BEGIN {printf "%.0f", b / 1048576}') MiB, $height blocks × $lines filler lines), $runs runs each"
report "baseline: fake-chaind | wc -c" baseline
report "wasmvisor run --plugin log-scanner | wc -c" scanner
report "wasmvisor run (no plugin) | wc -c" plain
b=$(printf '%s\n' ${times[baseline]} | median)
s=$(printf '%s\n' ${times[scanner]} | median)
ratio=$(awk -v b="$b" -v s="$s" 'BEGIN {printf "%.1f", 100 * b / s}')
verdict=$(awk -v r="$ratio" 'BEGIN {print (r >= 80 ? "meets" : "MISSES")}')
echo "log-scanner throughput = ${ratio} % of the plain pipe (target ≥ 80 %: ${verdict})"
