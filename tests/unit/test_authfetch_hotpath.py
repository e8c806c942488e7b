"""What the per-request path remembers and skips (issue 17): every answer stays the same."""

import asyncio

from authfetch_fakes import BASE, Rig

from authfetch.core import AuthConfig, ReplayableRequest, TokenSet
from authfetch.core.policy import TARGETS_KEPT


def test_target_is_resolve_and_bearer_allowed_remembered_per_url():
    """``target(url)`` answers what ``resolve`` and ``bearer_allowed`` answer, for allowed,
    foreign, relative and token-endpoint URLs, the first time and from memory."""
    config = AuthConfig(BASE, allowed_origins=[BASE, "https://other.example"])
    urls = [
        "/api/items",
        BASE + "/api/items?x=1",
        "https://other.example/v1",
        "https://evil.example/api",
        "/auth/refresh",
        BASE + "/auth/login",
    ]
    for _ in range(2):
        for url in urls:
            resolved = config.resolve(url)
            assert config.target(url) == (resolved, config.bearer_allowed(resolved))
    assert config.target("/auth/refresh")[1] is False
    assert config.target("https://evil.example/api")[1] is False


def test_target_memory_is_bounded_and_forgotten_when_the_endpoints_change():
    """The memory starts again past ``TARGETS_KEPT`` URLs, and after the provider's
    endpoints are taken (a URL that became the token endpoint loses the bearer)."""
    config = AuthConfig(BASE)
    for number in range(TARGETS_KEPT * 2 + 1):
        config.target("/api/items/" + str(number))
    assert len(config._targets) <= TARGETS_KEPT
    assert config.target(BASE + "/oauth/token") == (BASE + "/oauth/token", True)

    class Provider:
        token_endpoint = BASE + "/oauth/token"
        revocation_endpoint = None

    config.oauth = Provider()  # type: ignore[assignment]
    config.use_provider_endpoints()
    assert config.target(BASE + "/oauth/token") == (BASE + "/oauth/token", False)


def test_needs_refresh_follows_the_leeway_asked_each_time():
    """The leeway worked out once per token is the one asked for: a larger leeway asked later
    makes a refresh due sooner, a smaller one later."""
    tokens = TokenSet("a", "r", expires_at=1000.0, issued_at=400.0)
    assert tokens.needs_refresh(960.0, 10.0) is False
    assert tokens.needs_refresh(960.0, 50.0) is True
    assert tokens.needs_refresh(960.0, 10.0) is False
    assert tokens.needs_refresh(960.0) is False  # default: min(30, lifetime / 3) = 30
    assert tokens.needs_refresh(971.0) is True


def test_without_request_events_the_session_events_still_come():
    """``request_events=False``: no request/response/refresh events, but the tokens of a
    refresh are still told (the edge's timer and state() depend on them)."""
    names: list = []
    rig = Rig(on_event=lambda event: names.append(event.name), request_events=False)
    rig.server.expire(rig.initial.access_token)
    response = asyncio.run(rig.session.fetch(ReplayableRequest(BASE + "/api/items")))
    assert response.status == 200
    assert "tokens" in names
    assert not {"request", "response", "refresh", "refreshed"} & set(names)


def test_with_request_events_every_send_is_told():
    """The default: each send and answer is an event (a 401, the refresh, the replay)."""
    names: list = []
    rig = Rig(on_event=lambda event: names.append(event.name))
    rig.server.expire(rig.initial.access_token)
    asyncio.run(rig.session.fetch(ReplayableRequest(BASE + "/api/items")))
    assert names.count("request") == 2 and names.count("response") == 2
    assert "refresh" in names and "refreshed" in names


def test_sync_session_without_request_events_tells_none():
    """The synchronous driver honours ``request_events=False`` too."""
    names: list = []
    rig = Rig(sync=True, on_event=lambda event: names.append(event.name), request_events=False)
    assert rig.session.fetch(ReplayableRequest(BASE + "/api/items")).status == 200
    assert not {"request", "response"} & set(names)
