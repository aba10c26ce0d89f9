#!/usr/bin/env bash
# Regenerates man/cairn*.1 from the command-line definitions (swift-argument-parser's
# generate-manual plugin), with a fixed date so the pages are reproducible.
# With --check, fails when the committed pages differ from what the code generates.
set -euo pipefail
cd "$(dirname "$0")/.."

MAN_DATE=2026-11-22
out=.build/plugins/GenerateManual/outputs/cairn
rm -rf "$out"
swift package generate-manual --multi-page --date "$MAN_DATE" --configuration debug >/dev/null

if [[ "${1:-}" == "--check" ]]; then
    status=0
    for page in "$out"/*.1; do
        name=$(basename "$page")
        if ! diff -u "man/$name" "$page"; then
            echo "man/$name differs from the generated page: run scripts/generate-man.sh" >&2
            status=1
        fi
    done
    for page in man/*.1; do
        if [[ ! -e "$out/$(basename "$page")" ]]; then
            echo "$page is no longer generated: remove it" >&2
            status=1
        fi
    done
    [[ $status == 0 ]] && echo "man pages match the generated ones"
    exit $status
fi

rm -f man/*.1
cp "$out"/*.1 man/
echo "wrote $(ls man/*.1 | tr '\n' ' ')"
