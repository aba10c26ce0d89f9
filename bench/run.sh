#!/usr/bin/env bash
# Times cairn and restic on the same workload, in the same session, the tools interleaved.
#
#   bench/run.sh [RUNS] [SCALE]      (defaults: 4 runs, scale 1 = about 1.5 GB in 12,200 files)
#   WORKLOAD=small bench/run.sh [RUNS] [FILES]
#                                    (the small-files workload, bench/smallfiles.py: a tree shaped
#                                    like a kernel source tree, default 80,000 files in 5,000
#                                    folders, about 750 MB; its mutation edits 0.5% of the files)
#
# cairn's set uses in-file delta (mode incremental, block size auto, min-size 25MB), so the
# large file's changes are stored as a delta.
# Each run starts both tools on fresh repositories: full backup, a backup with nothing changed,
# the workload's mutation (about 1% of small files, 11 MB inside the large file), an
# incremental backup, and a full restore. Prints one line per tool, step and run, then the
# medians and ranges, with wall time, peak memory (/usr/bin/time) and repository size.
# Needs: swift (builds cairn in release mode), restic, python3, GNU time.
set -euo pipefail
runs=${1:-4}
scale=${2:-1}
here=$(cd "$(dirname "$0")" && pwd)
work=${BENCH_DIR:-/tmp/cairn-bench}
cairn=$here/../.build/release/cairn
mkdir -p "$work"
(cd "$here/.." && swift build -c release --static-swift-stdlib >/dev/null)
command -v restic >/dev/null || { echo "restic is missing: apt-get install restic" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "GNU time is missing: apt-get install time" >&2; exit 1; }

workload=${WORKLOAD:-standard}
if [[ $workload == small ]]; then
    files=${2:-80000}
    corpus=$work/corpus-small-$files
    [[ -d $corpus ]] || { echo "creating the small-files workload ($files files) in $corpus"; python3 "$here/smallfiles.py" create "$corpus" --files "$files"; }
    mutate() { python3 "$here/smallfiles.py" mutate "$corpus" --seed "$1"; }
else
    corpus=$work/corpus
    [[ -d $corpus ]] || { echo "creating the workload (scale $scale) in $corpus"; python3 "$here/workload.py" create "$corpus" --scale "$scale"; }
    mutate() { python3 "$here/workload.py" mutate "$corpus" --seed "$1"; }
fi
source "$here/restore-fs.sh"
restore_fs_setup "$work"
trap restore_fs_cleanup EXIT
export CAIRN_KEY=bench-key RESTIC_PASSWORD=bench-key RESTIC_CACHE_DIR=$work/restic-cache
results=$work/results.txt
: >"$results"
# Each run's mutation has a seed of its own, new in every invocation: mutating a corpus kept
# from an earlier invocation with the same seeds would write the same bytes again.
seed_base=${BENCH_SEED:-$(( $(date +%s) % 1000000 * 10 ))}
echo "mutation seeds: $((seed_base + 1)) to $((seed_base + runs))"

measure() { # tool step run repo command...
    local tool=$1 step=$2 run=$3 repo=$4
    shift 4
    # Every step starts with nothing left to flush, except the flush after a restore itself.
    [[ $step == sync ]] || sync
    /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" >"$work/$tool-$step.log" 2>&1
    read -r wall rss <"$work/time.txt"
    local size
    size=$(du -sm "$repo" | cut -f1)
    printf '%-7s %-8s %d %8.2f %8d %8d\n' "$tool" "$step" "$run" "$wall" $((rss / 1024)) "$size" | tee -a "$results"
}

# Deleted files make the next files slow to create for a while: ext4 without a journal (as
# /tmp is on these machines) skips inodes freed within the last dirty_expire_centisecs (30 s),
# looking each one up, so whichever tool writes first after a deletion pays for it. After each
# deletion the script waits that long; and the tools take turns going first (cairn in odd runs,
# restic in even ones), so neither always runs on the heels of the other's writes.
# After the wait, both cores are kept busy for 3 s: on these VMs the first seconds of work
# after half a minute of idling run 20-50% slower, whichever tool gets them. And the corpus is
# read once: these VMs page out cached pages left unused for about 30 s (`cat` of the 1.5 GB:
# 1.9 s after the wait instead of 0.6; docs/BENCHMARKS.md), and whichever tool went first read
# it from the disk for the other. Every step is thus timed on a warm page cache, as the steps
# after the first already were.
settle() {
    sync
    local expire
    expire=$(cat /proc/sys/vm/dirty_expire_centisecs 2>/dev/null || echo 3000)
    sleep $(( expire / 100 + 2 ))
    find "$corpus" -type f -print0 | xargs -0 cat >/dev/null
    local core
    for core in $(seq "$(nproc)"); do timeout 3 sh -c 'while :; do :; done' & done
    wait
}

