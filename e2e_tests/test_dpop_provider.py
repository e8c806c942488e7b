"""DPoP (RFC 9449) end to end against node-oidc-provider with its ``dPoP`` feature and nonces
required: tokens bound to a non-extractable key every tab shares, proofs on the code
exchange, every refresh and every API call; one refresh for many requests and many tabs
under rotation with no grace; logout deletes the key; tokens copied out of the page are
useless. Both interpreters.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, Request

from e2e_tests.conftest import READY_TIMEOUT_MS
from e2e_tests.dpop_client import DPoPKey
from e2e_tests.oidc_provider import CLIENT_ID, OidcProvider, ProviderFactory, sign_in_at_provider
from e2e_tests.pagehost import PageHost
from e2e_tests.test_oidc_provider import (
    LONG_TTL_S,
    SESSION_KEY,
    _blocked_web_font,  # noqa: F401 - autouse: the provider's login page's web font
    fire_rounds,
    provider_for,
    serve_app,
    sign_in,
    wait_ready,
)

TABS = 3
ROUNDS = 10
BURST = 50
#: How many DPoP keys the page's IndexedDB holds (every storage key).
COUNT_KEYS = """() => new Promise((resolve, reject) => {
    const open = indexedDB.open("authfetch-dpop", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("keys");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
        const count = open.result.transaction("keys").objectStore("keys").count();
        count.onsuccess = () => { open.result.close(); resolve(count.result); };
        count.onerror = () => reject(count.error);
    };
})"""


@pytest.fixture
def provider(oidc_provider_factory: ProviderFactory, page_host: PageHost) -> OidcProvider:
    """node-oidc-provider with DPoP on and a nonce required in every proof; 600 s tokens."""
    return provider_for(oidc_provider_factory, page_host, LONG_TTL_S, dpop_require_nonce=True)


@pytest.fixture
def auth_headers(context: BrowserContext) -> Iterator[list[tuple[str, str, bool]]]:
    """Every request of the context that carried a token: (url, Authorization, has DPoP)."""
    seen: list[tuple[str, str, bool]] = []

    def record(request: Request) -> None:
        headers = request.headers
        if headers.get("authorization"):
            seen.append((request.url, headers["authorization"], "dpop" in headers))

    context.on("request", record)
    yield seen


def signed_in_page(
    context: BrowserContext, host: PageHost, provider: OidcProvider, interpreter: str
) -> tuple[Page, str]:
    """A page with ``dpop: true``, signed in at the provider; the page and its URL."""
    url = serve_app(context, host, provider, interpreter, dpop=True)
    page = context.new_page()
    sign_in(page, url)
    return page, url


def stored(page: Page) -> dict:
    """The session as the page stored it."""
    return json.loads(page.evaluate(f"localStorage.getItem('{SESSION_KEY}')"))


def api_status(page: Page, url: str) -> int | str:
    """GET ``url`` through the page's authfetch: the status, or ``"<name>: <message>"``."""
    return page.evaluate(
        "([url]) => authfetch.fetch(url).then(r => r.status, e => e.name + ': ' + e.message)",
        [url],
    )


