#!/usr/bin/env bash
# The README's first command: installs what is missing, builds cairn, and runs the main job
# on the quick-start config (examples/quickstart/cairn.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
swift build
cairn=.build/debug/cairn
config=examples/quickstart/cairn.yaml

# A small sample tree for the quick-start set to back up.
sample=examples/quickstart/sample
mkdir -p "$sample/letters" "$sample/photos"
printf 'Dear reader,\nthis file is backed up by cairn.\n' >"$sample/letters/hello.txt"
head -c 65536 /dev/urandom >"$sample/photos/noise.bin"

echo "== cairn validate -c $config"
"$cairn" validate -c "$config"
echo "== cairn validate --show -c $config"
"$cairn" validate --show -c "$config"
