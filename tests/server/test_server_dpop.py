"""DPoP (RFC 9449) at the token endpoints and the API: binding, every refusal, nonces, controls."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from flask import Flask
from flask.testing import FlaskClient
from liveserver import Server
from serverkit import (
    DEMO,
    advance,
    bearer,
    claims_of,
    family_of,
    flip_byte,
    forge,
    live_tokens,
    now,
)
from test_server_oidc import CLIENT_ID, REDIRECT, get_code, pkce
from werkzeug.test import TestResponse

from e2e_tests.dpop_client import DPoPKey, access_token_hash, jwk_thumbprint
from server.__main__ import config_from_args, parse_args

BASE = "http://localhost"  # the Flask test client's origin
LOGIN, REFRESH, TOKEN = f"{BASE}/auth/login", f"{BASE}/auth/refresh", f"{BASE}/oauth/token"
ME = f"{BASE}/api/me"
ITEMS = f"{BASE}/api/items"


# -- helpers ---------------------------------------------------------------------------------


def proof_for(app: Flask, key: DPoPKey, method: str, url: str, **claims: Any) -> str:
    """``key``'s proof for ``method url``, issued at the app's server time unless given."""
    claims.setdefault("iat", now(app))
    return key.proof(method, url, **claims)


def dpop_login(client: FlaskClient, proof: str | None) -> TestResponse:
    """POST /auth/login as the demo user, with ``proof`` in the DPoP header if given."""
    headers = {} if proof is None else {"DPoP": proof}
    return client.post("/auth/login", json=DEMO, headers=headers)


def bound_login(app: Flask, client: FlaskClient, key: DPoPKey) -> dict[str, Any]:
    """A login with ``key``'s proof; the (DPoP) token answer."""
    response = dpop_login(client, proof_for(app, key, "POST", LOGIN))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def json_refresh(client: FlaskClient, refresh_token: str, proof: str | None) -> TestResponse:
    """POST /auth/refresh with ``proof`` (if any)."""
    headers = {} if proof is None else {"DPoP": proof}
    return client.post("/auth/refresh", json={"refresh_token": refresh_token}, headers=headers)


def oauth_refresh(client: FlaskClient, refresh_token: str, proof: str | None) -> TestResponse:
    """``grant_type=refresh_token`` at /oauth/token with ``proof`` (if any)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT_ID}
    headers = {} if proof is None else {"DPoP": proof}
    return client.post("/oauth/token", data=form, headers=headers)


REFRESHES: dict[str, tuple[Callable[[FlaskClient, str, str | None], TestResponse], str]] = {
    "json": (json_refresh, REFRESH),
    "oauth": (oauth_refresh, TOKEN),
}


def exchange(client: FlaskClient, code: str, verifier: str, proof: str | None) -> TestResponse:
    """Exchange ``code`` at /oauth/token with ``proof`` (if any)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "code_verifier": verifier,
    }
    headers = {} if proof is None else {"DPoP": proof}
    return client.post("/oauth/token", data=form, headers=headers)


