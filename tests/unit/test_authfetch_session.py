"""The async orchestrator (AuthSession) against a fake server, clock, store and lock."""

import asyncio

import pytest
from authfetch_fakes import (
    BASE,
    ConsistentStore,
    CountingStore,
    Rig,
    network_error,
    yield_to_loop,
)

from authfetch.core import (
    LoginError,
    NotReplayableError,
    RefreshUnavailableError,
    ReplayableRequest,
    SessionExpiredError,
    TokenSet,
)


def get(path: str, **kw) -> ReplayableRequest:
    """A GET to the fake API."""
    return ReplayableRequest(BASE + path, **kw)


async def gather(session, count: int, path: str = "/api/items") -> list:
    """Fire ``count`` concurrent fetches; exceptions are returned, not raised."""
    calls = [session.fetch(get(path)) for _ in range(count)]
    return await asyncio.gather(*calls, return_exceptions=True)


# -- single flight -----------------------------------------------------------------


def test_fifty_concurrent_401s_make_exactly_one_refresh():
    """50 concurrent requests hitting an expired token cause one refresh and 50 successes."""
    rig = Rig()
    rig.server.expire(rig.initial.access_token)
    results = asyncio.run(gather(rig.session, 50))
    assert rig.server.refresh_calls == 1
    assert [r.status for r in results] == [200] * 50
    assert {r.payload["token"] for r in results} == {rig.session.tokens.access_token}


def test_fifty_concurrent_requests_past_expiry_refresh_once_before_sending():
    """50 concurrent requests after local expiry share one proactive refresh and see no 401."""
    rig = Rig()
    rig.clock.t += 601
    results = asyncio.run(gather(rig.session, 50))
    assert rig.server.refresh_calls == 1
    assert rig.server.count_401() == 0
    assert [r.status for r in results] == [200] * 50


def test_stale_401_is_replayed_with_the_new_token_without_refresh():
    """A 401 for token A arriving after a refresh to B is replayed with B and refreshes nothing."""
    rig = Rig()

    async def scenario():
        rig.transport.hold("/api/slow")
        slow = asyncio.create_task(rig.session.fetch(get("/api/slow")))
        await rig.transport.arrived("/api/slow")
        rig.server.expire(rig.initial.access_token)
        first = await rig.session.fetch(get("/api/items"))
        rig.transport.release("/api/slow")
        return first, await slow

    first, slow = asyncio.run(scenario())
    assert (first.status, slow.status) == (200, 200)
    assert rig.server.refresh_calls == 1
    sent = [r.token for r in rig.server.calls("/api/slow")]
    assert sent == [rig.initial.access_token, rig.session.tokens.access_token]


def test_gate_is_released_after_a_failed_refresh():
    """After a refresh fails with an exception, the next request can refresh again."""
    rig = Rig(refresh_attempts=1)
    rig.server.expire(rig.initial.access_token)
    rig.server.refresh_script = [network_error()]

    async def scenario():
        with pytest.raises(RefreshUnavailableError):
            await rig.session.fetch(get("/api/items"))
        assert not rig.session.gate.busy
        return await rig.session.fetch(get("/api/items"))

    assert asyncio.run(scenario()).status == 200
    assert rig.server.refresh_calls == 2


# -- refresh failures -----------------------------------------------------------------


def test_invalid_grant_rejects_every_waiter_and_logs_out_once():
    """Refresh 400 invalid_grant: all waiters get SessionExpiredError, one clear, one on_logout."""
    rig = Rig()
    rig.server.expire(rig.initial.access_token)
    rig.server.live_refresh.clear()
    results = asyncio.run(gather(rig.session, 20))
    assert all(isinstance(r, SessionExpiredError) for r in results)
    assert rig.server.refresh_calls == 1
    assert rig.hooks.logouts == ["expired"]
    assert rig.store.clears == 1
    assert rig.store.load() is None
    assert rig.session.snapshot()["signed_in"] is False


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_any_refresh_4xx_ends_the_session(status):
    """Every non-transient 4xx from the refresh URL means the session is over."""
    rig = Rig()
    rig.server.expire(rig.initial.access_token)
    rig.server.refresh_script = [status]
    with pytest.raises(SessionExpiredError):
        asyncio.run(rig.session.fetch(get("/api/items")))
    assert rig.hooks.logouts == ["expired"]


