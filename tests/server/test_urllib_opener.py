"""authfetch's urllib opener (the sync path) against the real server, in plain CPython."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from pytest_authfetch import AuthfetchServer, ServerOptions
from pytest_authfetch.plugin import ServerPool

from authfetch import AuthConfig, MemoryStore, SessionExpiredError, SyncAuthSession
from authfetch.urllib_opener import UrllibTransport, build_opener


@pytest.fixture(scope="module")
def live_server(authfetch_server_pool: ServerPool) -> Iterator[AuthfetchServer]:
    """The real server (waitress) with test controls, for this module (the plugin's)."""
    server = authfetch_server_pool.new(ServerOptions())
    yield server
    server.stop()


@pytest.fixture
def session(live_server: AuthfetchServer) -> SyncAuthSession:
    """A logged-in sync session on a reset server."""
    live_server.reset()
    sync = SyncAuthSession(AuthConfig(live_server.url), UrllibTransport(), MemoryStore())
    sync.login("demo", "demo-pass")
    return sync


def test_opener_refreshes_and_replays_an_expired_request(session, live_server):
    """An urllib request with an expired token succeeds after exactly one refresh."""
    live_server.advance(40)
    with build_opener(session).open("/api/me") as response:
        assert response.status == 200
        assert b'"demo"' in response.read()
    assert live_server.stats()["refresh_ok"] == 1
    assert session.refreshes == 1


def test_opener_posts_the_same_body_again_after_refresh(session, live_server):
    """A POST body is replayed byte for byte after the refresh."""
    live_server.advance(40)
    request = urllib.request.Request(
        live_server.url + "/api/items",
        data=b'{"title": "from urllib"}',
        headers={"Content-Type": "application/json"},
    )
    with build_opener(session).open(request) as response:
        assert response.status == 201
    stats = live_server.stats()
    assert (stats["api_401"], stats["refresh_ok"]) == (1, 1)


def test_opener_raises_http_error_like_urllib(session):
    """A 4xx answer that is not an expired token raises urllib's HTTPError."""
    with pytest.raises(urllib.error.HTTPError) as caught:
        build_opener(session).open("/api/nothing-here")
    assert caught.value.code == 404


def test_opener_dead_refresh_token_raises_session_expired(session, live_server):
    """A refused refresh ends the session with SessionExpiredError."""
    live_server.reset()
    live_server.advance(40)
    with pytest.raises(SessionExpiredError):
        build_opener(session).open("/api/me")
    assert session.tokens is None
