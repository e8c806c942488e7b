"""DPoP (RFC 9449) end to end against the mock server, which checks every proof (PyJWT):
its provider (code + PKCE) and its JSON dialect, nonces required, rotation with no reuse
grace. One refresh for many requests and tabs, refusals at the token endpoint as named
errors that lose nothing, and tokens copied out of the page refused. Both interpreters.
"""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import BrowserContext, Page, Request, expect
from pytest_authfetch import AuthfetchServer, ServerOptions
from pytest_authfetch.plugin import ServerPool

from e2e_tests.conftest import ARM_TAB, READY_TIMEOUT_MS, bridge_login, open_ready_page, python_page
from e2e_tests.dpop_client import DPoPKey
from e2e_tests.pagehost import PageHost
from e2e_tests.test_options import AUTOSTART, serve_options_page

SESSION_KEY = "authfetch.session"
PAGE = "/options.html"
BURST = 50
TABS = 3
ROUNDS = 10
REQUESTS_PER_TAB = 3
#: Past the access token's life (30 s) and leeway, on the server's clock only.
EXPIRE_S = 40
#: A page clock this far behind the server's (a badly set device).
CLOCK_BEHIND_S = 600


@pytest.fixture
def dpop_server(authfetch_server_pool: ServerPool) -> AuthfetchServer:
    """A mock server requiring DPoP nonces, with no reuse grace and the test page as a
    redirect URI of its provider; reset."""
    server = authfetch_server_pool.get(
        ServerOptions(reuse_grace=0, redirect_uris=(PAGE,), args=("--dpop-nonce",))
    )
    server.reset()
    return server


def dpop_control(server: AuthfetchServer, **switches: bool) -> None:
    """Set the server's DPoP test switches (``refuse_proofs``, ``rotate_every_answer``)."""
    server.call("POST", "/__test__/dpop", switches)


def json_page(context: BrowserContext, server: AuthfetchServer, interpreter: str) -> Page:
    """A ready page with ``dpop: true`` in the JSON dialect, signed in."""
    url = serve_options_page(context, server.url, {"dpop": True}, interpreter)
    page = open_ready_page(context.new_page(), url)
    bridge_login(page)
    return page


def stored(page: Page) -> dict:
    """The session as the page stored it."""
    return json.loads(page.evaluate(f"localStorage.getItem('{SESSION_KEY}')"))


def outcome(page: Page, path: str = "/api/me") -> int | str:
    """GET ``path`` through the page's authfetch: the status, or ``"<name>: <message>"``."""
    return page.evaluate(
        "([path]) => authfetch.fetch(path).then(r => r.status, e => e.name + ': ' + e.message)",
        [path],
    )


def test_sign_in_at_the_mock_provider_binds_the_tokens(
    context: BrowserContext,
    authfetch_server_pool: ServerPool,
    page_host: PageHost,
    interpreter: str,
):
    """Code + PKCE at the mock server's provider with dpop on, from a page whose clock is
    10 minutes behind: the code exchange carries a proof (its stale ``iat`` met with a
    nonce), the tokens are DPoP-bound, API calls carry ``Authorization: DPoP`` and a proof.
    (The page is served for real: a provider's redirect back cannot reach a routed page.)"""
    url = page_host.origin + PAGE
    dpop_server = authfetch_server_pool.get(
        ServerOptions(
            reuse_grace=0,
            redirect_uris=(url,),
            allow_origins=(page_host.origin,),
            args=("--dpop-nonce",),
        )
    )
    dpop_server.reset()
    carried: list[tuple[str, bool]] = []

    def record(request: Request) -> None:
        if request.headers.get("authorization"):
            carried.append((request.headers["authorization"], "dpop" in request.headers))

    context.on("request", record)
    options = {
        "dpop": True,
        "api_base": dpop_server.url,
        "issuer": dpop_server.url,
        "client_id": "authfetch-demo",
        "redirect_uri": url,
    }
    block = f'<script type="application/json" id="authfetch-options">{json.dumps(options)}</script>'
    page_host.add(PAGE, python_page(interpreter, src=AUTOSTART, head=block))
    page = context.new_page()
    page.clock.install(time=time.time() - CLOCK_BEHIND_S)
    open_ready_page(page, url)
    page.evaluate("authfetch.login(); undefined")  # not awaited: the page navigates away
    expect(page.locator("input[name=username]")).to_be_visible(timeout=READY_TIMEOUT_MS)
    page.locator("input[name=username]").fill("demo")
    page.locator("input[name=password]").fill("demo-pass")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda href: "/oauth/" not in href, timeout=READY_TIMEOUT_MS)
    expect(page.locator("html")).to_have_attribute(
        "data-authfetch", "ready", timeout=READY_TIMEOUT_MS
    )
    page.wait_for_function("authfetch.state().loggedIn === true", timeout=READY_TIMEOUT_MS)
    assert stored(page)["token_type"] == "DPoP"
    assert outcome(page, dpop_server.url + "/api/me") == 200
    counters = dpop_server.stats()
    assert counters["code_exchanged"] == 1 and counters["dpop_accepted"] >= 2, counters
    assert carried and all(auth.startswith("DPoP ") and proof for auth, proof in carried)


