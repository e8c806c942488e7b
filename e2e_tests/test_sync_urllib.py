"""Synchronous Python in the page (urllib via pyodide-http) shares the session and refresh."""

from __future__ import annotations

from playwright.sync_api import Page, Route

from e2e_tests.conftest import bridge_login, expire_access_token, open_ready_page, stats
from e2e_tests.serverproc import ROOT
from server.page import render, runtime_versions

# A page of the test's own (fulfilled by Playwright under the server's origin) whose
# Python sets authfetch up and exposes a synchronous urllib GET to the test.
SYNC_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script type="module" src="/vendor/pyscript/{{pyscript}}/core.js"></script></head><body>
<script type="py" config="/pyscript.toml">
import js
import pyodide_http
from pyodide.ffi import create_proxy

from authfetch.web import setup

pyodide_http.patch_all()
client = setup()
opener = client.urllib_opener()


def sync_get(path):
    try:
        with opener.open(path) as response:
            return response.status
    except Exception as error:
        return type(error).__name__


js.window.syncGet = create_proxy(sync_get)
</script></body></html>"""


def open_sync_page(page: Page, origin: str) -> Page:
    """Open the test page that exposes ``syncGet(path)``."""

    def fulfil(route: Route) -> None:
        body = render(SYNC_PAGE, runtime_versions(ROOT / "vendor"))
        route.fulfill(status=200, content_type="text/html", body=body)

    page.route(origin + "/e2e-sync.html", fulfil)
    return open_ready_page(page, origin + "/e2e-sync.html")


def test_urllib_request_refreshes_once_and_shares_the_new_token(page: Page, fresh_server):
    """A blocking urllib call on an expired token refreshes once, and the async side
    and localStorage then use the new token with no second refresh."""
    open_sync_page(page, fresh_server.url)
    bridge_login(page)
    stored_before = page.evaluate("localStorage['authfetch.session']")
    expire_access_token(fresh_server)
    assert page.evaluate("syncGet('/api/me')") == 200
    assert page.evaluate("authfetch.fetch('/api/me').then(r => r.status)") == 200
    assert stats(fresh_server)["refresh_ok"] == 1
    assert page.evaluate("authfetch.state().refreshes") == 1
    assert page.evaluate("localStorage['authfetch.session']") != stored_before


def test_urllib_request_with_dead_session_fails_clearly(page: Page, fresh_server):
    """A blocking urllib call whose refresh is refused raises SessionExpiredError."""
    open_sync_page(page, fresh_server.url)
    bridge_login(page)
    fresh_server.reset()
    expire_access_token(fresh_server)
    assert page.evaluate("syncGet('/api/me')") == "SessionExpiredError"
    assert page.evaluate("authfetch.state().loggedIn") is False
