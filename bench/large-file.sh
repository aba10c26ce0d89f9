#!/usr/bin/env bash
# In-file delta on one large file: peak memory and time of cairn's full and delta backups.
#
#   bench/large-file.sh [GIB]        (default 10: a 10 GiB file, block size auto = 32 KiB)
#
# Makes a file of GIB GiB (random data: nothing compresses, so the repository needs as much
# room), backs it up with in-file delta (mode incremental, block size auto), overwrites 64
# regions of 176 KiB as bench/workload.py's mutation does, and backs it up again: the second
# run is a delta. Prints wall time, peak memory (/usr/bin/time) and what each run stored.
# BENCH_DIR picks the work folder (default /tmp/cairn-bench-large); it is removed at the end.
set -euo pipefail
gib=${1:-10}
here=$(cd "$(dirname "$0")" && pwd)
work=${BENCH_DIR:-/tmp/cairn-bench-large}
cairn=$here/../.build/release/cairn
(cd "$here/.." && swift build -c release --static-swift-stdlib >/dev/null)
[[ -x /usr/bin/time ]] || { echo "GNU time is missing: apt-get install time" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work/source" "$work/destination"
trap 'rm -rf "$work"' EXIT
echo "writing a $gib GiB file"
head -c "$((gib << 30))" /dev/urandom >"$work/source/large.img"
cat >"$work/cairn.yaml" <<YAML
version: 1
accounts: {bench: {destination: $work/destination}}
encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
backup-sets:
  large: {account: bench, sources: [$work/source], in-file-delta: {mode: incremental, block-size: auto}}
YAML
export CAIRN_KEY=bench-key XDG_STATE_HOME=$work/state XDG_CACHE_HOME=$work/cache

run() { # step
    sync
    /usr/bin/time -f '%e %M' -o "$work/time.txt" "$cairn" backup -q -c "$work/cairn.yaml" >"$work/$1.log" 2>&1
    read -r wall rss <"$work/time.txt"
    printf '%-6s %8.2f s %6d MB peak  %s\n' "$1" "$wall" $((rss / 1024)) "$(grep -h 'in-file delta\|stored' "$work/$1.log" | tr '\n' ' ')"
}
run full
python3 - "$work/source/large.img" <<'PY'
import os, random, sys
r = random.Random(1)
size = os.path.getsize(sys.argv[1])
with open(sys.argv[1], "r+b") as f:
    for _ in range(64):
        f.seek(r.randrange(size - (176 << 10)))
        f.write(r.randbytes(176 << 10))
PY
run delta
