"""The bearer stays on its origin, and the page runs under a strict CSP."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, Request
from pytest_authfetch import AuthfetchServer

from e2e_tests.conftest import bridge_login, demo_url, open_ready_page


@pytest.fixture
def other_origin(
    server: AuthfetchServer, authfetch_server_factory: Callable[..., AuthfetchServer]
) -> AuthfetchServer:
    """A second server on another port (another origin) that allows CORS from the first."""
    return authfetch_server_factory(testing=False, allow_origins=[server.url])


def record_requests(page: Page) -> list[Request]:
    """Every request the page sends from now on."""
    sent: list[Request] = []

    def record(request: Request) -> None:
        sent.append(request)

    page.on("request", record)
    return sent


def test_bearer_is_not_sent_to_another_origin(
    new_context, fresh_server, other_origin, interpreter: str
):
    """A request to an origin outside the allow-list carries no Authorization header.

    The demo page's CSP (connect-src 'self') would block the request outright, so
    this test lifts the CSP to see what authfetch itself sends.
    """
    context = new_context(bypass_csp=True)
    page = context.new_page()
    sent = record_requests(page)
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    bridge_login(page)
    other = page.evaluate(
        "url => authfetch.fetch(url).then(r => r.status)", other_origin.url + "/api/me"
    )
    own = page.evaluate("authfetch.fetch('/api/me').then(r => r.status)")
    assert (other, own) == (401, 200)
    to_other = [r for r in sent if r.url.startswith(other_origin.url + "/api/")]
    to_own = [r for r in sent if r.url == fresh_server.url + "/api/me"]
    assert to_other and to_own
    assert all("authorization" not in r.all_headers() for r in to_other)
    assert all(r.all_headers()["authorization"].startswith("Bearer ") for r in to_own)


def test_refresh_token_goes_only_to_the_refresh_url(page: Page, fresh_server, interpreter: str):
    """The refresh token appears in no request but the refresh call."""
    sent = record_requests(page)
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    bridge_login(page)
    refresh_token = page.evaluate("JSON.parse(localStorage['authfetch.session']).refresh_token")
    fresh_server.advance(40)
    page.evaluate("authfetch.fetch('/api/me')")
    carriers = [
        r.url
        for r in sent
        if refresh_token in (r.post_data or "") or refresh_token in str(r.all_headers())
    ]
    assert carriers == [fresh_server.url + "/auth/refresh"]


def test_page_runs_under_its_content_security_policy(
    page: Page, fresh_server, page_errors, interpreter: str
):
    """The page is served with a CSP that blocks inline scripts, and Python still starts
    with no violation reported."""
    page_errors.allow(r"^console\.error: Executing inline script violates")  # the probe below
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    response = page.goto(fresh_server.url)
    policy = response.headers["content-security-policy"]
    script_src = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "*" not in script_src
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    assert page.evaluate("window.__violations") == []
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__inline = 1'; document.body.append(s); }"
    )
    assert page.evaluate("window.__inline") is None
    assert page.evaluate("window.__violations.length") == 1
