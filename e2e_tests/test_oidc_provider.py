"""authfetch against a standard provider nobody here wrote: node-oidc-provider (pinned).

The page is a static page served for real on its own origin, whose options block names the
provider (``issuer``, ``client_id``): sign-in with code + PKCE on the provider's own
login page, API calls to the provider's protected API, refresh with rotation and no
reuse grace, revocation at logout. Both interpreters.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, Request, expect

from e2e_tests.conftest import ARM_TAB, READY_TIMEOUT_MS, PageErrors, python_page
from e2e_tests.oidc_provider import (
    API_SCOPE,
    CLIENT_ID,
    OidcProvider,
    ProviderFactory,
    block_internet,
    sign_in_at_provider,
)
from e2e_tests.pagehost import PageHost

AUTOSTART = "/py/authfetch/src/authfetch/web/autostart.py"
PAGE_PATH = "/oidc-app.html"
SESSION_KEY = "authfetch.session"
#: Long-lived access tokens for the rounds: each round expires them on the provider's clock
#: only, so no tab's proactive timer adds a refresh while a slow machine works.
LONG_TTL_S = 600
SHORT_TTL_S = 60
TABS = 3
ROUNDS = 10
REQUESTS_PER_TAB = 3


def page_url(host: PageHost) -> str:
    """The test page's URL on the page host's origin (its redirect URI too)."""
    return host.origin + PAGE_PATH


def provider_for(
    factory: ProviderFactory, host: PageHost, ttl: int, dpop_require_nonce: bool = False
) -> OidcProvider:
    """The provider with the test page registered (redirect URI, CORS), reset
    (``dpop_require_nonce``: DPoP on, a nonce required in every proof)."""
    url = page_url(host)
    return factory(
        [url],
        post_logout_redirect_uris=[url],
        cors_origins=[host.origin],
        access_ttl=ttl,
        dpop_require_nonce=dpop_require_nonce,
    )


def serve_app(
    context: BrowserContext,
    host: PageHost,
    provider: OidcProvider,
    interpreter: str,
    **extra: object,
) -> str:
    """Serve the test page for real (a routed page may not call loopback servers of another
    origin); its URL. The internet stays blocked (the provider's login page's web font).
    ``extra`` options join the page's options block."""
    options = {
        "api_base": provider.api,
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "scope": "openid offline_access " + API_SCOPE,
        "redirect_uri": page_url(host),
        **extra,
    }
    block = (
        '<script type="application/json" id="authfetch-options">'
        + json.dumps(options)
        + "</script>"
    )
    block_internet(context)
    return host.add(PAGE_PATH, python_page(interpreter, src=AUTOSTART, head=block))


def wait_ready(page: Page) -> Page:
    """Wait until the page says the bridge is ready."""
    expect(page.locator("html")).to_have_attribute(
        "data-authfetch", "ready", timeout=READY_TIMEOUT_MS
    )
    return page


def sign_in(page: Page, url: str) -> None:
    """Open ``url``, sign in at the provider, and wait until the page is back and signed in."""
    page.goto(url)
    wait_ready(page)
    assert page.evaluate("authfetch.state().loggedIn") is False
    page.evaluate("authfetch.login(); undefined")  # not awaited: the page navigates away
    page.wait_for_url(lambda href: not href.startswith(url), timeout=READY_TIMEOUT_MS)
    sign_in_at_provider(page)
    wait_ready(page)
    expect(page.locator("html")).to_have_attribute("data-authfetch", "ready")
    page.wait_for_function("authfetch.state().loggedIn === true", timeout=READY_TIMEOUT_MS)


@pytest.fixture(autouse=True)
def _blocked_web_font(page_errors: PageErrors) -> None:
    """The provider's login page asks for a web font on the internet, which the test blocks."""
    page_errors.allow(r"Failed to load resource: net::ERR_BLOCKED_BY_CLIENT")


@pytest.fixture
def long_provider(
    oidc_provider_factory: ProviderFactory,
    page_host: PageHost,
) -> OidcProvider:
    """node-oidc-provider with 600 s access tokens, rotation, no grace; reset."""
    return provider_for(oidc_provider_factory, page_host, LONG_TTL_S)


@pytest.fixture
def short_provider(
    oidc_provider_factory: ProviderFactory,
    page_host: PageHost,
) -> OidcProvider:
    """node-oidc-provider with 60 s access tokens (proactive refresh), reset."""
    return provider_for(oidc_provider_factory, page_host, SHORT_TTL_S)


@pytest.fixture
def token_traffic(context: BrowserContext) -> Iterator[list[tuple[str, str]]]:
    """Every request of the context that carried a token: (url, how)."""
    seen: list[tuple[str, str]] = []

    def record(request: Request) -> None:
        if request.headers.get("authorization"):
            seen.append((request.url, "authorization"))
        body = request.post_data or ""
        if "refresh_token=" in body or "token=" in body:
            seen.append((request.url, "body"))

    context.on("request", record)
    yield seen


