"""Regression tests for the audit findings of issue 9 (each failed on the code before its fix)."""

from __future__ import annotations

import ast
import inspect
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from flask import Flask
from flask.testing import FlaskClient
from liveserver import Server
from serverkit import (
    advance,
    assert_invalid_grant,
    claims_of,
    db,
    family_of,
    forge,
    live_tokens,
    login,
    me,
    refresh,
)

import server
import server.api
import server.auth
import server.oidc
import server.sessions
from server import PROJECT_ROOT
from server.__main__ import config_from_args, parse_args
from server.errors import ERROR_CODES
from server.sessions import Grant

HOUR = 3600.0


def ping_pong(
    app: Flask, client: FlaskClient, thief_every: float, owner_every: float
) -> tuple[float, int, str]:
    """Thief and owner refresh copies of one stolen token on their own schedules.

    Returns the server seconds after login at which a refresh was first refused
    (or ``HOUR`` if none was within an hour), the refreshes answered 200 before
    that, and the owner's last access token.
    """
    tokens = login(client)
    held = {"thief": tokens["refresh_token"], "owner": tokens["refresh_token"]}
    every = {"thief": thief_every, "owner": owner_every}
    due = dict(every)
    owner_access, elapsed, granted = tokens["access_token"], 0.0, 0
    while elapsed < HOUR:
        who = min(due, key=lambda name: due[name])
        advance(app, due[who] - elapsed)
        elapsed = due[who]
        response = refresh(client, held[who])
        if response.status_code != 200:
            assert_invalid_grant(response)
            return elapsed, granted, owner_access
        body = response.get_json()
        held[who] = body["refresh_token"]
        if who == "owner":
            owner_access = body["access_token"]
        granted += 1
        due[who] += every[who]
    return HOUR, granted, owner_access


@pytest.mark.parametrize("access_ttl", [5, 10, 15, 30])
@pytest.mark.parametrize("grace", [5.0, 10.0, 30.0, 60.0])
def test_finding1_stolen_token_ping_pong_is_detected(
    make_app: Callable[..., Flask], grace: float, access_ttl: int
) -> None:
    """Finding 1: a thief and the owner refreshing faster than the grace window are caught.

    Both refresh before their access token expires (thief at 1/2, owner at 2/3
    of its lifetime, the 5 s / 6.67 s of the report for a 10 s token). Before
    the fix an in-grace re-issue gave the token it retired a new window, so
    with intervals below the grace the two took turns for ever.
    """
    app = make_app(REUSE_GRACE=grace, ACCESS_TTL=access_ttl)
    client = app.test_client()
    thief_every, owner_every = access_ttl / 2, access_ttl * 2 / 3
    detected_at, granted, owner_access = ping_pong(app, client, thief_every, owner_every)
    assert detected_at <= grace + 2 * owner_every, (detected_at, granted)
    stats = client.get("/__test__/stats").get_json()
    assert stats["reuse_detected"] == 1
    assert live_tokens(app, family_of(owner_access)) == 0
    assert me(client, owner_access).status_code == 401


def test_finding1_retired_token_is_never_honoured(app: Flask, client: FlaskClient) -> None:
    """Finding 1: a token retired by a grace re-issue revokes the login when presented, at once."""
    first = login(client)
    second = refresh(client, first["refresh_token"]).get_json()
    third = refresh(client, first["refresh_token"]).get_json()  # in grace: second is retired
    advance(app, 1)
    reused = refresh(client, second["refresh_token"])
    assert_invalid_grant(reused)
    assert "reuse" in reused.get_json()["error_description"]
    assert_invalid_grant(refresh(client, third["refresh_token"]))


def test_finding1_grace_window_is_not_renewed(app: Flask, client: FlaskClient) -> None:
    """Finding 1: re-presenting a token inside its window does not extend the window."""
    first = login(client)
    refresh(client, first["refresh_token"])
    advance(app, 6)
    assert refresh(client, first["refresh_token"]).status_code == 200  # 6 s after first use
    advance(app, 4)
    assert_invalid_grant(refresh(client, first["refresh_token"]))  # 10 s after first use


def test_finding1_lost_responses_keep_a_lone_client_signed_in(
    app: Flask, client: FlaskClient
) -> None:
    """Finding 1 (guard): a client whose refresh answers are lost and who retries stays in.

    Every third rotation's answer is lost twice in a row; the client retries
    with the token it still holds, inside the grace window, for 20 minutes.
    """
    token = login(client)["refresh_token"]
    for step in range(60):
        advance(app, 20)
        lost = 2 if step % 3 == 0 else 0
        for _ in range(lost):
            assert refresh(client, token).status_code == 200  # answer never reaches the client
            advance(app, 2)
        response = refresh(client, token)
        assert response.status_code == 200, response.get_json()
        token = response.get_json()["refresh_token"]
    assert client.get("/__test__/stats").get_json()["reuse_detected"] == 0


