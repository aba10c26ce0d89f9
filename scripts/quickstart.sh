#!/usr/bin/env bash
# The README's first command: installs what is missing, builds cairn, and runs the main job on
# the quick-start config (examples/quickstart/cairn.yaml): a real backup of a sample tree to the
# built-in local destination, and a restore of it that is compared with the original.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
swift build
cairn=$PWD/.build/debug/cairn
config=examples/quickstart/cairn.yaml
here=examples/quickstart
export CAIRN_KEY="${CAIRN_KEY:-quick-start key: use a long secret of your own}"
# The quick start keeps its run state (the repositories it used, job reports) and caches beside
# its config, not in your home folder: a fresh clone is a fresh start, and a clone deleted with
# its backups is not mistaken later for a destination disk that is missing.
export XDG_STATE_HOME=$PWD/$here/state XDG_CACHE_HOME=$PWD/$here/cache

# A small sample tree for the quick-start set, and the destination folder beside the config.
mkdir -p "$here/sample/letters" "$here/sample/photos" "$here/backups"
printf 'Dear reader,\nthis file is backed up by cairn.\n' >"$here/sample/letters/hello.txt"
head -c 1048576 /dev/urandom >"$here/sample/photos/noise.bin"
ln -sf ../letters/hello.txt "$here/sample/photos/hello-link"

echo "== cairn validate -c $config"
"$cairn" validate -c "$config"
echo "== cairn plan -c $config"
"$cairn" plan -c "$config"
echo "== cairn backup -c $config"
"$cairn" backup -c "$config" --quiet
echo "== cairn snapshots sample -c $config"
"$cairn" snapshots sample -c "$config"
restore=$(mktemp -d)
trap 'rm -rf "$restore"' EXIT
echo "== cairn restore sample --to $restore -c $config"
"$cairn" restore sample --to "$restore" -c "$config" | tail -1
diff -r "$here/sample" "$restore$(cd "$here/sample" && pwd)"
echo "== the restored tree matches the sample"