def test_refresh_503_then_200_completes_without_logout():
    """A 503 from the refresh URL is retried after a backoff; requests complete, no logout."""
    rig = Rig()
    rig.server.expire(rig.initial.access_token)
    rig.server.refresh_script = [503]
    results = asyncio.run(gather(rig.session, 5))
    assert [r.status for r in results] == [200] * 5
    assert rig.server.refresh_calls == 2
    assert rig.hooks.logouts == []
    assert len(rig.clock.sleeps) == 1


def test_network_errors_on_every_attempt_keep_session_and_back_off_with_jitter():
    """Refresh unreachable every time: waiters get RefreshUnavailableError, session kept, jitter."""
    draws = iter([0.0, 0.9, 0.3, 0.7])
    rig = Rig(refresh_attempts=4, backoff_base=0.5, backoff_cap=1.5, random=lambda: next(draws))
    rig.server.expire(rig.initial.access_token)
    rig.server.refresh_script = [network_error() for _ in range(4)]
    results = asyncio.run(gather(rig.session, 10))
    assert all(isinstance(r, RefreshUnavailableError) for r in results)
    assert rig.server.refresh_calls == 4
    assert rig.store.load() == rig.initial and rig.store.clears == 0
    assert rig.hooks.logouts == [] and len(rig.hooks.errors) == 1
    # ceilings 0.5, 1.0, min(1.5, 2.0): delay = ceiling/2 + draw * ceiling/2
    assert rig.clock.sleeps == pytest.approx([0.25, 0.95, 0.975])
    assert all(d <= 1.5 for d in rig.clock.sleeps)


def test_transient_outage_is_recovered_by_a_later_request():
    """After RefreshUnavailableError the session is kept and a later request refreshes fine."""
    rig = Rig(refresh_attempts=2)
    rig.server.expire(rig.initial.access_token)
    rig.server.refresh_script = [500, network_error()]

    async def scenario():
        with pytest.raises(RefreshUnavailableError):
            await rig.session.fetch(get("/api/items"))
        return await rig.session.fetch(get("/api/items"))

    assert asyncio.run(scenario()).status == 200
    assert rig.hooks.logouts == []


def test_late_failure_never_clears_a_newer_session():
    """invalid_grant for an old refresh token leaves the newer stored session and uses it."""
    rig = Rig()
    newer = rig.server.tokens(rig.clock.now(), previous=rig.initial)
    rig.server.expire(rig.initial.access_token)
    rig.server.refresh_script = [400]
    rig.server.on_refresh = lambda: rig.store.save(newer)
    response = asyncio.run(rig.session.fetch(get("/api/items")))
    assert response.status == 200 and response.payload["token"] == newer.access_token
    assert rig.store.clears == 0 and rig.store.load() == newer
    assert rig.hooks.logouts == []


def test_logout_during_refresh_is_not_undone_by_its_success():
    """A logout while a refresh is in flight wins: the refreshed tokens are not stored."""
    store = ConsistentStore()
    rig = Rig(store=store)

    async def scenario():
        rig.transport.hold("/auth/refresh")
        refresh = asyncio.create_task(rig.session.refresh())
        await rig.transport.arrived("/auth/refresh")
        logout = asyncio.create_task(rig.session.logout())
        await yield_to_loop()
        assert not rig.session.snapshot()["signed_in"], "signed out at once, before the lock"
        rig.transport.release("/auth/refresh")
        await logout
        with pytest.raises(SessionExpiredError):
            await refresh

    asyncio.run(scenario())
    assert rig.store.load() is None and store.central is None
    assert rig.hooks.logouts == ["logout"] and rig.hooks.tokens == []


def test_refresh_ending_while_logout_writes_the_copy_does_not_resurrect_the_session():
    """A refresh that answers while logout's cross-tab write is pending stores nothing (a
    reload after logout starts signed out)."""
    writes = []

    class SlowCopyStore(ConsistentStore):
        """The cross-tab copy takes a while to write (IndexedDB)."""

        async def save_consistent(self, tokens):
            writes.append(tokens)
            await yield_to_loop()
            await yield_to_loop()
            self.central = tokens

    store = SlowCopyStore()
    rig = Rig(store=store)

    async def scenario():
        rig.transport.hold("/auth/refresh")
        refresh = asyncio.create_task(rig.session.fetch(get("/api/items")))
        rig.server.expire(rig.initial.access_token)
        await rig.transport.arrived("/auth/refresh")
        logout = asyncio.create_task(rig.session.logout())
        await yield_to_loop()
        rig.transport.release("/auth/refresh")
        await asyncio.gather(logout, refresh, return_exceptions=True)

    rig.clock.t += 601
    asyncio.run(scenario())
    reloaded = Rig(store=store).session if False else None  # noqa: F841 - see the asserts
    assert store.load() is None, "the page store must stay cleared after logout"
    assert store.central is None, "the cross-tab copy must say signed out"
    assert writes[-1] is None


