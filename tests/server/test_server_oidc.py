"""The OAuth 2.0 / OpenID Connect provider: discovery, code + PKCE, tokens, revocation, logout."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import stat
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from liveserver import Server
from serverkit import DEMO, advance, assert_invalid_grant, bearer, family_of, live_tokens, me
from werkzeug.test import TestResponse

from server.__main__ import config_from_args, parse_args

CLIENT_ID = "authfetch-demo"
ISSUER = "http://localhost"  # the test client's origin
REDIRECT = f"{ISSUER}/"
FORM = "application/x-www-form-urlencoded"


def pkce() -> tuple[str, str]:
    """A fresh PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def auth_params(challenge: str, **overrides: str | None) -> dict[str, str]:
    """An authorization request (overrides set to None are left out)."""
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "openid offline_access",
        "state": "st-123",
        "nonce": "n-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }
    return {name: value for name, value in params.items() if value is not None}


def query_of(response: TestResponse) -> dict[str, str]:
    """The query of a redirect's Location, one value per name."""
    location = response.headers["Location"]
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def sign_in(client: FlaskClient, challenge: str, **overrides: str | None) -> TestResponse:
    """POST the sign-in form as the demo user."""
    return client.post("/oauth/authorize", data={**auth_params(challenge, **overrides), **DEMO})


def get_code(client: FlaskClient, challenge: str, **overrides: str | None) -> str:
    """Sign in and return the code from the redirect."""
    response = sign_in(client, challenge, **overrides)
    assert response.status_code == 302, response.get_data(as_text=True)
    return query_of(response)["code"]


def token(client: FlaskClient, **form: str) -> TestResponse:
    """POST form-encoded ``form`` to the token endpoint."""
    return client.post("/oauth/token", data=form)


def exchange(client: FlaskClient, code: str, verifier: str, **overrides: str) -> TestResponse:
    """Exchange ``code`` at the token endpoint."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "code_verifier": verifier,
        **overrides,
    }
    return token(client, **form)


def signed_in(client: FlaskClient, **overrides: str | None) -> dict[str, Any]:
    """A whole sign-in (code + PKCE); the token answer."""
    verifier, challenge = pkce()
    response = exchange(client, get_code(client, challenge, **overrides), verifier)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def oauth_refresh(client: FlaskClient, refresh_token: str) -> TestResponse:
    """``grant_type=refresh_token`` at the token endpoint."""
    return token(
        client, grant_type="refresh_token", refresh_token=refresh_token, client_id=CLIENT_ID
    )


def verified_id_token(client: FlaskClient, id_token: str) -> dict[str, Any]:
    """The ID token's claims, its signature checked with the key from the JWKS."""
    keys = client.get("/oauth/jwks").get_json()["keys"]
    kid = jwt.get_unverified_header(id_token)["kid"]
    key = jwt.PyJWK.from_dict(next(key for key in keys if key["kid"] == kid))
    return jwt.decode(
        id_token,
        key,
        algorithms=["RS256"],
        audience=CLIENT_ID,
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )


def stats(client: FlaskClient) -> dict[str, int]:
    """The test counters."""
    return client.get("/__test__/stats").get_json()


