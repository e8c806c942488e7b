"""Fixtures for the server tests: an app on a temporary database, and a no-500 guard."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, got_request_exception, request_finished
from flask.testing import FlaskClient
from liveserver import Server
from serverkit import FAST_HASH

from server import create_app


class ServerErrors:
    """What the no-500 guard saw; a test that provokes a 500 on purpose takes it out."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        self.seen: list[str] = []

    def take(self) -> list[str]:
        """Return and forget what was seen (for the test that wants a 500)."""
        seen, self.seen = self.seen, []
        return seen


@pytest.fixture(autouse=True)
def no_server_errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerErrors]:
    """Fail any test in which a request answered 500 or raised; keep the env secret out."""
    monkeypatch.delenv("AUTHFETCH_SECRET", raising=False)
    errors = ServerErrors()

    def on_response(sender: Flask, response: Any, **_extra: Any) -> None:
        if response.status_code >= 500 and response.status_code not in INJECTED_STATUSES:
            errors.seen.append(f"{response.status_code}: {response.get_data(as_text=True)}")

    def on_exception(sender: Flask, exception: BaseException, **_extra: Any) -> None:
        errors.seen.append(repr(exception))

    request_finished.connect(on_response)
    got_request_exception.connect(on_exception)
    try:
        yield errors
    finally:
        request_finished.disconnect(on_response)
        got_request_exception.disconnect(on_exception)
    assert errors.seen == [], f"requests failed on the server: {errors.seen}"


# Statuses a test arms on purpose with POST /__test__/faults.
INJECTED_STATUSES = {502, 503, 504}


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Flask]:
    """Build apps on this test's temporary database (same path = a restart)."""

    def make(**overrides: Any) -> Flask:
        config = {
            "DATABASE": str(tmp_path / "authfetch.sqlite3"),
            "TESTING_ROUTES": True,
            "PASSWORD_HASH_METHOD": FAST_HASH,
            **overrides,
        }
        return create_app(config)

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """An app with the default lifetimes and the test routes."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of :func:`app`."""
    return app.test_client()


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[Server]:
    """``python -m server --testing`` on a free port and a temporary db, stopped after the test."""
    server = Server(tmp_path)
    try:
        yield server
    finally:
        server.stop()
