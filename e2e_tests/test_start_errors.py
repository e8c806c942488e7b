"""A page that cannot start says why: the example static site served wrongly, opened from a
file, with a failing runtime or a slow start ends in ``data-authfetch="error"`` and an
``authfetch:error`` naming the cause and the fix, though Python never ran."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from types import SimpleNamespace

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect
from pytest_authfetch import AuthfetchServer

from e2e_tests.conftest import (
    INTERPRETERS,
    READY_TIMEOUT_MS,
    bridge_login,
    open_ready_page,
    python_page,
    serve_page,
)
from e2e_tests.test_options import AUTOSTART, serve_options_page
from e2e_tests.test_static_site import load_serve

#: A start-up error is told within this (the slowest case: Pyodide failing on its files).
START_ERROR_TIMEOUT_MS = 30_000
#: Records the first ``authfetch:error`` detail before any page script runs.
RECORD_ERROR = (
    "window.__startError = null;"
    "addEventListener('authfetch:error', e => { window.__startError ??= e.detail; });"
)


@pytest.fixture(scope="module", params=INTERPRETERS)
def faulty_site(request: pytest.FixtureRequest) -> Iterator[SimpleNamespace]:
    """The example site on one interpreter, served with the fault ``site.fault`` names."""
    serve = load_serve()

    class FaultyHandler(serve.SiteHandler):
        """The example's handler, with a web server's usual mistakes on demand."""

        def guess_type(self, path: str) -> str:
            if self.server.fault == "mjs-type" and str(path).endswith(".mjs"):
                return "application/octet-stream"  # nginx's stock mime.types
            return super().guess_type(path)

        def end_headers(self) -> None:
            if self.server.fault == "gzip" and self.path.endswith(".tar.gz"):
                self.send_header("Content-Encoding", "gzip")
            super().end_headers()

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if self.server.fault == "no-wasm" and path.endswith(".wasm"):
                self.send_error(404)
                return
            super().do_GET()

        def do_HEAD(self) -> None:
            path = self.path.split("?", 1)[0]
            if self.server.fault == "no-wasm" and path.endswith(".wasm"):
                self.send_error(404)
                return
            super().do_HEAD()

    site = serve.make_server(interpreter=request.param)
    site.RequestHandlerClass = partial(FaultyHandler, directory=str(serve.HERE))
    site.fault = None
    serve.serve_in_thread(site)
    yield SimpleNamespace(server=site, url=site.url, serve=serve, interpreter=request.param)
    site.shutdown()
    site.server_close()


def start_error(page: Page) -> dict:
    """Wait for ``data-authfetch="error"``; the ``authfetch:error`` detail."""
    expect(page.locator("html")).to_have_attribute(
        "data-authfetch", "error", timeout=START_ERROR_TIMEOUT_MS
    )
    page.wait_for_function("window.__startError !== null")
    return page.evaluate("window.__startError")


def open_faulty(page: Page, faulty_site: SimpleNamespace, fault: str) -> dict:
    """Open the site served with ``fault``; the start-up error the page reported."""
    faulty_site.server.fault = fault
    page.add_init_script(RECORD_ERROR)
    page.goto(faulty_site.url)
    return start_error(page)


def test_module_served_with_the_wrong_type_is_named(page: Page, faulty_site, page_errors):
    """nginx's stock ``.mjs`` type: the page names the file, its type and the server fix."""
    page_errors.allow(r"MIME type|\.mjs|authfetch")
    detail = open_faulty(page, faulty_site, "mjs-type")
    assert detail["name"] == "StartupError"
    assert re.search(r"\.mjs is served as application/octet-stream", detail["message"])
    assert "text/javascript" in detail["message"] and "nginx" in detail["message"]
    expect(page.locator("#status")).to_contain_text("application/octet-stream")


def test_archive_sent_with_content_encoding_is_named(page: Page, faulty_site, page_errors):
    """The library's archive sent as ``Content-Encoding: gzip``: MicroPython cannot unpack it
    and the page says to send it as is; Pyodide unpacks the plain tar and starts (no false
    alarm)."""
    page_errors.allow(r".")
    if faulty_site.interpreter == "py":
        faulty_site.server.fault = "gzip"
        open_ready_page(page, faulty_site.url)
        return
    detail = open_faulty(page, faulty_site, "gzip")
    assert "authfetch-mpy.tar.gz is sent with Content-Encoding: gzip" in detail["message"]
    assert "application/gzip" in detail["message"]