# -- discovery and keys ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_discovery_document(client: FlaskClient, path: str) -> None:
    """Both discovery paths give the metadata of the contract, open to every origin."""
    response = client.get(path, headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    meta = response.get_json()
    assert meta["issuer"] == ISSUER
    assert {name: meta[name] for name in meta if name.endswith(("_endpoint", "_uri"))} == {
        "authorization_endpoint": f"{ISSUER}/oauth/authorize",
        "token_endpoint": f"{ISSUER}/oauth/token",
        "revocation_endpoint": f"{ISSUER}/oauth/revoke",
        "end_session_endpoint": f"{ISSUER}/oauth/end-session",
        "jwks_uri": f"{ISSUER}/oauth/jwks",
    }
    assert meta["response_types_supported"] == ["code"]
    assert meta["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint_auth_methods_supported"] == ["none"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["subject_types_supported"] == ["public"]
    assert "openid" in meta["scopes_supported"]


def test_issuer_follows_the_request_origin(client: FlaskClient) -> None:
    """The issuer is the origin the request came to (host and port)."""
    meta = client.get(
        "/.well-known/openid-configuration", base_url="http://127.0.0.1:8123"
    ).get_json()
    assert meta["issuer"] == "http://127.0.0.1:8123"
    assert meta["token_endpoint"] == "http://127.0.0.1:8123/oauth/token"


def test_jwks_key_is_kept_private_and_reused(make_app: Callable[..., Flask]) -> None:
    """The RSA key is made once beside the database (0600); a restart serves the same kid."""
    app = make_app()
    first = app.test_client().get("/oauth/jwks")
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    (key,) = first.get_json()["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["kid"]
    assert "d" not in key  # the private exponent never leaves
    path = app.config["SIGNING_KEY_FILE"]
    assert path == app.config["DATABASE"] + ".rsa-key.pem"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = make_app().test_client().get("/oauth/jwks").get_json()
    assert again["keys"][0]["kid"] == key["kid"]


def test_unsafe_key_file_stops_the_start(make_app: Callable[..., Flask]) -> None:
    """A signing key others may read is refused at start, like the secret."""
    from server import ConfigError

    app = make_app()
    app.test_client().get("/oauth/jwks")
    os.chmod(app.config["SIGNING_KEY_FILE"], 0o644)
    with pytest.raises(ConfigError, match="mode 0644"):
        make_app()


# -- sign-in ---------------------------------------------------------------------------------


def test_sign_in_page_is_a_csp_safe_form(app: Flask, client: FlaskClient) -> None:
    """GET authorize shows the form: fields, buttons, hidden request, the page CSP, no script."""
    _, challenge = pkce()
    response = client.get("/oauth/authorize", query_string=auth_params(challenge))
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == app.config["PAGE_CSP"]
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    for snippet in (
        'name="username"',
        'name="password"',
        ">Sign in<",
        'name="cancel"',
        f'name="code_challenge" value="{challenge}"',
        'name="state" value="st-123"',
    ):
        assert snippet in page
    assert "<script" not in page.lower()


def test_full_code_flow_with_pkce(app: Flask, client: FlaskClient) -> None:
    """Sign in → code, state and iss back → exchange → tokens the API accepts."""
    verifier, challenge = pkce()
    response = sign_in(client, challenge)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(REDIRECT + "?")
    back = query_of(response)
    assert back["state"] == "st-123" and back["iss"] == ISSUER
    assert len(back["code"]) >= 43  # 256 random bits
    answer = exchange(client, back["code"], verifier)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    tokens = answer.get_json()
    assert set(tokens) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "id_token",
        "scope",
    }
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 30
    assert tokens["scope"] == "openid offline_access"
    assert me(client, tokens["access_token"]).get_json()["username"] == "demo"
    counters = stats(client)
    assert (counters["login"], counters["code_exchanged"]) == (1, 1)


def test_redirect_uri_with_a_query_gets_the_answer_appended(client: FlaskClient) -> None:
    """The MicroPython demo's URI keeps its query: the answer follows with ``&``."""
    _, challenge = pkce()
    response = sign_in(client, challenge, redirect_uri=f"{ISSUER}/?interpreter=mpy")
    assert response.headers["Location"].startswith(f"{ISSUER}/?interpreter=mpy&code=")


def test_id_token_claims_verified_with_the_jwks_key(app: Flask, client: FlaskClient) -> None:
    """The ID token is RS256 under the JWKS key, with the claims OIDC Core asks for."""
    tokens = signed_in(client)
    claims = verified_id_token(client, tokens["id_token"])
    assert claims["iss"] == ISSUER and claims["sub"] == "demo"
    assert claims["aud"] == CLIENT_ID and claims["azp"] == CLIENT_ID
    assert claims["nonce"] == "n-456"
    assert claims["exp"] - claims["iat"] >= 300
    assert claims["sid"] == family_of(tokens["access_token"])
    assert abs(claims["auth_time"] - claims["iat"]) <= 1


def test_no_openid_scope_no_id_token(client: FlaskClient) -> None:
    """Without ``openid`` there is no ID token; the refresh token comes all the same."""
    tokens = signed_in(client, scope="offline_access", nonce=None)
    assert "id_token" not in tokens and tokens["refresh_token"]
    assert tokens["scope"] == "offline_access"


def test_wrong_password_shows_the_page_again(client: FlaskClient) -> None:
    """A wrong password: 401, the page with the error, no code."""
    _, challenge = pkce()
    form = {**auth_params(challenge), "username": "demo", "password": "nope"}
    response = client.post("/oauth/authorize", data=form)
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "Wrong username or password" in page and 'name="password"' in page
    assert "Location" not in response.headers
    assert stats(client)["login"] == 0


def test_cancel_sends_access_denied_back(client: FlaskClient) -> None:
    """Cancel: back to the client with ``access_denied`` and the state."""
    _, challenge = pkce()
    response = client.post("/oauth/authorize", data={**auth_params(challenge), "cancel": "1"})
    assert response.status_code == 302
    back = query_of(response)
    assert back["error"] == "access_denied" and back["state"] == "st-123"
    assert back["error_description"] and "code" not in back


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"prompt": "none"}, "login_required"),
    ],
    ids=[
        "plain",
        "no-method",
        "no-challenge",
        "bad-challenge",
        "token",
        "no-response-type",
        "fragment-mode",
        "prompt-none",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bad_authorization_requests_go_back_with_an_error(
    client: FlaskClient, overrides: dict[str, str | None], error: str, method: str
) -> None:
    """PKCE S256 is required (plain refused) etc.: the error goes back with the state."""
    _, challenge = pkce()
    params = auth_params(challenge, **overrides)
    if method == "GET":
        response = client.get("/oauth/authorize", query_string=params)
    else:
        response = client.post("/oauth/authorize", data={**params, **DEMO})
    assert response.status_code == 302
    back = query_of(response)
    assert back["error"] == error and back["state"] == "st-123" and back["iss"] == ISSUER
    assert "code" not in back


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "someone-else"},
        {"client_id": None},
        {"redirect_uri": "http://evil.example/"},
        {"redirect_uri": f"{ISSUER}/other"},
        {"redirect_uri": f"{ISSUER}"},  # no trailing slash: not the exact string
        {"redirect_uri": None},
    ],
    ids=["unknown-client", "no-client", "foreign-uri", "other-path", "no-slash", "no-uri"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bad_client_or_redirect_uri_is_an_error_page(
    client: FlaskClient, overrides: dict[str, str | None], method: str
) -> None:
    """Unknown client or unregistered redirect URI: an HTML 400, never a redirect."""
    _, challenge = pkce()
    params = auth_params(challenge, **overrides)
    if method == "GET":
        response = client.get("/oauth/authorize", query_string=params)
    else:
        response = client.post("/oauth/authorize", data={**params, **DEMO})
    assert response.status_code == 400
    assert response.mimetype == "text/html" and "Location" not in response.headers


def test_repeated_parameter_is_refused(client: FlaskClient) -> None:
    """A parameter given twice is ``invalid_request`` (RFC 6749 §3.1)."""
    _, challenge = pkce()
    query = urllib.parse.urlencode(auth_params(challenge)) + "&scope=openid"
    response = client.get("/oauth/authorize?" + query)
    assert query_of(response)["error"] == "invalid_request"


# -- code exchange ---------------------------------------------------------------------------


def test_pkce_mismatch_is_invalid_grant_and_spends_the_code(client: FlaskClient) -> None:
    """A wrong verifier is ``invalid_grant``, and the code cannot be tried again."""
    verifier, challenge = pkce()
    code = get_code(client, challenge)
    wrong, _ = pkce()
    refused = exchange(client, code, wrong)
    assert_invalid_grant(refused)
    assert "PKCE" in refused.get_json()["error_description"]
    assert_invalid_grant(exchange(client, code, verifier))


def test_redirect_uri_must_equal_the_requests(client: FlaskClient) -> None:
    """The exchange's redirect_uri must be the authorization request's."""
    verifier, challenge = pkce()
    code = get_code(client, challenge)
    other = f"{ISSUER}/?interpreter=mpy"  # registered, but not the request's
    assert_invalid_grant(exchange(client, code, verifier, redirect_uri=other))


def test_code_reuse_revokes_the_sign_in(app: Flask, client: FlaskClient) -> None:
    """A code presented twice: ``invalid_grant``, and the sign-in it gave is revoked."""
    verifier, challenge = pkce()
    code = get_code(client, challenge)
    tokens = exchange(client, code, verifier).get_json()
    assert_invalid_grant(exchange(client, code, verifier))
    assert live_tokens(app, family_of(tokens["access_token"])) == 0
    assert me(client, tokens["access_token"]).status_code == 401
    assert_invalid_grant(oauth_refresh(client, tokens["refresh_token"]))


def test_code_lives_sixty_seconds_of_server_time(app: Flask, client: FlaskClient) -> None:
    """A code is refused once the (test-moved) server clock passes its 60 s."""
    verifier, challenge = pkce()
    code = get_code(client, challenge)
    advance(app, 60)
    assert "expired" in exchange(client, code, verifier).get_json()["error_description"]


def test_codes_are_stored_only_as_hashes(app: Flask, client: FlaskClient) -> None:
    """The database holds the code's SHA-256, never the code."""
    _, challenge = pkce()
    code = get_code(client, challenge)
    from serverkit import db

    conn = db(app)
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert code not in dump and hashlib.sha256(code.encode()).hexdigest() in dump


# -- refresh ---------------------------------------------------------------------------------


def test_refresh_rotation_and_reuse_after_grace(app: Flask, client: FlaskClient) -> None:
    """Refresh at the token endpoint rotates; the old token after the grace revokes all."""
    first = signed_in(client)
    response = oauth_refresh(client, first["refresh_token"])
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    second = response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == "openid offline_access"
    claims = verified_id_token(client, second["id_token"])
    assert "nonce" not in claims and claims["sid"] == family_of(first["access_token"])
    assert me(client, second["access_token"]).status_code == 200
    advance(app, 10)  # REUSE_GRACE = 10 s
    reused = oauth_refresh(client, first["refresh_token"])
    assert_invalid_grant(reused)
    assert "reuse" in reused.get_json()["error_description"]
    assert_invalid_grant(oauth_refresh(client, second["refresh_token"]))
    assert me(client, second["access_token"]).status_code == 401
    counters = stats(client)
    assert (counters["refresh_ok"], counters["refresh_failed"], counters["reuse_detected"]) == (
        1,
        2,
        1,
    )


def test_refresh_inside_grace_is_reissued(client: FlaskClient) -> None:
    """Inside the grace window the previous token is honoured again (a lost answer)."""
    first = signed_in(client)
    assert oauth_refresh(client, first["refresh_token"]).status_code == 200
    assert oauth_refresh(client, first["refresh_token"]).status_code == 200
    assert stats(client)["reuse_detected"] == 0


def test_json_dialect_tokens_refresh_here_too(client: FlaskClient) -> None:
    """A /auth/login refresh token refreshes at /oauth/token (no scope, no ID token)."""
    login = client.post("/auth/login", json=DEMO).get_json()
    answer = oauth_refresh(client, login["refresh_token"]).get_json()
    assert set(answer) == {"access_token", "token_type", "expires_in", "refresh_token"}


def test_faults_apply_to_refresh_grants(client: FlaskClient) -> None:
    """An armed refresh fault hits the refresh_token grant, not the code exchange."""
    client.post("/__test__/faults", json={"count": 1, "status": 503})
    tokens = signed_in(client)
    assert client.get("/__test__/faults").get_json()["count"] == 1
    assert oauth_refresh(client, tokens["refresh_token"]).status_code == 503
    assert oauth_refresh(client, tokens["refresh_token"]).status_code == 200


def test_armed_nonce_replaces_the_id_tokens(client: FlaskClient) -> None:
    """``{"id_token_nonce", "count"}`` gives the next code exchange's ID token that nonce."""
    armed = client.post("/__test__/faults", json={"id_token_nonce": "forged", "count": 1})
    assert armed.get_json() == {"id_token_nonce": "forged", "count": 1}
    forged = verified_id_token(client, signed_in(client)["id_token"])
    assert forged["nonce"] == "forged"  # still signed with the provider's key
    assert verified_id_token(client, signed_in(client)["id_token"])["nonce"] == "n-456"


# -- bad input at the token endpoint ---------------------------------------------------------

GOOD = {"grant_type": "refresh_token", "refresh_token": "x" * 43, "client_id": CLIENT_ID}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (json.dumps(GOOD), "application/json", 400, "invalid_request"),
        ("", None, 400, "invalid_request"),
        ("grant_type=refresh_token", "text/plain", 400, "invalid_request"),
        ("", FORM, 400, "invalid_request"),
        (
            "grant_type=password&username=demo&password=demo-pass&client_id=authfetch-demo",
            FORM,
            400,
            "unsupported_grant_type",
        ),
        (
            "grant_type=client_credentials&client_id=authfetch-demo",
            FORM,
            400,
            "unsupported_grant_type",
        ),
        ("grant_type=refresh_token&client_id=authfetch-demo", FORM, 400, "invalid_request"),
        ("grant_type=refresh_token&refresh_token=abc", FORM, 400, "invalid_request"),
        ("grant_type=refresh_token&refresh_token=abc&client_id=x", FORM, 401, "invalid_client"),
        (
            "grant_type=refresh_token&refresh_token=abc&client_id=authfetch-demo",
            FORM,
            400,
            "invalid_grant",
        ),
        ("grant_type=authorization_code&client_id=authfetch-demo", FORM, 400, "invalid_request"),
        (
            "grant_type=authorization_code&code=c&redirect_uri=r&client_id=authfetch-demo"
            "&code_verifier=short",
            FORM,
            400,
            "invalid_request",
        ),
        (
            "grant_type=authorization_code&code=c&redirect_uri=r&client_id=authfetch-demo"
            "&code_verifier=" + "a" * 43,
            FORM,
            400,
            "invalid_grant",
        ),
        ("grant_type=refresh_token&grant_type=authorization_code", FORM, 400, "invalid_request"),
        (
            "grant_type=refresh_token&refresh_token=" + "x" * 3000 + "&client_id=authfetch-demo",
            FORM,
            400,
            "invalid_request",
        ),
        ("grant_type=refresh_token&refresh_token=" + "x" * 20000, FORM, 413, "request_too_large"),
        ("grant_type=%ff%fe&client_id=%00", FORM, 400, "unsupported_grant_type"),
        ("&&==&%&grant_type", FORM, 400, "invalid_request"),
    ],
    ids=[
        "json",
        "empty",
        "text-plain",
        "empty-form",
        "password-grant",
        "client-credentials",
        "no-refresh-token",
        "no-client",
        "unknown-client",
        "dead-refresh-token",
        "no-code",
        "short-verifier",
        "unknown-code",
        "repeated-grant-type",
        "oversized-field",
        "oversized-body",
        "bad-bytes",
        "garbled-form",
    ],
)
def test_token_endpoint_refuses_bad_input(
    client: FlaskClient, body: str, content_type: str | None, status: int, error: str
) -> None:
    """Every bad request is an RFC 6749 §5.2 JSON error, never a 500."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/oauth/token", data=body, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"] == error
    assert set(response.get_json()) == {"error", "error_description"}


# -- revocation and logout -------------------------------------------------------------------


def test_revocation_ends_the_sign_in(client: FlaskClient) -> None:
    """RFC 7009: 200 with no body; the refresh token and its access tokens are dead."""
    tokens = signed_in(client)
    form = {
        "token": tokens["refresh_token"],
        "token_type_hint": "refresh_token",
        "client_id": CLIENT_ID,
    }
    response = client.post("/oauth/revoke", data=form)
    assert response.status_code == 200 and response.get_data() == b""
    assert_invalid_grant(oauth_refresh(client, tokens["refresh_token"]))
    assert me(client, tokens["access_token"]).status_code == 401
    assert stats(client)["revoked"] == 1


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"token": "unknown", "client_id": CLIENT_ID}, 200, None),
        (
            {"token": "unknown", "token_type_hint": "access_token", "client_id": CLIENT_ID},
            200,
            None,
        ),
        ({"client_id": CLIENT_ID}, 400, "invalid_request"),
        ({"token": "unknown"}, 400, "invalid_request"),
        ({"token": "unknown", "client_id": "other"}, 401, "invalid_client"),
    ],
    ids=["unknown-token", "access-hint", "no-token", "no-client", "unknown-client"],
)
def test_revocation_input(
    client: FlaskClient, form: dict[str, str], status: int, error: str | None
) -> None:
    """Unknown tokens are fine (200); missing fields and unknown clients are errors."""
    response = client.post("/oauth/revoke", data=form)
    assert response.status_code == status
    if error:
        assert response.get_json()["error"] == error


def test_revocation_needs_a_form(client: FlaskClient) -> None:
    """A JSON body is ``invalid_request``."""
    response = client.post("/oauth/revoke", json={"token": "x", "client_id": CLIENT_ID})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_end_session_redirects_to_a_registered_uri(app: Flask, client: FlaskClient) -> None:
    """With a hint (even an expired one) and a registered URI: 302 there, state passed back."""
    id_token = signed_in(client)["id_token"]
    advance(app, 3600)  # the hint has expired: still fine
    params = {
        "id_token_hint": id_token,
        "client_id": CLIENT_ID,
        "state": "bye",
        "post_logout_redirect_uri": f"{ISSUER}/?interpreter=mpy",
    }
    response = client.get("/oauth/end-session", query_string=params)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{ISSUER}/?interpreter=mpy&state=bye"


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": CLIENT_ID, "post_logout_redirect_uri": "http://evil.example/"},
        {"post_logout_redirect_uri": REDIRECT},
        {"client_id": "other", "post_logout_redirect_uri": REDIRECT},
        {"id_token_hint": "not.a.jwt", "post_logout_redirect_uri": REDIRECT},
    ],
    ids=["unregistered", "no-client", "unknown-client", "bad-hint"],
)
def test_end_session_refuses_with_a_page(client: FlaskClient, params: dict[str, str]) -> None:
    """Unregistered URI, no client, unknown client, forged hint: an HTML 400, no redirect."""
    response = client.get("/oauth/end-session", query_string=params)
    assert response.status_code == 400 and "Location" not in response.headers
    assert response.mimetype == "text/html"


def test_end_session_without_a_uri_says_signed_out(client: FlaskClient) -> None:
    """No post_logout_redirect_uri: a small "You are signed out" page."""
    response = client.get("/oauth/end-session")
    assert response.status_code == 200
    assert "You are signed out" in response.get_data(as_text=True)


def test_end_session_refuses_a_hint_signed_by_another_key(client: FlaskClient) -> None:
    """An ID token signed with any other key is not a hint of ours."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "demo"}
    forged = jwt.encode(claims, other, algorithm="RS256")
    params = {"id_token_hint": forged, "post_logout_redirect_uri": REDIRECT}
    assert client.get("/oauth/end-session", query_string=params).status_code == 400


