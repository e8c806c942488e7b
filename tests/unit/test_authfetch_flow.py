"""The sans-IO flows, stepped by hand with next()/send() as httpx tests its auth_flow."""

import pytest
from authfetch_fakes import START, FakeResponse

from authfetch.core import (
    REFRESH,
    SEND,
    SLEEP,
    AuthConfig,
    SessionExpiredError,
    TokenSet,
    refresh_flow,
    request_flow,
)

CONFIG = AuthConfig("https://a.example", random=lambda: 0.0)
A = TokenSet("A", "rA", START + 600, issued_at=START)
B = TokenSet("B", "rB", START + 600, issued_at=START)


def start(tokens_box: list, url: str = "/api/x"):
    """Start a request flow whose session holds ``tokens_box[0]``."""
    from authfetch.core import ReplayableRequest

    flow = request_flow(ReplayableRequest(url), CONFIG, lambda: tokens_box[0], lambda: START)
    return flow, next(flow)


def finish(flow, value):
    """Send the last result and return the flow's outcome."""
    with pytest.raises(StopIteration) as stop:
        flow.send(value)
    return stop.value.value


def test_flow_sends_with_bearer_and_returns_success():
    """The first command is a SEND with the current bearer; a 200 ends the flow."""
    flow, (kind, request) = start([A])
    assert kind == SEND and request.headers["Authorization"] == "Bearer A"
    ok = FakeResponse(200)
    assert finish(flow, ok) is ok


def test_flow_asks_for_refresh_then_replays():
    """A 401 for the current token yields REFRESH, then a SEND with the new token."""
    flow, (_, first) = start([A])
    assert flow.send(FakeResponse(401)) == (REFRESH, "A")
    kind, replay = flow.send(B)
    assert kind == SEND and replay.token == "B"
    assert (first.replay, replay.replay) == (False, True)


def test_flow_stale_401_replays_without_refresh():
    """If the session moved to B while A was in flight, the 401 leads straight to a SEND with B."""
    box = [A]
    flow, _ = start(box)
    box[0] = B
    kind, replay = flow.send(FakeResponse(401))
    assert kind == SEND and replay.token == "B"


def test_flow_returns_second_401():
    """After one replay, a second 401 is the outcome (no loop)."""
    flow, _ = start([A])
    flow.send(FakeResponse(401))
    flow.send(B)
    second = FakeResponse(401)
    assert finish(flow, second) is second


def test_flow_proactive_refresh_comes_before_the_send():
    """A token within leeway makes REFRESH the first command."""
    due = TokenSet("A", "rA", START + 5, issued_at=START - 595)
    _, command = start([due])
    assert command == (REFRESH, "A")


def test_flow_refresh_error_is_thrown_through():
    """An exception from the REFRESH command propagates out of the flow."""
    flow, _ = start([A])
    flow.send(FakeResponse(401))
    with pytest.raises(SessionExpiredError):
        flow.throw(SessionExpiredError())


def test_refresh_flow_backs_off_between_attempts():
    """The refresh flow yields SEND, SLEEP, SEND on a 503, and returns the new tokens on 200."""
    flow = refresh_flow(CONFIG, A, lambda: START)
    kind, request = next(flow)
    assert kind == SEND and request.json() == {"refresh_token": "rA"}
    assert request.url == "https://a.example/auth/refresh"
    assert flow.send(FakeResponse(503)) == (SLEEP, 0.25)
    assert flow.send(None)[0] == SEND
    assert flow.send(FakeResponse(200, {"access_token": "B", "expires_in": 60}))[0] == "read_json"
    tokens = finish(flow, {"access_token": "B", "expires_in": 60})
    assert (tokens.access_token, tokens.refresh_token) == ("B", "rA")


def test_flow_401_after_the_session_ended_fails_with_session_expired():
    """A 401 that arrives after a refusal or logout ended the session raises
    SessionExpiredError, the same error as the requests that waited on the refresh."""
    box = [A]
    flow, _ = start(box)
    box[0] = None
    with pytest.raises(SessionExpiredError):
        flow.send(FakeResponse(401))
