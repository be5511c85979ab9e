#!/usr/bin/env bash
# Benchmark: wasmvisor's data backup against `cp -a` of the same node-shaped tree,
# measured in the same run, on the machine's own filesystem and then (where loop
# mounts are allowed) on loop-mounted XFS (reflink=1) and btrfs images.
#
#   host/benches/backup.sh [--size-gib N] [--small-files N] [--runs N] [--workdir DIR] [--no-loop] [--keep-tree]
#
# Targets: on the plain filesystem, wasmvisor ≤ 1.1 × `cp -a`; on a reflink-capable
# one, ≥ 20 × faster than a byte-for-byte `cp -a` (`--reflink=never`). Note that
# coreutils ≥ 9 `cp -a` itself reflinks by default where it can, so on XFS/btrfs
# plain `cp -a` is shown too, and should be on a par with wasmvisor.
#
# Every contestant starts from the same state: the previous copy removed, `sync`,
# and the page cache dropped when /proc/sys/vm/drop_caches is writable (the table
# says "cold cache"); otherwise the runs are warm-cache and the table says so.
# The order of the contestants alternates from run to run.
#
# The backup is run through `wasmvisor backup` when the binary has that command, or
# else through the `backup_tree` bench target (same library function, same timing
# from outside). Force one with WASMVISOR_BENCH_RUNNER=cli|lib.
#
# wasmvisor's backup ends with syncfs(2) before it renames the backup into place
# (so a power cut never leaves a final-named backup with empty files); `cp -a` does
# not flush, so "cp -a; sync" is shown as the same-durability baseline.
set -euo pipefail

size_gib=2
small_files=2000
runs=3
work=${BACKUP_BENCH_WORKDIR:-/var/tmp/wasmvisor-backup-bench}
loop=1
keep_tree=0
while [ $# -gt 0 ]; do
    case "$1" in
        --size-gib) size_gib=$2; shift 2 ;;
        --small-files) small_files=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --workdir) work=$2; shift 2 ;;
        --no-loop) loop=0; shift ;;
        --keep-tree) keep_tree=1; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
log() { printf '%s\n' "$*" >&2; }
mounts=()
cleanup() {
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || true; done
    if [ "$keep_tree" = 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# ---- build -------------------------------------------------------------------
log "building release binaries (cargo build --release -p wasmvisor) ..."
mkdir -p "$work"
if ! (cd "$repo" && cargo build --release -p wasmvisor --bin wasmvisor --bench backup_tree \
    --message-format=json >"$work/build.json" 2>"$work/build.err"); then
    tail -n 30 "$work/build.err" >&2
    log "the release build failed (above); nothing was measured"
    exit 1
fi
bench_exe=$(python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "backup_tree" and m.get("executable"):
        print(m["executable"])
' <"$work/build.json")
[ -x "$bench_exe" ] || { log "could not build the backup_tree bench target"; exit 1; }
cli="$repo/target/release/wasmvisor"
runner=${WASMVISOR_BENCH_RUNNER:-}
if [ -z "$runner" ]; then
    if "$cli" backup --help >/dev/null 2>&1; then runner=cli; else runner=lib; fi
fi
case "$runner" in
    cli) log "backup runs through: $cli backup" ;;
    lib) log "backup runs through: the backup_tree bench target ($bench_exe): \`wasmvisor backup\` is not available" ;;
    *) log "WASMVISOR_BENCH_RUNNER must be cli or lib"; exit 2 ;;
esac

# ---- cache control -----------------------------------------------------------
cache=warm
if [ -w /proc/sys/vm/drop_caches ] && sync && echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then
    cache=cold
