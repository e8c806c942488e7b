"""The node-oidc-provider fixture (e2e_tests/oidc_provider.py), proved over plain HTTP.

No browser: the authorization code flow with PKCE S256 is scripted with urllib and a
cookie jar, submitting the provider's development login and consent forms the way a
browser would, following every redirect by hand.
"""

from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import json
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest

from e2e_tests.oidc_provider import (  # the fixture under test
    API_SCOPE,
    CLIENT_ID,
    OidcProvider,
    ProviderFactory,
    oidc_provider_factory,  # noqa: F401
)

#: A client origin nothing listens on: the flow stops at the redirect, never loads it.
CLIENT_ORIGIN = "http://127.0.0.1:9"
REDIRECT_URI = CLIENT_ORIGIN + "/callback"
POST_LOGOUT_URI = CLIENT_ORIGIN + "/signed-out"
OTHER_ORIGIN = "http://127.0.0.1:10"
ACCESS_TTL = 30
#: What a client asks for: ``api:read`` is the API resource's scope.
SCOPE = "openid offline_access api:read"
TIMEOUT_S = 10


@pytest.fixture(scope="module")
def provider(oidc_provider_factory: ProviderFactory) -> OidcProvider:  # noqa: F811
    """One provider for the module; each test starts from a reset one."""
    return oidc_provider_factory(
        [REDIRECT_URI], [POST_LOGOUT_URI], [CLIENT_ORIGIN], access_ttl=ACCESS_TTL
    )


@pytest.fixture
def op(provider: OidcProvider) -> Iterator[OidcProvider]:
    """The module's provider, reset: no sessions or tokens, counters at zero."""
    provider.reset()
    yield provider


@dataclass
class Answer:
    """An HTTP answer, redirects not followed."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        """The body as JSON."""
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Browserish:
    """Cookies kept, redirects followed by hand, like a browser tab."""

    def __init__(self) -> None:
        """An empty cookie jar."""
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def request(
        self,
        url: str,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
    ) -> Answer:
        """One request (form-encoded POST when ``form`` is given)."""
        data = None if form is None else urlencode(form).encode()
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with self.opener.open(request, timeout=TIMEOUT_S) as response:
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers), error.read())

    def follow(self, answer: Answer, base: str, stop_at: str) -> tuple[Answer, str]:
        """Follow redirects (GET) until a page, or a Location starting with ``stop_at``."""
        url = base
        for _ in range(10):
            if answer.status not in (301, 302, 303, 307, 308):
                return answer, url
            url = urljoin(url, answer.headers["Location"])
            if url.startswith(stop_at):
                return answer, url
            answer = self.request(url)
        raise AssertionError(f"too many redirects, last {url}")


class _Forms(HTMLParser):
    """The forms of a page: action, method and the named inputs' values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append({"action": values.get("action"), "inputs": {}})
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1]["inputs"][values["name"]] = values.get("value") or ""


def forms_of(html: bytes) -> list[dict]:
    """Parse the page's forms."""
    parser = _Forms()
    parser.feed(html.decode())
    return parser.forms


def pkce() -> tuple[str, str]:
    """A code verifier (43+ characters) and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def jwt_claims(token: str) -> dict:
    """The (unverified) claims of a JWT."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@dataclass
class SignIn:
    """What the scripted sign-in saw."""

    tab: Browserish
    code: str
    verifier: str
    nonce: str
    pages: list[str]


def sign_in(op: OidcProvider, login: str = "alice", scope: str = SCOPE) -> SignIn:
    """Code + PKCE S256 through the development login and consent forms; the code."""
    config = op.discovery()
    tab = Browserish()
    verifier, challenge = pkce()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    url = config["authorization_endpoint"] + "?" + query
    answer, url = tab.follow(tab.request(url), url, REDIRECT_URI)
    pages = []
    for prompt, fields in (("login", {"login": login, "password": "any"}), ("consent", {})):
        assert answer.status == 200, (url, answer.status, answer.body[:300])
        (form,) = forms_of(answer.body)
        assert form["inputs"]["prompt"] == prompt, form
        pages.append(urlsplit(url).path)
        action = urljoin(url, form["action"])
        answer, url = tab.follow(
            tab.request(action, {**form["inputs"], **fields}), action, REDIRECT_URI
        )
    assert url.startswith(REDIRECT_URI + "?"), url
    params = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    assert params["state"] == state
    assert params["iss"] == op.issuer
    return SignIn(tab, params["code"], verifier, nonce, pages)


def token_request(op: OidcProvider, form: dict[str, str], origin: str | None = None) -> Answer:
    """POST form-encoded to the token endpoint (with an ``Origin`` when given)."""
    headers = {"Origin": origin} if origin else {}
    return Browserish().request(op.issuer + "/token", {"client_id": CLIENT_ID, **form}, headers)


