"""Scripting node-oidc-provider over plain HTTP, for the tests in this folder.

No browser: the authorization code flow with PKCE S256 is scripted with urllib and a
cookie jar, submitting the provider's development login and consent forms the way a
browser would, following every redirect by hand. Shared by ``test_provider_fixture.py``
and ``test_provider_dpop.py``.
"""

from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from e2e_tests.oidc_provider import CLIENT_ID, OidcProvider

#: A client origin nothing listens on: the flow stops at the redirect, never loads it.
CLIENT_ORIGIN = "http://127.0.0.1:9"
REDIRECT_URI = CLIENT_ORIGIN + "/callback"
POST_LOGOUT_URI = CLIENT_ORIGIN + "/signed-out"
OTHER_ORIGIN = "http://127.0.0.1:10"
ACCESS_TTL = 30
#: What a client asks for: ``api:read`` is the API resource's scope.
SCOPE = "openid offline_access api:read"
TIMEOUT_S = 10


@dataclass
class Answer:
    """An HTTP answer, redirects not followed."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        """The body as JSON."""
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """A header's value, its name in any case (the provider sends ``dpop-nonce``)."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


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


def token_request(
    op: OidcProvider,
    form: dict[str, str],
    origin: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """POST form-encoded to the token endpoint (with an ``Origin`` when given, and
    ``headers``, e.g. a ``DPoP`` proof)."""
    sent = {"Origin": origin} if origin else {}
    sent.update(headers or {})
    return Browserish().request(op.issuer + "/token", {"client_id": CLIENT_ID, **form}, sent)


def code_form(signed_in: SignIn) -> dict[str, str]:
    """The token request that exchanges the sign-in's code."""
    return {
        "grant_type": "authorization_code",
        "code": signed_in.code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": signed_in.verifier,
    }


def exchange(op: OidcProvider, signed_in: SignIn, headers: dict[str, str] | None = None) -> dict:
    """Exchange the sign-in's code (with ``headers``); the token answer, which must be 200."""
    answer = token_request(op, code_form(signed_in), origin=CLIENT_ORIGIN, headers=headers)
    assert answer.status == 200, answer.body
    return answer.json()


def refresh(op: OidcProvider, refresh_token: str, headers: dict[str, str] | None = None) -> Answer:
    """A refresh at the token endpoint (with ``headers``)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return token_request(op, form, origin=CLIENT_ORIGIN, headers=headers)


def api(
    op: OidcProvider,
    path: str,
    access_token: str,
    scheme: str = "Bearer",
    headers: dict[str, str] | None = None,
) -> Answer:
    """A GET of the protected API: ``Authorization: <scheme> <access_token>``, ``headers``."""
    sent = {"Authorization": f"{scheme} {access_token}", "Origin": CLIENT_ORIGIN}
    sent.update(headers or {})
    return Browserish().request(op.api + path, headers=sent)


def tokens(op: OidcProvider) -> dict:
    """A fresh sign-in's token answer."""
    return exchange(op, sign_in(op))
