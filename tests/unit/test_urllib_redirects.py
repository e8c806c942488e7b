"""The urllib path (CPython) follows redirects the way a browser does (issue 8, finding 8)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from authfetch.core import ReplayableRequest, TransportError
from authfetch.urllib_opener import UrllibTransport


class _Recorder(BaseHTTPRequestHandler):
    """Answers ``/go?to=URL`` with a 302 to URL; anything else echoes the Authorization seen."""

    seen: ClassVar[list[tuple[int, str | None]]] = []

    def do_GET(self) -> None:
        """Redirect or echo."""
        if self.path.startswith("/go?to="):
            self.send_response(302)
            self.send_header("Location", self.path[len("/go?to=") :])
            self.end_headers()
            return
        self.seen.append((self.server.server_port, self.headers.get("Authorization")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def two_origins() -> Iterator[tuple[str, str]]:
    """Two HTTP servers on loopback: two origins (different ports)."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Recorder) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    _Recorder.seen = []
    yield tuple(f"http://127.0.0.1:{s.server_port}" for s in servers)  # type: ignore[misc]
    for server in servers:
        server.shutdown()
        server.server_close()


def _get(url: str) -> ReplayableRequest:
    """A request carrying a bearer, as the core would send it."""
    return ReplayableRequest(url).derive(url, "secret-token")


def test_cross_origin_redirect_drops_the_bearer(two_origins):
    """A redirect to another origin arrives there without Authorization."""
    home, elsewhere = two_origins
    UrllibTransport().send(_get(f"{home}/go?to={elsewhere}/landing"))
    assert _Recorder.seen == [(int(elsewhere.rsplit(":", 1)[1]), None)]


def test_same_origin_redirect_keeps_the_bearer(two_origins):
    """A redirect within the origin keeps Authorization (the browser keeps it too)."""
    home, _ = two_origins
    UrllibTransport().send(_get(f"{home}/go?to={home}/landing"))
    assert _Recorder.seen == [(int(home.rsplit(":", 1)[1]), "Bearer secret-token")]


def test_unreachable_server_is_a_transport_error():
    """No answer at all is the core's TransportError (a network error), not a crash."""
    with pytest.raises(TransportError):
        UrllibTransport(timeout=2).send(ReplayableRequest("http://127.0.0.1:9/"))
