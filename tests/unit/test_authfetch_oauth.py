"""OAuth 2.0 / OpenID Connect in the core: discovery, code + PKCE, ID token, refresh, revocation.

The flows are stepped by hand (``next``/``send``), as httpx tests its auth_flow; one
async test drives a whole sign-in through :class:`AuthSession` with a fake provider.
Runs on CPython and MicroPython alike.
"""

import asyncio
import json

import pytest
from authfetch_fakes import START, FakeClock, FakeResponse, RecordingLock, path_of

from authfetch.core import (
    AuthConfig,
    AuthSession,
    ConfigurationError,
    LoginError,
    MemoryStore,
    OAuthClient,
    ReadJson,
    Send,
    SessionExpiredError,
    TokenSet,
    TransportError,
    begin_sign_in,
    callback_params,
    check_id_token,
    discovery_flow,
    end_session_url,
    exchange_flow,
    logout_flow,
    refresh_call,
    remember_pending,
    take_pending,
    without_callback,
)
from authfetch.core.oauth import b64url, form_decode, form_encode, pkce_challenge

ISSUER = "https://id.example"
PAGE = "https://app.example/"
DOCUMENT = {
    "issuer": ISSUER,
    "authorization_endpoint": ISSUER + "/authorize",
    "token_endpoint": ISSUER + "/token",
    "revocation_endpoint": ISSUER + "/revoke",
    "end_session_endpoint": ISSUER + "/logout",
}


def client(**options) -> OAuthClient:
    """The test client, with the provider's endpoints already known."""
    settings = {"issuer": ISSUER}
    settings.update({k: v for k, v in DOCUMENT.items() if k != "issuer"})
    settings.update(options)
    return OAuthClient("app", PAGE, **settings)


def config(oauth: "OAuthClient | None" = None) -> AuthConfig:
    """A config speaking to the test provider."""
    return AuthConfig("https://api.example", oauth=oauth or client(), random=lambda: 0.0)


def counter_bytes(n: int) -> bytes:
    """Deterministic 'random' bytes: 0, 1, 2, ..."""
    return bytes(range(n))


def jwt(claims: dict) -> str:
    """An unsigned JWT with ``claims`` (the core reads, never verifies)."""
    header = b64url(json.dumps({"alg": "RS256"}).encode())
    return header + "." + b64url(json.dumps(claims).encode()) + ".sig"


def id_token(nonce: str = "n", **claims) -> str:
    """An ID token for the test client."""
    body = {"iss": ISSUER, "aud": "app", "exp": START + 300, "iat": START, "nonce": nonce}
    body.update(claims)
    return jwt(body)


def finish(flow, value):
    """Send the last result into ``flow`` and return its outcome."""
    with pytest.raises(StopIteration) as stop:
        flow.send(value)
    return stop.value.value