def test_missing_runtime_file_is_named(page: Page, faulty_site, page_errors):
    """The interpreter's WebAssembly missing: the page names the URL and its HTTP status."""
    page_errors.allow(r".")
    detail = open_faulty(page, faulty_site, "no-wasm")
    assert re.search(r"\.wasm answered HTTP 404", detail["message"]), detail["message"]


def test_slow_start_ends_at_the_page_timeout(page: Page, faulty_site, page_errors):
    """A start-up longer than the page's ``data-timeout`` ends in an error that says so."""
    page_errors.allow(r"did not start within")
    faulty_site.server.fault = None
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/*.wasm", hold)

    def short_timeout(route: Route) -> None:
        response = route.fetch()
        body = response.text().replace('data-timeout="60"', 'data-timeout="1"')
        route.fulfill(response=response, body=body)

    page.route(faulty_site.url + "/", short_timeout)
    page.add_init_script(RECORD_ERROR)
    page.goto(faulty_site.url)
    detail = start_error(page)
    assert "authfetch did not start within 1 s" in detail["message"]
    assert "data-timeout" in detail["message"]
    assert held, "the interpreter was not held back"


def test_page_opened_from_a_file_says_to_serve_it(page: Page, faulty_site, tmp_path, page_errors):
    """The exported site opened from ``file://``: the page says to serve it over HTTP."""
    page_errors.allow(r".")
    faulty_site.serve.export(tmp_path, faulty_site.interpreter, "http://127.0.0.1:8000")
    page.add_init_script(RECORD_ERROR)
    page.goto((tmp_path / "index.html").as_uri())
    detail = start_error(page)
    assert "file://" in detail["message"] and "http.server" in detail["message"]


def settled(page: Page) -> str:
    """Wait until start-up ends either way; the ``data-authfetch`` value."""
    page.wait_for_function(
        "['ready', 'error'].includes(document.documentElement.dataset.authfetch)",
        timeout=READY_TIMEOUT_MS,
    )
    return page.get_attribute("html", "data-authfetch")


def test_option_of_the_wrong_type_stops_start_up(
    context: BrowserContext, server: AuthfetchServer, interpreter: str, page_errors
):
    """``"leeway": "ten"`` stops start-up with a message naming the option (not every fetch)."""
    page_errors.allow(r"option leeway must be")
    page = context.new_page()
    page.add_init_script(RECORD_ERROR)
    page.goto(serve_options_page(context, server.url, {"leeway": "ten"}, interpreter))
    assert settled(page) == "error"
    message = page.evaluate("window.__startError.message")
    assert message == "option leeway must be a number of seconds >= 0 or null, not 'ten'"


def test_options_block_is_read_by_the_browsers_json_parse(
    context: BrowserContext, server: AuthfetchServer, interpreter: str, page_errors
):
    """A trailing comma is refused on both interpreters, with JSON.parse's words and position."""
    page_errors.allow(r"is not valid JSON")
    block = '<script type="application/json" id="authfetch-options">{"leeway": 5,}</script>'
    url = serve_page(
        context, server.url + "/options.html", python_page(interpreter, src=AUTOSTART, head=block)
    )
    page = context.new_page()
    page.add_init_script(RECORD_ERROR)
    page.goto(url)
    assert settled(page) == "error"
    message = page.evaluate("window.__startError.message")
    expected = page.evaluate(
        "() => { try { JSON.parse('{\"leeway\": 5,}'); } catch (e) { return e.message; } }"
    )
    assert message == "#authfetch-options is not valid JSON: " + expected


def test_api_base_with_a_path_keeps_it_for_the_default_endpoints(
    context: BrowserContext, fresh_server: AuthfetchServer, interpreter: str
):
    """``api_base`` ``…/v1``: the sign-in goes to ``…/v1/auth/login``, not the origin's root."""
    seen: list[str] = []

    def strip_prefix(route: Route) -> None:
        seen.append(route.request.url)
        route.continue_(url=route.request.url.replace("/v1/", "/", 1))

    context.route(fresh_server.url + "/v1/**", strip_prefix)
    options = {"api_base": fresh_server.url + "/v1"}
    page = context.new_page()
    page.goto(serve_options_page(context, fresh_server.url, options, interpreter))
    assert settled(page) == "ready"
    assert bridge_login(page)["loggedIn"] is True
    assert seen == [fresh_server.url + "/v1/auth/login"]