# -- retry policy ---------------------------------------------------------------------


def test_second_401_after_refresh_is_returned_without_loop():
    """A 401 again after a successful refresh is returned as is, after exactly one refresh."""
    rig = Rig()
    response = asyncio.run(rig.session.fetch(get("/api/always401")))
    assert response.status == 401
    assert rig.server.refresh_calls == 1
    assert len(rig.server.calls("/api/always401")) == 2


def test_retry_opt_out_returns_the_401():
    """retry=False sends once and returns the 401 without refreshing."""
    rig = Rig()
    rig.server.expire(rig.initial.access_token)
    response = asyncio.run(rig.session.fetch(get("/api/items", retry=False)))
    assert response.status == 401 and rig.server.refresh_calls == 0


def test_401_without_session_is_simply_returned():
    """With no tokens stored, a 401 is resolved as the server sent it."""
    rig = Rig(store=CountingStore())
    response = asyncio.run(rig.session.fetch(get("/api/items")))
    assert response.status == 401 and rig.server.refresh_calls == 0
    assert "authorization" not in rig.server.received[0].headers


def test_custom_expiry_predicate_is_used():
    """A configured predicate decides which responses mean "token expired"."""
    rig = Rig(is_token_expired=lambda req, resp: resp.status in (401, 419))
    rig.server.expire(rig.initial.access_token)
    response = asyncio.run(rig.session.fetch(get("/api/items")))
    assert response.status == 200 and rig.server.refresh_calls == 1
    never = Rig(is_token_expired=lambda req, resp: False)
    never.server.expire(never.initial.access_token)
    assert asyncio.run(never.session.fetch(get("/api/items"))).status == 401


# -- bodies ---------------------------------------------------------------------------


def test_replayed_body_equals_the_original_bytes():
    """The replay sends exactly the first send's bytes, even after the source buffer mutated."""
    rig = Rig()
    rig.server.expire(rig.initial.access_token)
    source = bytearray(b"\x00payload\xff")
    request = ReplayableRequest(BASE + "/api/items", "POST", body=source)
    source[:] = b"changed"
    response = asyncio.run(rig.session.fetch(request))
    first, replay = rig.server.calls("/api/items")
    assert first.body == replay.body == b"\x00payload\xff"
    assert response.payload["body"] == b"\x00payload\xff"


def test_streaming_body_is_not_replayed_and_raises_clearly():
    """A streaming body that hits a 401 is sent once and raises NotReplayableError."""
    rig = Rig()
    rig.server.expire(rig.initial.access_token)
    stream = object()
    request = ReplayableRequest(BASE + "/api/items", "POST", body=stream, stream=True)
    with pytest.raises(NotReplayableError) as info:
        asyncio.run(rig.session.fetch(request))
    assert info.value.response.status == 401
    assert [r.body for r in rig.server.calls("/api/items")] == [stream]
    assert rig.server.refresh_calls == 1


# -- origins and endpoints ---------------------------------------------------------------


def test_bearer_only_goes_to_allow_listed_origins():
    """Authorization is attached for the API origin (default port normalised) and nowhere else."""
    rig = Rig()

    async def scenario():
        for url in ("https://API.example:443/api/me", "https://evil.example/api/me", "/api/me"):
            await rig.session.fetch(ReplayableRequest(url))
        await rig.session.fetch(ReplayableRequest("http://api.example/api/me"))

    asyncio.run(scenario())
    attached = ["authorization" in r.headers for r in rig.server.received]
    assert attached == [True, False, True, False]


def test_extra_allowed_origin_gets_the_bearer():
    """An origin added to allowed_origins receives the bearer too."""
    rig = Rig(allowed_origins=[BASE, "https://cdn.example:8443"])
    asyncio.run(rig.session.fetch(ReplayableRequest("https://cdn.example:8443/x")))
    assert rig.server.received[0].headers["Authorization"].startswith("Bearer ")


def test_refresh_token_only_goes_to_the_refresh_url():
    """The refresh token appears in no request except the one to the refresh URL."""
    rig = Rig()
    rig.server.expire(rig.initial.access_token)
    asyncio.run(gather(rig.session, 3))
    secret = rig.initial.refresh_token.encode()
    leaks = [
        r.url
        for r in rig.server.received
        if secret in (r.body or b"") or secret.decode() in str(r.headers.lower_items())
    ]
    assert leaks == [BASE + "/auth/refresh"]