# -- configuration, CORS ---------------------------------------------------------------------


def test_registered_uris_from_the_command_line(make_app: Callable[..., Flask]) -> None:
    """``--redirect-uri`` / ``--post-logout-redirect-uri`` add to the defaults; /path is ours."""
    args = parse_args(
        [
            "--redirect-uri",
            "/callback",
            "--redirect-uri",
            "https://app.example/cb",
            "--post-logout-redirect-uri",
            "/bye",
        ]
    )
    config = config_from_args(args)
    assert config["REDIRECT_URIS"] == [
        "/",
        "/?interpreter=mpy",
        "/callback",
        "https://app.example/cb",
    ]
    assert config["POST_LOGOUT_REDIRECT_URIS"] == ["/", "/?interpreter=mpy", "/bye"]
    client = make_app(**config).test_client()
    for uri in (f"{ISSUER}/callback", "https://app.example/cb"):
        _, challenge = pkce()
        assert sign_in(client, challenge, redirect_uri=uri).headers["Location"].startswith(uri)
    params = {"client_id": CLIENT_ID, "post_logout_redirect_uri": f"{ISSUER}/bye"}
    assert client.get("/oauth/end-session", query_string=params).status_code == 302


@pytest.mark.parametrize("uri", ["//evil.example/", "ftp://x/", "http://x/#frag", "relative"])
def test_bad_redirect_uri_flags_are_refused(uri: str) -> None:
    """A redirect URI that is neither /path nor absolute http(s), or has a fragment: refused."""
    with pytest.raises(SystemExit):
        parse_args(["--redirect-uri", uri])


