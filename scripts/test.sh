#!/usr/bin/env bash
# The README's second command: the whole test suite. Swift unit and end-to-end tests, the
# JSON Schema tests (Python), and the check that man/ matches the generated pages.
set -euo pipefail
cd "$(dirname "$0")/.."

swift build --build-tests
scripts/generate-man.sh --check
python3 -m pytest -q Tests/schema
swift test