def test_refresh_call_is_never_intercepted():
    """A fetch to the refresh URL goes out bare and its 4xx is returned, not refreshed."""
    rig = Rig()
    request = ReplayableRequest(BASE + "/auth/refresh", "POST", body={"refresh_token": "x"})
    response = asyncio.run(rig.session.fetch(request))
    assert response.status == 400
    assert "authorization" not in rig.server.received[0].headers
    assert rig.server.refresh_calls == 1 and rig.hooks.logouts == []


def test_own_authorization_header_is_left_alone():
    """A request carrying its own Authorization is sent untouched and never retried."""
    rig = Rig()
    request = get("/api/items", headers={"authorization": "Bearer mine"})
    response = asyncio.run(rig.session.fetch(request))
    assert response.status == 401 and rig.server.refresh_calls == 0
    assert rig.server.received[0].headers["Authorization"] == "Bearer mine"


# -- proactive refresh and cross-tab ----------------------------------------------------


def test_token_within_leeway_is_refreshed_before_sending():
    """A token inside the default leeway (min(30, ttl/3)) is refreshed first: no 401 is seen."""
    rig = Rig(access_ttl=60.0)
    rig.clock.t += 60 - 19  # leeway is 20 s for a 60 s token
    rig.server.expire(rig.initial.access_token)
    response = asyncio.run(rig.session.fetch(get("/api/items")))
    assert response.status == 200
    assert rig.server.count_401() == 0 and rig.server.refresh_calls == 1


def test_token_outside_leeway_is_not_refreshed():
    """A token further from expiry than the leeway is used as is."""
    rig = Rig(access_ttl=60.0)
    rig.clock.t += 60 - 21
    asyncio.run(rig.session.fetch(get("/api/items")))
    assert rig.server.refresh_calls == 0


def test_proactive_refresh_outage_still_sends_a_valid_token():
    """If the proactive refresh cannot reach the server, a still-valid token is used anyway."""
    rig = Rig(access_ttl=60.0, refresh_attempts=1)
    rig.clock.t += 50
    rig.server.refresh_script = [network_error()]
    response = asyncio.run(rig.session.fetch(get("/api/items")))
    assert response.status == 200 and response.payload["token"] == rig.initial.access_token


def test_ensure_fresh_uses_the_same_gate_as_401s():
    """ensure_fresh and 401-triggered refreshes running together make one refresh call."""
    rig = Rig(access_ttl=60.0)
    rig.clock.t += 55
    rig.server.expire(rig.initial.access_token)

    async def scenario():
        fetches = [rig.session.fetch(get("/api/items")) for _ in range(5)]
        return await asyncio.gather(rig.session.ensure_fresh(), *fetches)

    fresh, *responses = asyncio.run(scenario())
    assert rig.server.refresh_calls == 1
    assert fresh == rig.session.tokens
    assert [r.status for r in responses] == [200] * 5


def test_ensure_fresh_never_raises_on_failure():
    """ensure_fresh reports failures through hooks and returns the tokens it has."""
    rig = Rig(refresh_attempts=1)
    rig.clock.t += 601
    rig.server.refresh_script = [network_error()]
    assert asyncio.run(rig.session.ensure_fresh()) == rig.initial
    assert len(rig.hooks.errors) == 1


def test_consistent_reread_under_lock_adopts_another_tabs_token():
    """The in-lock consistent read shows another tab's new token: adopted, zero refresh calls."""
    store = ConsistentStore()
    rig = Rig(store=store)
    other_tab = rig.server.tokens(rig.clock.now())
    store.central = other_tab  # written by another tab; this tab's load() lags behind
    rig.server.expire(rig.initial.access_token)
    response = asyncio.run(rig.session.fetch(get("/api/items")))
    assert response.status == 200 and response.payload["token"] == other_tab.access_token
    assert rig.server.refresh_calls == 0
    assert rig.lock.entered == 1 and store.consistent_reads == 1
    assert rig.hooks.tokens == [other_tab]


def test_lagging_consistent_copy_is_not_adopted():
    """A consistent copy older than this tab's tokens is ignored: refresh with our own tokens."""
    store = ConsistentStore()
    rig = Rig(store=store)
    older = rig.initial.to_dict() | {"access_token": "older", "version": rig.initial.version - 1}
    store.central = TokenSet.from_dict(older)
    rig.server.expire(rig.initial.access_token)
    response = asyncio.run(rig.session.fetch(get("/api/items")))
    assert response.status == 200 and rig.server.refresh_calls == 1
    assert rig.server.calls("/auth/refresh")[0].json() == {
        "refresh_token": rig.initial.refresh_token
    }
    assert store.central == rig.session.tokens


