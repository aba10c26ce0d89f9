#!/usr/bin/env bash
# How close the plan's upload estimate comes to what a run stores (issue 17: within ±25%), and
# how long planning takes beside the backup: a first backup and the incremental after a day's
# mutation of the bench workload, and a first backup of a tree of text documents
# (/usr/share/doc). Prints one row per case for docs/PLAN-JSON.md and docs/BENCHMARKS.md.
#   bench/estimate.sh [SCALE]        (the workload's scale, default 1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
scale=${1:-1}
cairn=${CAIRN:-$root/.build/release/cairn}
work=$(mktemp -d /tmp/cairn-estimate-XXXXXX)
trap 'rm -rf "$work"' EXIT
export CAIRN_KEY=estimate XDG_STATE_HOME=$work/state XDG_CACHE_HOME=$work/cache

python3 "$here/workload.py" create "$work/corpus" --scale "$scale"
cp -r /usr/share/doc "$work/documents"
mkdir -p "$work/destination"
cat >"$work/cairn.yaml" <<YAML
version: 1
accounts: {bench: {destination: $work/destination}}
encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
backup-sets:
  corpus: {account: bench, sources: [$work/corpus], in-file-delta: {mode: incremental}}
  documents: {account: bench, sources: [$work/documents]}
YAML

measure() { # NAME SET
    local start end planned stored plan_time backup_time
    start=$(date +%s.%N)
    planned=$("$cairn" plan "$2" --json -c "$work/cairn.yaml" | python3 -c 'import json,sys; p=json.load(sys.stdin)["plans"][0]["summary"]; print(p["upload_estimate"], p["bytes_to_read"])')
    end=$(date +%s.%N)
    plan_time=$(echo "$end - $start" | bc)
    start=$(date +%s.%N)
    "$cairn" backup -q "$2" -c "$work/cairn.yaml" >/dev/null
    end=$(date +%s.%N)
    backup_time=$(echo "$end - $start" | bc)
    stored=$("$cairn" snapshots "$2" --json -c "$work/cairn.yaml" | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["snapshot"]["statistics"]["bytesStored"])')
    read -r estimate toread <<<"$planned"
    python3 - "$1" "$estimate" "$stored" "$toread" "$plan_time" "$backup_time" <<'PY'
import sys
name, estimate, stored, toread, plan, backup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
error = (estimate - stored) / stored * 100 if stored else 0
print(f"| {name} | {toread:,} | {estimate:,} | {stored:,} | {error:+.1f}% | {plan:.2f} s | {backup:.2f} s |")
PY
}

echo "| case | bytes to read | estimate | stored | error | plan | backup |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
measure "workload, first backup" corpus
python3 "$here/workload.py" mutate "$work/corpus" --seed 1
measure "workload, incremental after mutate" corpus
measure "documents (/usr/share/doc), first backup" documents
