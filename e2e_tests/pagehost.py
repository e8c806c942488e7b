"""A real local web server for test pages: the pages a test writes, the rest from upstream.

Chromium's local-network-access checks refuse a page fulfilled by ``page.route`` the
right to call a loopback server of another origin (the provider, its API), so a page
that must talk to another origin is served for real: :class:`PageHost` answers the
paths a test registered with their HTML (whatever the query: a provider comes back
with one) and passes every other ``GET`` (PyScript, the interpreters, the library
archive) through to the mock server.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pytest_authfetch import AuthfetchServer

#: Response headers passed through from upstream.
PASSED_HEADERS = ("Content-Type", "Cache-Control", "ETag", "Last-Modified")


class PageHost:
    """Serve registered pages on 127.0.0.1 (a free port), everything else from ``upstream``."""

    def __init__(self, upstream: str) -> None:
        """Start serving in a thread; :attr:`origin` is where."""
        self.upstream = upstream
        self.pages: dict[str, str] = {}
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                page = host.pages.get(path)
                if page is not None:
                    self._answer(200, {"Content-Type": "text/html; charset=utf-8"}, page.encode())
                    return
                try:
                    with urllib.request.urlopen(host.upstream + self.path, timeout=30) as answer:
                        headers = {
                            k: answer.headers[k] for k in PASSED_HEADERS if answer.headers[k]
                        }
                        self._answer(answer.status, headers, answer.read())
                except urllib.error.HTTPError as error:
                    self._answer(error.code, {"Content-Type": "text/plain"}, error.read())

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def add(self, path: str, html: str) -> str:
        """Serve ``html`` at ``path`` (any query); its URL."""
        self.pages[path] = html
        return self.origin + path

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def page_host(server: AuthfetchServer) -> Iterator[PageHost]:
    """A :class:`PageHost` in front of the session's mock server."""
    host = PageHost(server.url)
    yield host
    host.close()