def exchange(op: OidcProvider, signed_in: SignIn) -> dict:
    """Exchange the sign-in's code; the token answer."""
    answer = token_request(
        op,
        {
            "grant_type": "authorization_code",
            "code": signed_in.code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": signed_in.verifier,
        },
        origin=CLIENT_ORIGIN,
    )
    assert answer.status == 200, answer.body
    return answer.json()


def refresh(op: OidcProvider, refresh_token: str) -> Answer:
    """A refresh at the token endpoint."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return token_request(op, form, origin=CLIENT_ORIGIN)


def api(op: OidcProvider, path: str, access_token: str) -> Answer:
    """A GET of the protected API with a bearer."""
    headers = {"Authorization": f"Bearer {access_token}", "Origin": CLIENT_ORIGIN}
    return Browserish().request(op.api + path, headers=headers)


def tokens(op: OidcProvider) -> dict:
    """A fresh sign-in's token answer."""
    return exchange(op, sign_in(op))


# -- the tests ------------------------------------------------------------------------------


def test_discovery_names_the_issuer_and_endpoints(op: OidcProvider) -> None:
    """Discovery: the issuer exactly, and the endpoints a browser client uses."""
    config = op.discovery()
    assert config["issuer"] == op.issuer == f"http://127.0.0.1:{op.port}"
    assert config["authorization_endpoint"] == op.issuer + "/auth"
    assert config["token_endpoint"] == op.issuer + "/token"
    assert config["revocation_endpoint"] == op.issuer + "/token/revocation"
    assert config["end_session_endpoint"] == op.issuer + "/session/end"
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert op.api == op.issuer + "/api"


def test_code_flow_with_pkce_returns_opaque_access_refresh_and_id_tokens(op: OidcProvider) -> None:
    """Code + PKCE S256 through the dev login and consent forms gives every token."""
    signed_in = sign_in(op)
    assert signed_in.pages[0].startswith("/interaction/")
    assert (
        signed_in.pages[1].startswith("/interaction/") and signed_in.pages[1] != signed_in.pages[0]
    )
    answer = exchange(op, signed_in)
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == ACCESS_TTL
    assert answer["scope"] == API_SCOPE
    assert answer["access_token"].count(".") == 0  # opaque, not a JWT
    assert answer["refresh_token"]
    claims = jwt_claims(answer["id_token"])
    assert claims["iss"] == op.issuer and claims["aud"] == CLIENT_ID
    assert claims["sub"] == "alice" and claims["nonce"] == signed_in.nonce
    assert op.stats()["code_exchanged"] == 1


def test_without_the_api_scope_the_token_still_reaches_the_api_with_no_scope(
    op: OidcProvider,
) -> None:
    """Scope "openid offline_access": still a token for the API (default resource), no scope."""
    answer = exchange(op, sign_in(op, scope="openid offline_access"))
    assert answer["scope"] == "" and answer["refresh_token"]
    assert api(op, "/me", answer["access_token"]).json() == {"sub": "alice", "scope": ""}


def test_a_code_without_its_verifier_is_refused(op: OidcProvider) -> None:
    """The token endpoint checks PKCE: a wrong code_verifier is invalid_grant."""
    signed_in = sign_in(op)
    signed_in.verifier = pkce()[0]
    with pytest.raises(AssertionError, match="invalid_grant"):
        exchange(op, signed_in)


def test_api_accepts_the_access_token_and_refuses_a_bad_one(op: OidcProvider) -> None:
    """The API looks tokens up at the provider; a bad one gets the invalid_token challenge."""
    access = tokens(op)["access_token"]
    me = api(op, "/me", access)
    assert me.status == 200 and me.json() == {"sub": "alice", "scope": API_SCOPE}
    assert me.headers["Access-Control-Allow-Origin"] == CLIENT_ORIGIN
    items = api(op, "/items", access)
    assert items.status == 200 and isinstance(items.json(), list) and items.json()
    bad = api(op, "/me", access + "x")
    assert bad.status == 401
    assert bad.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert bad.json()["error"] == "invalid_token"
    assert "WWW-Authenticate" in bad.headers["Access-Control-Expose-Headers"]
    counters = op.stats()
    assert (counters["api_ok"], counters["api_401"]) == (2, 1)


def test_api_preflight_allows_the_authorization_header_for_allowed_origins_only(
    op: OidcProvider,
) -> None:
    """CORS preflight of the API: Authorization allowed for the client origin only."""
    tab = Browserish()
    preflight = {"Access-Control-Request-Method": "GET"}
    preflight["Access-Control-Request-Headers"] = "authorization"
    ok = tab.request(
        op.api + "/me", headers={"Origin": CLIENT_ORIGIN, **preflight}, method="OPTIONS"
    )
    assert ok.headers["Access-Control-Allow-Origin"] == CLIENT_ORIGIN
    assert "Authorization" in ok.headers["Access-Control-Allow-Headers"]
    other = tab.request(
        op.api + "/me", headers={"Origin": OTHER_ORIGIN, **preflight}, method="OPTIONS"
    )
    assert "Access-Control-Allow-Origin" not in other.headers