def test_refresh_result_is_written_to_the_consistent_copy():
    """A refresh saves the new tokens to the store and to its consistent copy under the lock."""
    store = ConsistentStore()
    rig = Rig(store=store)
    rig.server.expire(rig.initial.access_token)
    asyncio.run(rig.session.fetch(get("/api/items")))
    assert store.central == rig.session.tokens == store.load()
    assert store.central != rig.initial


def test_store_emptied_by_another_tab_ends_the_session():
    """If the in-lock read finds no session, the request fails and on_logout fires once."""
    store = ConsistentStore()
    rig = Rig(store=store)
    store.central = None
    rig.server.expire(rig.initial.access_token)

    async def scenario():
        with pytest.raises(SessionExpiredError):
            await rig.session.fetch(get("/api/items"))
        return await rig.session.fetch(get("/api/items"))

    later = asyncio.run(scenario())
    assert later.status == 401 and "authorization" not in rig.server.received[-1].headers
    assert rig.server.refresh_calls == 0 and rig.hooks.logouts == ["external"]


def test_adopt_and_external_logout():
    """adopt() takes another tab's tokens without refresh; on_external_logout fires once."""
    rig = Rig()
    other = rig.server.tokens(rig.clock.now())
    rig.session.adopt(other)
    assert rig.session.tokens == other and rig.hooks.tokens == [other]
    rig.session.on_external_logout()
    rig.session.on_external_logout()
    assert rig.hooks.logouts == ["external"] and rig.server.refresh_calls == 0


def test_old_refresh_token_is_kept_when_the_response_omits_one():
    """A refresh answer without refresh_token keeps the previous refresh token stored."""
    rig = Rig()
    rig.server.omit_refresh_token = True
    rig.server.expire(rig.initial.access_token)
    asyncio.run(rig.session.fetch(get("/api/items")))
    stored = rig.store.load()
    assert stored.access_token != rig.initial.access_token
    assert stored.refresh_token == rig.initial.refresh_token


def test_refresh_rotates_the_stored_refresh_token():
    """A refresh answer with a new refresh token replaces the stored one and fires on_tokens."""
    rig = Rig()
    rig.server.expire(rig.initial.access_token)
    asyncio.run(rig.session.fetch(get("/api/items")))
    assert rig.store.load().refresh_token not in (None, rig.initial.refresh_token)
    assert rig.hooks.tokens == [rig.store.load()]
    assert rig.session.snapshot()["refreshes"] == 1


# -- login, logout, state --------------------------------------------------------------


def test_login_stores_tokens_and_reports_state():
    """login() stores one TokenSet and snapshot() reports it (local epoch seconds)."""
    rig = Rig(store=CountingStore())
    tokens = asyncio.run(rig.session.login("demo", "demo-pass"))
    assert rig.store.load() == tokens
    assert rig.session.snapshot() == {
        "state": "signed-in",
        "signed_in": True,
        "expires_at": rig.clock.t + 600,
        "refreshes": 0,
    }


def test_login_with_bad_credentials_raises_login_error():
    """A refused login raises LoginError carrying the status, and stores nothing."""
    rig = Rig(store=CountingStore())
    with pytest.raises(LoginError) as info:
        asyncio.run(rig.session.login("demo", "wrong"))
    assert info.value.status == 401 and rig.store.saves == 0


def test_logout_revokes_clears_and_fires_once():
    """logout() posts the refresh token, clears the store and fires on_logout once."""
    rig = Rig()

    async def scenario():
        await rig.session.logout()
        await rig.session.logout()

    asyncio.run(scenario())
    posted = [r.json() for r in rig.server.calls("/auth/logout")]
    assert posted[0] == {"refresh_token": rig.initial.refresh_token}
    assert rig.store.load() is None and rig.hooks.logouts == ["logout"]
    assert rig.session.snapshot() == {
        "state": "signed-out",
        "signed_in": False,
        "expires_at": None,
        "refreshes": 0,
    }


def test_logout_survives_a_network_error():
    """logout() still clears the session when the server cannot be reached."""
    rig = Rig()

    async def failing_send(request, timeout=None):
        raise network_error()

    rig.transport.send = failing_send
    asyncio.run(rig.session.logout())
    assert rig.store.load() is None and rig.hooks.logouts == ["logout"]


def test_state_starts_from_the_stored_session():
    """A session built over a store that holds tokens starts logged in."""
    rig = Rig()
    assert rig.session.snapshot()["signed_in"] is True
    assert isinstance(rig.session.tokens, TokenSet)