fi
settle() {
    sync
    if [ "$cache" = cold ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}

# ---- the tree ----------------------------------------------------------------
# A node's data: a few big database files, thousands of small LevelDB/PebbleDB
# tables (.sst/.ldb) in several databases, nested snapshot chunks, the WAL, small
# state files. About 60% of the bytes in 3 big files, the rest in --small-files small
# ones (default 2000, ~400 KiB each: twice the file count of a goleveldb node of this
# size, whose tables are up to 2 MiB; --small-files 16000, ~50 KiB each, is the per-file
# stress case).
make_tree() {
    local data=$1
    python3 - "$data" "$size_gib" "$small_files" <<'PY'
import os, random, sys
data, gib, count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
total = int(gib * (1 << 30))
rng = random.Random(7)
def write(path, size, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 << 20)
            f.write(os.urandom(n))
            left -= n
    os.chmod(path, mode)
    return size
done = 0
# Numbered above the small tables, so none of them overwrites a big one.
big = [("application.db/912345.sst", 0.23), ("blockstore.db/900777.ldb", 0.20), ("state.db/900555.ldb", 0.16)]
for name, share in big:
    done += write(os.path.join(data, name), int(total * share))
small_budget = total - done
dbs = [("application.db", ".sst", 0.38), ("blockstore.db", ".ldb", 0.25), ("state.db", ".ldb", 0.12),
       ("tx_index.db", ".ldb", 0.12), ("evidence.db", ".ldb", 0.03)]
avg = small_budget * 0.9 / count
for db, ext, share in dbs:
    for i in range(int(count * share)):
        done += write(os.path.join(data, db, "%06d%s" % (i + 10, ext)), int(rng.uniform(0.1, 1.9) * avg))
    for meta in ("CURRENT", "LOCK", "LOG", "MANIFEST-000009"):
        write(os.path.join(data, db, meta), 0 if meta == "LOCK" else rng.randint(16, 4096))
# Nested snapshot chunks (state-sync snapshots): height/format/chunk.
left = max(total - done, 0)
chunks = int(count * 0.10)
for i in range(chunks):
    write(os.path.join(data, "snapshots", str(1000 * (i // 200 + 1)), str(i // 50 % 4), str(i)), left // chunks)
write(os.path.join(data, "cs.wal", "wal"), 8 << 20, 0o600)
os.chmod(os.path.join(data, "cs.wal"), 0o700)
write(os.path.join(data, "priv_validator_state.json"), 150, 0o600)
PY
}

# ---- timing ------------------------------------------------------------------
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# run_one NAME SRC_HOME DST_DIR: one timed copy of SRC_HOME/data into DST_DIR.
run_one() {
    local name=$1 home=$2 dst=$3 t0 t1
    rm -rf "$dst"; mkdir -p "$dst"
    settle
    t0=$(now_ms)
    case "$name" in
        "cp -a") cp -a "$home/data" "$dst/data-copy" ;;
        "cp -a; sync") cp -a "$home/data" "$dst/data-copy"; sync ;;
        "cp -a --reflink=never") cp -a --reflink=never "$home/data" "$dst/data-copy" ;;
        wasmvisor)
            if [ "$runner" = cli ]; then
                DAEMON_HOME=$home DAEMON_NAME=benchd DAEMON_DATA_BACKUP_DIR=$dst "$cli" backup >/dev/null
            else
                "$bench_exe" "$home/data" "$dst" >"$dst.out"
            fi ;;
    esac
    t1=$(now_ms)
    echo $(( t1 - t0 ))
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# compare LABEL HOME DSTBASE CONTESTANTS...: prints a table; sets med_<i> per contestant.
declare -A med
compare() {
    local label=$1 home=$2 dstbase=$3; shift 3
    local contestants=("$@") n=${#@} r i j name
    declare -A times
    for ((r = 1; r <= runs; r++)); do
        for ((j = 0; j < n; j++)); do
            # Alternate the order: forwards on odd runs, backwards on even ones.
            if (( r % 2 )); then i=$j; else i=$(( n - 1 - j )); fi
            name=${contestants[$i]}
            times[$name]+="$(run_one "$name" "$home" "$dstbase/$i") "
            rm -rf "${dstbase:?}/$i"
        done
    done
    printf '\n%s (%s cache, %s runs, tree %s GiB)\n' "$label" "$cache" "$runs" "$size_gib"
    printf '%-24s %-30s %10s\n' contestant "runs (ms)" "median ms"
    for name in "${contestants[@]}"; do
        # shellcheck disable=SC2086
        med[$label/$name]=$(median ${times[$name]})
        printf '%-24s %-30s %10s\n' "$name" "${times[$name]}" "${med[$label/$name]}"
    done
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / (b > 0 ? b : 1) }'; }

# ---- 1. the machine's own filesystem ------------------------------------------
mkdir -p "$work/native/home"
fs_type=$(stat -f -c %T "$work")
tree_stamp="$work/native/home/.tree-$size_gib"
if [ ! -e "$tree_stamp" ]; then
    rm -rf "$work/native/home/data"
    log "making a ${size_gib} GiB node-shaped tree in $work/native/home/data ..."
    make_tree "$work/native/home/data"
    touch "$tree_stamp"
fi
log "tree: $(find "$work/native/home/data" -type f | wc -l) files, $(du -sh "$work/native/home/data" | cut -f1)"
compare "$fs_type ($work)" "$work/native/home" "$work/native/out" "cp -a" "cp -a; sync" wasmvisor
native="$fs_type ($work)"
r1=$(ratio "${med[$native/wasmvisor]}" "${med[$native/cp -a]}")
r2=$(ratio "${med[$native/wasmvisor]}" "${med[$native/cp -a; sync]}")
printf 'wasmvisor / cp -a = %s (target <= 1.10); wasmvisor / (cp -a; sync) = %s\n' "$r1" "$r2"
if [ "$runner" = lib ]; then
    printf 'method used: %s\n' "$(grep -o 'method=[a-z ]*' "$work/native/out"/*.out 2>/dev/null | head -1 || true)"
fi

# ---- 2. reflink-capable filesystems on loop devices ---------------------------
if [ "$loop" = 0 ]; then
    log "loop-mounted filesystems: skipped (--no-loop)"
    exit 0
fi
ensure_tool() {
    local tool=$1 pkg=$2
    command -v "$tool" >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing $pkg (apt-get install -y $pkg) ..."
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >/dev/null 2>&1 || true
    fi
    command -v "$tool" >/dev/null
}
for fs in xfs btrfs; do
    case $fs in
        xfs) tool=mkfs.xfs pkg=xfsprogs mkfs=(mkfs.xfs -q -f -m reflink=1) ;;
        btrfs) tool=mkfs.btrfs pkg=btrfs-progs mkfs=(mkfs.btrfs -q -f) ;;
    esac
    if ! ensure_tool "$tool" "$pkg"; then
        printf '\n%s: SKIPPED — %s is not installed and could not be installed here\n' "$fs" "$tool"
        continue
    fi
    img="$work/$fs.img" mnt="$work/$fs-mnt"
    rm -f "$img"; truncate -s "$(awk -v g="$size_gib" 'BEGIN { printf "%d", g * 3 + 2.999 }')G" "$img"
    "${mkfs[@]}" "$img" >/dev/null
    mkdir -p "$mnt"
    if ! mount -o loop "$img" "$mnt" 2>"$work/mount.err"; then
        printf '\n%s: SKIPPED — loop mounts are not permitted on this machine (%s)\n' "$fs" "$(tr '\n' ' ' <"$work/mount.err")"
        rm -f "$img"
        continue
    fi
    mounts+=("$mnt")
    log "copying the tree into the $fs image ..."
    mkdir -p "$mnt/home"
    cp -a --reflink=never "$work/native/home/data" "$mnt/home/data"
    sync
    compare "$fs (loop image, reflink-capable)" "$mnt/home" "$mnt/out" "cp -a --reflink=never" "cp -a" wasmvisor
    label="$fs (loop image, reflink-capable)"
    speedup=$(ratio "${med[$label/cp -a --reflink=never]}" "${med[$label/wasmvisor]}")
    vs_cp=$(ratio "${med[$label/wasmvisor]}" "${med[$label/cp -a]}")
    printf '(cp -a --reflink=never) / wasmvisor = %s x faster (target >= 20); wasmvisor / cp -a (reflinks too) = %s\n' \
        "$speedup" "$vs_cp"
    umount "$mnt"
    mounts=("${mounts[@]/$mnt}")
    rm -f "$img"
done
