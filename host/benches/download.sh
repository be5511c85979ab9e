#!/usr/bin/env bash
# Benchmark: wasmvisor's artifact download against `curl -o`, same loopback server,
# same file, same run.
#
#   host/benches/download.sh [--size-mib N] [--runs N] [--workdir DIR]
#
# Target: download + verify of a 256 MiB artifact at ≥ 0.8 × curl's throughput, with
# wasmvisor's peak RSS ≤ 40 MiB (the body is streamed, never held in memory).
#
# The artifact is an ELF (a copy of /bin/true) padded with random bytes to the size,
# so wasmvisor's full install accepts it as a binary for this machine. It is served
# by host/benches/serve_file.py (HTTP/1.1, Content-Length, sendfile) on 127.0.0.1.
# Contestants, each run `--runs` times (order alternating), best time kept:
#   curl            curl -s -o FILE URL                       (no checksum)
#   curl+sha256sum  curl -s -o FILE URL && sha256sum FILE     (same work as wv fetch)
#   curl+sync       curl -s -o FILE URL && sync FILE          (same durability as wv install)
#   wv fetch        download + sha256 verified while streaming (install::download::fetch)
#   wv install      the whole install(): fetch, detect, ELF check, fsync, rename
#   wv add-upgrade  `wasmvisor add-upgrade bench URL --checksum sha256:…`, the real
#                   binary and command an operator runs (install() plus CLI start-up)
# "wv fetch" and "wv install" run through the `download` bench target (library
# calls, to separate the download from the install's fsync). Peak RSS comes from
# `/usr/bin/time -v` ("Maximum resident set size"). `sync` runs before every
# contestant so no one pays for another's dirty pages.
set -euo pipefail

size_mib=256
runs=3
work=${DOWNLOAD_BENCH_WORKDIR:-/var/tmp/wasmvisor-download-bench}
while [ $# -gt 0 ]; do
    case "$1" in
        --size-mib) size_mib=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --workdir) work=$2; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
log() { printf '%s\n' "$*" >&2; }
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

for tool in curl python3 sha256sum; do
    command -v "$tool" >/dev/null || { log "this benchmark needs $tool"; exit 1; }
done
if [ ! -x /usr/bin/time ]; then
    log "/usr/bin/time is missing; installing it (apt-get install time) ..."
    apt-get install -y time >/dev/null
fi

# ---- build -------------------------------------------------------------------
log "building wasmvisor and the download bench target in release mode ..."
built=$(cd "$repo" && cargo build --release -p wasmvisor --bin wasmvisor --bench download --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] in ("download", "wasmvisor") and m.get("executable"):
        print(m["target"]["name"], m["executable"])
')
exe=$(awk '$1 == "download" {print $2}' <<<"$built")
wv=$(awk '$1 == "wasmvisor" {print $2}' <<<"$built")
[ -x "$exe" ] && [ -x "$wv" ] || { log "build failed; run: cargo build --release -p wasmvisor --bin wasmvisor --bench download"; exit 1; }

# ---- artifact and server -----------------------------------------------------
rm -rf "$work"
mkdir -p "$work/srv"
bytes=$((size_mib * 1024 * 1024))
pad=$((bytes - $(stat -c %s /bin/true)))
{ cat /bin/true; head -c "$pad" /dev/urandom; } > "$work/srv/artifact"
sum=$(sha256sum "$work/srv/artifact" | cut -d' ' -f1)
log "artifact: $size_mib MiB, sha256 $sum"

python3 "$repo/host/benches/serve_file.py" "$work/srv" > "$work/port" &
server_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$work/port")/artifact"

# ---- contestants -------------------------------------------------------------
# run NAME CMD...: times CMD (wall clock), records seconds and peak RSS (KiB).
declare -A best rss
run() {
    local name=$1; shift
    rm -rf "$work/out"; mkdir -p "$work/out"
    sync
    local t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$work/time.txt" "$@" > "$work/stdout.txt"
    local t1=$EPOCHREALTIME
    local secs kib
    secs=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
    kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    log "  $name: ${secs}s, peak RSS ${kib} KiB"
    if [ -z "${best[$name]:-}" ] || python3 -c "import sys; sys.exit(0 if $secs < ${best[$name]} else 1)"; then
        best[$name]=$secs
    fi
    if [ -z "${rss[$name]:-}" ] || [ "$kib" -gt "${rss[$name]}" ]; then rss[$name]=$kib; fi
}

order=(curl curl+sha256sum curl+sync "wv fetch" "wv install" "wv add-upgrade")
for i in $(seq "$runs"); do
    log "run $i/$runs"
    # Alternate the order so no contestant always runs first (or last).
    seq_order=("${order[@]}")
    if [ $((i % 2)) -eq 0 ]; then
        seq_order=(); for ((k = ${#order[@]} - 1; k >= 0; k--)); do seq_order+=("${order[$k]}"); done
    fi
    for name in "${seq_order[@]}"; do
        case "$name" in
            curl) run curl curl -s -f -o "$work/out/file" "$url" ;;
            curl+sha256sum) run curl+sha256sum sh -c 'curl -s -f -o "$1/out/file" "$2" && sha256sum "$1/out/file" >/dev/null' _ "$work" "$url" ;;
            curl+sync) run curl+sync sh -c 'curl -s -f -o "$1/out/file" "$2" && sync "$1/out/file"' _ "$work" "$url" ;;
            "wv fetch") run "wv fetch" "$exe" "$work/out" "$url" "sha256:$sum" --fetch-only ;;
            "wv install") run "wv install" "$exe" "$work/out" "$url" "sha256:$sum" ;;
            "wv add-upgrade") run "wv add-upgrade" env DAEMON_HOME="$work/out" DAEMON_NAME=appd \
                COSMOVISOR_DISABLE_LOGS=true "$wv" add-upgrade bench "$url" --checksum "sha256:$sum" ;;
        esac
    done
done

# ---- report ------------------------------------------------------------------
echo
echo "download of a $size_mib MiB artifact from 127.0.0.1, best of $runs ($(nproc) cores)"
printf '%-16s %9s %10s %14s %10s\n' contestant "best s" "MB/s" "vs curl" "peak RSS"
for name in "${order[@]}"; do
    python3 - "$name" "${best[$name]}" "${best[curl]}" "$bytes" "${rss[$name]}" <<'PY'
import sys
name, secs, curl, size, kib = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"{name:<16} {secs:9.3f} {size / secs / 1e6:10.1f} {curl / secs:13.2f}x {kib / 1024:7.1f} MiB")
PY
done
echo
python3 -c "print(f\"vs curl+sync (same durability): wv install {${best[curl+sync]} / ${best[wv install]}:.2f}x, wv add-upgrade {${best[curl+sync]} / ${best[wv add-upgrade]}:.2f}x\")"
echo "target: 'wv fetch' (download + verify) >= 0.80x curl, peak RSS <= 40 MiB"
