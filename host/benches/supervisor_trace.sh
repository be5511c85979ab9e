#!/usr/bin/env bash
# Where the time of one upgrade goes, syscall by syscall — the profile behind the
# figures of `cargo bench -p wasmvisor --bench supervisor`.
#
#   host/benches/supervisor_trace.sh [--keep]
#
# Lays out a probe home exactly as the bench does, runs the release wasmvisor under
# `strace -f -tt -T`, writes data/upgrade-info.json like the Cosmos SDK (plain
# write), waits for the upgraded node, then leaves it idle for 2 s with the file
# still in place (the state of every node after an upgrade) and stops it. Prints:
#   - the flushes (fsync/fdatasync) and process spawns between the old node's exit
#     and the new node's exec, with their durations (the switchover);
#   - the syscalls wasmvisor made during the 2 idle seconds (should be a handful
#     of poll-tick statx calls, not thousands).
# strace slows every syscall, so absolute times are inflated; counts are exact.
# Needs: strace, the release binary (cargo build --release -p wasmvisor) and the
# bench binary, which doubles as the probe node (cargo bench -p wasmvisor --bench
# supervisor --no-run).
set -euo pipefail

keep=0
[ "${1:-}" = "--keep" ] && keep=1
root=$(cd "$(dirname "$0")/../.." && pwd)
wv=${WASMVISOR_BENCH_BIN:-$root/target/release/wasmvisor}
die() { echo "supervisor_trace: $*" >&2; exit 1; }
command -v strace >/dev/null || die "strace is not installed"
[ -x "$wv" ] || die "$wv is missing; run: cargo build --release -p wasmvisor"
probe=$(ls -t "$root"/target/release/deps/supervisor-* 2>/dev/null | grep -v '\.d$' | head -n1 || true)
[ -n "$probe" ] || die "no bench binary; run: cargo bench -p wasmvisor --bench supervisor --no-run"

work=$(mktemp -d "${TMPDIR:-/tmp}/wasmvisor-trace-XXXXXX")
[ $keep = 1 ] || trap 'rm -rf "$work"' EXIT
home=$work/home
mkdir -p "$home/cosmovisor/genesis/bin" "$home/cosmovisor/upgrades/v2/bin" "$home/data"
cp "$probe" "$work/probe"
ln "$work/probe" "$home/cosmovisor/genesis/bin/probed"
ln "$work/probe" "$home/cosmovisor/upgrades/v2/bin/probed"
ln -s genesis "$home/cosmovisor/current"
events=$home/probe-events.log

wait_starts() { # wait until the probe logged $1 starts
    for _ in $(seq 1000); do
        n=$(grep -c "^start " "$events" 2>/dev/null) || n=0
        [ "$n" -ge "$1" ] && return 0
        sleep 0.01
    done
    die "timed out waiting for start #$1; wasmvisor said: $(tail -5 "$work/wasmvisor.log")"
}

env DAEMON_HOME="$home" DAEMON_NAME=probed DAEMON_SHUTDOWN_GRACE=5s \
    UNSAFE_SKIP_BACKUP=true COSMOVISOR_COLOR_LOGS=false \
    WASMVISOR_BENCH_PROBE_LOG="$events" \
    strace -f -tt -T -o "$work/trace.txt" "$wv" run start >"$work/wasmvisor.log" 2>&1 &
strace_pid=$!
wait_starts 1
sleep 0.3
printf '{"name":"v2","time":"0001-01-01T00:00:00Z","height":100,"info":""}' >"$home/data/upgrade-info.json"
wait_starts 2
idle_from=$(date +%H:%M:%S.%N | cut -c1-15)
sleep 2
idle_to=$(date +%H:%M:%S.%N | cut -c1-15)
wv_pid=$(pgrep -P "$strace_pid" | head -n1)
kill -TERM "$wv_pid"
wait "$strace_pid" || true

old=$(awk '$1=="start"{print $3; exit}' "$events")
new=$(awk '$1=="start"{n++; if(n==2){print $3; exit}}' "$events")
trace=$work/trace.txt
secs() { awk -F: '{print $1*3600+$2*60+$3}' <<<"$1"; }

echo "== switchover: old node $old exited -> new node $new exec'd"
awk -v old="$old" -v new="$new" -v wv="$wv_pid" '
    function t(s,  a) { split(s, a, ":"); return a[1]*3600 + a[2]*60 + a[3] }
    $1==old && /\+\+\+ exited/ { on=1; t0=t($2); next }
    on && $1==new && /execve\(/ { printf "  total %.2f ms (under strace)\n", (t($2)-t0)*1000; on=0 }
    on && (/(fsync|fdatasync)\(/ || /<\.\.\. (fsync|fdatasync) resumed>/) && !/unfinished/ {
        d=$NF; gsub(/[<>]/, "", d); n++; sum+=d
        printf "  +%7.2f ms  %s\n", (t($2)-t0)*1000, substr($0, index($0,$3), 60)
    }
    on && /execve\(/ { printf "  +%7.2f ms  exec %s\n", (t($2)-t0)*1000, substr($3, 1, 90) }
    END { printf "  %d flushes, %.2f ms inside fsync/fdatasync\n", n, sum*1000 }
' "$trace"

echo "== idle 2 s after the upgrade, upgrade-info.json in place: syscalls by wasmvisor ($wv_pid and threads)"
awk -v from="$(secs "$idle_from")" -v to="$(secs "$idle_to")" -v new="$new" '
    function t(s,  a) { split(s, a, ":"); return a[1]*3600 + a[2]*60 + a[3] }
    $1!=new && t($2)>=from && t($2)<=to {
        c=$3; sub(/\(.*/, "", c); if (c == "<...") c = "(resumed calls)"; n[c]++; total++
    }
    END {
        printf "  %d syscalls (an idle supervisor makes a few per poll tick)\n", total
        sorter = "sort -rn | head -8"
        for (c in n) printf "  %8d %s\n", n[c], c | sorter
        close(sorter)
    }
' "$trace"
if command -v perf >/dev/null; then
    echo "== startup, whole lifetime: \`wasmvisor run version\` vs \`probed version\` (perf stat, 50 runs each)"
    rm -f "$home/data/upgrade-info.json"
    ln -sfn genesis "$home/cosmovisor/current.tmp" && mv -T "$home/cosmovisor/current.tmp" "$home/cosmovisor/current"
    for cmd in "$wv run version" "$home/cosmovisor/genesis/bin/probed version"; do
        env DAEMON_HOME="$home" DAEMON_NAME=probed WASMVISOR_BENCH_PROBE_LOG="$events" \
            perf stat -r 50 -e task-clock,page-faults,context-switches $cmd 2>&1 >/dev/null |
            awk -v c="${cmd##*/}" '/task-clock|page-faults|context-switches|elapsed/ { $1=$1; print "  " c ": " $0 }'
    done
fi
[ $keep = 1 ] && echo "kept: $work (trace.txt, wasmvisor.log, home/)"
exit 0
