"""``python -m server``: the command line, and the real server under waitress over HTTP."""

from __future__ import annotations

import http.client
import json
import selectors
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server import PROJECT_ROOT
from server.__main__ import config_from_args, parse_args

START_TIMEOUT_S = 30
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


class Server:
    """``python -m server --port 0 --testing`` on a temporary db, spoken to with urllib."""

    def __init__(self, tmp_path: Path) -> None:
        """Start it and wait for its "authfetch server on" line."""
        self.stderr_path = tmp_path / "server.stderr"
        self.stderr = self.stderr_path.open("w")
        command = [sys.executable, "-m", "server", "--port", "0", "--testing",
                   "--db", str(tmp_path / "db" / "authfetch.sqlite3")]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=self.stderr, text=True
        )
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        """The URL from the ready line (fails with the server's stderr if it never comes)."""
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if selector.select(timeout=START_TIMEOUT_S):
                line = self.process.stdout.readline()
                if line.startswith("authfetch server on http://127.0.0.1:"):
                    return line.split(" on ", 1)[1].strip()
        self.stop()
        raise AssertionError("server did not start: " + self.stderr_path.read_text())

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        """Send a request (with a bearer ``token``); return (status, JSON or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        return status, json.loads(payload) if payload else None

    def stop(self) -> int:
        """SIGTERM, wait, and return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()
        return self.process.returncode


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[Server]:
    """A running CLI server, stopped after the test."""
    server = Server(tmp_path)
    try:
        yield server
    finally:
        server.stop()


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