def test_token_endpoint_cors_follows_allow_origin(make_app: Callable[..., Flask]) -> None:
    """The token and revocation endpoints answer CORS for ALLOW_ORIGINS, like /auth/*."""
    client = make_app(ALLOW_ORIGINS=["http://app.example"]).test_client()
    for path in ("/oauth/token", "/oauth/revoke"):
        allowed = client.options(
            path, headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
        )
        assert allowed.headers["Access-Control-Allow-Origin"] == "http://app.example"
        other = client.options(
            path, headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "Access-Control-Allow-Origin" not in other.headers


# -- a real server process -------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand redirects back instead of following them."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """Do not follow."""
        return None


def test_whole_flow_through_a_real_server(real_server: Server) -> None:
    """``python -m server``: discovery, sign-in, exchange, API, refresh, revoke over HTTP."""
    opener = urllib.request.build_opener(_NoRedirect)

    def send(path: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        data = None if form is None else urllib.parse.urlencode(form).encode()
        try:
            with opener.open(real_server.url + path, data=data, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as answer:
            with answer:
                return answer.code, dict(answer.headers), answer.read()

    _, _, body = send("/.well-known/openid-configuration")
    meta = json.loads(body)
    assert meta["issuer"] == real_server.url
    verifier, challenge = pkce()
    params = {**auth_params(challenge), "redirect_uri": real_server.url + "/"}
    status, _, page = send("/oauth/authorize?" + urllib.parse.urlencode(params))
    assert status == 200 and b'name="username"' in page
    status, headers, _ = send("/oauth/authorize", {**params, **DEMO})
    assert status == 302
    back = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(headers["Location"]).query))
    assert back["iss"] == real_server.url
    exchange_form = {
        "grant_type": "authorization_code",
        "code": back["code"],
        "redirect_uri": real_server.url + "/",
        "client_id": CLIENT_ID,
        "code_verifier": verifier,
    }
    status, _, body = send("/oauth/token", exchange_form)
    assert status == 200
    tokens = json.loads(body)
    assert real_server.call("GET", "/api/me", token=tokens["access_token"])[0] == 200
    refreshed = send(
        "/oauth/token",
        {
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert refreshed[0] == 200
    assert (
        send(
            "/oauth/revoke",
            {"token": json.loads(refreshed[2])["refresh_token"], "client_id": CLIENT_ID},
        )[0]
        == 200
    )
    assert real_server.call("GET", "/api/me", token=tokens["access_token"])[0] == 401
    stats_now = real_server.call("GET", "/__test__/stats")[1]
    assert stats_now["code_exchanged"] == 1 and stats_now["refresh_ok"] == 1
    assert stats_now["revoked"] == 1
    assert bearer("x")  # the helper module stays importable for the other tests
