"""cairn-server.yaml(5) documents every key the server schema knows, and its example is valid."""
import io
import json
import re
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

import yaml12
from test_manual import keys

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "cairn-server.schema.json").read_text())
MANUAL = (ROOT / "man" / "cairn-server.yaml.5").read_text()


@pytest.mark.parametrize("key", sorted(keys(SCHEMA, set())))
def test_manual_documents_key(key):
    # As in cairn.yaml(5): a key is documented where the page sets it in bold.
    k = re.escape(key)
    pattern = rf"(^\.BR? {k}\b|^\.BR? [^\n]*\b{k} \"|^\.BR? \{{[^\n]*\b{k}: )"
    assert re.search(pattern, MANUAL, re.MULTILINE), f"cairn-server.yaml.5 does not document '{key}'"


def test_the_example_is_valid():
    match = re.search(r"^\.SH EXAMPLE\n\.nf\n(.*?)^\.fi$", MANUAL, re.MULTILINE | re.DOTALL)
    assert match, "cairn-server.yaml.5 has no EXAMPLE"
    yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = yaml12.CoreResolver
    document = yaml.load(io.StringIO(match.group(1)))
    errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document))
    assert errors == [], "\n".join(error.message for error in errors)


def test_the_page_names_its_neighbours():
    see_also = MANUAL.split(".SH SEE ALSO", 1)[1]
    for page in ["cairn (1)", "cairn.server (1)", "cairn.yaml (5)"]:
        assert f".BR {page}" in see_also
    assert ".SH FILES" in MANUAL