def test_sign_in_at_the_provider_then_call_its_api(
    context: BrowserContext,
    page_host: PageHost,
    long_provider: OidcProvider,
    interpreter: str,
    token_traffic: list[tuple[str, str]],
):
    """Sign-in through node-oidc-provider's own login page (code + PKCE): back on the page
    the code and state are gone from the address bar, the session is stored, the API
    answers 200 with the opaque token; tokens went only to the API and the token endpoint."""
    page = context.new_page()
    url = serve_app(context, page_host, long_provider, interpreter)
    sign_in(page, url)
    assert page.url == url
    stored = json.loads(page.evaluate(f"localStorage.getItem('{SESSION_KEY}')"))
    assert stored["refresh_token"] and stored["id_token"]
    status = page.evaluate(
        "([api]) => authfetch.fetch(api + '/me').then(r => r.status)", [long_provider.api]
    )
    assert status == 200
    counters = long_provider.stats()
    assert counters["code_exchanged"] == 1 and counters["api_ok"] == 1
    token_endpoint = long_provider.discovery()["token_endpoint"]
    for target, how in token_traffic:
        if how == "authorization":
            assert target.startswith(long_provider.api + "/"), target
        else:
            assert target == token_endpoint, target


def test_three_tabs_meet_the_expiry_together_ten_rounds_with_rotation_and_no_grace(
    context: BrowserContext, page_host: PageHost, long_provider: OidcProvider, interpreter: str
):
    """Three tabs firing together at expiry, ten rounds, rotation with no reuse grace: one
    refresh per round, no invalid_grant, every request answered 200, every tab signed in."""
    url = serve_app(context, page_host, long_provider, interpreter)
    first = context.new_page()
    sign_in(first, url)
    tabs = [first]
    for _ in range(TABS - 1):
        tab = context.new_page()
        tab.goto(url)
        wait_ready(tab)
        tabs.append(tab)
    for tab in tabs:
        assert tab.evaluate("authfetch.state().loggedIn") is True
    fire_rounds(long_provider, tabs, ROUNDS)
    for tab in tabs:
        assert tab.evaluate("authfetch.state().loggedIn") is True


def fire_rounds(provider: OidcProvider, tabs: list[Page], rounds: int) -> None:
    """Arm ``tabs``, then ``rounds`` times: expire the tokens on the provider's clock, fire
    every tab at one instant; every call answers 200, one refresh per round, no
    ``invalid_grant`` (rotation with no grace)."""
    for tab in tabs:
        tab.evaluate(ARM_TAB, [provider.api + "/me", REQUESTS_PER_TAB])
    for round_number in range(1, rounds + 1):
        provider.advance(LONG_TTL_S + 10)
        tabs[0].evaluate(f"window.__go({round_number})")
        for tab in tabs:
            tab.wait_for_function(f"window.__rounds[{round_number}] !== undefined")
            assert tab.evaluate(f"window.__rounds[{round_number}]") == [200] * REQUESTS_PER_TAB
        counters = provider.stats()
        assert counters["invalid_grant"] == 0, f"round {round_number}: {counters}"
        assert counters["refresh_ok"] == round_number, f"round {round_number}: {counters}"


def test_proactive_refresh_over_several_lifetimes(
    context: BrowserContext, page_host: PageHost, short_provider: OidcProvider, interpreter: str
):
    """With 60 s tokens whose expiry comes from expires_in (opaque tokens), the page refreshes
    ahead of time across five lifetimes: five refreshes, no 401 from the API."""
    page = context.new_page()
    page.clock.install()
    url = serve_app(context, page_host, short_provider, interpreter)
    sign_in(page, url)
    api = short_provider.api
    for lifetime in range(1, 6):
        short_provider.advance(45)
        page.clock.fast_forward(45_000)  # past the refresh mark (20 s before expiry)
        page.wait_for_function(f"authfetch.state().refreshes >= {lifetime}")
        status = page.evaluate("([api]) => authfetch.fetch(api + '/me').then(r => r.status)", [api])
        assert status == 200
    counters = short_provider.stats()
    assert counters["refresh_ok"] == 5 and counters["api_401"] == 0, counters


def test_logout_revokes_the_refresh_token_at_the_provider(
    context: BrowserContext, page_host: PageHost, long_provider: OidcProvider, interpreter: str
):
    """Logout revokes the refresh token (RFC 7009): the provider refuses it afterwards with
    invalid_grant, and the page is signed out with nothing stored."""
    page = context.new_page()
    url = serve_app(context, page_host, long_provider, interpreter)
    sign_in(page, url)
    refresh_token = json.loads(page.evaluate(f"localStorage.getItem('{SESSION_KEY}')"))[
        "refresh_token"
    ]
    page.evaluate("authfetch.logout()")
    assert page.evaluate("authfetch.state().loggedIn") is False
    assert page.evaluate(f"localStorage.getItem('{SESSION_KEY}')") is None
    assert long_provider.stats()["revoked"] >= 1
    body = urllib.parse.urlencode(
        {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT_ID}
    ).encode()
    token_endpoint = long_provider.discovery()["token_endpoint"]
    request = urllib.request.Request(token_endpoint, data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert json.loads(refused.value.read())["error"] == "invalid_grant"
