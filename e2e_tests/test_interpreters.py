"""Both PyScript interpreters start self-hosted, with the library from its one archive.

The demo's own Python (``py/main.py``) is swapped for a probe here, so these
tests prove the runtime set-up (vendored files, configs, archive) on its own.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route, expect
from pytest_authfetch import AuthfetchServer

from e2e_tests.conftest import READY_TIMEOUT_MS

# Imports the library's package root and core, then marks <html> for the test: the version,
# and the file the core came from (MicroPython: the bytecode compiled by the set-up).
PROBE = """
import js
import authfetch
import authfetch.core
from authfetch.core import claims
js.document.documentElement.setAttribute("data-core", authfetch.core.__file__)
js.document.documentElement.setAttribute("data-probe", "imported " + authfetch.__version__)
"""


def probe_main(route: Route) -> None:
    """Answer the page's ``py/main.py`` with the probe."""
    route.fulfill(status=200, content_type="text/x-python", body=PROBE)


@pytest.mark.parametrize(
    ("query", "name", "other", "core"),
    [("", "Pyodide", "mpy", "authfetch/core/__init__.py"),
     ("?interpreter=py", "Pyodide", "mpy", "authfetch/core/__init__.py"),
     ("?interpreter=mpy", "MicroPython", "py", "authfetch/core/__init__.mpy")],
)  # fmt: skip
def test_interpreter_starts_offline_and_imports_the_library(
    page: Page,
    server: AuthfetchServer,
    offline_requests,
    query: str,
    name: str,
    other: str,
    core: str,
):
    """The chosen interpreter starts from vendor/, unpacks its archive, imports authfetch
    (MicroPython the bytecode of authfetch-mpy.tar.gz, Pyodide the source)."""
    page.route("**/py/main.py", probe_main)
    page.goto(server.url + "/" + query)
    html = page.locator("html")
    expect(html).to_have_attribute("data-probe", "imported 0.1.0", timeout=READY_TIMEOUT_MS)
    assert str(html.get_attribute("data-core")).endswith(core)
    expect(page.locator("#interpreter-name")).to_have_text(name)
    expect(page.locator("#interpreter-start")).to_contain_text("started in")
    expect(page.locator("#interpreter-other")).to_have_attribute("href", f"./?interpreter={other}")


def test_micropython_page_loads_no_pyodide(page: Page, server: AuthfetchServer):
    """The MicroPython page downloads MicroPython's files and none of Pyodide's."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.route("**/py/main.py", probe_main)
    page.goto(server.url + "/?interpreter=mpy")
    expect(page.locator("html")).to_have_attribute(
        "data-probe", "imported 0.1.0", timeout=READY_TIMEOUT_MS
    )
    assert any(url.endswith("/micropython.wasm") for url in urls)
    assert any(url.endswith("/authfetch-mpy.tar.gz") for url in urls)
    assert not [url for url in urls if "/vendor/pyodide/" in url]
