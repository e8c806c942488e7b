"""Access-token validation: every bad bearer gets a JSON 401 with the right challenge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from serverkit import advance, claims_of, flip_byte, forge, login, me, now

from server.state import get_state

INVALID_TOKEN = 'Bearer realm="authfetch", error="invalid_token"'

# (id, how to build the bad token from the app and a real token response)
Forger = Callable[[Flask, dict[str, Any]], str]


def _claims(tokens: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The real access token's claims with ``changes`` (None removes a claim)."""
    claims = claims_of(tokens["access_token"])
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def _alg_none(app: Flask, tokens: dict[str, Any]) -> str:
    """An unsigned token (``alg: none``)."""
    return forge(app, _claims(tokens), algorithm="none")


def _hs512(app: Flask, tokens: dict[str, Any]) -> str:
    """Right secret, but HS512 while HS256 is pinned."""
    return forge(app, _claims(tokens), algorithm="HS512")


def _relative(claim: str, offset: float) -> Forger:
    """A correctly signed token whose ``claim`` is server-now + ``offset``."""
    return lambda app, tokens: forge(app, _claims(tokens, **{claim: int(now(app) + offset)}))


def _with(**changes: Any) -> Forger:
    """A correctly signed token with claims changed (None removes one)."""
    return lambda app, tokens: forge(app, _claims(tokens, **changes))


