#!/usr/bin/env bash
# Fuzzes cairn's decoders of repository data with libFuzzer (fuzz/: trees, index files, block
# signatures, key files, the descriptor, unencrypted sealed objects), starting from and adding
# to fuzz/corpus, which the test suite replays (DecoderFuzzTests).
#   scripts/fuzz.sh [SECONDS]      (default 60)
# A finding is written as fuzz/crash-* and the script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
# SwiftPM does not notice files added to a path dependency since the last build: build afresh
# when cairn's list of source files changed.
sources=$(cd .. && find Sources -name '*.swift' | sort | sha256sum | cut -c1-64)
if [[ -d .build && "$(cat .build/cairn-sources 2>/dev/null)" != "$sources" ]]; then rm -rf .build; fi
swift build -Xswiftc -sanitize=fuzzer -Xswiftc -enable-testing -Xswiftc -use-ld=lld
echo "$sources" > .build/cairn-sources
mkdir -p corpus
.build/debug/FuzzDecoders corpus -max_total_time="$seconds" -max_len=4096 -artifact_prefix=./ -print_final_stats=1