def http(
    url: str, method: str = "GET", headers: dict | None = None, form: dict | None = None
) -> tuple[int, dict, dict]:
    """One plain HTTP call from outside the page: status, JSON body (or {}), headers."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            body, status, got = answer.read(), answer.status, dict(answer.headers)
    except urllib.error.HTTPError as refused:
        body, status, got = refused.read(), refused.code, dict(refused.headers)
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        payload = {}
    return status, payload, got


def test_sign_in_and_api_calls_are_bound_to_a_key_the_page_cannot_read(
    context: BrowserContext,
    page_host: PageHost,
    provider: OidcProvider,
    interpreter: str,
    auth_headers: list[tuple[str, str, bool]],
):
    """With dpop on, the provider issues DPoP tokens bound to the page's key (nonces met
    once per server); every API call carries ``Authorization: DPoP`` and a proof, never a
    bearer; the stored session holds only the public key; the private key is not extractable."""
    page, _ = signed_in_page(context, page_host, provider, interpreter)
    session = stored(page)
    assert session["token_type"] == "DPoP"
    assert set(session["dpop_jwk"]) == {"kty", "crv", "x", "y"}
    for _ in range(3):
        assert api_status(page, provider.api + "/me") == 200
    counters = provider.stats()
    assert counters["dpop_bound_tokens"] == 1 and counters["api_dpop_ok"] == 3, counters
    assert counters["token_dpop_nonce_challenges"] == 1, counters
    assert counters["api_dpop_nonce_challenges"] == 1, counters
    assert auth_headers and all(h.startswith("DPoP ") and proof for _, h, proof in auth_headers)
    extractable = page.evaluate(
        """() => new Promise((resolve) => {
            const open = indexedDB.open("authfetch-dpop", 1);
            open.onsuccess = () => {
                const all = open.result.transaction("keys").objectStore("keys").getAll();
                all.onsuccess = () => resolve(all.result.map((r) => r.pair.privateKey.extractable));
            };
        })"""
    )
    assert extractable == [False]


def test_fifty_requests_at_expiry_share_one_refresh(
    context: BrowserContext, page_host: PageHost, provider: OidcProvider, interpreter: str
):
    """Fifty requests meeting an expired DPoP token together: one refresh (with a proof of the
    same key), every request answered 200, no invalid_grant."""
    page, _ = signed_in_page(context, page_host, provider, interpreter)
    key = stored(page)["dpop_jwk"]
    provider.advance(LONG_TTL_S + 10)
    statuses = page.evaluate(
        "([url, n]) => Promise.all(Array.from({length: n}, () => "
        "authfetch.fetch(url).then(r => r.status, e => e.name + ': ' + e.message)))",
        [provider.api + "/me", BURST],
    )
    assert statuses == [200] * BURST
    counters = provider.stats()
    assert counters["refresh_ok"] == 1 and counters["invalid_grant"] == 0, counters
    assert stored(page)["dpop_jwk"] == key


def test_three_tabs_ten_rounds_one_key_one_refresh_per_round(
    context: BrowserContext, page_host: PageHost, provider: OidcProvider, interpreter: str
):
    """Three tabs firing together at expiry, ten rounds, rotation with no grace and nonces:
    one key for every tab, one refresh per round, no invalid_grant, every request 200."""
    first, url = signed_in_page(context, page_host, provider, interpreter)
    tabs = [first]
    for _ in range(TABS - 1):
        tab = context.new_page()
        tab.goto(url)
        wait_ready(tab)
        tabs.append(tab)
    fire_rounds(provider, tabs, ROUNDS)
    assert first.evaluate(COUNT_KEYS) == 1
    assert len({json.dumps(stored(tab)["dpop_jwk"], sort_keys=True) for tab in tabs}) == 1


def test_logout_deletes_the_key(
    context: BrowserContext, page_host: PageHost, provider: OidcProvider, interpreter: str
):
    """Logout revokes at the provider and deletes the DPoP key from IndexedDB."""
    page, _ = signed_in_page(context, page_host, provider, interpreter)
    assert page.evaluate(COUNT_KEYS) == 1
    page.evaluate("authfetch.logout()")
    assert page.evaluate("authfetch.state().loggedIn") is False
    assert page.evaluate(COUNT_KEYS) == 0


def test_tokens_copied_out_of_the_page_are_useless(
    context: BrowserContext, page_host: PageHost, provider: OidcProvider, interpreter: str
):
    """The thief: the access and refresh tokens copied from localStorage, used from plain
    Python as a bearer, with a proof of another key, or refreshed with or without one, are
    all refused; the page goes on working and refreshing."""
    page, _ = signed_in_page(context, page_host, provider, interpreter)
    session = stored(page)
    access, refresh = session["access_token"], session["refresh_token"]
    api = provider.api + "/me"
    token_endpoint = provider.discovery()["token_endpoint"]
    thief = DPoPKey()
    assert http(api, headers={"Authorization": "Bearer " + access})[0] == 401
    status, _, answer = http(
        api, headers={"Authorization": "DPoP " + access, "DPoP": thief.proof("GET", api, access)}
    )
    nonce = answer.get("DPoP-Nonce") or answer.get("dpop-nonce")
    if status == 401 and nonce:  # met the nonce: the key is still the wrong one
        proof = thief.proof("GET", api, access, nonce=nonce)
        status = http(api, headers={"Authorization": "DPoP " + access, "DPoP": proof})[0]
    assert status == 401
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": CLIENT_ID}
    status, body, _ = http(token_endpoint, "POST", form=form)
    assert status == 400 and body["error"] in ("invalid_grant", "invalid_dpop_proof"), body
    status, body, answer = http(
        token_endpoint, "POST", {"DPoP": thief.proof("POST", token_endpoint)}, form
    )
    nonce = answer.get("DPoP-Nonce") or answer.get("dpop-nonce")
    if body.get("error") == "use_dpop_nonce" and nonce:
        proof = thief.proof("POST", token_endpoint, nonce=nonce)
        status, body, _ = http(token_endpoint, "POST", {"DPoP": proof}, form)
    assert status == 400 and body["error"] in ("invalid_grant", "invalid_dpop_proof"), body
    assert api_status(page, api) == 200
    provider.advance(LONG_TTL_S + 10)
    assert api_status(page, api) == 200
    assert provider.stats()["refresh_ok"] == 1


def test_a_proof_the_api_refuses_is_one_named_error_and_loses_nothing(
    context: BrowserContext, page_host: PageHost, provider: OidcProvider, interpreter: str
):
    """An API refusing every proof: the call rejects once with ``DPoPError`` naming
    invalid_dpop_proof (one request, no loop, no refresh); the session is kept and works
    again once the API takes proofs."""
    page, _ = signed_in_page(context, page_host, provider, interpreter)
    api = provider.api + "/me"
    assert api_status(page, api) == 200
    before, counters = stored(page), provider.stats()
    provider.api_dpop(refuse_proofs=True)
    outcome = api_status(page, api)
    assert isinstance(outcome, str) and outcome.startswith("DPoPError: ")
    assert "invalid_dpop_proof" in outcome
    after = provider.stats()
    assert after["api_dpop_refused"] - counters["api_dpop_refused"] == 1, after
    assert after["refresh_ok"] == counters["refresh_ok"]
    assert stored(page) == before and page.evaluate("authfetch.state().loggedIn") is True
    provider.api_dpop(refuse_proofs=False)
    assert api_status(page, api) == 200


def test_a_nonce_that_changes_on_every_answer_costs_no_extra_request(
    context: BrowserContext, page_host: PageHost, provider: OidcProvider, interpreter: str
):
    """An API giving a new nonce with every answer: each answer's nonce is used by the next
    proof, so every call succeeds with one request and no challenge."""
    page, _ = signed_in_page(context, page_host, provider, interpreter)
    api = provider.api + "/me"
    assert api_status(page, api) == 200
    provider.api_dpop(rotate_nonce=True)
    counters = provider.stats()
    for _ in range(5):
        assert api_status(page, api) == 200
    after = provider.stats()
    assert after["api_dpop_ok"] - counters["api_dpop_ok"] == 5, after
    assert after["api_dpop_nonce_challenges"] == counters["api_dpop_nonce_challenges"], after


#: IndexedDB refusing to open authfetch's databases, as a browser does with storage denied
#: (some private modes, site storage blocked); PyScript's own cache still opens.
NO_INDEXEDDB = """(() => {
    const open = indexedDB.open.bind(indexedDB);
    indexedDB.open = (name, version) => {
        if (!String(name).startsWith("authfetch")) return open(name, version);
        const request = {error: new DOMException("storage is denied", "InvalidStateError")};
        setTimeout(() => request.onerror && request.onerror(new Event("error")), 0);
        return request;
    };
})()"""


def test_without_indexeddb_the_sign_in_fails_with_a_named_error_and_stores_nothing(
    context: BrowserContext, page_host: PageHost, provider: OidcProvider, interpreter: str
):
    """IndexedDB refusing to open: the sign-in back from the provider fails with ``DPoPError``
    naming IndexedDB and the fix, before the code is exchanged; nothing is stored."""
    context.add_init_script(NO_INDEXEDDB)
    url = serve_app(context, page_host, provider, interpreter, dpop=True)
    page = context.new_page()
    page.goto(url)
    wait_ready(page)
    page.evaluate("authfetch.login(); undefined")  # not awaited: the page navigates away
    page.wait_for_url(lambda href: not href.startswith(url), timeout=READY_TIMEOUT_MS)
    sign_in_at_provider(page)
    wait_ready(page)
    error = page.evaluate("authfetch.lastError()")
    assert error["name"] == "DPoPError" and "IndexedDB" in error["message"], error
    assert "dpop off" in error["message"], error
    assert page.evaluate("authfetch.state().loggedIn") is False
    assert page.evaluate(f"localStorage.getItem('{SESSION_KEY}')") is None
    assert provider.stats()["code_exchanged"] == 0
