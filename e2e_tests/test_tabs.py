"""Several tabs of one browser share one session: one refresh, one logout."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from pytest_authfetch import AuthfetchServer, ServerOptions
from pytest_authfetch.plugin import ServerPool

from e2e_tests.conftest import (
    ARM_TAB,
    bridge_login,
    demo_url,
    expire_access_token,
    open_ready_page,
    stats,
)

ROUNDS = 20
TABS = 3
REQUESTS_PER_TAB = 3


# Long-lived access tokens, so no tab's proactive timer (due at 570 s) can add a
# refresh while a slow machine opens the tabs; each round expires the token on the
# server clock only.
STRICT_ACCESS_TTL_S = 600


@pytest.fixture(scope="module")
def strict_server(authfetch_server_pool: ServerPool) -> AuthfetchServer:
    """A server with no reuse grace: any second use of a refresh token revokes the family."""
    return authfetch_server_pool.get(ServerOptions(reuse_grace=0, access_ttl=STRICT_ACCESS_TTL_S))


def open_tabs(context: BrowserContext, url: str, count: int) -> list[Page]:
    """Open ``count`` ready tabs of ``url`` in one browser context."""
    return [open_ready_page(context.new_page(), url) for _ in range(count)]


def test_tabs_firing_together_at_expiry_refresh_once_per_round(
    context: BrowserContext, strict_server: AuthfetchServer, interpreter: str
):
    """Three tabs firing at the same instant at expiry, 20 rounds, reuse grace 0: exactly
    one refresh per round, every request succeeds, and the family is never revoked."""
    strict_server.reset()
    first = open_ready_page(context.new_page(), demo_url(strict_server.url, interpreter))
    bridge_login(first)
    tabs = [first, *open_tabs(context, demo_url(strict_server.url, interpreter), TABS - 1)]
    for tab in tabs:
        assert tab.evaluate("authfetch.state().loggedIn") is True
        tab.evaluate(ARM_TAB, ["/api/me", REQUESTS_PER_TAB])
    for round_number in range(1, ROUNDS + 1):
        expire_access_token(strict_server, STRICT_ACCESS_TTL_S + 10)
        first.evaluate(f"window.__go({round_number})")
        for tab in tabs:
            tab.wait_for_function(f"window.__rounds[{round_number}] !== undefined")
            assert tab.evaluate(f"window.__rounds[{round_number}]") == [200] * REQUESTS_PER_TAB
        counters = stats(strict_server)
        assert counters["reuse_detected"] == 0, f"family revoked in round {round_number}"
        assert counters["refresh_ok"] == round_number, f"round {round_number}: {counters}"


def test_logout_in_one_tab_logs_out_the_others(
    context: BrowserContext, fresh_server, interpreter: str
):
    """Logging out in one tab shows the login form in every other tab at once."""
    first = open_ready_page(context.new_page(), demo_url(fresh_server.url, interpreter))
    bridge_login(first)
    first.reload()
    expect(first.locator("#username-shown")).to_have_text("demo", timeout=60_000)
    second = open_ready_page(context.new_page(), demo_url(fresh_server.url, interpreter))
    expect(second.locator("#username-shown")).to_have_text("demo")
    first.get_by_role("button", name="Log out").click()
    expect(second.get_by_role("button", name="Sign in")).to_be_visible()
    expect(first.get_by_role("button", name="Sign in")).to_be_visible()
    assert second.evaluate("authfetch.state().loggedIn") is False
    expect(second.locator("#event-log li[data-event=logout]")).to_have_count(1)


def test_new_tab_adopts_the_stored_session(context: BrowserContext, fresh_server, interpreter: str):
    """A tab opened after login uses the stored session without logging in or refreshing."""
    first = open_ready_page(context.new_page(), demo_url(fresh_server.url, interpreter))
    bridge_login(first)
    second = open_ready_page(context.new_page(), demo_url(fresh_server.url, interpreter))
    expect(second.locator("#username-shown")).to_have_text("demo")
    assert stats(fresh_server)["login"] == 1
    assert stats(fresh_server)["refresh_ok"] == 0
