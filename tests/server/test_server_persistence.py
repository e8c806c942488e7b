"""State survives a restart; the signing secret is made once and kept beside the db."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from serverkit import bearer, db, family_of, live_tokens, login, me, refresh

from server import DEFAULT_CONFIG, PROJECT_ROOT
from server.config import resolve_config
from server.state import get_state


def test_restart_keeps_sessions(make_app: Callable[..., Flask]) -> None:
    """A new app on the same db and secret accepts old tokens and rotates them."""
    before = make_app().test_client()
    tokens = login(before)
    before.post("/api/items", headers=bearer(tokens["access_token"]), json={"title": "kept"})
    after = make_app().test_client()
    assert me(after, tokens["access_token"]).status_code == 200
    items = after.get("/api/items", headers=bearer(tokens["access_token"])).get_json()
    assert [item["title"] for item in items] == ["kept"]
    rotated = refresh(after, tokens["refresh_token"])
    assert rotated.status_code == 200
    assert me(before, rotated.get_json()["access_token"]).status_code == 200


def test_restart_keeps_revocations(make_app: Callable[..., Flask]) -> None:
    """A login revoked before a restart stays revoked after it."""
    before = make_app().test_client()
    tokens = login(before)
    before.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    after = make_app().test_client()
    assert me(after, tokens["access_token"]).status_code == 401
    assert refresh(after, tokens["refresh_token"]).status_code == 400


def test_secret_file_is_created_once_and_private(make_app: Callable[..., Flask]) -> None:
    """The secret is 32 random bytes in "<db>.secret", mode 0600, reused on restart."""
    first = make_app()
    secret_file = Path(first.config["SECRET_FILE"])
    assert secret_file == Path(first.config["DATABASE"] + ".secret")
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = get_state(first).access.secret
    assert len(secret) == 32
    assert get_state(make_app()).access.secret == secret


def test_other_db_gets_other_secret(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    """A token of one server (db + secret) is refused by a server on another db."""
    one = make_app().test_client()
    other = make_app(DATABASE=str(tmp_path / "other" / "db.sqlite3")).test_client()
    token = login(one)["access_token"]
    assert me(other, token).status_code == 401


def test_secret_from_environment(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """$AUTHFETCH_SECRET wins over the secret file, which is then not created."""
    monkeypatch.setenv("AUTHFETCH_SECRET", "s" * 40)
    app = make_app()
    assert get_state(app).access.secret == b"s" * 40
    assert not Path(app.config["SECRET_FILE"]).exists()


def test_short_environment_secret_is_refused(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HS256 secret under 32 bytes is refused at start."""
    monkeypatch.setenv("AUTHFETCH_SECRET", "too-short")
    with pytest.raises(ValueError, match="32 bytes"):
        make_app()


def test_default_database_is_in_the_instance_folder() -> None:
    """Without DATABASE the db is instance/authfetch.sqlite3 (checked without creating it)."""
    assert DEFAULT_CONFIG["DATABASE"] is None
    app = Flask("probe", instance_path=str(PROJECT_ROOT / "instance"))
    app.config.from_mapping(DEFAULT_CONFIG)
    resolve_config(app)
    assert app.config["DATABASE"] == str(PROJECT_ROOT / "instance" / "authfetch.sqlite3")
    assert app.config["SECRET_FILE"] == app.config["DATABASE"] + ".secret"


def test_schema_creation_is_idempotent(make_app: Callable[..., Flask]) -> None:
    """Starting twice on one db keeps a single demo user and the sessions."""
    app = make_app()
    tokens = login(app.test_client())
    again = make_app()
    conn = db(again)
    try:
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    assert live_tokens(again, family_of(tokens["access_token"])) == 1
