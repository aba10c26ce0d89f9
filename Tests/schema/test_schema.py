"""The JSON Schema accepts every example and rejects every schema-level invalid config."""
import json
from pathlib import Path

import jsonschema
import pytest

import yaml12

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "cairn.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
# examples/server/ holds server configs: Tests/schema/test_server_schema.py checks them.
EXAMPLES = sorted(p for p in (ROOT / "examples").rglob("*.yaml") if p.relative_to(ROOT / "examples").parts[0] != "server")
SCHEMA_LEVEL = sorted((ROOT / "Tests" / "Fixtures" / "invalid" / "schema").glob("*.yaml"))


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_there_are_examples_and_at_least_30_invalid_configs():
    assert len(EXAMPLES) >= 8
    assert len(SCHEMA_LEVEL) >= 30


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_schema_accepts_example(path):
    errors = list(VALIDATOR.iter_errors(yaml12.load(path)))
    assert errors == [], "\n".join(error.message for error in errors)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_names_the_schema_for_editors(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    target = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == (ROOT / "schemas" / "cairn.schema.json").resolve()


@pytest.mark.parametrize("path", SCHEMA_LEVEL, ids=lambda p: p.stem)
def test_schema_rejects_invalid_config(path):
    try:
        document = yaml12.load(path)
    except Exception:  # a YAML error is a rejection too
        return
    assert not VALIDATOR.is_valid(document), f"the schema accepts {path.name}"


def test_core_schema_loading():
    import io
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = yaml12.CoreResolver
    loaded = yaml.load(io.StringIO("a: 13:00\nb: on\nc: 2026-06-30\nd: \"30\"\ne: 30\nf: true\n"))
    assert loaded == {"a": "13:00", "b": "on", "c": "2026-06-30", "d": "30", "e": 30, "f": True}
