"""Helpers shared by the server tests: log in, refresh, forge tokens, inspect the db."""

from __future__ import annotations

import base64
import sqlite3
from typing import Any

import jwt
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from server.state import get_state

FAST_HASH = "scrypt:1024:8:1"  # still scrypt, cheap enough for many apps per test run
DEMO = {"username": "demo", "password": "demo-pass"}


def login(client: FlaskClient) -> dict[str, Any]:
    """Log the demo user in; return the token response."""
    response = client.post("/auth/login", json=DEMO)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def refresh(client: FlaskClient, refresh_token: Any) -> TestResponse:
    """POST ``{"refresh_token": refresh_token}`` to the refresh endpoint."""
    return client.post("/auth/refresh", json={"refresh_token": refresh_token})


def bearer(access_token: str) -> dict[str, str]:
    """The Authorization header for ``access_token``."""
    return {"Authorization": f"Bearer {access_token}"}


def me(client: FlaskClient, access_token: str) -> TestResponse:
    """GET /api/me with ``access_token``."""
    return client.get("/api/me", headers=bearer(access_token))


def advance(app: Flask, seconds: float) -> None:
    """Move ``app``'s server clock forward."""
    get_state(app).clock.advance(seconds)


def now(app: Flask) -> float:
    """``app``'s server time."""
    return get_state(app).clock.now()


def claims_of(access_token: str) -> dict[str, Any]:
    """The claims of a token, unverified (to build forged variants of a real one)."""
    return jwt.decode(access_token, options={"verify_signature": False})


def forge(
    app: Flask,
    claims: dict[str, Any],
    *,
    algorithm: str = "HS256",
    key: bytes | str | None = None,
    headers: dict[str, Any] | None = None,
) -> str:
    """Sign ``claims`` (with ``app``'s secret unless ``key`` is given), ``typ: at+jwt``."""
    secret = get_state(app).access.secret if key is None else key
    if algorithm == "none":
        secret = None
    return jwt.encode(
        claims, secret, algorithm=algorithm, headers={"typ": "at+jwt", **(headers or {})}
    )


def flip_byte(token: str, segment: int) -> str:
    """Flip one bit of a byte in the middle of a JWT segment, keeping valid base64url."""
    parts = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(parts[segment] + "=" * (-len(parts[segment]) % 4)))
    raw[len(raw) // 2] ^= 0x01
    parts[segment] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return ".".join(parts)


def db(app: Flask) -> sqlite3.Connection:
    """A fresh connection to ``app``'s database (caller closes it)."""
    conn = sqlite3.connect(app.config["DATABASE"])
    conn.row_factory = sqlite3.Row
    return conn


def live_tokens(app: Flask, family: str) -> int:
    """How many refresh tokens of ``family`` could still be exchanged."""
    conn = db(app)
    try:
        return conn.execute(
            "SELECT COUNT(*) FROM refresh_tokens t JOIN families f ON f.id = t.family_id"
            " WHERE t.family_id = ? AND t.used_at IS NULL AND f.revoked_at IS NULL",
            (family,),
        ).fetchone()[0]
    finally:
        conn.close()


def family_of(access_token: str) -> str:
    """The family id (claim ``fam``) of an access token."""
    return claims_of(access_token)["fam"]


def assert_invalid_grant(response: TestResponse) -> None:
    """The refresh was refused the OAuth way."""
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert response.headers["Cache-Control"] == "no-store"
