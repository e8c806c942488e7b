"""``python -m server``: the command line, and the real server under waitress over HTTP."""

from __future__ import annotations

import http.client
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest
from liveserver import Server

from server import PROJECT_ROOT
from server.__main__ import config_from_args, parse_args

DEMO = {"username": "demo", "password": "demo-pass"}
FLAGS = ["--host", "--port", "--access-ttl", "--refresh-ttl", "--idle-ttl", "--reuse-grace",
         "--db", "--allow-origin", "--testing"]  # fmt: skip


def test_help_lists_every_flag() -> None:
    """``python -m server --help`` exits 0 and documents every flag of the contract."""
    done = subprocess.run(
        [sys.executable, "-m", "server", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for flag in FLAGS:
        assert flag in done.stdout


def test_flags_become_config() -> None:
    """Each flag lands in the matching create_app config key."""
    args = parse_args(
        ["--access-ttl", "5", "--refresh-ttl", "100", "--idle-ttl", "50", "--reuse-grace",
         "0.5", "--db", "/tmp/x.sqlite3", "--allow-origin", "http://a.example",
         "--allow-origin", "https://b.example:8443", "http://c.example", "--testing"]
    )  # fmt: skip
    assert config_from_args(args) == {
        "ACCESS_TTL": 5,
        "REFRESH_TTL": 100,
        "IDLE_TTL": 50,
        "REUSE_GRACE": 0.5,
        "DATABASE": "/tmp/x.sqlite3",
        "ALLOW_ORIGINS": ["http://a.example", "https://b.example:8443", "http://c.example"],
        "TESTING_ROUTES": True,
    }


def test_flag_defaults() -> None:
    """Without flags: 127.0.0.1:8000, 30 s / 8 h / 30 min / 10 s, default db, no CORS."""
    args = parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 8000)
    config = config_from_args(args)
    assert config == {
        "ACCESS_TTL": 30,
        "REFRESH_TTL": 28800,
        "IDLE_TTL": 1800,
        "REUSE_GRACE": 10.0,
        "ALLOW_ORIGINS": [],
        "TESTING_ROUTES": False,
    }


@pytest.mark.parametrize(
    "argv",
    [["--access-ttl", "0"], ["--access-ttl", "abc"], ["--reuse-grace", "-1"],
     ["--allow-origin", "*"], ["--allow-origin", "http://a.example/path"], ["--port", "x"]],
    ids=["zero-ttl", "text-ttl", "negative-grace", "wildcard-origin", "origin-path", "bad-port"],
)  # fmt: skip
def test_bad_flags_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Nonsense values stop argparse with exit status 2 and a message."""
    with pytest.raises(SystemExit) as stopped:
        parse_args(argv)
    assert stopped.value.code == 2
    assert "error" in capsys.readouterr().err


# ---------------------------------------------------------------- the real server


def test_real_server_login_refresh_and_lost_response(real_server: Server) -> None:
    """Over real HTTP: login, refresh, a response lost after commit, recovery within grace."""
    status, tokens = real_server.call("POST", "/auth/login", DEMO)
    assert status == 200 and tokens["token_type"] == "Bearer"
    status, rotated = real_server.call("POST", "/auth/refresh", _refresh_body(tokens))
    assert status == 200 and rotated["refresh_token"] != tokens["refresh_token"]

    status, _ = real_server.call(
        "POST", "/__test__/faults", {"count": 1, "drop_after_commit": True}
    )
    assert status == 200
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        real_server.call("POST", "/auth/refresh", _refresh_body(rotated))

    status, recovered = real_server.call("POST", "/auth/refresh", _refresh_body(rotated))
    assert status == 200  # the client retries the lost refresh inside the reuse grace
    status, me = real_server.call("GET", "/api/me", token=recovered["access_token"])
    assert status == 200 and me["username"] == "demo"
    status, me = real_server.call("GET", "/api/me")
    assert status == 401 and me["error"] == "unauthorized"
    status, stats = real_server.call("GET", "/__test__/stats")
    assert (stats["refresh_ok"], stats["reuse_detected"]) == (3, 0)
    assert "Traceback" not in real_server.stderr_path.read_text()


def _refresh_body(tokens: dict[str, Any]) -> dict[str, str]:
    """The refresh request for a token response."""
    return {"refresh_token": tokens["refresh_token"]}


def test_real_server_stops_cleanly(real_server: Server) -> None:
    """SIGTERM ends the server with exit status 0 and no traceback."""
    status, _ = real_server.call("GET", "/__test__/stats")
    assert status == 200
    assert real_server.stop() == 0
    assert "Traceback" not in real_server.stderr_path.read_text()
