"""The sans-IO flows, stepped by hand with next()/send() as httpx tests its auth_flow."""

import pytest
from authfetch_fakes import START, FakeResponse

from authfetch.core import (
    DEFAULT_REFRESH_TIMEOUT,
    AuthConfig,
    ReadJson,
    Refresh,
    ReplayableRequest,
    Send,
    SessionExpiredError,
    SessionMachine,
    Sleep,
    TokenSet,
    refresh_call,
    request_flow,
)

CONFIG = AuthConfig("https://a.example", random=lambda: 0.0)
A = TokenSet("A", "rA", START + 600, issued_at=START)
B = TokenSet("B", "rB", START + 600, issued_at=START)


def start(machine: SessionMachine, url: str = "/api/x"):
    """Start a request flow of a session whose machine is ``machine``."""
    flow = request_flow(ReplayableRequest(url), CONFIG, machine, lambda: START)
    return flow, next(flow)


def finish(flow, value):
    """Send the last result and return the flow's outcome."""
    with pytest.raises(StopIteration) as stop:
        flow.send(value)
    return stop.value.value


def test_flow_sends_with_bearer_and_returns_success():
    """The first command is a Send with the current bearer; a 200 ends the flow."""
    flow, command = start(SessionMachine(A))
    assert isinstance(command, Send) and command.request.headers["Authorization"] == "Bearer A"
    ok = FakeResponse(200)
    assert finish(flow, ok) is ok


def test_flow_asks_for_refresh_then_replays():
    """A 401 for the current token yields Refresh, then a Send with the new token."""
    flow, first = start(SessionMachine(A))
    refresh = flow.send(FakeResponse(401))
    assert isinstance(refresh, Refresh) and refresh.stale == "A"
    replay = flow.send(B)
    assert isinstance(replay, Send) and replay.request.token == "B"
    assert (first.request.replay, replay.request.replay) == (False, True)


def test_flow_stale_401_replays_without_refresh():
    """If the session moved to B while A was in flight, the 401 leads straight to a Send with B."""
    machine = SessionMachine(A)
    flow, _ = start(machine)
    machine.adopt(B.__class__("B", "rB", START + 600, issued_at=START, version=1))
    replay = flow.send(FakeResponse(401))
    assert isinstance(replay, Send) and replay.request.token == "B"


def test_flow_returns_second_401():
    """After one replay, a second 401 is the outcome (no loop)."""
    flow, _ = start(SessionMachine(A))
    flow.send(FakeResponse(401))
    flow.send(B)
    second = FakeResponse(401)
    assert finish(flow, second) is second


def test_flow_proactive_refresh_comes_before_the_send():
    """A token within leeway makes Refresh the first command."""
    due = TokenSet("A", "rA", START + 5, issued_at=START - 595)
    _, command = start(SessionMachine(due))
    assert isinstance(command, Refresh) and command.stale == "A"


def test_flow_refresh_error_is_thrown_through():
    """An exception from the Refresh command propagates out of the flow."""
    flow, _ = start(SessionMachine(A))
    flow.send(FakeResponse(401))
    with pytest.raises(SessionExpiredError):
        flow.throw(SessionExpiredError())


def test_refresh_flow_backs_off_between_attempts():
    """The refresh call yields Send, Sleep, Send on a 503, and returns the new tokens on 200."""
    flow = refresh_call(CONFIG, A, lambda: START)
    send = next(flow)
    assert isinstance(send, Send) and send.request.json() == {"refresh_token": "rA"}
    assert send.request.url == "https://a.example/auth/refresh"
    assert send.request.role == "refresh" and send.timeout == DEFAULT_REFRESH_TIMEOUT
    sleep = flow.send(FakeResponse(503))
    assert isinstance(sleep, Sleep) and sleep.seconds == 0.25
    assert isinstance(flow.send(None), Send)
    assert isinstance(flow.send(FakeResponse(200, {"access_token": "B"})), ReadJson)
    tokens = finish(flow, {"access_token": "B", "expires_in": 60})
    assert (tokens.access_token, tokens.refresh_token) == ("B", "rA")
    assert (tokens.login, tokens.version) == (A.login, A.version + 1)


def test_flow_401_after_the_session_ended_fails_with_session_expired():
    """A 401 that arrives after a refusal or logout ended the session raises
    SessionExpiredError, the same error as the requests that waited on the refresh."""
    machine = SessionMachine(A)
    flow, _ = start(machine)
    machine.sign_out("logout")
    with pytest.raises(SessionExpiredError):
        flow.send(FakeResponse(401))