def test_pkce_challenge_matches_rfc7636_appendix_b():
    """S256 of RFC 7636's example verifier is the RFC's challenge (checks SHA-256 and base64url)."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_form_encoding_round_trips_reserved_and_non_ascii_text():
    """Form bodies encode spaces as +, reserved and non-ASCII characters as UTF-8 %XX."""
    pairs = [("scope", "openid offline_access"), ("x", "a&b=c+d/é"), ("skip", None)]
    text = form_encode(pairs)
    assert text == "scope=openid+offline_access&x=a%26b%3Dc%2Bd%2F%C3%A9"
    assert form_decode(text) == [("scope", "openid offline_access"), ("x", "a&b=c+d/é")]


def test_discovery_takes_the_endpoints_of_a_matching_document():
    """Discovery GETs the OpenID location and takes every endpoint of a document naming the
    configured issuer."""
    oauth = OAuthClient("app", PAGE, issuer=ISSUER)
    flow = discovery_flow(oauth)
    send = next(flow)
    assert isinstance(send, Send) and send.request.method == "GET"
    assert send.request.url == ISSUER + "/.well-known/openid-configuration"
    assert isinstance(flow.send(FakeResponse(200, DOCUMENT)), ReadJson)
    finish(flow, DOCUMENT)
    assert oauth.token_endpoint == ISSUER + "/token"
    assert oauth.end_session_endpoint == ISSUER + "/logout"


def test_discovery_falls_back_to_rfc8414_after_a_404():
    """A 404 at the OpenID location tries /.well-known/oauth-authorization-server."""
    oauth = OAuthClient("app", PAGE, issuer=ISSUER + "/tenant")
    flow = discovery_flow(oauth)
    next(flow)
    second = flow.send(FakeResponse(404))
    assert second.request.url == ISSUER + "/.well-known/oauth-authorization-server/tenant"
    flow.send(FakeResponse(200))
    finish(flow, dict(DOCUMENT, issuer=ISSUER + "/tenant"))
    assert oauth.authorization_endpoint == ISSUER + "/authorize"


def test_a_missing_document_names_both_locations_tried():
    """404 at both locations: the error names the OpenID one and RFC 8414's."""
    oauth = OAuthClient("app", PAGE, issuer=ISSUER)
    flow = discovery_flow(oauth)
    next(flow)
    flow.send(FakeResponse(404))
    with pytest.raises(ConfigurationError) as raised:
        flow.send(FakeResponse(404))
    assert ISSUER + "/.well-known/openid-configuration" in str(raised.value)
    assert "oauth-authorization-server" in str(raised.value)


@pytest.mark.parametrize(
    "answer, words",
    [
        ("unreachable", "could not be fetched"),
        (500, "answered HTTP 500"),
        ("not json", "is not JSON"),
        ({"issuer": "https://other.example"}, "names issuer 'https://other.example'"),
        ({"issuer": ISSUER}, "has no authorization_endpoint"),
        (dict(DOCUMENT, token_endpoint="javascript:alert(1)"), "token_endpoint is not an http"),
        ([1, 2], "is not a JSON object"),
    ],
)
def test_a_broken_discovery_document_is_a_configuration_error_naming_the_url(answer, words):
    """Unreachable, an HTTP error, not JSON, another issuer, missing or odd endpoints: each a
    ConfigurationError naming the document's URL and the problem."""
    oauth = OAuthClient("app", PAGE, issuer=ISSUER)
    flow = discovery_flow(oauth)
    next(flow)
    with pytest.raises(ConfigurationError) as raised:
        if answer == "unreachable":
            flow.throw(TransportError("Failed to fetch"))
        elif isinstance(answer, int):
            flow.send(FakeResponse(answer))
        else:
            flow.send(FakeResponse(200))
            if answer == "not json":
                flow.throw(ValueError("bad json"))
            else:
                flow.send(answer)
    assert ISSUER + "/.well-known/openid-configuration" in str(raised.value)
    assert words in str(raised.value)


def test_endpoints_given_as_options_skip_discovery():
    """With both the authorization and the token endpoint given, discovery sends nothing."""
    flow = discovery_flow(client())
    with pytest.raises(StopIteration):
        next(flow)


def test_the_authorization_url_carries_pkce_state_nonce_and_extra_parameters():
    """begin_sign_in builds response_type=code with S256 PKCE (verifier >= 43 chars), a state and
    a nonce, the scope and the extra parameters; the pending record keeps the secrets."""
    oauth = client(authorization_params={"audience": "https://api.example"})
    url, pending = begin_sign_in(oauth, counter_bytes, PAGE + "?tab=2", START)
    assert url.startswith(ISSUER + "/authorize?")
    params = dict(form_decode(url.partition("?")[2]))
    assert params["response_type"] == "code" and params["client_id"] == "app"
    assert params["redirect_uri"] == PAGE and params["scope"] == "openid offline_access"
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == pkce_challenge(pending["verifier"])
    assert len(pending["verifier"]) >= 43
    assert params["state"] == pending["state"] and params["nonce"] == pending["nonce"]
    assert params["audience"] == "https://api.example"
    assert pending["return_to"] == PAGE + "?tab=2"


