"""The pytest plugin (entry point ``pytest11: authfetch``): fixtures that run the mock server.

* ``authfetch_server`` — a running server with test controls, reset for this test.
  Servers are shared by the tests that ask for the same options (marker
  ``@pytest.mark.authfetch_server(access_ttl=5, reuse_grace=0, ...)``), so a
  suite pays the start-up once per set of options.
* ``authfetch_server_factory`` — ``make(**options)`` starts a server of this
  test's own (own database); it is stopped when the test ends.
* ``authfetch_server_pool`` — the session's shared servers (for session fixtures).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_authfetch.server import AuthfetchServer, ServerOptions

MARKER = "authfetch_server"


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--authfetch-python`` and the ``authfetch_server_args`` ini setting."""
    group = parser.getgroup("authfetch", "authfetch mock server")
    group.addoption(
        "--authfetch-python",
        default=None,
        metavar="PYTHON",
        help="the Python that runs the mock server (default: the one running pytest)",
    )
    parser.addini(
        "authfetch_server_args",
        type="args",
        default=[],
        help="extra mock server flags (as for `python -m server`) for every authfetch mock server",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that sets a test's server options."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(access_ttl=None, refresh_ttl=None, idle_ttl=None, reuse_grace=None, "
        "allow_origins=(), redirect_uris=(), post_logout_redirect_uris=(), testing=True, "
        "args=()): options of this test's authfetch_server",
    )


def options_from(**kwargs: Any) -> ServerOptions:
    """:class:`ServerOptions` from keyword arguments (lists become tuples)."""
    for key in ("allow_origins", "redirect_uris", "post_logout_redirect_uris", "args"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    return ServerOptions(**kwargs)


class ServerPool:
    """The session's servers, one per set of options, each with its own database."""

    def __init__(self, folder: Path, python: str | None, base_args: list[str]) -> None:
        """Servers go under ``folder``; each gets ``base_args`` after its options."""
        self.folder = folder
        self.python = python
        self.base_args = tuple(base_args)
        self._servers: dict[ServerOptions, AuthfetchServer] = {}
        self._made = 0

    def new(self, options: ServerOptions) -> AuthfetchServer:
        """Start a server of its own on a new database (the caller stops it)."""
        self._made += 1
        folder = self.folder / f"server-{self._made}"
        folder.mkdir()
        full = replace(options, args=options.args + self.base_args)
        return AuthfetchServer.launch(folder / "authfetch.sqlite3", full, python=self.python)

    def get(self, options: ServerOptions) -> AuthfetchServer:
        """The shared server with these options, started on first use (and after a stop)."""
        server = self._servers.get(options)
        if server is None:
            server = self._servers[options] = self.new(options)
        server.ensure_running()
        return server

    def stop_all(self) -> None:
        """Stop every shared server."""
        for server in self._servers.values():
            server.stop()
        self._servers.clear()


@pytest.fixture(scope="session")
def authfetch_server_pool(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[ServerPool]:
    """The session's shared mock servers, stopped at the end of the session."""
    pool = ServerPool(
        tmp_path_factory.mktemp("authfetch"),
        pytestconfig.getoption("--authfetch-python"),
        pytestconfig.getini("authfetch_server_args"),
    )
    yield pool
    pool.stop_all()


@pytest.fixture
def authfetch_server(
    request: pytest.FixtureRequest, authfetch_server_pool: ServerPool
) -> AuthfetchServer:
    """A running mock server, reset (no sessions, zero counters, real time, no faults)."""
    marker = request.node.get_closest_marker(MARKER)
    options = options_from(**marker.kwargs) if marker else ServerOptions()
    server = authfetch_server_pool.get(options)
    server.reset()
    return server


@pytest.fixture
def authfetch_server_factory(
    authfetch_server_pool: ServerPool,
) -> Iterator[Callable[..., AuthfetchServer]]:
    """``make(**options)``: a new server of this test's own, stopped when the test ends."""
    made: list[AuthfetchServer] = []

    def make(**options: Any) -> AuthfetchServer:
        """Start a server with ``options`` (the marker's keywords)."""
        server = authfetch_server_pool.new(options_from(**options))
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()
