"""Options of the browser client: where the session is stored, and the login_url redirect."""

from __future__ import annotations

import json

from playwright.sync_api import BrowserContext, Page, Route, expect

from e2e_tests.conftest import bridge_login, expire_access_token, open_ready_page
from e2e_tests.serverproc import ROOT
from server.page import runtime_versions

# A page of the test's own under the server's origin: the library started by its
# autostart module from a JSON options block, as an embedding site would.
OPTIONS_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script type="application/json" id="authfetch-options">{options}</script>
<script type="module" src="/vendor/pyscript/{pyscript}/core.js"></script></head><body>
<script type="py" src="/py/authfetch/src/authfetch/web/autostart.py" config="/pyscript.toml">
</script></body></html>"""
SESSION_KEY = "authfetch.session"
#: The vendored PyScript version (package.json pins it; the set-up records it).
PYSCRIPT = runtime_versions(ROOT / "vendor")["pyscript"]


def serve_options_page(context: BrowserContext, origin: str, options: dict) -> str:
    """Route ``/options.html`` to a page started with ``options``; its URL."""

    def fulfil(route: Route) -> None:
        body = OPTIONS_PAGE.format(options=json.dumps(options), pyscript=PYSCRIPT)
        route.fulfill(status=200, content_type="text/html", body=body)

    context.route(origin + "/options.html", fulfil)
    return origin + "/options.html"


def stored(page: Page, area: str) -> str | None:
    """The session as stored in ``localStorage`` or ``sessionStorage``."""
    return page.evaluate(f"{area}.getItem('{SESSION_KEY}')")


def test_session_storage_keeps_the_session_to_one_tab(context: BrowserContext, fresh_server):
    """With storage "session" the tokens live in sessionStorage only, and another tab
    of the same browser is not logged in."""
    url = serve_options_page(context, fresh_server.url, {"storage": "session"})
    first = open_ready_page(context.new_page(), url)
    bridge_login(first)
    assert stored(first, "sessionStorage") is not None
    assert stored(first, "localStorage") is None
    second = open_ready_page(context.new_page(), url)
    assert second.evaluate("authfetch.state().loggedIn") is False
    expire_access_token(fresh_server)
    assert first.evaluate("authfetch.fetch('/api/me').then(r => r.status)") == 200


def test_memory_storage_writes_nothing(page: Page, fresh_server):
    """With storage "memory" the session works but is written to no Web Storage."""
    url = serve_options_page(page.context, fresh_server.url, {"storage": "memory"})
    open_ready_page(page, url)
    bridge_login(page)
    assert page.evaluate("authfetch.fetch('/api/me').then(r => r.status)") == 200
    assert (stored(page, "localStorage"), stored(page, "sessionStorage")) == (None, None)


def test_login_url_receives_the_browser_when_the_session_ends(page: Page, fresh_server):
    """With login_url set, a refused refresh sends the browser to that page."""
    url = serve_options_page(page.context, fresh_server.url, {"login_url": "/?signin=again"})
    open_ready_page(page, url)
    bridge_login(page)
    fresh_server.reset()
    expire_access_token(fresh_server)
    page.evaluate("() => { authfetch.fetch('/api/me').catch(() => {}); }")  # page will leave
    expect(page).to_have_url(fresh_server.url + "/?signin=again")
