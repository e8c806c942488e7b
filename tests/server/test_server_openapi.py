"""``/openapi.json`` stays true: to the app's routes, and to the route tables of the docs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask

from server import PROJECT_ROOT
from server.openapi import describe

ROUTE_RE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`")
STATUS_RE = re.compile(r"(?<![\u2013\-\d])\b([1-5]\d\d)\b")
ERROR_CODE_RE = re.compile(r'"error":\s*"([a-z_]+)"')
AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}
# The status of each server-wide error answer in #/components/responses.
COMPONENT_STATUS = {
    "NotFound": "404",
    "MethodNotAllowed": "405",
    "ServerError": "500",
    "WaitressBadRequest": "400",
    "WaitressHeadersTooLarge": "431",
    "WaitressNotImplemented": "501",
}
Document = dict[str, Any]


def operations(document: Document) -> Iterator[tuple[str, str, Document]]:
    """Every (METHOD, path, operation) of a description."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def error_codes(answer: Document) -> set[str]:
    """The ``error`` values a documented error answer may carry."""
    schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
    for part in schema.get("allOf", []):
        codes = part.get("properties", {}).get("error", {}).get("enum")
        if codes:
            return set(codes)
    return set()


def described_errors(document: Document) -> set[tuple[str, str]]:
    """Every (status, error code) pair the description declares, server-wide ones included."""
    answers = [
        (status, answer)
        for _, _, operation in operations(document)
        for status, answer in operation["responses"].items()
    ] + [
        (COMPONENT_STATUS[name], answer)
        for name, answer in document["components"]["responses"].items()
    ]
    return {(status, code) for status, answer in answers for code in error_codes(answer)}


def markdown_tables(text: str) -> Iterator[list[list[str]]]:
    """The tables of a Markdown text, as rows of cells (header row first, rule row dropped)."""
    table: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            if not set(line) <= set("|- :"):
                table.append(cells)
        elif table:
            yield table
            table = []


def readme_server_section() -> str:
    """The README's "The server" section."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("\n## The server\n", 1)[1]
    return section.split("\n## ", 1)[0]


def documented_routes() -> list[tuple[str, list[tuple[str, str]], str]]:
    """(source, [(METHOD, path)], answer text) of every route row of the two documents."""
    sources = {
        "README.md": readme_server_section(),
        "docs/server.md": (PROJECT_ROOT / "docs" / "server.md").read_text(),
    }
    rows = []
    for source, text in sources.items():
        for table in markdown_tables(text):
            if table[0][0] != "route":
                continue
            for row in table[1:]:
                routes = ROUTE_RE.findall(row[0])
                assert routes, f"{source}: no route in {row[0]!r}"
                rows.append((source, routes, row[-1]))
    return rows


@pytest.mark.parametrize("testing", [False, True], ids=["production", "testing"])
def test_description_has_exactly_the_apps_routes(
    make_app: Callable[..., Flask], testing: bool
) -> None:
    """Every route and method of the app is described, and nothing else (test routes too)."""
    app = make_app(TESTING_ROUTES=testing)
    served = {
        (method, re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - AUTOMATIC_METHODS
    }
    document = describe(testing)
    assert {(method, path) for method, path, _ in operations(document)} == served
    assert app.test_client().get("/openapi.json").get_json() == document


@pytest.mark.parametrize("testing", [False, True], ids=["production", "testing"])
def test_description_is_valid_openapi_3_1(testing: bool) -> None:
    """The document passes the OpenAPI 3.1 meta-schema, and every link names an operation."""
    document = describe(testing)
    assert document["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(document).validate()
    operation_ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(operation_ids) == len(set(operation_ids))
    for _, _, operation in operations(document):
        for answer in operation["responses"].values():
            for link in answer.get("links", {}).values():
                assert link["operationId"] in operation_ids


# The provider's browser-facing routes: their own errors are HTML pages for a person.
HTML_ERROR_PATHS = {"/oauth/authorize", "/oauth/end-session"}


def test_every_error_answer_is_the_error_object() -> None:
    """Every documented 4xx/5xx answer is JSON ``{"error", "error_description"}``, but
    the sign-in and sign-out pages' own ones (HTML for the person in the browser)."""
    document = describe(True)
    answers = [
        (f"{method} {path} {status}", answer)
        for method, path, operation in operations(document)
        for status, answer in operation["responses"].items()
        if status[0] in "45"
        and not (path in HTML_ERROR_PATHS and "text/html" in answer.get("content", {}))
    ] + list(document["components"]["responses"].items())
    for where, answer in answers:
        assert error_codes(answer), where
        schema = answer["content"]["application/json"]["schema"]
        assert schema["allOf"][0] == {"$ref": "#/components/schemas/Error"}, where


@pytest.mark.parametrize(
    ("source", "routes", "answer"),
    documented_routes(),
    ids=[f"{source}:{routes[0][0]} {routes[0][1]}" for source, routes, _ in documented_routes()],
)
def test_route_tables_match_the_description(
    source: str, routes: list[tuple[str, str]], answer: str
) -> None:
    """Each route row of README.md / docs/server.md: described, with its statuses and errors."""
    document = describe(True)
    described = {(method, path): operation for method, path, operation in operations(document)}
    for route in routes:
        assert route in described, f"{source} names {route}, which is not described"
    statuses = {status for route in routes for status in described[route]["responses"]}
    errors = {
        code
        for route in routes
        for response in described[route]["responses"].values()
        for code in error_codes(response)
    }
    for status in STATUS_RE.findall(answer):
        assert status in statuses, f"{source}: {routes} answers {status}, not described"
    for code in ERROR_CODE_RE.findall(answer):
        assert code in errors, f"{source}: {routes} answers error {code!r}, not described"


def test_error_tables_match_the_description() -> None:
    """Each (status, error) row of docs/server.md's error tables is declared by the description."""
    text = (PROJECT_ROOT / "docs" / "server.md").read_text()
    declared = described_errors(describe(True))
    pairs = []
    for table in markdown_tables(text):
        if table[0][:2] != ["status", "`error`"]:
            continue
        for row in table[1:]:
            statuses = STATUS_RE.findall(row[0])
            codes = re.findall(r"`([a-z_]+)`", row[1])
            assert len(statuses) == len(codes), row
            pairs.extend(zip(statuses, codes, strict=True))
    assert len(pairs) >= 12
    missing = [pair for pair in pairs if pair not in declared]
    assert missing == []
