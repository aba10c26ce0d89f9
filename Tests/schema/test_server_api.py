"""The OpenAPI document of the server's protocol is valid OpenAPI 3.1 and describes the same
routes as docs/SERVER-API.md's route list, and the same refusal codes as its table."""
import json
import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((ROOT / "schemas" / "server-api.openapi.json").read_text())
PROTOCOL = (ROOT / "docs" / "SERVER-API.md").read_text()
METHODS = {"get", "head", "put", "delete", "post", "patch", "options", "trace"}


def section(title):
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", PROTOCOL, re.MULTILINE | re.DOTALL)
    assert match, f"docs/SERVER-API.md has no '## {title}' section"
    return match.group(1)


def documented_routes():
    """(METHOD, path) of each row of the Routes table: | `GET` | `/health` | ... |"""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^\| `([A-Z]+)` \| `(/[^`]*)` \|", section("Routes"), re.MULTILINE)]


def described_operations():
    return {(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item if method in METHODS}


def test_document_is_valid_openapi_3_1():
    assert DOCUMENT["openapi"].startswith("3.1.")
    validate(DOCUMENT)


def test_the_route_list_is_there():
    routes = documented_routes()
    assert len(routes) >= 9, routes
    assert ("GET", "/health") in routes
    assert ("PUT", "/api/v1/accounts/{account}/repositories/{repository}/objects/{key}") in routes


@pytest.mark.parametrize("route", documented_routes(), ids=lambda route: f"{route[0]} {route[1]}")
def test_every_documented_route_is_in_the_openapi_document(route):
    method, path = route
    assert path in DOCUMENT["paths"], f"{path} is not a path of schemas/server-api.openapi.json"
    assert method.lower() in DOCUMENT["paths"][path], f"{method} {path} is not described"


def test_every_described_operation_is_in_the_route_list():
    assert described_operations() <= set(documented_routes())


def test_every_request_but_health_needs_basic_credentials():
    scheme = DOCUMENT["components"]["securitySchemes"]["basic"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "basic")
    assert DOCUMENT["security"] == [{"basic": []}]
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                assert ("security" in operation) == (path == "/health"), f"{method} {path}"


def test_the_refusal_codes_are_those_of_the_protocol():
    rows = re.findall(r"^\| (\d{3}) \| `([a-z-]+)` \|", section("Refusals"), re.MULTILINE)
    assert len(rows) >= 20, rows
    codes = {code for _, code in rows}
    assert codes == set(DOCUMENT["components"]["schemas"]["ErrorCode"]["enum"])
    # Each status the table gives a code is answered by some operation of the document.
    answered = {status for item in DOCUMENT["paths"].values() for method, operation in item.items() if method in METHODS for status in operation["responses"]}
    for status, code in rows:
        assert status in answered, f"{status} ({code}) is answered by no operation"


def test_a_quota_refusal_carries_its_numbers():
    quota = DOCUMENT["components"]["schemas"]["QuotaRefusal"]
    assert set(quota["required"]) == {"error", "message", "usage", "quota", "needed"}
    put = DOCUMENT["paths"]["/api/v1/accounts/{account}/repositories/{repository}/objects/{key}"]["put"]
    headers = {parameter["name"]: parameter for parameter in put["parameters"]}
    assert headers["X-Cairn-SHA256"]["required"] and headers["Content-Length"]["required"]
    assert "507" in put["responses"] and "411" in put["responses"] and "413" in put["responses"]