def test_finding2_used_at_in_the_future_fails_closed(make_app: Callable[..., Flask]) -> None:
    """Finding 2: a token used "in the future" (clock stepped back) counts as reuse, not grace."""
    app = make_app()
    client = app.test_client()
    first = login(client)
    advance(app, 600)  # the test clock runs ahead, then the server restarts on real time
    assert refresh(client, first["refresh_token"]).status_code == 200
    restarted = make_app()
    reused = refresh(restarted.test_client(), first["refresh_token"])
    assert_invalid_grant(reused)
    assert "reuse" in reused.get_json()["error_description"]


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602], ids=["world-rw", "group-w", "world-w"])
def test_finding3_writable_secret_file_is_refused(
    make_app: Callable[..., Flask], tmp_path: Path, mode: int
) -> None:
    """Finding 3: a planted secret file others may write is refused at start, not trusted."""
    secret_file = tmp_path / "planted.secret"
    secret_file.write_text("ab" * 32 + "\n")
    secret_file.chmod(mode)
    with pytest.raises(ValueError, match=r"planted\.secret"):
        make_app(SECRET_FILE=str(secret_file))


def test_finding3_secret_file_of_another_user_is_refused(
    make_app: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 3: a secret file owned by another user is refused (the server's uid is faked)."""
    secret_file = tmp_path / "theirs.secret"
    secret_file.write_text("ab" * 32 + "\n")
    secret_file.chmod(0o600)
    monkeypatch.setattr(os, "geteuid", lambda: secret_file.stat().st_uid + 1)
    with pytest.raises(ValueError, match="owned by"):
        make_app(SECRET_FILE=str(secret_file))


def test_finding3_cli_refuses_a_planted_secret(tmp_path: Path) -> None:
    """Finding 3: ``python -m server`` stops with one clear line and exit status 2."""
    database = tmp_path / "authfetch.sqlite3"
    secret_file = tmp_path / "authfetch.sqlite3.secret"
    secret_file.write_text("ab" * 32 + "\n")
    secret_file.chmod(0o666)
    environ = {key: value for key, value in os.environ.items() if key != "AUTHFETCH_SECRET"}
    done = subprocess.run(
        [sys.executable, "-m", "server", "--port", "0", "--db", str(database)],
        cwd=PROJECT_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "secret" in done.stderr and str(secret_file) in done.stderr
    assert done.stdout == ""


def test_finding3_new_database_and_folders_are_private(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """Finding 3: a new db (and its WAL files, secret) is 0600 and new folders 0700."""
    old_umask = os.umask(0o022)
    try:
        app = make_app(DATABASE=str(tmp_path / "instance" / "sub" / "authfetch.sqlite3"))
        login(app.test_client())
    finally:
        os.umask(old_umask)
    database = Path(app.config["DATABASE"])
    for folder in (database.parent, database.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    conn = db(app)  # the -wal and -shm files exist while a connection is open
    try:
        conn.execute("SELECT COUNT(*) FROM users").fetchone()
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
        for path in [*files, Path(app.config["SECRET_FILE"])]:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        conn.close()


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", [10**400, -(10**400)], ids=["huge", "minus-huge"])
def test_finding4_enormous_time_claim_is_401(
    app: Flask, client: FlaskClient, claim: str, value: int
) -> None:
    """Finding 4: a validly signed token with ``exp = 10**400`` is a JSON 401, not a 500."""
    claims = claims_of(login(client)["access_token"])
    claims[claim] = value
    response = me(client, forge(app, claims))
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert "invalid_token" in response.headers["WWW-Authenticate"]


# waitress refuses a head of 256 KiB (max_request_header_size). This one stops exactly at
# the limit, so the server has read every byte when it answers and closes: a longer one
# would be reset (unread bytes) and the answer could be lost in the race.
HEAD_START = b"GET /api/me HTTP/1.1\r\nHost: x\r\nX-Big: "
HUGE_HEAD = HEAD_START + b"a" * (256 * 1024 - len(HEAD_START))
MALFORMED_HTTP = [
    ("bad-content-length", b"POST /auth/login HTTP/1.1\r\nHost: x\r\n"
     b"Content-Length: 1x\r\n\r\n", 400),
    ("bad-chunk-size", b"POST /auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"Content-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400),
    ("256-kib-header", HUGE_HEAD, 431),
    ("bad-request-line", b"GET\x01 / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("unknown-transfer-encoding", b"POST /auth/login HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: gzip\r\n\r\n", 501),
]  # fmt: skip


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [row[1:] for row in MALFORMED_HTTP],
    ids=[row[0] for row in MALFORMED_HTTP],
)
def test_finding5_waitress_errors_are_json(
    real_server: Server, request_bytes: bytes, status: int
) -> None:
    """Finding 5: errors waitress answers itself (before the app runs) are JSON too."""
    answered, headers, body = real_server.raw(request_bytes)
    assert answered == status
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    assert set(error) == {"error", "error_description"}
    assert error["error"] == ERROR_CODES[status]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["connection"] == "close"
    assert real_server.call("GET", "/__test__/stats")[0] == 200  # still serving


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [("GET", "/api/me", {}), ("GET", "/api/me", {"Origin": "http://app.example"}),
     ("GET", "/api/me", {"Origin": "http://evil.example"}),
     ("POST", "/auth/refresh", {"Origin": "http://app.example"}),
     ("OPTIONS", "/api/items", {"Origin": "http://app.example",
                                "Access-Control-Request-Method": "POST"})],
    ids=["no-origin", "listed", "unlisted", "auth", "preflight"],
)  # fmt: skip
def test_finding6_cors_answers_vary_on_origin(
    make_app: Callable[..., Flask], method: str, path: str, headers: dict[str, str]
) -> None:
    """Finding 6: with CORS on, every /auth and /api answer says ``Vary: Origin``."""
    client = make_app(ALLOW_ORIGINS=["http://app.example"]).test_client()
    response = client.open(path, method=method, headers=headers)
    assert "origin" in {value.lower() for value in response.vary}


def test_finding7_production_routes_do_not_import_testing() -> None:
    """Finding 7: the token and API views do not import the test controls."""
    for module in (server.auth, server.api, server.oidc):
        tree = ast.parse(inspect.getsource(module))
        imported = {  # relative imports resolved: "from .testing" and "from . import testing"
            f"server.{node.module}" if node.level and node.module else (node.module or "server")
            for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        } | {f"server.{alias.name}" for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) and node.level and not node.module
             for alias in node.names
        } | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}  # fmt: skip
        assert "server.testing" not in imported, module.__name__
        assert "server.auth" in imported or module is not server.oidc  # the check sees imports


@pytest.mark.parametrize("testing", [False, True])
def test_finding7_fault_hooks_come_only_with_the_test_routes(
    make_app: Callable[..., Flask], testing: bool
) -> None:
    """Finding 7: fault injection is installed by the testing blueprint, and only by it."""
    app = make_app(TESTING_ROUTES=testing)
    hooks = [
        hook
        for registry in (app.before_request_funcs, app.after_request_funcs)
        for hooks in registry.values()
        for hook in hooks
    ]
    from_testing = [hook for hook in hooks if hook.__module__ == "server.testing"]
    assert bool(from_testing) is testing


def test_finding7_login_view_carries_its_rate_limit(app: Flask) -> None:
    """Finding 7: ``@limiter.limit`` decorates the login view; nothing rewraps it by name."""
    assert app.view_functions["auth.login"] is server.auth.login


def test_finding7_bearer_required_passes_a_principal(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 7: ``authenticate`` returns a Principal or raises; one liveness query serves it."""
    from server.api import Principal, authenticate, bearer_required  # noqa: F401

    assert get_type_hints(authenticate)["return"] is Principal
    assert not hasattr(server.sessions, "family_is_live")
    looked_up: list[str] = []
    live_session = server.sessions.live_session

    def spy(conn: Any, family_id: str, now: float) -> Any:
        looked_up.append(family_id)
        return live_session(conn, family_id, now)

    monkeypatch.setattr(server.sessions, "live_session", spy)
    tokens = login(client)
    assert me(client, tokens["access_token"]).status_code == 200
    assert looked_up == [family_of(tokens["access_token"])]


def test_finding7_cli_defaults_come_from_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 7: ``python -m server``'s defaults are read from DEFAULT_CONFIG, not repeated."""
    changed = {"ACCESS_TTL": 77, "REFRESH_TTL": 7777, "IDLE_TTL": 777, "REUSE_GRACE": 7.5}
    for key, value in changed.items():
        monkeypatch.setitem(server.DEFAULT_CONFIG, key, value)
    config = config_from_args(parse_args([]))
    assert {key: config[key] for key in changed} == changed


def test_finding7_grant_has_no_dead_fields() -> None:
    """Finding 7: ``Grant`` carries only what login and refresh answer with."""
    assert [field.name for field in fields(Grant)] == [
        "user_id",
        "family_id",
        "refresh_token",
        "issued_at",
    ]
