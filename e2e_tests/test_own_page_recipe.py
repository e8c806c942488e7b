"""The recipe of docs/testing.md for testing your own static page with the pytest plugin, as written
there: the site's folder served by a real server on a free port, the mock API started with
that origin allowed, the page pointed at the API, Chromium found as conftest.py finds it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_authfetch import AuthfetchServer

from e2e_tests.test_static_site import load_serve

#: The API origin your page names (options block and CSP); the tests put the mock's there.
PRODUCTION_API = "http://127.0.0.1:8000"


class SiteHandler(SimpleHTTPRequestHandler):
    """Your site's files as a static host serves them; pages name the test's API."""

    extensions_map = {  # noqa: RUF012 - the base class's own attribute
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
    }

    def do_GET(self) -> None:
        """An HTML page with the mock API's origin in place of yours; other files as they are."""
        path = self.path.split("?", 1)[0]
        if not path.endswith((".html", "/")):
            super().do_GET()
            return
        page = Path(self.translate_path(path))
        page = page / "index.html" if page.is_dir() else page
        body = page.read_text().replace(PRODUCTION_API, self.server.api_origin).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def site_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Your site as you deploy it; here the example's, exported for MicroPython."""
    folder = tmp_path_factory.mktemp("site")
    load_serve().export(folder, "mpy", PRODUCTION_API)
    return folder


@pytest.fixture(scope="module")
def site(site_folder: Path) -> Iterator[ThreadingHTTPServer]:
    """``site_folder`` on 127.0.0.1, a free port; ``site.url`` is its origin."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SiteHandler, directory=str(site_folder)))
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    server.api_origin = PRODUCTION_API  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def api(site: ThreadingHTTPServer, authfetch_server_factory) -> AuthfetchServer:
    """A mock API of this test's own that allows the site's origin (known only now)."""
    server = authfetch_server_factory(allow_origins=[site.url])  # type: ignore[attr-defined]
    site.api_origin = server.url  # type: ignore[attr-defined]
    return server


def test_my_page_signs_in_and_survives_an_expiry(page: Page, site, api: AuthfetchServer):
    """Your page signs in against the mock API and a request after expiry still succeeds."""
    page.goto(site.url)
    expect(page.locator("html")).to_have_attribute("data-authfetch", "ready", timeout=60_000)
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo-pass")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Hello, demo")).to_be_visible()
    api.advance(40)  # past the access token's 30 s
    page.get_by_label("New note").fill("after expiry")
    page.get_by_role("button", name="Save note").click()
    expect(page.locator("#note-list li")).to_have_text(["after expiry"])
    assert api.stats()["refresh_ok"] == 1
