#!/usr/bin/env bash
# seed-load against a full backup of the same corpus, in turn (seed, backup, seed, ...).
#
#   bench/seed-vs-backup.sh [PAIRS]     (default 5)
#
# Issue 20's goal: a seed-load takes no longer than a full backup to a local folder, in the
# backup's memory. Uses bench/run.sh's corpus (BENCH_DIR, default /tmp/cairn-bench; made if
# missing). Each run starts from nothing: both outputs removed, the cache and state too, and
# a sync; only cairn's own process is timed (GNU time), so the cleanup counts for neither.
# Prints each run and the medians: wall, user and system seconds, peak memory in MiB.
set -euo pipefail
pairs=${1:-5}
here=$(cd "$(dirname "$0")" && pwd)
work=${BENCH_DIR:-/tmp/cairn-bench}
cairn=$here/../.build/release/cairn
(cd "$here/.." && swift build -c release --static-swift-stdlib >/dev/null)
[[ -x /usr/bin/time ]] || { echo "GNU time is missing: apt-get install time" >&2; exit 1; }
corpus=$work/corpus
if [[ ! -d $corpus ]]; then
    echo "creating the workload in $corpus"
    python3 "$here/workload.py" create "$corpus" --scale 1
fi
run=$work/seed-vs-backup
mkdir -p "$run"
cat >"$run/cairn.yaml" <<YAML
version: 1
accounts: {bench: {destination: $run/destination}}
encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
backup-sets:
  corpus: {account: bench, sources: [$corpus], in-file-delta: {mode: incremental}}
YAML
export CAIRN_KEY=bench-key XDG_STATE_HOME=$run/state XDG_CACHE_HOME=$run/cache
results=$run/results.txt
: >"$results"
clean() {
    rm -rf "$run/destination" "$run/seed" "$run/state" "$run/cache"
    mkdir -p "$run/destination" "$run/seed"
    sync
    sleep 1
}
for _ in $(seq "$pairs"); do
    clean
    /usr/bin/time -f "seed-load %e %U %S %M" -a -o "$results" \
        "$cairn" seed-load corpus --to "$run/seed/disk" -q -c "$run/cairn.yaml" >/dev/null
    clean
    /usr/bin/time -f "backup %e %U %S %M" -a -o "$results" "$cairn" backup -q -c "$run/cairn.yaml" >/dev/null
done
cat "$results"
for step in seed-load backup; do
    grep "^$step " "$results" | python3 -c '
import statistics, sys
rows = [line.split() for line in sys.stdin]
step = rows[0][0]
median = lambda i: statistics.median(float(r[i]) for r in rows)
print(f"{step:10} median wall {median(1):.2f} s, user {median(2):.2f} s, sys {median(3):.2f} s, peak {median(4) / 1024:.1f} MiB")
'
done
