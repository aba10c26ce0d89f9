#!/usr/bin/env bash
# The README's second command: the whole test suite. Swift unit and end-to-end tests, the
# JSON Schema tests (Python), the check that man/ matches the generated pages, the check that
# CairnCore's folders keep their layers (docs/ARCHITECTURE.md), and a short
# adversarial run.
set -euo pipefail
cd "$(dirname "$0")/.."

swift build --build-tests
scripts/generate-man.sh --check
python3 scripts/layers.py --check
python3 -m pytest -q Tests/schema
swift test
# A short adversarial run (kill -9 at random points, damaged files); docs/RELIABILITY.md has a
# long one. A fixed seed keeps CI reproducible; run the script without --seed for new cases.
python3 scripts/adversarial.py --rounds 5 --damage 16 --seed 2026
