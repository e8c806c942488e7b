"""Five tabs meet the expiry together against a server with no reuse grace, with and
without Web Locks: one refresh a round, no revocation, every tab signed in (issue 15)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from pytest_authfetch import AuthfetchServer, ServerOptions
from pytest_authfetch.plugin import ServerPool

from e2e_tests.conftest import ARM_TAB, bridge_login, demo_url, open_ready_page, stats

#: Rounds per case in ``make test``; ``make bench-tabs`` runs 100 (AUTHFETCH_TAB_ROUNDS).
ROUNDS = int(os.environ.get("AUTHFETCH_TAB_ROUNDS", "10"))
TABS = 5
REQUESTS_PER_TAB = 2
#: Where ``make bench-tabs`` collects the figures (one Markdown row per case), if set.
REPORT = os.environ.get("AUTHFETCH_TAB_REPORT")
#: Long-lived access tokens: no proactive timer fires while the tabs open; each round
#: expires the token on the server clock only.
ACCESS_TTL_S = 600

#: Removes Web Locks before any script of the page runs (like a page that is not a
#: secure context, where ``navigator.locks`` does not exist).
NO_WEB_LOCKS = """
Object.defineProperty(Navigator.prototype, 'locks', {get: () => undefined, configurable: true});
"""


@pytest.fixture(scope="module")
def graceless_server(authfetch_server_pool: ServerPool) -> AuthfetchServer:
    """A server with reuse grace 0: any second use of a refresh token revokes the sign-in."""
    options = ServerOptions(
        reuse_grace=0, access_ttl=ACCESS_TTL_S, refresh_ttl=10**8, idle_ttl=10**8
    )  # each round moves the server clock 610 s: no sign-in may reach its absolute lifetime
    return authfetch_server_pool.get(options)


def run_rounds(tabs: list[Page], server: AuthfetchServer, rounds: int) -> dict:
    """``rounds`` rounds of every tab firing at the expiry; the server's counters after."""
    for tab in tabs:
        tab.evaluate(ARM_TAB, ["/api/me", REQUESTS_PER_TAB])
    for round_number in range(1, rounds + 1):
        server.advance(ACCESS_TTL_S + 10)
        tabs[0].evaluate(f"window.__go({round_number})")
        for tab in tabs:
            tab.wait_for_function(f"window.__rounds[{round_number}] !== undefined")
            statuses = tab.evaluate(f"window.__rounds[{round_number}]")
            assert statuses == [200] * REQUESTS_PER_TAB, f"round {round_number}: {statuses}"
        counters = stats(server)
        assert counters["reuse_detected"] == 0, f"sign-in revoked in round {round_number}"
        assert counters["refresh_ok"] == round_number, f"round {round_number}: {counters}"
    return stats(server)


@pytest.mark.parametrize("web_locks", [True, False], ids=["web-locks", "no-web-locks"])
def test_five_tabs_meeting_the_expiry_with_no_reuse_grace_refresh_once_a_round(
    context: BrowserContext, graceless_server: AuthfetchServer, interpreter: str, web_locks: bool
):
    """Five tabs fire together at each expiry, reuse grace 0: one refresh a round, none revoked."""
    if not web_locks:
        context.add_init_script(NO_WEB_LOCKS)
    graceless_server.reset()
    started = time.monotonic()
    url = demo_url(graceless_server.url, interpreter)
    first = open_ready_page(context.new_page(), url)
    assert first.evaluate("Boolean(navigator.locks)") is web_locks
    bridge_login(first)
    tabs = [first, *(open_ready_page(context.new_page(), url) for _ in range(TABS - 1))]
    counters = run_rounds(tabs, graceless_server, ROUNDS)
    alive = sum(1 for tab in tabs if tab.evaluate("authfetch.state().loggedIn") is True)
    if REPORT:
        row = (
            interpreter,
            "yes" if web_locks else "no",
            ROUNDS,
            TABS,
            counters["refresh_ok"],
            counters["reuse_detected"],
            f"{alive}/{TABS}",
            f"{time.monotonic() - started:.0f}",
        )
        with Path(REPORT).open("a") as report:
            report.write("| " + " | ".join(str(cell) for cell in row) + " |\n")
    assert counters["reuse_detected"] == 0 and counters["refresh_failed"] == 0
    for tab in tabs:
        expect(tab.locator("html")).to_have_attribute("data-authfetch", "ready")
    assert alive == TABS
