"""The JSON Schema of server.yaml accepts the server examples and rejects every invalid server
config, and `cairn server validate` agrees with it: it accepts the examples (once their
certificate, key and folders exist) and rejects each invalid config with the message the
config's first line expects."""
import json
import os
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest

import yaml12

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "cairn-server.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
EXAMPLES = sorted((ROOT / "examples" / "server").glob("*.yaml"))
INVALID = sorted((ROOT / "Tests" / "Fixtures" / "invalid" / "server").glob("*.yaml"))
# The binary scripts/test.sh builds before it runs these tests; CAIRN_BINARY names another.
CAIRN = Path(os.environ.get("CAIRN_BINARY", ROOT / ".build" / "debug" / "cairn"))


def cairn(*arguments):
    assert CAIRN.is_file(), f"{CAIRN} is missing: build cairn first (swift build), or set CAIRN_BINARY"
    return subprocess.run([str(CAIRN), *arguments], capture_output=True, text=True, timeout=120, env=dict(os.environ, NO_COLOR="1"))


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_schema_is_strict():
    """Every mapping the schema describes lists its keys and refuses others (conditions, under
    if and not, describe nothing)."""

    def walk(node, where):
        if isinstance(node, dict):
            if "properties" in node:
                assert node.get("additionalProperties") is False, f"{where} takes unknown keys"
            for key, value in node.items():
                if key not in ("if", "not"):
                    walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(SCHEMA, "#")


def test_retention_is_the_clients():
    client = json.loads((ROOT / "schemas" / "cairn.schema.json").read_text())["$defs"]
    for name in ["retention", "retentionRule", "keepTags", "copies", "dayOfMonth", "month", "weekday", "date", "secret", "path"]:
        assert SCHEMA["$defs"][name] == client[name], f"$defs/{name} differs from schemas/cairn.schema.json's"


def test_there_are_two_examples_and_at_least_12_invalid_configs():
    assert [path.name for path in EXAMPLES] == ["replica.yaml", "server.yaml"]
    assert len(INVALID) >= 12


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_schema_accepts_example(path):
    errors = list(VALIDATOR.iter_errors(yaml12.load(path)))
    assert errors == [], "\n".join(error.message for error in errors)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_names_the_server_schema_for_editors(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    target = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == (ROOT / "schemas" / "cairn-server.schema.json").resolve()


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_schema_rejects_invalid_config(path):
    try:
        document = yaml12.load(path)
    except Exception:  # a YAML error is a rejection too
        return
    assert not VALIDATOR.is_valid(document), f"the schema accepts {path.name}"


def expected(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} does not say what cairn server validate reports"
    return first[len("# expect: "):]


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_cairn_server_validate_rejects_invalid_config(path):
    result = cairn("server", "validate", "-c", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert expected(path) in result.stderr, result.stderr
    assert re.search(rf"{re.escape(path.name)}:\d+:\d+: error: ", result.stderr), f"no located error:\n{result.stderr}"


def localised(text, folder):
    """The example with its certificate, key, storage and state replaced by files and folders
    under `folder` (validate checks that they exist and can be read, not what they hold)."""

    def replace(match):
        indent, key, value = match.group(1), match.group(2), match.group(3)
        local = folder / f"{key}{Path(value).suffix}"
        if key in ("certificate", "key"):
            local.write_text(f"-----BEGIN {key.upper()}-----\n")
        else:
            local.mkdir(exist_ok=True)
        return f"{indent}{key}: {local}"

    return re.sub(r"^(\s*)(certificate|key|storage|state): (/[^\s#]+)", replace, text, flags=re.MULTILINE)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_cairn_server_validate_accepts_example(path, tmp_path):
    config = tmp_path / path.name
    config.write_text(localised(path.read_text(), tmp_path))
    assert str(tmp_path) in config.read_text()
    result = cairn("server", "validate", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert f"{path.name}: valid, 3 accounts" in result.stdout, result.stdout + result.stderr
    # At most the warning about a CA file that is not on this machine.
    assert "error:" not in result.stderr, result.stderr
    assert all("ca-file" in line for line in result.stderr.splitlines() if "warning:" in line), result.stderr


def test_cairn_server_validate_and_the_schema_agree_on_a_plain_config(tmp_path):
    (tmp_path / "store").mkdir()
    config = tmp_path / "server.yaml"
    config.write_text(
        "version: 1\n"
        "listen: 127.0.0.1:0\n"
        "tls: off\n"
        "storage: ./store\n"
        "accounts:\n"
        "  anna:\n"
        '    password-hash: "$scrypt$ln=15,r=8,p=1$ZTT3f76fQEQUYTeYfl81ww$XF0tn3QV8mMnAQxmddVXL2l8f87hT2PuZqk4n5oLoL0"\n'
        "    quota: none\n"
        "    restore-from: []\n"
    )
    assert VALIDATOR.is_valid(yaml12.load(config))
    result = cairn("server", "validate", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert "plain HTTP (tls: off)" in result.stdout, result.stdout
    # An empty restore-from lets no address restore: valid, and said.
    assert "restore-from is empty" in result.stderr, result.stderr