def test_a_pending_sign_in_is_taken_once_and_old_ones_expire():
    """The state that came back takes its sign-in out of the tab's list (a second answer with it
    finds nothing); sign-ins older than ten minutes are forgotten."""
    stored = remember_pending(None, {"state": "s1", "created": START}, START)
    stored = remember_pending(stored, {"state": "s2", "created": START}, START)
    found, rest = take_pending(stored, "s1", START + 1)
    assert found is not None and found["state"] == "s1"
    again, _ = take_pending(rest, "s1", START + 2)
    assert again is None
    late, _ = take_pending(rest, "s2", START + 601)
    assert late is None
    assert take_pending("{not json", "s1", START) == (None, "[]")


def test_callback_params_are_read_and_removed_from_the_address():
    """The provider's code/state/iss are read from the query and removed, other parameters kept."""
    url = PAGE + "?interpreter=mpy&code=c%2B1&state=s&iss=https%3A%2F%2Fid.example#top"
    assert callback_params(url) == {"code": "c+1", "state": "s", "iss": ISSUER}
    assert without_callback(url) == PAGE + "?interpreter=mpy#top"
    assert without_callback(PAGE + "?code=c&state=s") == PAGE
    assert callback_params(PAGE + "?interpreter=mpy") is None
    assert callback_params(PAGE + "?code=c") is None  # no state: not an answer to us


def exchange(params: dict, pending: "dict | None", oauth: "OAuthClient | None" = None):
    """Start an exchange flow; the flow and its first command."""
    flow = exchange_flow(config(oauth), params, pending, lambda: START, "login-1")
    return flow, next(flow)


PENDING = {"state": "s", "nonce": "n", "verifier": "v" * 43, "redirect_uri": PAGE}


def token_answer(**extra) -> dict:
    """A token endpoint answer with an opaque access token."""
    answer = {
        "access_token": "opaque-1",
        "token_type": "Bearer",
        "expires_in": 60,
        "refresh_token": "r1",
        "id_token": id_token(),
    }
    answer.update(extra)
    return answer


def test_the_code_is_exchanged_form_encoded_and_an_opaque_token_expires_by_expires_in():
    """The exchange POSTs grant_type=authorization_code with the verifier, form-encoded, to the
    token endpoint; an opaque access token's expiry comes from expires_in."""
    flow, send = exchange({"code": "c1", "state": "s"}, PENDING)
    request = send.request
    assert request.url == ISSUER + "/token" and request.method == "POST"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    body = dict(form_decode(request.body.decode()))
    assert body == {
        "grant_type": "authorization_code",
        "code": "c1",
        "redirect_uri": PAGE,
        "client_id": "app",
        "code_verifier": "v" * 43,
    }
    flow.send(FakeResponse(200))
    tokens = finish(flow, token_answer())
    assert tokens.access_token == "opaque-1" and tokens.refresh_token == "r1"
    assert tokens.expires_at == START + 60 and tokens.login == "login-1"
    assert tokens.id_token is not None


def test_an_error_answer_is_a_login_error_with_the_providers_words():
    """?error=access_denied becomes a LoginError carrying error and error_description; no call."""
    params = {"error": "access_denied", "error_description": "The user said no", "state": "s"}
    with pytest.raises(LoginError) as raised:
        exchange(params, PENDING)
    assert raised.value.error == "access_denied"
    assert raised.value.error_description == "The user said no"
    assert "access_denied" in str(raised.value) and "The user said no" in str(raised.value)


def test_an_answer_no_sign_in_waits_for_is_refused_before_any_call():
    """A forged state or a reloaded callback (no pending sign-in) is refused, nothing sent."""
    with pytest.raises(LoginError) as raised:
        exchange({"code": "c1", "state": "forged"}, None)
    assert raised.value.error == "invalid_state"


def test_an_answer_from_another_issuer_is_refused():
    """An iss parameter naming another issuer (RFC 9207) is refused."""
    with pytest.raises(LoginError):
        exchange({"code": "c1", "state": "s", "iss": "https://evil.example"}, PENDING)


