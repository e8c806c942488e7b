"""The guide's Python samples run (sybil), in order, page by page, against a real mock server.

A sample marked ``<!-- skip: next "why" -->`` runs elsewhere (in a browser page, or as this
repository's own end-to-end test) and is counted as skipped with its reason. A sample that
defines ``test_*`` functions is run like pytest would: each is called with the fixtures its
parameters name (``authfetch_server``, ``authfetch_server_factory``).
"""

from __future__ import annotations

import inspect
import unittest
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_authfetch import AuthfetchServer, ServerOptions
from pytest_authfetch.plugin import ServerPool
from sybil import Sybil
from sybil.evaluators.skip import Skipper
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SYBIL = Sybil(parsers=[PythonCodeBlockParser(), SkipParser()], path=str(DOCS), patterns=["*.md"])
#: The pages with Python samples.
PAGES_WITH_SAMPLES = sorted(
    path.relative_to(DOCS).as_posix()
    for path in DOCS.rglob("*.md")
    if "```python" in path.read_text()
)


@pytest.fixture(scope="module")
def docs_server(authfetch_server_pool: ServerPool) -> Iterator[AuthfetchServer]:
    """A mock server (default options, test controls) for this module's samples."""
    server = authfetch_server_pool.new(ServerOptions())
    yield server
    server.stop()


def call_tests(namespace: dict, called: set[str]) -> list[str]:
    """Call each ``test_*`` function the samples defined and not yet called; their names."""
    ran = []
    for name, value in list(namespace.items()):
        if name.startswith("test_") and callable(value) and name not in called:
            parameters = inspect.signature(value).parameters
            value(**{parameter: namespace[parameter] for parameter in parameters})
            called.add(name)
            ran.append(name)
    return ran


# Not named "page": pytest-playwright would take it for its fixture and run it with the browsers.
@pytest.mark.parametrize("doc_page", PAGES_WITH_SAMPLES)
def test_page_samples_run(doc_page: str, docs_server: AuthfetchServer, authfetch_server_factory):
    """Every Python sample of the page runs against the mock server, or is skipped with a reason."""
    docs_server.reset()
    document = SYBIL.parse(DOCS / doc_page)
    document.namespace.update(
        authfetch_server=docs_server, authfetch_server_factory=authfetch_server_factory
    )
    ran, skipped, called = 0, [], set()
    for example in document.examples():
        try:
            example.evaluate()
        except unittest.SkipTest as skip:
            skipped.append(f"line {example.line}: {skip}")
            continue
        if not isinstance(example.region.evaluator, Skipper):
            ran += 1
        call_tests(document.namespace, called)
    tests = f", tests called: {', '.join(sorted(called))}" if called else ""
    print(f"{doc_page}: {ran} run, {len(skipped)} skipped ({'; '.join(skipped) or 'none'}){tests}")


def test_samples_that_can_run_do():
    """The samples that need no browser page are run, not skipped (custom backends, plugin)."""
    counts = {}
    for page in PAGES_WITH_SAMPLES:
        document = SYBIL.parse(DOCS / page)
        examples = list(document.examples())
        skips = sum(isinstance(example.region.evaluator, Skipper) for example in examples)
        counts[page] = len(examples) - 2 * skips  # a skip directive and the sample it skips
    assert counts["custom-backends.md"] >= 5
    assert counts["testing.md"] >= 1