def test_fifty_requests_at_expiry_share_one_refresh(
    context: BrowserContext, dpop_server: AuthfetchServer, interpreter: str
):
    """Fifty requests meeting an expired DPoP token: one refresh with a proof, all 200."""
    page = json_page(context, dpop_server, interpreter)
    dpop_server.advance(EXPIRE_S)
    statuses = page.evaluate(
        "([n]) => Promise.all(Array.from({length: n}, () => "
        "authfetch.fetch('/api/me').then(r => r.status, e => e.name + ': ' + e.message)))",
        [BURST],
    )
    assert statuses == [200] * BURST
    counters = dpop_server.stats()
    assert counters["refresh_ok"] == 1 and counters["reuse_detected"] == 0, counters


def test_three_tabs_ten_rounds_one_refresh_each_no_grace(
    context: BrowserContext, dpop_server: AuthfetchServer, interpreter: str
):
    """Three tabs firing at one instant after the expiry, ten rounds, no reuse grace, nonces
    required: one refresh per round with the one shared key, no reuse detected."""
    first = json_page(context, dpop_server, interpreter)
    tabs = [first]
    for _ in range(TABS - 1):
        tabs.append(open_ready_page(context.new_page(), first.url))
    for tab in tabs:
        tab.evaluate(ARM_TAB, ["/api/me", REQUESTS_PER_TAB])
    for round_number in range(1, ROUNDS + 1):
        dpop_server.advance(EXPIRE_S)
        first.evaluate(f"window.__go({round_number})")
        for tab in tabs:
            tab.wait_for_function(f"window.__rounds[{round_number}] !== undefined")
            assert tab.evaluate(f"window.__rounds[{round_number}]") == [200] * REQUESTS_PER_TAB
        counters = dpop_server.stats()
        assert counters["reuse_detected"] == 0, f"round {round_number}: {counters}"
        assert counters["refresh_ok"] == round_number, f"round {round_number}: {counters}"
    keys = {json.dumps(stored(tab)["dpop_jwk"], sort_keys=True) for tab in tabs}
    assert len(keys) == 1


def test_a_refresh_whose_proof_is_refused_keeps_the_session(
    context: BrowserContext, dpop_server: AuthfetchServer, interpreter: str
):
    """The token endpoint refusing every proof: the request rejects with ``DPoPError``
    naming invalid_dpop_proof, one refresh call, the session kept; once proofs are taken
    again the same session refreshes and the request succeeds."""
    page = json_page(context, dpop_server, interpreter)
    before = stored(page)
    dpop_server.advance(EXPIRE_S)
    dpop_control(dpop_server, refuse_proofs=True)
    result = outcome(page)
    assert isinstance(result, str) and result.startswith("DPoPError: "), result
    assert "invalid_dpop_proof" in result
    assert dpop_server.stats()["refresh_failed"] == 1
    assert stored(page) == before and page.evaluate("authfetch.state().loggedIn") is True
    dpop_control(dpop_server, refuse_proofs=False)
    assert outcome(page) == 200
    assert dpop_server.stats()["refresh_ok"] == 1


def test_a_nonce_that_is_never_accepted_is_bounded(
    context: BrowserContext, dpop_server: AuthfetchServer, interpreter: str
):
    """A token endpoint whose nonce changes on every answer: two refresh calls (the one
    retry), then ``DPoPError`` naming the nonce; nothing lost, no loop."""
    page = json_page(context, dpop_server, interpreter)
    before = stored(page)
    dpop_server.advance(EXPIRE_S)
    counters = dpop_server.stats()
    dpop_control(dpop_server, rotate_every_answer=True)
    result = outcome(page)
    assert isinstance(result, str) and result.startswith("DPoPError: "), result
    assert "nonce" in result
    after = dpop_server.stats()
    # The API asks too (its nonce changes as well), then the token endpoint twice.
    assert after["dpop_nonce_challenges"] - counters["dpop_nonce_challenges"] <= 4, after
    assert after["refresh_ok"] == 0 and after["reuse_detected"] == 0, after
    assert stored(page) == before and page.evaluate("authfetch.state().loggedIn") is True


def test_tokens_copied_out_of_the_page_are_refused_by_the_mock_server(
    context: BrowserContext, dpop_server: AuthfetchServer, interpreter: str
):
    """The thief with the mock server: the copied access token as a bearer or with a proof
    of another key, and the copied refresh token with or without a proof, are refused; the
    page goes on working and refreshing."""
    page = json_page(context, dpop_server, interpreter)
    session = stored(page)
    access, refresh = session["access_token"], session["refresh_token"]
    api = dpop_server.url + "/api/me"
    assert dpop_server.request("GET", "/api/me", token=access).status == 401
    thief = DPoPKey()
    now = dpop_server.clock()["now"]
    for nonce in (None, "anything"):
        proof = thief.proof("GET", api, access, nonce=nonce, iat=now)
        answer = dpop_server.request(
            "GET", "/api/me", headers={"Authorization": "DPoP " + access, "DPoP": proof}
        )
        assert answer.status == 401
    refresh_url = dpop_server.url + "/auth/refresh"
    for headers in ({}, {"DPoP": thief.proof("POST", refresh_url, iat=now)}):
        answer = dpop_server.request(
            "POST", "/auth/refresh", {"refresh_token": refresh}, headers=headers
        )
        assert answer.status == 400, answer
        assert answer.body["error"] in ("invalid_dpop_proof", "use_dpop_nonce"), answer
    dpop_server.advance(EXPIRE_S)
    assert outcome(page) == 200
    counters = dpop_server.stats()
    assert counters["refresh_ok"] == 1 and counters["reuse_detected"] == 0, counters