cairn_step() { # step run
    local config=(-c "$work/cairn.yaml")
    case $1 in
        restore)
            measure cairn restore "$2" "$work/cairn-destination" "$cairn" restore corpus --to "$restore_root/restore-cairn" "${config[@]}"
            measure cairn sync "$2" "$work/cairn-destination" sync ;;
        *) measure cairn "$1" "$2" "$work/cairn-destination" "$cairn" backup -q "${config[@]}" ;;
    esac
}
restic_step() { # step run
    local r=(restic -q -r "$work/restic-repo")
    case $1 in
        restore)
            measure restic restore "$2" "$work/restic-repo" "${r[@]}" restore latest --target "$restore_root/restore-restic"
            measure restic sync "$2" "$work/restic-repo" sync ;;
        *) measure restic "$1" "$2" "$work/restic-repo" "${r[@]}" backup "$corpus" ;;
    esac
}
both() { # step run: the two tools, the first one by the run's parity
    if (( $2 % 2 == 1 )); then cairn_step "$@"; restic_step "$@"; else restic_step "$@"; cairn_step "$@"; fi
}

printf '%-7s %-8s %s %8s %8s %8s\n' tool step run wall_s rss_mb repo_mb
for run in $(seq 1 "$runs"); do
    rm -rf "$work/cairn-destination" "$work/restic-repo" "$restore_root/restore-cairn" "$restore_root/restore-restic" "$work/state" "$work/cache"
    settle
    mkdir -p "$work/cairn-destination"
    cat >"$work/cairn.yaml" <<YAML
version: 1
accounts: {bench: {destination: $work/cairn-destination}}
encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
backup-sets:
  corpus: {account: bench, sources: [$corpus], in-file-delta: {mode: incremental}}
YAML
    export XDG_STATE_HOME=$work/state XDG_CACHE_HOME=$work/cache
    restic init -q -r "$work/restic-repo"
    both full "$run"
    both again "$run"
    mutate "$((seed_base + run))"
    both incr "$run"
    # cairn's restore ends with a flush of the target file system (DESIGN.md); restic's does
    # not, so each restore is followed by a timed `sync`: restore + sync is the time until the
    # restored files are on disk.
    both restore "$run"
done
rm -rf "$restore_root/restore-cairn" "$restore_root/restore-restic"

echo
echo "medians over $runs runs (range), and cairn / restic:"
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
data = {}
for tool, step, run, wall, rss, size in rows:
    data.setdefault((tool, step), []).append((float(wall), int(rss), int(size)))
def stored(tool):
    # What the incremental backup added to the repository, per run.
    before = {r: v for (t, s, r, *_), v in zip(rows, [int(x[5]) for x in rows]) if t == tool and s == "again"}
    after = {r: v for (t, s, r, *_), v in zip(rows, [int(x[5]) for x in rows]) if t == tool and s == "incr"}
    return sorted(after[r] - before[r] for r in after if r in before)
for step in ["full", "again", "incr", "restore"]:
    line = []
    medians = {}
    for tool in ["cairn", "restic"]:
        values = data.get((tool, step), [])
        if not values:
            continue
        walls = [v[0] for v in values]
        medians[tool] = statistics.median(walls)
        line.append(f"{tool} {statistics.median(walls):6.2f} s ({min(walls):.2f}-{max(walls):.2f}), "
                    f"{max(v[1] for v in values)} MB peak, repo {statistics.median([v[2] for v in values]):.0f} MB")
    ratio = medians["cairn"] / medians["restic"] if len(medians) == 2 and medians["restic"] > 0 else float("nan")
    print(f"{step:8s} " + "; ".join(line) + f"; ratio {ratio:.2f}")
def durable(tool):
    restores = {r: float(w) for t, s, r, w, *_ in rows if t == tool and s == "restore"}
    syncs = {r: float(w) for t, s, r, w, *_ in rows if t == tool and s == "sync"}
    return [restores[r] + syncs[r] for r in restores if r in syncs]
both = {tool: durable(tool) for tool in ["cairn", "restic"]}
if all(both.values()):
    medians = {tool: statistics.median(values) for tool, values in both.items()}
    print("restore + sync (until the files are on disk): " + "; ".join(
        f"{tool} {medians[tool]:.2f} s ({min(both[tool]):.2f}-{max(both[tool]):.2f})" for tool in both)
        + f"; ratio {medians['cairn'] / medians['restic']:.2f}")
    runs = sorted(set(r for t, s, r, *_ in rows if s == "restore"), key=int)
    restores = {t: {r: float(w) for tt, s, r, w, *_ in rows if tt == t and s == "restore"} for t in both}
    syncs = {t: {r: float(w) for tt, s, r, w, *_ in rows if tt == t and s == "sync"} for t in both}
    ratios = [(restores["cairn"][r] + syncs["cairn"][r]) / (restores["restic"][r] + syncs["restic"][r]) for r in runs]
    print("restore + sync, cairn / restic in each run: " + ", ".join(f"{x:.2f}" for x in ratios) + f" (worst {max(ratios):.2f})")
for tool in ["cairn", "restic"]:
    values = stored(tool)
    if values:
        print(f"stored by the incremental backup, {tool}: median {statistics.median(values):.0f} MB ({min(values)}-{max(values)})")
PY