def dpop_get(client: FlaskClient, url: str, token: str, proof: str | None) -> TestResponse:
    """GET ``url`` with ``Authorization: DPoP token`` and ``proof`` (if any)."""
    headers = {"Authorization": f"DPoP {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return client.get(url, headers=headers)


def me_with(
    app: Flask, client: FlaskClient, key: DPoPKey, token: str, **claims: Any
) -> TestResponse:
    """GET /api/me with ``token`` as DPoP and ``key``'s proof (``ath`` of ``token``)."""
    claims.setdefault("access_token", token)
    return dpop_get(client, ME, token, proof_for(app, key, "GET", ME, **claims))


def stats(client: FlaskClient) -> dict[str, int]:
    """The test counters."""
    return client.get("/__test__/stats").get_json()


def switch(client: FlaskClient, **settings: bool) -> dict[str, bool]:
    """POST /__test__/dpop."""
    response = client.post("/__test__/dpop", json=settings)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def assert_token_refusal(response: TestResponse, error: str = "invalid_dpop_proof") -> str:
    """A token endpoint's DPoP refusal: 400 JSON ``error``; returns the description."""
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error, body
    return str(body["error_description"])


def assert_api_refusal(response: TestResponse, error: str) -> str:
    """The API's DPoP refusal: 401, a ``DPoP`` challenge naming ``error``, JSON body."""
    assert response.status_code == 401, response.get_data(as_text=True)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(f'DPoP error="{error}"'), challenge
    assert 'algs="' in challenge
    body = response.get_json()
    assert body["error"] == error, body
    return str(body["error_description"])


def signed(private_key: Any, alg: str, jwk: dict[str, Any], claims: dict[str, Any]) -> str:
    """A proof signed by ``private_key`` with ``alg``, carrying ``jwk``."""
    return jwt.encode(claims, private_key, algorithm=alg, headers={"typ": "dpop+jwt", "jwk": jwk})


def base_claims(app: Flask, method: str = "POST", url: str = LOGIN) -> dict[str, Any]:
    """Valid proof claims for ``method url`` at the server's time."""
    return {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": int(now(app))}


def b64url(data: bytes) -> str:
    """Base64url, no padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- the token endpoints: happy paths ------------------------------------------------------


def test_login_with_a_proof_binds_the_tokens(app: Flask, client: FlaskClient) -> None:
    """/auth/login with a valid proof: token_type DPoP, cnf.jkt = the key's thumbprint."""
    key = DPoPKey()
    tokens = bound_login(app, client, key)
    assert tokens["token_type"] == "DPoP"
    assert claims_of(tokens["access_token"])["cnf"] == {"jkt": key.jkt}
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert me_with(app, client, key, tokens["access_token"]).status_code == 200
    assert stats(client)["dpop_accepted"] == 2


def test_login_without_a_proof_is_bearer_as_before(app: Flask, client: FlaskClient) -> None:
    """No DPoP header: Bearer tokens without cnf, the API takes them as Bearer."""
    response = dpop_login(client, None)
    tokens = response.get_json()
    assert tokens["token_type"] == "Bearer"
    assert "cnf" not in claims_of(tokens["access_token"])
    assert "DPoP-Nonce" not in response.headers
    assert client.get("/api/me", headers=bearer(tokens["access_token"])).status_code == 200
    refreshed = json_refresh(client, tokens["refresh_token"], None)
    assert refreshed.status_code == 200 and refreshed.get_json()["token_type"] == "Bearer"


@pytest.mark.parametrize("dialect", sorted(REFRESHES))
def test_bound_refresh_with_its_key(app: Flask, client: FlaskClient, dialect: str) -> None:
    """A bound refresh token refreshes with its key's proof: DPoP tokens, same binding."""
    send, url = REFRESHES[dialect]
    key = DPoPKey()
    tokens = bound_login(app, client, key)
    response = send(client, tokens["refresh_token"], proof_for(app, key, "POST", url))
    assert response.status_code == 200, response.get_json()
    fresh = response.get_json()
    assert fresh["token_type"] == "DPoP"
    assert claims_of(fresh["access_token"])["cnf"] == {"jkt": key.jkt}
    again = send(client, fresh["refresh_token"], proof_for(app, key, "POST", url))
    assert again.status_code == 200


def test_code_grant_with_a_proof(app: Flask, client: FlaskClient) -> None:
    """/oauth/token (authorization_code) with a proof: DPoP tokens, the sign-in bound."""
    key = DPoPKey()
    verifier, challenge = pkce()
    code = get_code(client, challenge)
    response = exchange(client, code, verifier, proof_for(app, key, "POST", TOKEN))
    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    assert tokens["token_type"] == "DPoP" and "id_token" in tokens
    assert claims_of(tokens["access_token"])["cnf"] == {"jkt": key.jkt}
    assert me_with(app, client, key, tokens["access_token"]).status_code == 200
    assert_token_refusal(oauth_refresh(client, tokens["refresh_token"], None))
    refreshed = oauth_refresh(client, tokens["refresh_token"], proof_for(app, key, "POST", TOKEN))
    assert refreshed.status_code == 200 and refreshed.get_json()["token_type"] == "DPoP"


def test_bad_proof_at_code_exchange_leaves_the_code(app: Flask, client: FlaskClient) -> None:
    """A refused proof at the code exchange does not spend the code: it still works after."""
    key = DPoPKey()
    verifier, challenge = pkce()
    code = get_code(client, challenge)
    assert_token_refusal(exchange(client, code, verifier, proof_for(app, key, "GET", TOKEN)))
    response = exchange(client, code, verifier, proof_for(app, key, "POST", TOKEN))
    assert response.status_code == 200, response.get_json()


def test_unbound_refresh_with_a_proof_binds_the_access_token_only(
    app: Flask, client: FlaskClient
) -> None:
    """A Bearer login refreshed with a proof: a DPoP access token, the family stays unbound."""
    key = DPoPKey()
    tokens = dpop_login(client, None).get_json()
    response = json_refresh(client, tokens["refresh_token"], proof_for(app, key, "POST", REFRESH))
    assert response.status_code == 200
    fresh = response.get_json()
    assert fresh["token_type"] == "DPoP"
    assert claims_of(fresh["access_token"])["cnf"] == {"jkt": key.jkt}
    later = json_refresh(client, fresh["refresh_token"], None)  # no proof: still unbound
    assert later.status_code == 200 and later.get_json()["token_type"] == "Bearer"


KEY_MAKERS: dict[str, Callable[[], Any]] = {
    "ES384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "ES512": lambda: ec.generate_private_key(ec.SECP521R1()),
    "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "PS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
}


def public_jwk(alg: str, private_key: Any) -> dict[str, Any]:
    """The public JWK of ``private_key`` as PyJWT writes it for ``alg``."""
    jwk: dict[str, Any] = json.loads(
        jwt.get_algorithm_by_name(alg).to_jwk(private_key.public_key())
    )
    return jwk


@pytest.mark.parametrize("alg", sorted(KEY_MAKERS))
def test_other_asymmetric_algorithms(app: Flask, client: FlaskClient, alg: str) -> None:
    """Proofs by EC P-384/P-521, RSA (PKCS#1 v1.5 and PSS) and Ed25519 keys are accepted."""
    from server.dpop import thumbprint

    private_key = KEY_MAKERS[alg]()
    jwk = public_jwk(alg, private_key)
    response = dpop_login(client, signed(private_key, alg, jwk, base_claims(app)))
    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    assert tokens["token_type"] == "DPoP"
    assert claims_of(tokens["access_token"])["cnf"] == {"jkt": thumbprint(jwk)}


# -- refresh: the binding is checked before rotation ----------------------------------------


@pytest.mark.parametrize("dialect", sorted(REFRESHES))
def test_stolen_bound_refresh_without_proof_changes_nothing(
    app: Flask, client: FlaskClient, dialect: str
) -> None:
    """A bound refresh token without a proof: 400 invalid_dpop_proof, family not consumed."""
    send, url = REFRESHES[dialect]
    key = DPoPKey()
    tokens = bound_login(app, client, key)
    description = assert_token_refusal(send(client, tokens["refresh_token"], None))
    assert "bound to a DPoP key" in description
    family = family_of(tokens["access_token"])
    assert live_tokens(app, family) == 1
    assert stats(client)["reuse_detected"] == 0
    response = send(client, tokens["refresh_token"], proof_for(app, key, "POST", url))
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("dialect", sorted(REFRESHES))
def test_stolen_bound_refresh_with_another_key_changes_nothing(
    app: Flask, client: FlaskClient, dialect: str
) -> None:
    """A bound refresh token with a thief's proof: 400 (jkt mismatch), the owner refreshes on."""
    send, url = REFRESHES[dialect]
    owner, thief = DPoPKey(), DPoPKey()
    tokens = bound_login(app, client, owner)
    for _ in range(3):  # even again and again, and after the reuse grace
        description = assert_token_refusal(
            send(client, tokens["refresh_token"], proof_for(app, thief, "POST", url))
        )
        assert "jkt mismatch" in description
        advance(app, 11)
    family = family_of(tokens["access_token"])
    assert live_tokens(app, family) == 1
    counters = stats(client)
    assert counters["reuse_detected"] == 0 and counters["refresh_ok"] == 0
    assert counters["dpop_refused"] == 3 and counters["refresh_failed"] == 3
    response = send(client, tokens["refresh_token"], proof_for(app, owner, "POST", url))
    assert response.status_code == 200, response.get_json()
    fresh = response.get_json()
    assert me_with(app, client, owner, fresh["access_token"]).status_code == 200


# -- every refusal of a proof --------------------------------------------------------------


def _wrong_typ(app: Flask, key: DPoPKey) -> str:
    return jwt.encode(base_claims(app), key.private_key, "ES256", {"typ": "JWT", "jwk": key.jwk})


def _no_typ(app: Flask, key: DPoPKey) -> str:
    return jwt.encode(base_claims(app), key.private_key, "ES256", {"jwk": key.jwk})


def _alg_none(app: Flask, key: DPoPKey) -> str:
    headers = {"typ": "dpop+jwt", "jwk": key.jwk}
    return jwt.encode(base_claims(app), None, algorithm="none", headers=headers)


def _hs256(app: Flask, key: DPoPKey) -> str:
    secret = secrets.token_bytes(32)
    jwk = {"kty": "oct", "k": b64url(secret)}
    return jwt.encode(base_claims(app), secret, "HS256", {"typ": "dpop+jwt", "jwk": jwk})


def _hs256_with_ec_jwk(app: Flask, key: DPoPKey) -> str:
    secret = secrets.token_bytes(32)
    return jwt.encode(base_claims(app), secret, "HS256", {"typ": "dpop+jwt", "jwk": key.jwk})


def _private_jwk(app: Flask, key: DPoPKey) -> str:
    private = json.loads(jwt.get_algorithm_by_name("ES256").to_jwk(key.private_key))
    return signed(key.private_key, "ES256", private, base_claims(app))


def _no_jwk(app: Flask, key: DPoPKey) -> str:
    return jwt.encode(base_claims(app), key.private_key, "ES256", {"typ": "dpop+jwt"})


def _other_jwk(app: Flask, key: DPoPKey) -> str:
    return signed(key.private_key, "ES256", DPoPKey().jwk, base_claims(app))


def _bad_signature(app: Flask, key: DPoPKey) -> str:
    return flip_byte(proof_for(app, key, "POST", LOGIN), 2)


def _curve_mismatch(app: Flask, key: DPoPKey) -> str:
    """Header alg ES256 over a P-384 key (signature bytes from a real ES384 proof)."""
    private = ec.generate_private_key(ec.SECP384R1())
    jwk = public_jwk("ES384", private)
    claims = base_claims(app)
    header = {"alg": "ES256", "typ": "dpop+jwt", "jwk": jwk}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    real = jwt.encode(claims, private, "ES384", {"typ": "dpop+jwt", "jwk": jwk})
    return signing_input + "." + real.rsplit(".", 1)[1]


def _small_rsa(app: Flask, key: DPoPKey) -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwk = public_jwk("RS256", private)
    with warnings.catch_warnings():  # PyJWT warns about signing with 1024 bits: that is the point
        warnings.simplefilter("ignore")
        return signed(private, "RS256", jwk, base_claims(app))


def _wrong_htm(app: Flask, key: DPoPKey) -> str:
    return proof_for(app, key, "GET", LOGIN)


def _wrong_htu_path(app: Flask, key: DPoPKey) -> str:
    return proof_for(app, key, "POST", f"{BASE}/auth/refresh")


def _wrong_htu_host(app: Flask, key: DPoPKey) -> str:
    return proof_for(app, key, "POST", "http://evil.example/auth/login")


def _wrong_htu_scheme(app: Flask, key: DPoPKey) -> str:
    return proof_for(app, key, "POST", "https://localhost/auth/login")


def _iat_text(app: Flask, key: DPoPKey) -> str:
    return signed(
        key.private_key, "ES256", key.jwk, {**base_claims(app), "iat": str(int(now(app)))}
    )


def _no_iat(app: Flask, key: DPoPKey) -> str:
    claims = base_claims(app)
    del claims["iat"]
    return signed(key.private_key, "ES256", key.jwk, claims)


def _no_jti(app: Flask, key: DPoPKey) -> str:
    claims = base_claims(app)
    del claims["jti"]
    return signed(key.private_key, "ES256", key.jwk, claims)


def _jti_number(app: Flask, key: DPoPKey) -> str:
    return signed(key.private_key, "ES256", key.jwk, {**base_claims(app), "jti": 12345})


def _not_a_jwt(app: Flask, key: DPoPKey) -> str:
    return "not-a-jwt"


def _empty_ish(app: Flask, key: DPoPKey) -> str:
    return "a.b.c"


def _huge(app: Flask, key: DPoPKey) -> str:
    return "x" * 9000


BAD_PROOFS: dict[str, Callable[[Flask, DPoPKey], str]] = {
    "wrong-typ": _wrong_typ,
    "no-typ": _no_typ,
    "alg-none": _alg_none,
    "hs256": _hs256,
    "hs256-ec-jwk": _hs256_with_ec_jwk,
    "private-jwk": _private_jwk,
    "no-jwk": _no_jwk,
    "other-jwk": _other_jwk,
    "bad-signature": _bad_signature,
    "curve-mismatch": _curve_mismatch,
    "rsa-1024": _small_rsa,
    "wrong-htm": _wrong_htm,
    "wrong-htu-path": _wrong_htu_path,
    "wrong-htu-host": _wrong_htu_host,
    "wrong-htu-scheme": _wrong_htu_scheme,
    "iat-text": _iat_text,
    "no-iat": _no_iat,
    "no-jti": _no_jti,
    "jti-number": _jti_number,
    "not-a-jwt": _not_a_jwt,
    "three-junk-parts": _empty_ish,
    "over-8-kib": _huge,
}


# What each refusal's description names (the reason, not only the error code).
REASONS = {
    "wrong-typ": "typ",
    "no-typ": "typ",
    "alg-none": "alg 'none'",
    "hs256": "alg 'HS256'",
    "hs256-ec-jwk": "alg 'HS256'",
    "private-jwk": "private",
    "no-jwk": "jwk",
    "other-jwk": "Signature",
    "bad-signature": "Signature",
    "curve-mismatch": "crv P-256",
    "rsa-1024": "2048",
    "wrong-htm": "htm",
    "wrong-htu-path": "htu",
    "wrong-htu-host": "htu",
    "wrong-htu-scheme": "htu",
    "iat-text": "iat",
    "no-iat": "iat",
    "no-jti": "jti",
    "jti-number": "jti",
    "not-a-jwt": "not a JWT",
    "three-junk-parts": "not a JWT",
    "over-8-kib": "8192",
}


@pytest.mark.parametrize("case", sorted(BAD_PROOFS))
def test_bad_proof_at_login_is_400(app: Flask, client: FlaskClient, case: str) -> None:
    """Each bad proof at /auth/login: 400 invalid_dpop_proof naming why, no session opened."""
    response = dpop_login(client, BAD_PROOFS[case](app, DPoPKey()))
    assert REASONS[case] in assert_token_refusal(response)
    counters = stats(client)
    assert (counters["login"], counters["dpop_refused"], counters["dpop_accepted"]) == (0, 1, 0)


def test_replayed_proof_is_refused(app: Flask, client: FlaskClient) -> None:
    """The same proof twice: the second is refused (jti already used)."""
    key = DPoPKey()
    proof = proof_for(app, key, "POST", LOGIN)
    assert dpop_login(client, proof).status_code == 200
    assert "jti already used" in assert_token_refusal(dpop_login(client, proof))


def test_replayed_jti_in_a_new_proof_is_refused(app: Flask, client: FlaskClient) -> None:
    """A new proof reusing a seen jti is refused too."""
    key = DPoPKey()
    assert dpop_login(client, proof_for(app, key, "POST", LOGIN, jti="same-jti")).status_code == 200
    replay = proof_for(app, key, "POST", LOGIN, jti="same-jti")
    assert "jti already used" in assert_token_refusal(dpop_login(client, replay))


def test_one_proof_sent_ten_times_at_once_is_accepted_once(app: Flask) -> None:
    """Ten threads sending one API proof at the same moment: one 200, nine refusals, no 500."""
    key = DPoPKey()
    token = bound_login(app, app.test_client(), key)["access_token"]
    proof = proof_for(app, key, "GET", ME, access_token=token)
    start = threading.Barrier(10)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        client = app.test_client()
        start.wait()
        status = dpop_get(client, ME, token, proof).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200] + [401] * 9


def test_jti_forgotten_once_the_proof_is_stale(app: Flask, client: FlaskClient) -> None:
    """A jti is remembered while its proof could pass the iat check, then forgotten."""
    key = DPoPKey()
    assert dpop_login(client, proof_for(app, key, "POST", LOGIN, jti="j1")).status_code == 200
    advance(app, 120)
    fresh = proof_for(app, key, "POST", LOGIN, jti="j1")  # a new iat: the old entry is gone
    assert dpop_login(client, fresh).status_code == 200


#: A proof dated by a clock that is off: ``iat`` this far from the server's time.
CLOCK_OFF = {"iat-too-old": -600, "iat-too-far-ahead": 600}


@pytest.mark.parametrize("case", sorted(CLOCK_OFF))
def test_iat_off_the_window_asks_for_a_nonce_and_the_nonce_wins(
    app: Flask, client: FlaskClient, case: str
) -> None:
    """A proof without a nonce dated 10 min off: 400 use_dpop_nonce with a nonce; the same
    clock with that nonce is taken (a nonce bounds the age, RFC 9449 section 11.1)."""
    key = DPoPKey()
    off = now(app) + CLOCK_OFF[case]
    refused = dpop_login(client, proof_for(app, key, "POST", LOGIN, iat=off))
    assert "iat" in assert_token_refusal(refused, "use_dpop_nonce")
    nonce = refused.headers["DPoP-Nonce"]
    taken = dpop_login(client, proof_for(app, key, "POST", LOGIN, iat=off, nonce=nonce))
    assert taken.status_code == 200, taken.get_json()


def test_api_iat_off_the_window_asks_for_the_apis_nonce(app: Flask, client: FlaskClient) -> None:
    """At the API too: a proof dated 2 min off asks for a nonce; with the API's, it is taken."""
    key = DPoPKey()
    token = bound_login(app, client, key)["access_token"]
    off = now(app) - 120
    refused = dpop_get(client, ME, token, key.proof("GET", ME, access_token=token, iat=off))
    assert_api_refusal(refused, "use_dpop_nonce")
    nonce = refused.headers["DPoP-Nonce"]
    proof = key.proof("GET", ME, access_token=token, iat=off, nonce=nonce)
    assert dpop_get(client, ME, token, proof).status_code == 200


def test_iat_window_edges_and_config(make_app: Callable[..., Flask]) -> None:
    """iat 59 s off passes with the default ±60 s; DPOP_IAT_WINDOW=10 asks for a nonce 20 s off."""
    app = make_app()
    client = app.test_client()
    key = DPoPKey()
    assert (
        dpop_login(client, proof_for(app, key, "POST", LOGIN, iat=now(app) - 59)).status_code == 200
    )
    assert (
        dpop_login(client, proof_for(app, key, "POST", LOGIN, iat=now(app) + 59)).status_code == 200
    )
    narrow = make_app(DPOP_IAT_WINDOW=10)
    narrow_client = narrow.test_client()
    old = proof_for(narrow, key, "POST", LOGIN, iat=now(narrow) - 20)
    assert "iat too old" in assert_token_refusal(dpop_login(narrow_client, old), "use_dpop_nonce")


def test_htu_is_compared_normalized(app: Flask, client: FlaskClient) -> None:
    """htu: scheme and host case, a default port and a query do not matter."""
    key = DPoPKey()
    for url in ("HTTP://LOCALHOST/auth/login", "http://localhost:80/auth/login", LOGIN + "?a=1"):
        proof = signed(key.private_key, "ES256", key.jwk, {**base_claims(app), "htu": url})
        assert dpop_login(client, proof).status_code == 200, url
    odd_port = signed(
        key.private_key,
        "ES256",
        key.jwk,
        {**base_claims(app), "htu": "http://localhost:81/auth/login"},
    )
    assert_token_refusal(dpop_login(client, odd_port))


def test_two_dpop_headers_are_refused(app: Flask, client: FlaskClient) -> None:
    """More than one DPoP header: 400 invalid_dpop_proof."""
    key = DPoPKey()
    headers = [
        ("DPoP", proof_for(app, key, "POST", LOGIN)),
        ("DPoP", proof_for(app, key, "POST", LOGIN)),
    ]
    response = client.post("/auth/login", json=DEMO, headers=headers)
    assert "exactly one" in assert_token_refusal(response)


@pytest.mark.parametrize("case", ["wrong-htm", "bad-signature", "alg-none", "no-jwk"])
def test_bad_proof_at_refresh_and_token_endpoint(
    app: Flask, client: FlaskClient, case: str
) -> None:
    """Bad proofs at /auth/refresh and /oauth/token: 400 invalid_dpop_proof, nothing rotated."""
    key = DPoPKey()
    tokens = bound_login(app, client, key)
    for send, _url in REFRESHES.values():
        assert_token_refusal(send(client, tokens["refresh_token"], BAD_PROOFS[case](app, key)))
    assert live_tokens(app, family_of(tokens["access_token"])) == 1


# -- the API --------------------------------------------------------------------------------


def test_api_with_bound_token_and_proof(app: Flask, client: FlaskClient) -> None:
    """GET and POST on the API with a bound token and proofs (htm, htu, ath) work."""
    key = DPoPKey()
    token = bound_login(app, client, key)["access_token"]
    assert me_with(app, client, key, token).get_json()["username"] == "demo"
    created = client.post(
        "/api/items",
        json={"title": "bound"},
        headers={
            "Authorization": f"DPoP {token}",
            "DPoP": proof_for(app, key, "POST", ITEMS, access_token=token),
        },
    )
    assert created.status_code == 201
    listed = dpop_get(client, ITEMS, token, proof_for(app, key, "GET", ITEMS, access_token=token))
    assert [item["title"] for item in listed.get_json()] == ["bound"]


def test_bound_token_as_bearer_is_refused(app: Flask, client: FlaskClient) -> None:
    """A DPoP-bound token sent as Bearer: 401 DPoP error="invalid_token"."""
    key = DPoPKey()
    token = bound_login(app, client, key)["access_token"]
    response = client.get("/api/me", headers=bearer(token))
    assert "bound to a DPoP key" in assert_api_refusal(response, "invalid_token")
    with_proof = client.get(
        "/api/me",
        headers={**bearer(token), "DPoP": proof_for(app, key, "GET", ME, access_token=token)},
    )
    assert_api_refusal(with_proof, "invalid_token")


def test_bound_token_without_proof_is_refused(app: Flask, client: FlaskClient) -> None:
    """Authorization: DPoP without a DPoP header: 401 DPoP error="invalid_token"."""
    key = DPoPKey()
    token = bound_login(app, client, key)["access_token"]
    assert "proof" in assert_api_refusal(dpop_get(client, ME, token, None), "invalid_token")


def test_unbound_token_as_dpop_is_refused(app: Flask, client: FlaskClient) -> None:
    """A Bearer token sent with the DPoP scheme: 401 DPoP error="invalid_token"."""
    key = DPoPKey()
    token = dpop_login(client, None).get_json()["access_token"]
    response = me_with(app, client, key, token)
    assert "not DPoP-bound" in assert_api_refusal(response, "invalid_token")


def test_bad_token_with_dpop_scheme(app: Flask, client: FlaskClient) -> None:
    """An expired or forged token under the DPoP scheme: 401 DPoP error="invalid_token"."""
    key = DPoPKey()
    token = bound_login(app, client, key)["access_token"]
    assert_api_refusal(me_with(app, client, key, flip_byte(token, 2)), "invalid_token")
    advance(app, 40)
    assert "expired" in assert_api_refusal(me_with(app, client, key, token), "invalid_token")
    malformed = client.get("/api/me", headers={"Authorization": "DPoP"})
    assert_api_refusal(malformed, "invalid_token")


def test_api_missing_or_wrong_ath(app: Flask, client: FlaskClient) -> None:
    """A proof without ath, or with another token's: 401 DPoP error="invalid_dpop_proof"."""
    key = DPoPKey()
    token = bound_login(app, client, key)["access_token"]
    missing = dpop_get(client, ME, token, proof_for(app, key, "GET", ME))
    assert "ath" in assert_api_refusal(missing, "invalid_dpop_proof")
    other = me_with(app, client, key, token, access_token=token + "x")
    assert "ath" in assert_api_refusal(other, "invalid_dpop_proof")


def test_api_jkt_mismatch(app: Flask, client: FlaskClient) -> None:
    """A proof by another key than the token's: 401 invalid_dpop_proof (jkt mismatch)."""
    owner, thief = DPoPKey(), DPoPKey()
    token = bound_login(app, client, owner)["access_token"]
    response = me_with(app, client, thief, token)
    assert "jkt mismatch" in assert_api_refusal(response, "invalid_dpop_proof")
    assert me_with(app, client, owner, token).status_code == 200


@pytest.mark.parametrize(
    ("case", "claims"),
    [
        ("wrong-htm", {"method": "POST"}),
        ("wrong-htu", {"url": ITEMS}),
    ],
)
def test_api_bad_proof_claims(
    app: Flask, client: FlaskClient, case: str, claims: dict[str, Any]
) -> None:
    """htm and htu are checked at the API too: 401 invalid_dpop_proof."""
    key = DPoPKey()
    token = bound_login(app, client, key)["access_token"]
    proof = key.proof(
        claims.get("method", "GET"),
        claims.get("url", ME),
        access_token=token,
        iat=now(app) + claims.get("iat_offset", 0),
    )
    assert_api_refusal(dpop_get(client, ME, token, proof), "invalid_dpop_proof")


def test_api_replayed_proof(app: Flask, client: FlaskClient) -> None:
    """The same API proof twice: the second is 401 invalid_dpop_proof."""
    key = DPoPKey()
    token = bound_login(app, client, key)["access_token"]
    proof = proof_for(app, key, "GET", ME, access_token=token)
    assert dpop_get(client, ME, token, proof).status_code == 200
    assert "jti" in assert_api_refusal(dpop_get(client, ME, token, proof), "invalid_dpop_proof")


def test_api_garbage_proof(app: Flask, client: FlaskClient) -> None:
    """Garbage in the DPoP header at the API: 401 invalid_dpop_proof, JSON."""
    key = DPoPKey()
    token = bound_login(app, client, key)["access_token"]
    for garbage in ("", "x", "a.b.c", "e30.e30.", "x" * 9000):
        assert_api_refusal(dpop_get(client, ME, token, garbage), "invalid_dpop_proof")


def test_revoked_family_ends_bound_tokens(app: Flask, client: FlaskClient) -> None:
    """Logout revokes a bound login: its DPoP access token is then invalid_token."""
    key = DPoPKey()
    tokens = bound_login(app, client, key)
    client.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    response = me_with(app, client, key, tokens["access_token"])
    assert "session ended" in assert_api_refusal(response, "invalid_token")


def test_malformed_cnf_is_invalid_token(app: Flask, client: FlaskClient) -> None:
    """A (correctly signed) access token whose cnf is not {"jkt": string}: 401 invalid_token."""
    token = dpop_login(client, None).get_json()["access_token"]
    forged = forge(app, {**claims_of(token), "cnf": "not-an-object"})
    response = client.get("/api/me", headers=bearer(forged))
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"


# -- nonces ----------------------------------------------------------------------------------


def test_nonce_challenge_at_token_endpoint_and_api(app: Flask, client: FlaskClient) -> None:
    """With nonces required: use_dpop_nonce + DPoP-Nonce at both, and the two nonces differ."""
    key = DPoPKey()
    assert switch(client, require_nonce=True)["require_nonce"] is True
    first = dpop_login(client, proof_for(app, key, "POST", LOGIN))
    assert "nonce" in assert_token_refusal(first, "use_dpop_nonce")
    token_nonce = first.headers["DPoP-Nonce"]
    logged_in = dpop_login(client, proof_for(app, key, "POST", LOGIN, nonce=token_nonce))
    assert logged_in.status_code == 200
    assert logged_in.headers["DPoP-Nonce"] == token_nonce
    token = logged_in.get_json()["access_token"]

    challenged = me_with(app, client, key, token)
    assert_api_refusal(challenged, "use_dpop_nonce")
    api_nonce = challenged.headers["DPoP-Nonce"]
    assert api_nonce != token_nonce
    assert_api_refusal(me_with(app, client, key, token, nonce=token_nonce), "use_dpop_nonce")
    ok = me_with(app, client, key, token, nonce=api_nonce)
    assert ok.status_code == 200 and ok.headers["DPoP-Nonce"] == api_nonce
    counters = stats(client)
    assert counters["dpop_nonce_challenges"] == 3
    assert counters["dpop_accepted"] == 2 and counters["dpop_refused"] == 0


def test_nonce_rotates_on_the_server_clock(app: Flask, client: FlaskClient) -> None:
    """The previous period's nonce is still accepted; the one before is stale."""
    key = DPoPKey()
    switch(client, require_nonce=True)
    nonce = dpop_login(client, proof_for(app, key, "POST", LOGIN)).headers["DPoP-Nonce"]
    advance(app, 300)
    previous = dpop_login(client, proof_for(app, key, "POST", LOGIN, nonce=nonce))
    assert previous.status_code == 200
    assert previous.headers["DPoP-Nonce"] != nonce  # the current one is handed out
    advance(app, 300)
    stale = dpop_login(client, proof_for(app, key, "POST", LOGIN, nonce=nonce))
    assert "stale" in assert_token_refusal(stale, "use_dpop_nonce")


def test_nonce_needed_for_bound_refresh_too(app: Flask, client: FlaskClient) -> None:
    """A bound refresh without the nonce: use_dpop_nonce, nothing rotated; with it: 200."""
    key = DPoPKey()
    tokens = bound_login(app, client, key)
    switch(client, require_nonce=True)
    first = oauth_refresh(client, tokens["refresh_token"], proof_for(app, key, "POST", TOKEN))
    assert_token_refusal(first, "use_dpop_nonce")
    assert stats(client)["refresh_failed"] == 0
    nonce = first.headers["DPoP-Nonce"]
    second = oauth_refresh(
        client, tokens["refresh_token"], proof_for(app, key, "POST", TOKEN, nonce=nonce)
    )
    assert second.status_code == 200, second.get_json()


def test_dpop_nonce_flag_requires_nonces_from_the_start(make_app: Callable[..., Flask]) -> None:
    """DPOP_NONCE (--dpop-nonce): challenged at once; reset keeps it, Bearer still works."""
    app = make_app(DPOP_NONCE=True)
    client = app.test_client()
    assert client.get("/__test__/dpop").get_json()["require_nonce"] is True
    assert_token_refusal(
        dpop_login(client, proof_for(app, DPoPKey(), "POST", LOGIN)), "use_dpop_nonce"
    )
    switch(client, require_nonce=False)
    client.post("/__test__/reset")
    assert client.get("/__test__/dpop").get_json()["require_nonce"] is True
    assert dpop_login(client, None).status_code == 200


def test_rotate_every_answer_never_lets_a_client_catch_up(app: Flask, client: FlaskClient) -> None:
    """rotate_every_answer: each answer a new nonce, none of them accepted."""
    key = DPoPKey()
    switch(client, rotate_every_answer=True)
    seen = []
    nonce = None
    for _ in range(5):
        response = dpop_login(client, proof_for(app, key, "POST", LOGIN, nonce=nonce))
        assert_token_refusal(response, "use_dpop_nonce")
        nonce = response.headers["DPoP-Nonce"]
        seen.append(nonce)
    assert len(set(seen)) == 5
    assert stats(client)["dpop_nonce_challenges"] == 5
    assert dpop_login(client, None).status_code == 200  # Bearer clients are not affected


def test_rotate_every_answer_at_the_api(app: Flask, client: FlaskClient) -> None:
    """rotate_every_answer at the API: every answer a new nonce, none accepted, Bearer too."""
    key = DPoPKey()
    token = bound_login(app, client, key)["access_token"]
    switch(client, rotate_every_answer=True)
    nonce, seen = None, set()
    for _ in range(3):
        response = me_with(app, client, key, token, nonce=nonce)
        assert_api_refusal(response, "use_dpop_nonce")
        nonce = response.headers["DPoP-Nonce"]
        seen.add(nonce)
    as_bearer = client.get(
        "/api/me",
        headers={**bearer(token), "DPoP": proof_for(app, key, "GET", ME, access_token=token)},
    )
    assert_api_refusal(as_bearer, "invalid_token")
    seen.add(as_bearer.headers["DPoP-Nonce"])
    assert len(seen) == 4
    switch(client, rotate_every_answer=False)
    assert me_with(app, client, key, token).status_code == 200


def test_refuse_proofs(app: Flask, client: FlaskClient) -> None:
    """refuse_proofs: every proof refused (400 at login, 401 at the API); reset ends it."""
    key = DPoPKey()
    token = bound_login(app, client, key)["access_token"]
    switch(client, refuse_proofs=True)
    assert "refuse_proofs" in assert_token_refusal(
        dpop_login(client, proof_for(app, key, "POST", LOGIN))
    )
    assert_api_refusal(me_with(app, client, key, token), "invalid_dpop_proof")
    assert dpop_login(client, None).status_code == 200
    assert stats(client)["dpop_refused"] == 2
    client.post("/__test__/reset")
    assert client.get("/__test__/dpop").get_json() == {
        "require_nonce": False,
        "rotate_every_answer": False,
        "refuse_proofs": False,
    }
    assert dpop_login(client, proof_for(app, key, "POST", LOGIN)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"require_nonce": "yes"}, {"refuse_proofs": 1}, {"unknown": True}, []],
    ids=["string", "number", "unknown-switch", "not-an-object"],
)
def test_bad_dpop_control_is_400(client: FlaskClient, body: Any) -> None:
    """The DPoP test control refuses non-booleans and unknown switches with a JSON 400."""
    response = client.post("/__test__/dpop", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_dpop_control_is_404_without_testing(make_app: Callable[..., Flask]) -> None:
    """Without --testing there is no /__test__/dpop."""
    client = make_app(TESTING_ROUTES=False).test_client()
    assert client.post("/__test__/dpop", json={"refuse_proofs": True}).status_code == 404


def test_reset_forgets_bindings_and_jtis(app: Flask, client: FlaskClient) -> None:
    """Reset drops bound sessions and the jti memory: the same jti passes again."""
    key = DPoPKey()
    assert dpop_login(client, proof_for(app, key, "POST", LOGIN, jti="j")).status_code == 200
    client.post("/__test__/reset")
    assert dpop_login(client, proof_for(app, key, "POST", LOGIN, jti="j")).status_code == 200


# -- CORS and the command line --------------------------------------------------------------


def test_cors_allows_dpop_and_exposes_the_nonce(make_app: Callable[..., Flask]) -> None:
    """Preflight allows DPoP; answers expose DPoP-Nonce, WWW-Authenticate and Retry-After."""
    origin = "http://app.example"
    app = make_app(ALLOW_ORIGINS=[origin])
    client = app.test_client()
    for path in ("/auth/login", "/oauth/token", "/api/me"):
        preflight = client.options(
            path,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, dpop",
            },
        )
        allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
        assert "dpop" in allowed and "authorization" in allowed, path
    switch(client, require_nonce=True)
    answer = client.post(
        "/auth/login",
        json=DEMO,
        headers={"Origin": origin, "DPoP": proof_for(app, DPoPKey(), "POST", LOGIN)},
    )
    assert answer.status_code == 400 and answer.headers["DPoP-Nonce"]
    exposed = {
        name.strip().lower() for name in answer.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert {"dpop-nonce", "www-authenticate", "retry-after"} <= exposed


def test_cli_flags() -> None:
    """--dpop-nonce and --dpop-iat-window land in the config; defaults add nothing."""
    config = config_from_args(parse_args(["--dpop-nonce", "--dpop-iat-window", "30"]))
    assert (config["DPOP_NONCE"], config["DPOP_IAT_WINDOW"]) == (True, 30.0)
    plain = config_from_args(parse_args([]))
    assert "DPOP_NONCE" not in plain and "DPOP_IAT_WINDOW" not in plain


@pytest.mark.parametrize("value", ["0", "-5", "abc"])
def test_cli_bad_window(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A window under 1 s or not a number stops argparse (exit 2)."""
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--dpop-iat-window", value])
    assert stopped.value.code == 2


def test_discovery_names_the_proof_algorithms(client: FlaskClient) -> None:
    """Discovery lists dpop_signing_alg_values_supported (RFC 9449 §5.1), asymmetric only."""
    algs = client.get("/.well-known/openid-configuration").get_json()[
        "dpop_signing_alg_values_supported"
    ]
    assert "ES256" in algs and not [alg for alg in algs if alg.startswith("HS") or alg == "none"]


def test_thumbprint_matches_rfc_7638_example() -> None:
    """The server's thumbprint of RFC 7638 §3.1's RSA key is the RFC's value."""
    from server.dpop import thumbprint

    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
        "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
        "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI"
        "4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_agrees_with_the_test_client() -> None:
    """Server and test proof maker compute the same thumbprint and ath."""
    from server.dpop import access_token_hash as server_ath
    from server.dpop import thumbprint

    key = DPoPKey()
    assert thumbprint(key.jwk) == jwk_thumbprint(key.jwk) == key.jkt
    assert server_ath("abc.def.ghi") == access_token_hash("abc.def.ghi")
    assert access_token_hash("abc") == b64url(hashlib.sha256(b"abc").digest())


def test_live_server_with_dpop_nonce_flag(tmp_path: Path) -> None:
    """``python -m server --dpop-nonce`` under waitress: nonces at both, htu with the real port."""
    server = Server(tmp_path, "--dpop-nonce")
    try:
        key = DPoPKey()
        login_url, me_url = f"{server.url}/auth/login", f"{server.url}/api/me"
        body = json.dumps(DEMO).encode()

        def send(url: str, proof: str, data: bytes | None, token: str | None = None) -> Any:
            request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
            request.add_header("DPoP", proof)
            if data:
                request.add_header("Content-Type", "application/json")
            if token:
                request.add_header("Authorization", f"DPoP {token}")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, response.headers, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, error.headers, json.loads(error.read())

        status, headers, answer = send(login_url, key.proof("POST", login_url), body)
        assert (status, answer["error"]) == (400, "use_dpop_nonce")
        token_nonce = headers["DPoP-Nonce"]
        status, _, tokens = send(login_url, key.proof("POST", login_url, nonce=token_nonce), body)
        assert status == 200 and tokens["token_type"] == "DPoP"
        access = tokens["access_token"]
        status, headers, answer = send(
            me_url, key.proof("GET", me_url, access_token=access), None, access
        )
        assert status == 401 and headers["WWW-Authenticate"].startswith(
            'DPoP error="use_dpop_nonce"'
        )
        api_nonce = headers["DPoP-Nonce"]
        assert api_nonce != token_nonce
        proof = key.proof("GET", me_url, access_token=access, nonce=api_nonce)
        status, _, me = send(me_url, proof, None, access)
        assert status == 200 and me["username"] == "demo"
        stats_status, counters = server.call("GET", "/__test__/stats")
        assert stats_status == 200
        assert (counters["dpop_accepted"], counters["dpop_nonce_challenges"]) == (2, 2)
    finally:
        assert server.stop() == 0
