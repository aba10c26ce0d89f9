#!/usr/bin/env bash
# A real tree that no one here made, side by side with restic: by default /usr, /etc and
# /var/lib of this machine (issue 24's check). Each tool in turn: cairn's plan, a full backup,
# a backup with nothing changed, a restore until on disk (restic's followed by a timed sync, as
# cairn flushes its own), then a comparison of each restore with the source (rsync -aHAXc,
# dry run: contents, modes, owners, times, hard links, ACLs, xattrs). Prints wall seconds, peak
# RSS (GNU time) and the repositories' sizes.
#
#   bench/real-tree.sh [SOURCES...]     (default: /usr /etc /var/lib)
#
# Needs: swift (builds cairn in release mode), restic, rsync, GNU time, and room for two
# repositories and two restores of the sources.
set -euo pipefail
if [[ $# -gt 0 ]]; then sources=("$@"); else sources=(/usr /etc /var/lib); fi
here=$(cd "$(dirname "$0")" && pwd)
work=${BENCH_DIR:-/tmp/cairn-bench}/real-tree
cairn=$here/../.build/release/cairn
mkdir -p "$work"
(cd "$here/.." && swift build -c release --static-swift-stdlib >/dev/null)
for tool in restic rsync; do command -v $tool >/dev/null || { echo "$tool is missing: apt-get install $tool" >&2; exit 1; }; done
source "$here/restore-fs.sh"
restore_fs_setup "$work" 64G
trap restore_fs_cleanup EXIT
export CAIRN_KEY=bench-key RESTIC_PASSWORD=bench-key RESTIC_CACHE_DIR=$work/restic-cache NO_COLOR=1
export XDG_STATE_HOME=$work/state XDG_CACHE_HOME=$work/cache
results=$work/results.txt
: >"$results"
rm -rf "$work/cairn-destination" "$work/restic-repo" "$restore_root/restore-cairn" "$restore_root/restore-restic" "$work/state" "$work/cache" "$work/restic-cache"
mkdir -p "$work/cairn-destination"
{
    echo "version: 1"
    echo "accounts: {bench: {destination: $work/cairn-destination}}"
    echo "encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}"
    echo "backup-sets:"
    echo "  tree:"
    echo "    account: bench"
    echo "    sources: [$(IFS=,; echo "${sources[*]}")]"
} >"$work/cairn.yaml"
restic init -q -r "$work/restic-repo"

measure() { # tool step command...
    local tool=$1 step=$2
    shift 2
    sync
    /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" >"$work/$tool-$step.log" 2>&1 || { echo "$tool $step failed:"; tail -5 "$work/$tool-$step.log"; exit 1; }
    read -r wall rss <"$work/time.txt"
    printf '%-7s %-8s %8.2f %8d\n' "$tool" "$step" "$wall" $((rss / 1024)) | tee -a "$results"
}

entries=$(find "${sources[@]}" -xdev 2>/dev/null | wc -l)
files=$(find "${sources[@]}" -xdev -type f 2>/dev/null | wc -l)
bytes=$(du -scb "${sources[@]}" 2>/dev/null | tail -1 | cut -f1)
echo "sources: ${sources[*]}: $files files, $entries entries, $((bytes / 1000000)) MB"
# Both tools read the tree from the page cache.
find "${sources[@]}" -xdev -type f -print0 2>/dev/null | xargs -0 cat >/dev/null 2>&1 || true
printf '%-7s %-8s %8s %8s\n' tool step wall_s rss_mb
measure cairn plan "$cairn" plan tree -c "$work/cairn.yaml"
measure cairn full "$cairn" backup tree -q -c "$work/cairn.yaml"
measure restic full restic -q -r "$work/restic-repo" backup "${sources[@]}"
measure cairn again "$cairn" backup tree -q -c "$work/cairn.yaml"
measure restic again restic -q -r "$work/restic-repo" backup "${sources[@]}"
measure cairn restore "$cairn" restore tree --to "$restore_root/restore-cairn" -q -c "$work/cairn.yaml"
measure restic restore sh -c "restic -q -r '$work/restic-repo' restore latest --target '$restore_root/restore-restic' && sync"
echo "repositories: cairn $(du -sm "$work/cairn-destination" | cut -f1) MB, restic $(du -sm "$work/restic-repo" | cut -f1) MB"
for tool in cairn restic; do
    differences=0
    for source in "${sources[@]}"; do
        count=$(rsync -aHAXc --dry-run --itemize-changes "$source/" "$restore_root/restore-$tool$source/" | wc -l)
        differences=$((differences + count))
    done
    echo "$tool restore: $differences differences (rsync -aHAXc)"
done
rm -rf "$restore_root/restore-cairn" "$restore_root/restore-restic"