def test_refresh_rotates_the_refresh_token(op: OidcProvider) -> None:
    """A refresh answers a new access token and a new refresh token."""
    first = tokens(op)
    answer = refresh(op, first["refresh_token"])
    assert answer.status == 200, answer.body
    second = answer.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["expires_in"] == ACCESS_TTL
    assert api(op, "/me", second["access_token"]).status == 200
    assert op.stats()["refresh_ok"] == 1


def test_reusing_a_rotated_refresh_token_revokes_the_grant(op: OidcProvider) -> None:
    """No grace: the old refresh token again is invalid_grant and kills the new one too."""
    first = tokens(op)
    second = refresh(op, first["refresh_token"]).json()
    reused = refresh(op, first["refresh_token"])
    assert reused.status == 400 and reused.json()["error"] == "invalid_grant"
    after = refresh(op, second["refresh_token"])
    assert after.status == 400 and after.json()["error"] == "invalid_grant"
    assert api(op, "/me", second["access_token"]).status == 401
    counters = op.stats()
    assert counters["invalid_grant"] == 2 and counters["reuse_detected"] == 1
    assert counters["grant_revoked"] == 1


def test_revocation_makes_the_refresh_token_invalid_grant(op: OidcProvider) -> None:
    """RFC 7009 revocation of the refresh token; refreshing with it is invalid_grant."""
    answer = tokens(op)
    form = {
        "token": answer["refresh_token"],
        "token_type_hint": "refresh_token",
        "client_id": CLIENT_ID,
    }
    revocation = op.issuer + "/token/revocation"
    revoked = Browserish().request(revocation, form, {"Origin": CLIENT_ORIGIN})
    assert revoked.status == 200, revoked.body
    refused = refresh(op, answer["refresh_token"])
    assert refused.status == 400 and refused.json()["error"] == "invalid_grant"
    unknown = Browserish().request(
        revocation, {**form, "token": "unknown"}, {"Origin": CLIENT_ORIGIN}
    )
    assert unknown.status == 200
    counters = op.stats()
    assert counters["revoked"] == 1 and counters["revocation_calls"] == 2
    assert counters["grant_revoked"] == 1


def test_advancing_the_clock_past_the_ttl_expires_the_access_token(op: OidcProvider) -> None:
    """advance(ttl - 1) keeps the access token; past expiry the API refuses it."""
    answer = tokens(op)
    before = op.advance(0)
    moved = op.advance(ACCESS_TTL - 1)
    assert moved["offset"] == pytest.approx(before["offset"] + ACCESS_TTL - 1)
    assert api(op, "/me", answer["access_token"]).status == 200
    op.advance(2)
    expired = api(op, "/me", answer["access_token"])
    assert expired.status == 401 and 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
    assert refresh(op, answer["refresh_token"]).status == 200  # the refresh token lives on


def test_token_endpoint_refuses_an_origin_that_is_not_allowed(op: OidcProvider) -> None:
    """clientBasedCORS: a token request from another origin is refused."""
    answer = tokens(op)
    form = {"grant_type": "refresh_token", "refresh_token": answer["refresh_token"]}
    refused = token_request(op, form, origin=OTHER_ORIGIN)
    assert refused.status == 400, refused.body
    assert "Access-Control-Allow-Origin" not in refused.headers
    allowed = token_request(op, form, origin=CLIENT_ORIGIN)
    assert allowed.status == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == CLIENT_ORIGIN


def test_reset_forgets_tokens_and_zeroes_the_counters(op: OidcProvider) -> None:
    """reset(): counters at zero, earlier tokens unknown."""
    answer = tokens(op)
    op.reset()
    assert set(op.stats().values()) == {0}
    assert api(op, "/me", answer["access_token"]).status == 401
    assert refresh(op, answer["refresh_token"]).json()["error"] == "invalid_grant"


def test_the_factory_reuses_a_running_provider_for_the_same_settings(
    oidc_provider_factory: ProviderFactory,  # noqa: F811
    provider: OidcProvider,
) -> None:
    """Same arguments: the same running process, reset; stop() ends the process group."""
    again = oidc_provider_factory(
        [REDIRECT_URI], [POST_LOGOUT_URI], [CLIENT_ORIGIN], access_ttl=ACCESS_TTL
    )
    assert again is provider
    separate = OidcProvider().start([REDIRECT_URI], access_ttl=5)
    try:
        assert separate.issuer != provider.issuer
        assert separate.discovery()["issuer"] == separate.issuer
    finally:
        process = separate.process
        separate.stop()
    assert process is not None and process.poll() is not None
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", provider.issuer)
