"""The pytest-authfetch fixtures and handle, against real `python -m server` processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from pytest_authfetch import AuthfetchServer, ServerError


def refresh(server: AuthfetchServer, refresh_token: str) -> int:
    """POST /auth/refresh; the status (0 when the answer was lost)."""
    try:
        return server.request("POST", "/auth/refresh", {"refresh_token": refresh_token}).status
    except OSError:  # the connection closed with no answer (lost=True)
        return 0


def test_fixture_gives_a_reset_server_with_controls(authfetch_server: AuthfetchServer) -> None:
    """url, login, stats and advance work; the fixture hands over zeroed counters."""
    assert authfetch_server.url.startswith("http://127.0.0.1:")
    assert authfetch_server.stats() == {
        "refresh_ok": 0,
        "refresh_failed": 0,
        "reuse_detected": 0,
        "api_401": 0,
        "api_ok": 0,
        "login": 0,
        "code_exchanged": 0,
        "revoked": 0,
        "dpop_accepted": 0,
        "dpop_refused": 0,
        "dpop_nonce_challenges": 0,
    }
    tokens = authfetch_server.login()
    assert authfetch_server.request("GET", "/api/me", token=tokens["access_token"]).status == 200
    authfetch_server.advance(40)  # past the 30 s access token and the 5 s leeway
    assert authfetch_server.request("GET", "/api/me", token=tokens["access_token"]).status == 401
    assert authfetch_server.stats()["login"] == 1
    assert authfetch_server.stats()["api_401"] == 1


def test_next_test_sees_a_reset_server(authfetch_server: AuthfetchServer) -> None:
    """The shared server was reset between tests: zero counters, real time."""
    assert authfetch_server.stats()["login"] == 0
    assert authfetch_server.clock()["offset"] == 0


@pytest.mark.authfetch_server(access_ttl=7, reuse_grace=0)
def test_marker_sets_the_server_options(authfetch_server: AuthfetchServer) -> None:
    """``@pytest.mark.authfetch_server(...)`` reaches the server's command line."""
    tokens = authfetch_server.login()
    assert tokens["expires_in"] == 7
    assert refresh(authfetch_server, tokens["refresh_token"]) == 200
    assert refresh(authfetch_server, tokens["refresh_token"]) == 400  # no grace: reuse
    assert authfetch_server.stats()["reuse_detected"] == 1


def test_fail_next_refresh_status_delay_and_lost(authfetch_server: AuthfetchServer) -> None:
    """Each fault kind does what it says, and ``clear_faults`` disarms."""
    token = authfetch_server.login()["refresh_token"]
    authfetch_server.fail_next_refresh(status=503)
    assert refresh(authfetch_server, token) == 503
    authfetch_server.fail_next_refresh(delay=0.3)
    started = time.monotonic()
    assert refresh(authfetch_server, token) == 200
    assert time.monotonic() - started >= 0.3
    authfetch_server.fail_next_refresh(lost=True)
    assert refresh(authfetch_server, authfetch_server.login()["refresh_token"]) == 0
    assert authfetch_server.stats()["refresh_ok"] == 2  # the lost one was committed
    authfetch_server.fail_next_refresh(3, status=502)
    authfetch_server.clear_faults()
    assert refresh(authfetch_server, authfetch_server.login()["refresh_token"]) == 200
    with pytest.raises(ValueError):
        authfetch_server.fail_next_refresh()


def test_call_raises_on_an_error_answer(authfetch_server: AuthfetchServer) -> None:
    """``call`` is for requests that must succeed; ``request`` returns any answer."""
    with pytest.raises(ServerError, match="401"):
        authfetch_server.call("GET", "/api/me")
    assert authfetch_server.request("GET", "/api/me").status == 401


def test_restart_keeps_db_port_and_clock(
    authfetch_server_factory: Callable[..., AuthfetchServer],
) -> None:
    """After restart the same URL answers, sessions survive and the clock is not set back."""
    server = authfetch_server_factory()
    tokens = server.login()
    now = server.advance(100)
    url = server.url
    server.restart()
    assert server.url == url
    assert server.clock()["now"] >= now
    assert refresh(server, tokens["refresh_token"]) == 200
    assert server.stats()["refresh_ok"] == 1  # counters are the new process's


def test_factory_servers_are_separate_and_stopped(
    authfetch_server_factory: Callable[..., AuthfetchServer],
) -> None:
    """Two factory servers have their own databases; ``stop`` ends the process."""
    first = authfetch_server_factory(access_ttl=3)
    second = authfetch_server_factory()
    assert first.url != second.url
    assert first.login()["expires_in"] == 3
    assert second.stats()["login"] == 0
    assert first.stop() == 0
    assert not first.running


def test_many_threads_share_one_handle(authfetch_server: AuthfetchServer) -> None:
    """The handle holds no per-request state: threads may call it at once."""
    statuses: list[int] = []

    def login() -> None:
        """One login through the shared handle."""
        statuses.append(authfetch_server.request("POST", "/auth/login", _demo()).status)

    threads = [threading.Thread(target=login) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8


def test_a_server_that_cannot_start_says_why(
    authfetch_server_factory: Callable[..., AuthfetchServer],
) -> None:
    """A bad flag: ``ServerError`` carrying the server's own message, no hang."""
    with pytest.raises(ServerError, match="access-ttl"):
        authfetch_server_factory(access_ttl=0)


def _demo() -> dict[str, str]:
    """The demo user's credentials."""
    return {"username": "demo", "password": "demo-pass"}


@pytest.mark.authfetch_server(redirect_uris=("/callback",), post_logout_redirect_uris=("/bye",))
def test_provider_options_and_nonce_control(authfetch_server: AuthfetchServer) -> None:
    """The marker registers redirect URIs; discovery names the server; the nonce control arms."""
    metadata = authfetch_server.discovery()
    assert metadata["issuer"] == authfetch_server.url
    assert metadata["token_endpoint"] == authfetch_server.url + "/oauth/token"
    query = (
        "/oauth/authorize?response_type=code&client_id=authfetch-demo&code_challenge_method=S256"
        f"&code_challenge={'a' * 43}&redirect_uri={authfetch_server.url}/callback"
    )
    assert authfetch_server.request("GET", query).status == 200  # the sign-in page
    unregistered = query.replace("/callback", "/elsewhere")
    assert authfetch_server.request("GET", unregistered).status == 400
    armed = authfetch_server.arm_id_token_nonce("wrong")
    assert armed == {"id_token_nonce": "wrong", "count": 1}
