"""cairn.yaml(5) documents every key the schema knows."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "cairn.schema.json").read_text())
MANUAL = (ROOT / "man" / "cairn.yaml.5").read_text()


def keys(node, found):
    if isinstance(node, dict):
        for name, value in node.get("properties", {}).items():
            found.add(name)
            keys(value, found)
        for value in node.values():
            keys(value, found)
    elif isinstance(node, list):
        for value in node:
            keys(value, found)
    return found


@pytest.mark.parametrize("key", sorted(keys(SCHEMA, set())))
def test_manual_documents_key(key):
    # A key is documented where the page sets it in bold: .B key, .BR key ..., or {key: ...}.
    k = re.escape(key)
    pattern = rf"(^\.BR? {k}\b|^\.BR? [^\n]*\b{k} \"|^\.BR? \{{[^\n]*\b{k}: )"
    assert re.search(pattern, MANUAL, re.MULTILINE), f"cairn.yaml.5 does not document '{key}'"
