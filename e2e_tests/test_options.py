"""Options of the browser client: where the session is stored, and the login_url redirect."""

from __future__ import annotations

import json

from playwright.sync_api import BrowserContext, Page, expect

from e2e_tests.conftest import (
    bridge_login,
    expire_access_token,
    open_ready_page,
    python_page,
    serve_page,
)

SESSION_KEY = "authfetch.session"
AUTOSTART = "/py/authfetch/src/authfetch/web/autostart.py"


def serve_options_page(
    context: BrowserContext, origin: str, options: dict, interpreter: str
) -> str:
    """Route ``/options.html`` to a page whose autostart module reads ``options`` from its
    JSON block (as an embedding site would), on ``interpreter``; its URL."""
    block = f'<script type="application/json" id="authfetch-options">{json.dumps(options)}</script>'
    html = python_page(interpreter, src=AUTOSTART, head=block)
    return serve_page(context, origin + "/options.html", html)


def stored(page: Page, area: str) -> str | None:
    """The session as stored in ``localStorage`` or ``sessionStorage``."""
    return page.evaluate(f"{area}.getItem('{SESSION_KEY}')")


def test_session_storage_keeps_the_session_to_one_tab(
    context: BrowserContext, fresh_server, interpreter: str
):
    """With storage "session" the tokens live in sessionStorage only, and another tab
    of the same browser is not logged in."""
    url = serve_options_page(context, fresh_server.url, {"storage": "session"}, interpreter)
    first = open_ready_page(context.new_page(), url)
    bridge_login(first)
    assert stored(first, "sessionStorage") is not None
    assert stored(first, "localStorage") is None
    second = open_ready_page(context.new_page(), url)
    assert second.evaluate("authfetch.state().loggedIn") is False
    expire_access_token(fresh_server)
    assert first.evaluate("authfetch.fetch('/api/me').then(r => r.status)") == 200


def test_memory_storage_writes_nothing(page: Page, fresh_server, interpreter: str):
    """With storage "memory" the session works but is written to no Web Storage."""
    url = serve_options_page(page.context, fresh_server.url, {"storage": "memory"}, interpreter)
    open_ready_page(page, url)
    bridge_login(page)
    assert page.evaluate("authfetch.fetch('/api/me').then(r => r.status)") == 200
    assert (stored(page, "localStorage"), stored(page, "sessionStorage")) == (None, None)


def test_login_url_receives_the_browser_when_the_session_ends(
    page: Page, fresh_server, interpreter: str
):
    """With login_url set, a refused refresh sends the browser to that page."""
    url = serve_options_page(
        page.context, fresh_server.url, {"login_url": "/?signin=again"}, interpreter
    )
    open_ready_page(page, url)
    bridge_login(page)
    fresh_server.reset()
    expire_access_token(fresh_server)
    page.evaluate("() => { authfetch.fetch('/api/me').catch(() => {}); }")  # page will leave
    expect(page).to_have_url(fresh_server.url + "/?signin=again")
