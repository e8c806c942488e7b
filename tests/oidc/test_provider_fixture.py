"""The node-oidc-provider fixture (e2e_tests/oidc_provider.py), proved over plain HTTP.

No browser: the code flow is scripted with urllib (``provider_flow.py``); the
``oidc_provider_factory`` fixture comes from this folder's ``conftest.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from provider_flow import (
    ACCESS_TTL,
    CLIENT_ORIGIN,
    OTHER_ORIGIN,
    POST_LOGOUT_URI,
    REDIRECT_URI,
    Browserish,
    api,
    exchange,
    jwt_claims,
    pkce,
    refresh,
    sign_in,
    token_request,
    tokens,
)

from e2e_tests.oidc_provider import (  # the fixture under test
    API_SCOPE,
    CLIENT_ID,
    OidcProvider,
    ProviderFactory,
)


@pytest.fixture(scope="module")
def provider(oidc_provider_factory: ProviderFactory) -> OidcProvider:
    """One provider for the module; each test starts from a reset one."""
    return oidc_provider_factory(
        [REDIRECT_URI], [POST_LOGOUT_URI], [CLIENT_ORIGIN], access_ttl=ACCESS_TTL
    )


@pytest.fixture
def op(provider: OidcProvider) -> Iterator[OidcProvider]:
    """The module's provider, reset: no sessions or tokens, counters at zero."""
    provider.reset()
    yield provider


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
    oidc_provider_factory: ProviderFactory,
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