def test_a_refused_code_names_the_providers_error():
    """A 400 invalid_grant from the token endpoint is a LoginError with the provider's error."""
    flow, _ = exchange({"code": "c1", "state": "s"}, PENDING)
    flow.send(FakeResponse(400))
    with pytest.raises(LoginError) as raised:
        flow.send({"error": "invalid_grant", "error_description": "code already used"})
    assert raised.value.error == "invalid_grant" and raised.value.status == 400
    assert "code already used" in str(raised.value)


@pytest.mark.parametrize(
    "claims, words",
    [
        ({"nonce": "other"}, "nonce"),
        ({"iss": "https://evil.example"}, "iss"),
        ({"aud": "someone-else"}, "aud"),
        ({"aud": ["app", "other"]}, "azp"),
        ({"azp": "other"}, "azp"),
        ({"exp": START - 301}, "expired"),
    ],
)
def test_an_id_token_with_wrong_claims_is_refused_and_nothing_comes_back(claims, words):
    """Wrong nonce, issuer, audience, azp, or an expired ID token: LoginError, no tokens."""
    flow, _ = exchange({"code": "c1", "state": "s"}, PENDING)
    flow.send(FakeResponse(200))
    token = id_token(**claims) if "nonce" not in claims else id_token(nonce=claims["nonce"])
    with pytest.raises(LoginError) as raised:
        flow.send(token_answer(id_token=token))
    assert raised.value.error == "invalid_id_token" and words in str(raised.value)


def test_an_id_token_with_several_audiences_and_our_azp_is_accepted():
    """aud holding client_id among others is fine when azp names the client."""
    claims = check_id_token(client(), id_token(aud=["app", "api"], azp="app"), "n", START)
    assert claims["azp"] == "app"


def test_an_openid_sign_in_without_an_id_token_is_refused():
    """With openid in the scope, a token answer without id_token is refused."""
    flow, _ = exchange({"code": "c1", "state": "s"}, PENDING)
    flow.send(FakeResponse(200))
    answer = token_answer()
    del answer["id_token"]
    with pytest.raises(LoginError):
        flow.send(answer)


def test_a_token_type_other_than_bearer_is_refused():
    """A DPoP (or any non-Bearer) token_type is refused at sign-in (Bearer only, any case)."""
    flow, _ = exchange({"code": "c1", "state": "s"}, PENDING)
    flow.send(FakeResponse(200))
    with pytest.raises(LoginError) as raised:
        flow.send(token_answer(token_type="DPoP"))
    assert "token_type" in str(raised.value)
    flow, _ = exchange({"code": "c1", "state": "s"}, PENDING)
    flow.send(FakeResponse(200))
    assert finish(flow, token_answer(token_type="bearer")).token_type == "Bearer"


TOKENS = TokenSet("a0", "r0", START + 60, issued_at=START, login="L", id_token="id0")


def test_refresh_is_a_form_encoded_refresh_token_grant_at_the_token_endpoint():
    """The refresh POSTs grant_type=refresh_token, the token and client_id, form-encoded, to the
    token endpoint (no scope unless refresh_scope is set); the answer rotates the tokens."""
    flow = refresh_call(config(), TOKENS, lambda: START)
    send = next(flow)
    assert send.request.url == ISSUER + "/token"
    body = dict(form_decode(send.request.body.decode()))
    assert body == {"grant_type": "refresh_token", "refresh_token": "r0", "client_id": "app"}
    flow.send(FakeResponse(200))
    fresh = finish(flow, {"access_token": "a1", "token_type": "Bearer", "expires_in": 60})
    assert fresh.access_token == "a1" and fresh.refresh_token == "r0"
    assert fresh.id_token == "id0" and fresh.version == 1
    scoped = refresh_call(config(client(refresh_scope="api:read")), TOKENS, lambda: START)
    assert dict(form_decode(next(scoped).request.body.decode()))["scope"] == "api:read"


