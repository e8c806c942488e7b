"""Refresh tokens: rotation, reuse detection and grace, lifetimes, logout, concurrency."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from serverkit import (
    advance,
    assert_invalid_grant,
    db,
    family_of,
    live_tokens,
    login,
    me,
    refresh,
)

from server.tokens import hash_refresh_token

TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}


def test_refresh_rotates(app: Flask, client: FlaskClient) -> None:
    """Each refresh returns a new refresh token and access token in the login's family."""
    first = login(client)
    response = refresh(client, first["refresh_token"])
    assert response.status_code == 200
    second = response.get_json()
    assert set(second) == TOKEN_KEYS
    assert second["token_type"] == "Bearer" and second["expires_in"] == 30
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert family_of(second["access_token"]) == family_of(first["access_token"])
    assert live_tokens(app, family_of(first["access_token"])) == 1
    third = refresh(client, second["refresh_token"])
    assert third.status_code == 200
    assert me(client, third.get_json()["access_token"]).status_code == 200


def test_refresh_tokens_are_stored_only_as_hashes(app: Flask, client: FlaskClient) -> None:
    """The database holds a SHA-256 of each refresh token, never the token itself."""
    token = login(client)["refresh_token"]
    assert len(token) >= 43  # 32 random bytes, base64url
    conn = db(app)
    try:
        hashes = [row["hash"] for row in conn.execute("SELECT hash FROM refresh_tokens")]
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert hashes == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in dump


def test_reuse_after_grace_revokes_the_family(app: Flask, client: FlaskClient) -> None:
    """A rotated token presented after the grace window kills every token of the login."""
    first = login(client)
    second = refresh(client, first["refresh_token"]).get_json()
    advance(app, 10)  # REUSE_GRACE = 10 s: the window is [used, used + 10)
    reused = refresh(client, first["refresh_token"])
    assert_invalid_grant(reused)
    assert "reuse" in reused.get_json()["error_description"]
    assert_invalid_grant(refresh(client, second["refresh_token"]))
    assert me(client, second["access_token"]).status_code == 401
    assert me(client, first["access_token"]).status_code == 401
    stats = client.get("/__test__/stats").get_json()
    assert stats["reuse_detected"] == 1


def test_reuse_inside_grace_reissues_and_keeps_one_live_token(
    app: Flask, client: FlaskClient
) -> None:
    """Inside the grace window the previous token gets new tokens; its first successor dies."""
    first = login(client)
    family = family_of(first["access_token"])
    second = refresh(client, first["refresh_token"]).get_json()
    advance(app, 9)
    again = refresh(client, first["refresh_token"])
    assert again.status_code == 200
    third = again.get_json()
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    assert live_tokens(app, family) == 1
    assert me(client, third["access_token"]).status_code == 200
    assert me(client, second["access_token"]).status_code == 200  # not revoked, just replaced
    assert refresh(client, third["refresh_token"]).status_code == 200
    stats = client.get("/__test__/stats").get_json()
    assert (stats["refresh_ok"], stats["reuse_detected"]) == (3, 0)


def test_zero_grace_revokes_on_any_reuse(make_app: Callable[..., Flask]) -> None:
    """With REUSE_GRACE = 0 the first reuse, however quick, revokes the family."""
    app = make_app(REUSE_GRACE=0)
    client = app.test_client()
    first = login(client)
    second = refresh(client, first["refresh_token"]).get_json()
    assert_invalid_grant(refresh(client, first["refresh_token"]))
    assert_invalid_grant(refresh(client, second["refresh_token"]))


def test_absolute_lifetime_is_not_extended_by_rotation(make_app: Callable[..., Flask]) -> None:
    """Refreshing often never carries a login past REFRESH_TTL from login."""
    app = make_app(REFRESH_TTL=100, IDLE_TTL=60)
    client = app.test_client()
    tokens = login(client)
    for _ in range(3):  # t = 30, 60, 90
        advance(app, 30)
        response = refresh(client, tokens["refresh_token"])
        assert response.status_code == 200
        tokens = response.get_json()
    advance(app, 10)  # t = 100
    expired = refresh(client, tokens["refresh_token"])
    assert_invalid_grant(expired)
    assert "absolute lifetime" in expired.get_json()["error_description"]


def test_access_token_ends_with_the_absolute_lifetime(make_app: Callable[..., Flask]) -> None:
    """An access token of a login past its absolute lifetime is refused even if unexpired."""
    app = make_app(REFRESH_TTL=20, ACCESS_TTL=60)
    client = app.test_client()
    token = login(client)["access_token"]
    advance(app, 20)
    assert me(client, token).status_code == 401


