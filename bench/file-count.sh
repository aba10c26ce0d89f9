#!/usr/bin/env bash
# Memory and time against the number of files: trees of COUNTS tiny files (0-2 KiB each,
# bench/smallfiles.py --tiny, about 16 files a folder), each backed up by cairn and restic in
# turn: cairn's plan, a full backup, a backup with nothing changed, a restore (until on disk:
# restic's restore is followed by a timed sync, as cairn flushes its own); then, cairn only, a
# first backup through a saved plan (plan --out, apply --plan). Prints wall seconds and peak
# RSS (GNU time) per tool, step and count.
#
#   bench/file-count.sh [COUNTS...]     (default: 10000 100000 1000000)
#
# Needs: swift (builds cairn in release mode), restic, python3, GNU time; a million tiny files
# take about 5 GB of disk and 1M inodes per copy (the tree and each restore).
set -euo pipefail
if [[ $# -gt 0 ]]; then counts=("$@"); else counts=(10000 100000 1000000); fi
here=$(cd "$(dirname "$0")" && pwd)
work=${BENCH_DIR:-/tmp/cairn-bench}/file-count
cairn=$here/../.build/release/cairn
mkdir -p "$work"
(cd "$here/.." && swift build -c release --static-swift-stdlib >/dev/null)
command -v restic >/dev/null || { echo "restic is missing: apt-get install restic" >&2; exit 1; }
source "$here/restore-fs.sh"
restore_fs_setup "$work" 64G
trap restore_fs_cleanup EXIT
export CAIRN_KEY=bench-key RESTIC_PASSWORD=bench-key RESTIC_CACHE_DIR=$work/restic-cache NO_COLOR=1
export XDG_STATE_HOME=$work/state XDG_CACHE_HOME=$work/cache
results=$work/results.txt
: >"$results"

measure() { # tool step count command...
    local tool=$1 step=$2 count=$3
    shift 3
    sync
    /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" >"$work/$tool-$step.log" 2>&1 || { echo "$tool $step failed:"; tail -5 "$work/$tool-$step.log"; exit 1; }
    read -r wall rss <"$work/time.txt"
    printf '%-7s %-8s %8d %8.2f %8d\n' "$tool" "$step" "$count" "$wall" $((rss / 1024)) | tee -a "$results"
}

printf '%-7s %-8s %8s %8s %8s\n' tool step files wall_s rss_mb
for count in "${counts[@]}"; do
    tree=$work/tree-$count
    [[ -d $tree ]] || python3 "$here/smallfiles.py" create "$tree" --files "$count" --tiny --seed 7
    rm -rf "$work/cairn-destination" "$work/restic-repo" "$restore_root/restore-cairn" "$restore_root/restore-restic" "$work/state" "$work/cache" "$work/restic-cache"
    mkdir -p "$work/cairn-destination"
    cat >"$work/cairn.yaml" <<YAML
version: 1
accounts: {bench: {destination: $work/cairn-destination}}
encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
backup-sets:
  tree: {account: bench, sources: [$tree]}
YAML
    restic init -q -r "$work/restic-repo"
    find "$tree" -type f -print0 | xargs -0 cat >/dev/null
    measure cairn plan "$count" "$cairn" plan tree -c "$work/cairn.yaml"
    measure cairn full "$count" "$cairn" backup tree -q -c "$work/cairn.yaml"
    measure restic full "$count" restic -q -r "$work/restic-repo" backup "$tree"
    measure cairn again "$count" "$cairn" backup tree -q -c "$work/cairn.yaml"
    measure restic again "$count" restic -q -r "$work/restic-repo" backup "$tree"
    measure cairn restore "$count" "$cairn" restore tree --to "$restore_root/restore-cairn" -q -c "$work/cairn.yaml"
    measure restic restore "$count" sh -c "restic -q -r '$work/restic-repo' restore latest --target '$restore_root/restore-restic' && sync"
    rm -rf "$restore_root/restore-cairn" "$restore_root/restore-restic"
    # A first backup through a saved plan (cairn only): the plan written, then read back a
    # piece at a time and merged with the scan.
    rm -rf "$work/cairn-destination" "$work/state" "$work/cache" "$work/plan.json"
    mkdir -p "$work/cairn-destination"
    measure cairn plan-out "$count" "$cairn" plan tree -c "$work/cairn.yaml" --out "$work/plan.json"
    measure cairn apply-plan "$count" "$cairn" apply --plan "$work/plan.json" -q -c "$work/cairn.yaml"
    rm -f "$work/plan.json"
done

echo
echo "peak memory (MB) and wall time (s) by number of files:"
python3 - "$results" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
counts = sorted({int(r[2]) for r in rows})
print("| step | tool | " + " | ".join(f"{c:,} files" for c in counts) + " |")
print("|---|---|" + "---|" * len(counts))
for step in ["plan", "full", "again", "restore"]:
    for tool in ["cairn", "restic"]:
        cells = []
        for c in counts:
            hit = [r for r in rows if r[0] == tool and r[1] == step and int(r[2]) == c]
            cells.append(f"{hit[0][4]} MB, {float(hit[0][3]):.1f} s" if hit else "-")
        if any(cell != "-" for cell in cells):
            print(f"| {step} | {tool} | " + " | ".join(cells) + " |")
PY
