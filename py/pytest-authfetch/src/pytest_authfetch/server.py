"""A running authfetch mock server and a typed handle on its test controls.

The server is this package's copy of the repository's ``server/``, run as
``python -m pytest_authfetch.mockserver`` (installing the plugin adds no
top-level ``server`` package). No pytest in here: benchmarks and load tests use
:class:`AuthfetchServer` directly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypedDict

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
#: How long :meth:`AuthfetchServer.restart` keeps trying to bind the port it had.
SAME_PORT_TIMEOUT_S = 5.0
READY_LINE = re.compile(r"authfetch server on (http://\S+)")
DEMO_USER = ("demo", "demo-pass")
#: How the server is started: ``python -m`` this module.
SERVER_MODULE = "pytest_authfetch.mockserver"
#: The OAuth 2.0 / OpenID Connect client the mock provider has registered.
OIDC_CLIENT_ID = "authfetch-demo"


class Stats(TypedDict):
    """The server's counters (``GET /__test__/stats``)."""

    refresh_ok: int
    refresh_failed: int
    reuse_detected: int
    api_401: int
    api_ok: int
    login: int
    code_exchanged: int
    revoked: int
    dpop_accepted: int
    dpop_refused: int
    dpop_nonce_challenges: int


class Reply(NamedTuple):
    """One HTTP answer: status, decoded JSON body (``None`` if empty or not JSON), headers."""

    status: int
    body: Any
    headers: Mapping[str, str]


class ServerError(RuntimeError):
    """The server did not start, or it refused a call that had to succeed."""


@dataclass(frozen=True)
class ServerOptions:
    """Command-line options of one mock server; ``None`` keeps the server's default."""

    access_ttl: int | None = None
    refresh_ttl: int | None = None
    idle_ttl: int | None = None
    reuse_grace: float | None = None
    allow_origins: tuple[str, ...] = ()
    #: More redirect URIs for the OAuth client (``/path`` = on the server's origin); the
    #: demo page's ``/`` and ``/?interpreter=mpy`` are always registered.
    redirect_uris: tuple[str, ...] = ()
    #: More post-logout redirect URIs (same rule; the redirect URIs are allowed too).
    post_logout_redirect_uris: tuple[str, ...] = ()
    testing: bool = True
    args: tuple[str, ...] = field(default=())

    def cli(self) -> list[str]:
        """These options as the server's flags (without ``--port`` and ``--db``)."""
        flags: list[str] = []
        for flag, value in (
            ("--access-ttl", self.access_ttl),
            ("--refresh-ttl", self.refresh_ttl),
            ("--idle-ttl", self.idle_ttl),
            ("--reuse-grace", self.reuse_grace),
        ):
            if value is not None:
                flags += [flag, str(value)]
        for origin in self.allow_origins:
            flags += ["--allow-origin", origin]
        for uri in self.redirect_uris:
            flags += ["--redirect-uri", uri]
        for uri in self.post_logout_redirect_uris:
            flags += ["--post-logout-redirect-uri", uri]
        if self.testing:
            flags.append("--testing")
        return [*flags, *self.args]