@pytest.mark.parametrize(
    "error, words",
    [
        ("invalid_grant", "invalid_grant"),
        ("invalid_client", "check client_id"),
        ("unauthorized_client", "check client_id"),
    ],
)
def test_a_refused_refresh_ends_the_session_with_the_providers_reason(error, words):
    """invalid_grant ends the session; invalid_client / unauthorized_client too, with a message
    saying the client configuration is wrong."""
    flow = refresh_call(config(), TOKENS, lambda: START)
    next(flow)
    assert isinstance(flow.send(FakeResponse(401 if error == "invalid_client" else 400)), ReadJson)
    with pytest.raises(SessionExpiredError) as raised:
        flow.send({"error": error})
    assert words in str(raised.value)


def test_a_refused_refresh_with_a_body_that_is_not_json_still_ends_the_session():
    """A 400 whose body is not JSON ends the session all the same."""
    flow = refresh_call(config(), TOKENS, lambda: START)
    next(flow)
    flow.send(FakeResponse(400))
    with pytest.raises(SessionExpiredError):
        flow.throw(ValueError("not json"))


def test_logout_revokes_the_refresh_token_at_the_revocation_endpoint():
    """Logout POSTs token, token_type_hint=refresh_token and client_id, form-encoded (RFC 7009)."""
    flow = logout_flow(config(), TOKENS)
    send = next(flow)
    assert send.request.url == ISSUER + "/revoke"
    body = dict(form_decode(send.request.body.decode()))
    assert body == {"token": "r0", "token_type_hint": "refresh_token", "client_id": "app"}


def test_the_end_session_url_carries_the_id_token_hint():
    """With post_logout_redirect_uri, logout's provider URL has id_token_hint and client_id."""
    assert end_session_url(client(), "id0") is None
    url = end_session_url(client(post_logout_redirect_uri=PAGE), "id0")
    assert url is not None and url.startswith(ISSUER + "/logout?")
    params = dict(form_decode(url.partition("?")[2]))
    assert params == {"id_token_hint": "id0", "client_id": "app", "post_logout_redirect_uri": PAGE}


def test_the_token_endpoint_never_gets_the_bearer_and_is_never_intercepted():
    """The token endpoint (the refresh URL) is an auth endpoint: no bearer, no replay."""
    settings = config()
    assert settings.refresh_endpoint == ISSUER + "/token"
    assert not settings.bearer_allowed(ISSUER + "/token")
    assert settings.bearer_allowed("https://api.example/items")


class FakeProvider:
    """A provider behind a fake transport: a token endpoint that exchanges one code once."""

    def __init__(self) -> None:
        self.codes = {"c1": "n"}
        self.calls: list = []

    async def send(self, request, timeout=None):
        """Answer the token endpoint like a provider with rotation."""
        self.calls.append(request)
        if path_of(request.url) != "/token":
            return FakeResponse(404)
        body = dict(form_decode(request.body.decode()))
        if body["grant_type"] == "authorization_code":
            nonce = self.codes.pop(body["code"], None)
            if nonce is None:
                return FakeResponse(400, {"error": "invalid_grant"})
            return FakeResponse(200, token_answer(id_token=id_token(nonce)))
        return FakeResponse(200, token_answer(access_token="opaque-2", refresh_token="r2"))


def test_a_finished_sign_in_is_stored_once_and_the_same_answer_again_stores_nothing():
    """finish_sign_in exchanges the code and stores the tokens under the lock; the same answer
    again (no pending sign-in: a reload) is refused and leaves the stored session alone."""
    provider, store, lock = FakeProvider(), MemoryStore(), RecordingLock()
    session = AuthSession(config(), provider, store, lock, FakeClock())
    params = {"code": "c1", "state": "s"}
    tokens = asyncio.run(session.finish_sign_in(params, PENDING))
    assert store.load() == tokens and session.tokens == tokens
    with pytest.raises(LoginError):
        asyncio.run(session.finish_sign_in(params, None))
    assert store.load() == tokens and len(provider.calls) == 1