BAD_TOKENS: list[tuple[str, Forger, str]] = [
    ("alg-none", _alg_none, "alg value is not allowed"),
    ("hs512-when-hs256-pinned", _hs512, "alg value is not allowed"),
    ("flipped-byte-in-payload", lambda app, t: flip_byte(t["access_token"], 1), "Signature"),
    ("flipped-byte-in-signature", lambda app, t: flip_byte(t["access_token"], 2), "Signature"),
    ("flipped-byte-in-header", lambda app, t: flip_byte(t["access_token"], 0), "header"),
    ("other-secret", lambda app, t: forge(app, _claims(t), key=b"x" * 32), "Signature"),
    ("expired-beyond-leeway", _relative("exp", -6), "expired"),
    ("future-nbf", _relative("nbf", 60), "nbf"),
    ("future-iat", _relative("iat", 60), "iat"),
    *[
        (f"missing-{c}", _with(**{c: None}), f'missing the "{c}" claim')
        for c in ("iss", "aud", "sub", "iat", "exp", "jti", "fam")
    ],
    ("wrong-iss", _with(iss="someone-else"), "issuer"),
    ("prefix-iss", _with(iss="authfetc"), "issuer"),
    ("iss-with-suffix", _with(iss="authfetch-evil"), "issuer"),
    ("wrong-aud", _with(aud="other-api"), "Audience"),
    ("aud-list", _with(aud=["authfetch-api", "other-api"]), "claim format"),
    ("exp-as-string", _with(exp="9999999999"), "exp must be a number"),
    ("iat-as-bool", _with(iat=True), "iat must be a number"),
    ("sub-as-int", _with(sub=1), "Subject"),
    ("jti-as-int", _with(jti=7), "JWT ID"),
    ("fam-as-list", _with(fam=["x"]), "fam must be a string"),
    ("unknown-family", _with(fam="no-such-family"), "unknown session"),
    ("sub-of-other-user", _with(sub="999"), "unknown session"),
    ("typ-missing", lambda app, t: forge(app, _claims(t), headers={"typ": None}), "typ"),
    ("typ-jwt", lambda app, t: forge(app, _claims(t), headers={"typ": "JWT"}), "typ"),
    ("typ-refresh", lambda app, t: forge(app, _claims(t), headers={"typ": "rt+jwt"}), "typ"),
    ("refresh-token-as-bearer", lambda app, t: t["refresh_token"], "segments"),
    ("two-segments", lambda app, t: ".".join(t["access_token"].split(".")[:2]), "segments"),
    ("four-segments", lambda app, t: t["access_token"] + ".AAAA", "rejected"),
    ("non-base64", lambda app, t: "!!!.@@@.###", "header"),
    ("empty-segments", lambda app, t: "..", "header"),
    (
        "header-not-json",
        lambda app, t: "bm90IGpzb24." + t["access_token"].split(".", 1)[1],
        "header",
    ),
]


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the HS512 row
@pytest.mark.parametrize(
    ("build", "reason"), [row[1:] for row in BAD_TOKENS], ids=[row[0] for row in BAD_TOKENS]
)
def test_bad_access_token_is_401_invalid_token(
    app: Flask, client: FlaskClient, build: Forger, reason: str
) -> None:
    """A forged, tampered, mistyped or expired access token gets 401 invalid_token as JSON."""
    tokens = login(client)
    response = me(client, build(app, tokens))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith(INVALID_TOKEN)
    body = response.get_json()
    assert body["error"] == "invalid_token"
    assert reason in body["error_description"]


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (None, "unauthorized"),
        ("Basic ZGVtbzpkZW1vLXBhc3M=", "unauthorized"),
        ("Digest username=demo", "unauthorized"),
        ("", "unauthorized"),
        ("Bearer", "invalid_token"),
        ("Bearer ", "invalid_token"),
        ("Bearer {token} {token}", "invalid_token"),
        ("Bearer {token}, Bearer {token}", "invalid_token"),  # two headers, as a server joins them
        ("Bearer {token},{token}", "invalid_token"),
    ],
    ids=[
        "missing",
        "basic",
        "digest",
        "empty",
        "bearer-nothing",
        "bearer-space",
        "two-tokens",
        "two-headers-joined",
        "two-tokens-comma",
    ],
)
def test_malformed_authorization_header(
    client: FlaskClient, header: str | None, error: str
) -> None:
    """No Bearer credentials → plain Bearer challenge; a malformed Bearer → invalid_token."""
    token = login(client)["access_token"]
    headers = {} if header is None else {"Authorization": header.format(token=token)}
    response = client.get("/api/me", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == error
    challenge = response.headers["WWW-Authenticate"]
    if error == "unauthorized":
        assert challenge == 'Bearer realm="authfetch"'
    else:
        assert challenge.startswith(INVALID_TOKEN)


def test_valid_token_reaches_the_api(client: FlaskClient) -> None:
    """A fresh access token is accepted and names its user and family."""
    tokens = login(client)
    response = me(client, tokens["access_token"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["username"] == "demo"
    assert body["family"] == claims_of(tokens["access_token"])["fam"]


def test_access_token_shape(app: Flask, client: FlaskClient) -> None:
    """Access tokens are HS256, typ at+jwt, with iss aud sub iat exp jti fam and the TTL."""
    token = login(client)["access_token"]
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "typ": "at+jwt"}
    claims = claims_of(token)
    assert set(claims) == {"iss", "aud", "sub", "iat", "exp", "jti", "fam"}
    assert (claims["iss"], claims["aud"]) == ("authfetch", "authfetch-api")
    assert claims["exp"] - claims["iat"] == app.config["ACCESS_TTL"] == 30


def test_lowercase_scheme_is_accepted(client: FlaskClient) -> None:
    """The auth scheme is case-insensitive (RFC 9110)."""
    token = login(client)["access_token"]
    assert client.get("/api/me", headers={"Authorization": f"bearer {token}"}).status_code == 200


@pytest.mark.parametrize(
    ("seconds", "status"),
    [(29, 200), (30 + 4, 200), (30 + 5, 401), (30 + 60, 401)],
    ids=["before-exp", "inside-leeway", "leeway-spent", "long-expired"],
)
def test_expiry_follows_the_server_clock_with_leeway(
    app: Flask, client: FlaskClient, seconds: int, status: int
) -> None:
    """exp is checked against the server clock (which tests move), with a 5 s leeway."""
    token = login(client)["access_token"]
    advance(app, seconds)
    assert me(client, token).status_code == status


def test_small_future_iat_is_tolerated(app: Flask, client: FlaskClient) -> None:
    """An iat a little ahead (clock skew within the leeway) is accepted."""
    tokens = login(client)
    token = forge(app, _claims(tokens, iat=int(now(app)) + 3))
    assert me(client, token).status_code == 200


def test_leeway_is_configurable(make_app: Callable[..., Flask]) -> None:
    """JWT_LEEWAY = 0 rejects a token the moment it expires."""
    app = make_app(JWT_LEEWAY=0)
    client = app.test_client()
    token = login(client)["access_token"]
    advance(app, 30)
    assert me(client, token).status_code == 401
    assert get_state(app).access.leeway == 0


def test_401s_are_counted(client: FlaskClient) -> None:
    """Each API 401 and each API success shows in the test stats."""
    token = login(client)["access_token"]
    me(client, token)
    client.get("/api/me")
    me(client, "garbage")
    stats = client.get("/__test__/stats").get_json()
    assert (stats["api_ok"], stats["api_401"]) == (1, 2)