class AuthfetchServer:
    """One mock server process on 127.0.0.1 and its test controls (``/__test__/*``).

    ``url`` is its origin. The clock, faults and counters live in the process:
    :meth:`restart` keeps the database, the port (when it can) and the clock's
    offset, and loses armed faults and counters, as a real restart would.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        options: ServerOptions | None = None,
        *,
        python: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        """Describe a server on the database ``db_path``; :meth:`start` runs it."""
        self.db_path = Path(db_path)
        self.options = options or ServerOptions()
        self.python = python or sys.executable
        self.env = dict(os.environ if env is None else env)
        self.cwd = Path(cwd) if cwd is not None else self.db_path.parent
        self.log_path = self.db_path.with_suffix(".log")
        self.url = ""
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @classmethod
    def launch(
        cls, db_path: str | os.PathLike[str], options: ServerOptions | None = None, **kwargs: Any
    ) -> AuthfetchServer:
        """Start a server on ``db_path`` and return its handle once it listens."""
        server = cls(db_path, options, **kwargs)
        server.start()
        return server

    # -- process ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, port: int = 0) -> None:
        """Run the server on ``port`` (0: a free one) and wait until it listens."""
        if self.running:
            raise ServerError(f"already running on {self.url}")
        command = [self.python, "-m", SERVER_MODULE, "--port", str(port), "--db", str(self.db_path)]
        command += self.options.cli()
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            self._process = subprocess.Popen(
                command, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.url = self._wait_for_url()
        self.port = int(self.url.rsplit(":", 1)[1])

    def _wait_for_url(self) -> str:
        """The URL the server printed once it listened; raise with its log if it died or hung."""
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            found = READY_LINE.search(self.log())
            if found:
                return found.group(1)
            if self._process.poll() is not None:
                break
            time.sleep(0.02)  # a child process's output: nothing to wait on but the file
        self.stop()
        raise ServerError(f"the authfetch server did not start:\n{self.log()}")

    def log(self) -> str:
        """What the current process wrote to stdout and stderr so far."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def stop(self) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL) and return its exit code."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def restart(self, *, keep_clock: bool = True) -> None:
        """Stop and start again on the same database and, if it can be bound, the same port.

        With ``keep_clock`` the server clock's offset survives (time does not go back).
        """
        offset = self.clock()["offset"] if keep_clock and self.running else 0.0
        port = self.port
        self.stop()
        deadline = time.monotonic() + SAME_PORT_TIMEOUT_S
        while True:
            try:
                self.start(port)
                break
            except ServerError:
                if time.monotonic() >= deadline:
                    self.start(0)  # the old port is taken: a new origin, say so in the URL
                    break
        if offset:
            self.advance(offset)

    def ensure_running(self) -> None:
        """Start the server again (same database and port) if its process has ended."""
        if not self.running:
            self.stop()
            self.start(self.port)

    # -- HTTP ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Reply:
        """Send one request (JSON body, optional bearer) and return the answer, whatever it is."""
        data = None if json_body is None else json.dumps(json_body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return _reply(response.status, response.read(), response.headers)
        except urllib.error.HTTPError as error:
            with error:
                return _reply(error.code, error.read(), error.headers)

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> Any:
        """Send a request that must succeed (2xx) and return its decoded JSON body."""
        reply = self.request(method, path, body, token=token)
        if not 200 <= reply.status < 300:
            raise ServerError(f"{method} {path} answered {reply.status}: {reply.body!r}")
        return reply.body

    # -- test controls -----------------------------------------------------------------------

    def stats(self) -> Stats:
        """The counters: refresh_ok, refresh_failed, reuse_detected, api_401, api_ok, login,
        code_exchanged, revoked, and DPoP's dpop_accepted, dpop_refused,
        dpop_nonce_challenges."""
        counters: Stats = self.call("GET", "/__test__/stats")
        return counters

    def reset(self) -> None:
        """Drop every session and item, zero the counters, disarm faults, real time again."""
        self.call("POST", "/__test__/reset")

    def advance(self, seconds: float) -> float:
        """Move the server clock forward by ``seconds``; return the server's time."""
        return float(self.call("POST", "/__test__/clock", {"advance": seconds})["now"])

    def clock(self) -> dict[str, float]:
        """``{"offset", "now"}``: how far the clock was moved, and the server's time."""
        answer: dict[str, float] = self.call("GET", "/__test__/clock")
        return answer

    def fail_next_refresh(
        self,
        count: int = 1,
        *,
        status: int | None = None,
        delay: float = 0.0,
        lost: bool = False,
    ) -> dict[str, Any]:
        """Make the next ``count`` refresh calls fail: answer ``status``, wait ``delay`` seconds,
        or rotate, commit and lose the answer (``lost``). ``delay`` combines with either.

        A new call replaces what was armed; returns what is armed now.
        """
        if status is None and not lost and not delay:
            raise ValueError("give status, delay or lost=True")
        body: dict[str, Any] = {"count": count, "delay_ms": round(delay * 1000)}
        if status is not None:
            body["status"] = status
        if lost:
            body["drop_after_commit"] = True
        armed: dict[str, Any] = self.call("POST", "/__test__/faults", body)
        return armed

    def arm_id_token_nonce(self, nonce: str, count: int = 1) -> dict[str, Any]:
        """Give the ID tokens of the next ``count`` code exchanges ``nonce`` instead of the
        real one (a client's "wrong nonce" test); returns ``{"id_token_nonce", "count"}``."""
        body = {"id_token_nonce": nonce, "count": count}
        armed: dict[str, Any] = self.call("POST", "/__test__/faults", body)
        return armed

    def discovery(self) -> dict[str, Any]:
        """The provider's metadata (``/.well-known/openid-configuration``)."""
        metadata: dict[str, Any] = self.call("GET", "/.well-known/openid-configuration")
        return metadata

    def armed(self) -> dict[str, Any]:
        """The armed fault: ``{"count", "delay_ms", "status", "drop_after_commit"}``."""
        pending: dict[str, Any] = self.call("GET", "/__test__/faults")
        return pending

    def clear_faults(self) -> None:
        """Disarm any armed refresh fault."""
        self.call("POST", "/__test__/faults", {"count": 0})

    def login(self, username: str = DEMO_USER[0], password: str = DEMO_USER[1]) -> dict[str, Any]:
        """Log in (the demo user by default) and return the token response."""
        tokens: dict[str, Any] = self.call(
            "POST", "/auth/login", {"username": username, "password": password}
        )
        return tokens


def _reply(status: int, payload: bytes, headers: Any) -> Reply:
    """A :class:`Reply` with the body decoded as JSON when it is JSON."""
    try:
        body = json.loads(payload) if payload else None
    except ValueError:
        body = payload.decode(errors="replace")
    return Reply(status, body, dict(headers.items()))
