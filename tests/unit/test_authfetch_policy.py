"""Pure policy decisions and the single-flight gate."""

import asyncio

import pytest
from authfetch_fakes import yield_to_loop

from authfetch.core import (
    REFRESH_OK,
    REFRESH_SESSION_OVER,
    REFRESH_UNAVAILABLE,
    AuthConfig,
    RefreshGate,
    RefreshUnavailableError,
    ReplayableRequest,
    backoff_delay,
    classify_refresh_status,
)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, REFRESH_OK),
        (400, REFRESH_SESSION_OVER),
        (401, REFRESH_SESSION_OVER),
        (403, REFRESH_SESSION_OVER),
        (429, REFRESH_UNAVAILABLE),
        (408, REFRESH_UNAVAILABLE),
        (500, REFRESH_UNAVAILABLE),
        (503, REFRESH_UNAVAILABLE),
        (302, REFRESH_UNAVAILABLE),
    ],
)
def test_refresh_status_classification(status, verdict):
    """4xx ends the session (except 408/425/429); 5xx and others keep it."""
    assert classify_refresh_status(status) == verdict


def test_backoff_is_jittered_within_half_to_full_ceiling_and_capped():
    """Each delay lies in [ceiling/2, ceiling] with ceiling = min(cap, base * 2**attempt)."""
    assert backoff_delay(0, 0.5, 8.0, 0.0) == 0.25
    assert backoff_delay(0, 0.5, 8.0, 1.0) == 0.5
    assert backoff_delay(3, 0.5, 8.0, 0.5) == 3.0
    assert backoff_delay(10, 0.5, 8.0, 1.0) == 8.0


class Response:
    """Minimal response for predicate tests."""

    def __init__(self, status: int) -> None:
        self.status = status


def test_should_retry_only_for_our_bearer_and_never_for_auth_endpoints():
    """Retry needs a stamped token, retry=True and a non-auth URL; then the predicate decides."""
    config = AuthConfig("https://a.example/base/", refresh_endpoint="/auth/refresh")
    stamped = ReplayableRequest("https://a.example/api").derive(token="t")
    assert config.should_retry(stamped, Response(401))
    assert not config.should_retry(stamped, Response(403))
    assert not config.should_retry(ReplayableRequest("https://a.example/api"), Response(401))
    opted_out = ReplayableRequest("https://a.example/api", retry=False).derive(token="t")
    assert not config.should_retry(opted_out, Response(401))
    for path in ("/auth/refresh", "/auth/login"):
        request = ReplayableRequest("https://a.example" + path).derive(token="t")
        assert not config.should_retry(request, Response(401))


def test_default_allow_list_is_the_api_origin():
    """Without allowed_origins only the API base's origin gets the bearer."""
    config = AuthConfig("https://a.example:443/v1/")
    assert config.bearer_allowed("https://a.example/anything")
    assert not config.bearer_allowed("https://a.example.evil/anything")
    assert not config.bearer_allowed("data:text/plain,hi")
    assert not config.bearer_allowed("https://a.example/auth/refresh")


def test_gate_runs_the_action_once_for_every_caller():
    """Callers arriving while a refresh runs wait for it; the action runs once."""
    gate, calls = RefreshGate(), []

    async def action():
        calls.append(1)
        await yield_to_loop()

    async def scenario():
        return await asyncio.gather(*[gate.run(action) for _ in range(10)])

    assert asyncio.run(scenario()) == [None] * 10 and calls == [1] and gate.runs == 1


def test_gate_waiters_share_the_leaders_exception():
    """Every waiter receives the same exception the flight raised."""
    gate = RefreshGate()
    error = RefreshUnavailableError("down")

    async def action():
        await yield_to_loop()
        raise error

    async def scenario():
        return await asyncio.gather(*[gate.run(action) for _ in range(5)], return_exceptions=True)

    assert asyncio.run(scenario()) == [error] * 5


def test_gate_is_released_after_an_exception():
    """After a failed run the gate is free: the next run executes its own action."""
    gate, ran = RefreshGate(), []

    async def fail():
        raise ValueError("boom")

    async def succeed():
        ran.append("ok")

    async def scenario():
        with pytest.raises(ValueError):
            await gate.run(fail)
        assert not gate.busy
        await gate.run(succeed)

    asyncio.run(scenario())
    assert ran == ["ok"]


def test_gate_cancelled_first_caller_does_not_cancel_the_shared_refresh():
    """Cancelling the caller that started the refresh leaves the refresh running for the others."""
    gate, finished = RefreshGate(), []
    started = release = None

    async def slow():
        started.set()
        await release.wait()
        finished.append(True)

    async def scenario():
        nonlocal started, release
        started, release = asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(gate.run(slow))
        await started.wait()
        waiter = asyncio.create_task(gate.run(slow))
        await yield_to_loop()
        first.cancel()
        await yield_to_loop()
        assert gate.busy, "the refresh must survive its first caller's cancellation"
        release.set()
        await waiter
        assert not gate.busy

    asyncio.run(scenario())
    assert finished == [True]