def test_idle_timeout_counts_from_the_last_refresh(make_app: Callable[..., Flask]) -> None:
    """A login unused for IDLE_TTL ends; each refresh restarts the idle clock."""
    app = make_app(IDLE_TTL=60)
    client = app.test_client()
    tokens = login(client)
    advance(app, 59)
    tokens = refresh(client, tokens["refresh_token"]).get_json()
    advance(app, 59)
    response = refresh(client, tokens["refresh_token"])
    assert response.status_code == 200
    advance(app, 60)
    idle = refresh(client, response.get_json()["refresh_token"])
    assert_invalid_grant(idle)
    assert "idle" in idle.get_json()["error_description"]


def test_default_lifetimes(app: Flask) -> None:
    """Defaults: access 30 s, refresh 8 h absolute, idle 30 min, reuse grace 10 s."""
    config = app.config
    assert (config["ACCESS_TTL"], config["REFRESH_TTL"], config["IDLE_TTL"]) == (30, 28800, 1800)
    assert config["REUSE_GRACE"] == 10


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"refresh_token": "never-issued"}, "invalid_grant"),
        ({"refresh_token": ""}, "invalid_request"),
        ({"refresh_token": 123}, "invalid_request"),
        ({"refresh_token": None}, "invalid_request"),
        ({"refresh_token": ["a"]}, "invalid_request"),
        ({}, "invalid_request"),
        ({"refresh_token": "x" * 5000}, "invalid_request"),
    ],
    ids=["unknown", "empty", "number", "null", "list", "missing", "huge"],
)
def test_bad_refresh_requests(client: FlaskClient, body: dict[str, Any], error: str) -> None:
    """Unknown tokens are invalid_grant; a body without a token string is invalid_request."""
    response = client.post("/auth/refresh", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"


def test_access_token_posted_to_refresh_is_invalid_grant(client: FlaskClient) -> None:
    """An access token is no refresh token."""
    tokens = login(client)
    assert_invalid_grant(refresh(client, tokens["access_token"]))
    assert refresh(client, tokens["refresh_token"]).status_code == 200  # session unharmed


def test_logout_revokes_the_family_at_once(app: Flask, client: FlaskClient) -> None:
    """Logout answers 204; its refresh token and its access token stop working at once."""
    tokens = login(client)
    newer = refresh(client, tokens["refresh_token"]).get_json()
    response = client.post("/auth/logout", json={"refresh_token": newer["refresh_token"]})
    assert response.status_code == 204
    assert response.data == b""
    assert me(client, newer["access_token"]).status_code == 401
    reused = refresh(client, newer["refresh_token"])
    assert_invalid_grant(reused)
    assert "logout" in reused.get_json()["error_description"]
    assert live_tokens(app, family_of(tokens["access_token"])) == 0


def test_logout_leaves_other_logins_alone(client: FlaskClient) -> None:
    """Logging out one login (family) keeps another login of the same user."""
    one, two = login(client), login(client)
    client.post("/auth/logout", json={"refresh_token": one["refresh_token"]})
    assert me(client, two["access_token"]).status_code == 200
    assert refresh(client, two["refresh_token"]).status_code == 200


@pytest.mark.parametrize("token", ["never-issued", "twice"], ids=["unknown", "already-revoked"])
def test_logout_is_idempotent(client: FlaskClient, token: str) -> None:
    """Logout with an unknown or already revoked token is still 204."""
    if token == "twice":
        token = login(client)["refresh_token"]
        client.post("/auth/logout", json={"refresh_token": token})
    assert client.post("/auth/logout", json={"refresh_token": token}).status_code == 204


def test_logout_without_token_is_400(client: FlaskClient) -> None:
    """Logout needs a refresh_token string."""
    response = client.post("/auth/logout", json={"token": "x"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("grace", "expect_ok"),
    [(10.0, 10), (0.0, 1)],
    ids=["grace-10s", "grace-0"],
)
def test_parallel_refreshes_leave_at_most_one_live_token(
    make_app: Callable[..., Flask], grace: float, expect_ok: int
) -> None:
    """Ten threads refreshing one token at once: no 500, at most one live successor."""
    app = make_app(REUSE_GRACE=grace)
    tokens = login(app.test_client())
    family = family_of(tokens["access_token"])
    start = threading.Barrier(10)
    results: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def worker() -> None:
        client = app.test_client()
        start.wait()
        response = refresh(client, tokens["refresh_token"])
        with lock:
            results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 10
    statuses = sorted(status for status, _ in results)
    assert set(statuses) <= {200, 400}
    assert statuses.count(200) == expect_ok
    assert live_tokens(app, family) == (1 if grace else 0)
    issued = {
        hash_refresh_token(body["refresh_token"]) for status, body in results if status == 200
    }
    conn = db(app)
    try:
        unused = {
            row["hash"]
            for row in conn.execute("SELECT hash FROM refresh_tokens WHERE used_at IS NULL")
        }
    finally:
        conn.close()
    assert len(unused) == 1 and unused <= issued  # the survivor is one a winner holds
