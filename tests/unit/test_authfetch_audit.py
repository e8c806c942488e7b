"""The audit's findings against the core (issue 8), one regression test each."""

import asyncio

import pytest
from authfetch_fakes import (
    BASE,
    ConsistentStore,
    FakeClock,
    FakeServer,
    FakeTransport,
    Hooks,
    RecordingLock,
    Rig,
    SyncFakeTransport,
    yield_to_loop,
)

from authfetch.core import (
    AuthConfig,
    AuthSession,
    LoginError,
    RefreshUnavailableError,
    ReplayableRequest,
    SyncAuthSession,
    TokenSet,
    TransportError,
)


def get(path: str) -> ReplayableRequest:
    """A GET to the fake API."""
    return ReplayableRequest(BASE + path)


# -- 1. the bearer leaves home -----------------------------------------------------------

#: URLs a browser sends somewhere other than api.example, whatever they look like.
FOREIGN = [
    "https://evil.example\\@api.example/api/me",
    "https://evil.example\\\\api.example/api/me",
    "https://evil.example/\\@api.example/api/me",
    "https://api.example@evil.example/api/me",
    "https://api.example:443@evil.example/api/me",
    "https://api.example%40@evil.example/api/me",
    "https://api.example.evil.example/api/me",
    "https://api.example./api/me",
    "http://api.example/api/me",
    "https://api.example:8443/api/me",
    "//evil.example/api/me",
    "\\\\evil.example/api/me",
    "/\\evil.example/api/me",
    "\t//evil.example/api/me",
    "javascript:fetch('https://api.example/api/me')",
    "blob:https://api.example/1234",
    "data:text/plain,api.example",
]
#: URLs that do go to api.example (the bearer belongs there).
HOME = [
    "https://api.example/api/me",
    "https://API.Example/api/me",
    "https://api.example:443/api/me",
    "/api/me",
    "api/me",
    "https://api.example\\api\\me",
    " https://api.example/api/me ",
    "https://api.ex\tample/api/me",
]


@pytest.mark.parametrize("url", FOREIGN)
def test_bearer_never_goes_to_a_url_the_browser_sends_elsewhere(url):
    """A URL a browser parser sends off the allow-list gets no bearer (backslashes included)."""
    config = AuthConfig(BASE)
    assert not config.bearer_allowed(config.resolve(url))


@pytest.mark.parametrize("url", HOME)
def test_bearer_goes_to_the_allow_listed_origin_however_spelled(url):
    """The API's own origin, in the spellings a browser accepts, still gets the bearer."""
    config = AuthConfig(BASE)
    assert config.bearer_allowed(config.resolve(url))


def test_backslash_authority_request_is_sent_without_the_bearer():
    """The audit's URL: fetch sends it with no Authorization header at all."""
    rig = Rig()
    asyncio.run(rig.session.fetch(get("").derive("https://evil.example\\@api.example/api/me")))
    (sent,) = rig.server.received
    assert "authorization" not in sent.headers


# -- 2. sync and async paths share one flight --------------------------------------------


def test_sync_call_never_refreshes_while_the_async_refresh_is_in_flight():
    """One expiry, async refresh in flight, then a sync call: still exactly one refresh, and
    the newer tokens stay installed (reuse grace 0 would revoke a second one)."""
    rig = Rig()
    sync = SyncAuthSession(
        rig.config, SyncFakeTransport(rig.server), rig.store, rig.clock, rig.session.machine
    )
    rig.server.expire(rig.initial.access_token)

    async def scenario():
        rig.transport.hold("/auth/refresh")
        first = asyncio.create_task(rig.session.fetch(get("/api/items")))
        await rig.transport.arrived("/auth/refresh")
        with pytest.raises(RefreshUnavailableError):
            sync.fetch(get("/api/items"))
        rig.transport.release("/auth/refresh")
        return await first

    assert asyncio.run(scenario()).status == 200
    assert rig.server.refresh_calls == 1
    assert sync.tokens is rig.session.tokens and rig.store.load() == rig.session.tokens
    assert sync.fetch(get("/api/items")).status == 200


def test_sync_refresh_is_seen_by_the_async_session_at_once():
    """A refresh made by the sync path is the async path's current session, with no refresh."""
    rig = Rig()
    sync = SyncAuthSession(
        rig.config, SyncFakeTransport(rig.server), rig.store, rig.clock, rig.session.machine
    )
    rig.server.expire(rig.initial.access_token)
    assert sync.fetch(get("/api/items")).status == 200
    assert asyncio.run(rig.session.fetch(get("/api/items"))).status == 200
    assert rig.server.refresh_calls == 1


# -- 4. a cancelled caller never cancels the shared refresh -------------------------------


def test_cancelled_caller_does_not_lose_the_rotation():
    """The request that started the refresh is cancelled: the refresh still completes and its
    rotated tokens are stored, so the next request needs no refresh."""
    rig = Rig()
    rig.server.expire(rig.initial.access_token)

    async def scenario():
        rig.transport.hold("/auth/refresh")
        caller = asyncio.create_task(rig.session.fetch(get("/api/items")))
        await rig.transport.arrived("/auth/refresh")
        caller.cancel()
        await yield_to_loop()
        rig.transport.release("/auth/refresh")
        while rig.session.gate.busy:
            await yield_to_loop()
        return await rig.session.fetch(get("/api/items"))

    assert asyncio.run(scenario()).status == 200
    assert rig.server.refresh_calls == 1
    assert rig.store.load() == rig.session.tokens != rig.initial


def test_cancelled_caller_with_wait_for_leaves_the_refresh_to_finish():
    """``asyncio.wait_for`` giving up on a request does not cancel the refresh it started."""
    rig = Rig()
    rig.server.expire(rig.initial.access_token)

    async def release_after_the_timeout():
        await rig.transport.arrived("/auth/refresh")
        await asyncio.sleep(0.3)
        rig.transport.release("/auth/refresh")

    async def scenario():
        rig.transport.hold("/auth/refresh")
        releaser = asyncio.create_task(release_after_the_timeout())
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(rig.session.fetch(get("/api/items")), 0.1)
        await releaser
        while rig.session.gate.busy:
            await asyncio.sleep(0.005)

    asyncio.run(scenario())
    assert rig.server.refresh_calls == 1 and rig.store.load() == rig.session.tokens != rig.initial


# -- 6. a late refresh never overwrites another tab's new sign-in --------------------------


class Tabs:
    """Two tabs of one origin: one server, one store + cross-tab copy, one lock."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.server = FakeServer(clock=self.clock)
        self.initial = self.server.tokens(self.clock.now())
        self.store = ConsistentStore(self.initial)
        self.lock = RecordingLock()
        self.hooks = [Hooks(), Hooks()]
        self.transport = FakeTransport(self.server)
        self.tabs = [
            AuthSession(
                AuthConfig(BASE, random=lambda: 0.5, **hooks.kwargs()),
                self.transport,
                self.store,
                self.lock,
                self.clock,
            )
            for hooks in self.hooks
        ]

    async def refresh_in_flight(self, tab: AuthSession) -> asyncio.Task:
        """Hold the refresh endpoint and start a request in ``tab`` that needs a refresh;
        its task, once the refresh call has arrived (``tab`` holds the lock then)."""
        self.transport.hold("/auth/refresh")
        request = asyncio.create_task(tab.fetch(get("/api/items")))
        await self.transport.arrived("/auth/refresh")
        return request

    def tell_at_once(self, tab: AuthSession, when=lambda tokens: True) -> None:
        """From now on a save (of tokens for which ``when(tokens)``) reaches ``tab`` as a
        ``storage`` event at once, before anything else runs."""
        save = self.store.save

        def save_and_tell(tokens):
            save(tokens)
            if when(tokens):
                self.storage_event(tab)

        self.store.save = save_and_tell

    def storage_event(self, tab: AuthSession) -> None:
        """Deliver the store's current value to ``tab`` as a ``storage`` event would."""
        tab.adopt(self.store.load())


def test_late_refresh_in_one_tab_never_overwrites_a_new_sign_in_in_another():
    """Tab B signs in (another sign-in) while tab A's refresh of the old one is in flight:
    A's late answer is dropped and both tabs end on B's sign-in."""
    rig = Tabs()
    a, b = rig.tabs
    rig.server.expire(rig.initial.access_token)

    async def scenario():
        request = await rig.refresh_in_flight(a)
        login = asyncio.create_task(b.login("demo", "demo-pass"))
        await yield_to_loop()
        rig.transport.release("/auth/refresh")
        await login
        rig.storage_event(a)
        return await request

    asyncio.run(scenario())
    assert rig.store.load() == b.tokens == a.tokens
    assert a.tokens.login == b.tokens.login != rig.initial.login


def test_late_refresh_is_dropped_when_the_sign_in_landed_first():
    """A sign-in committed while the refresh call ran wins: the refresh's tokens never reach
    the store, even before this tab got the storage event."""
    rig = Tabs()
    a, b = rig.tabs

    async def scenario():
        rig.transport.hold("/auth/refresh")
        refresh = asyncio.create_task(a.refresh())
        await rig.transport.arrived("/auth/refresh")
        signed_in = await _login_bypassing_the_lock(b)
        rig.transport.release("/auth/refresh")
        await refresh
        return signed_in

    signed_in = asyncio.run(scenario())
    assert rig.store.load() == signed_in == a.tokens


async def _login_bypassing_the_lock(session: AuthSession):
    """Sign in and store as an older authfetch (or the sync path) would: without the lock."""
    from authfetch.core import login_flow, new_login_id

    flow = login_flow(session.config, "demo", "demo-pass", session.clock.now, new_login_id())
    tokens = await session.run(flow)
    session._commit_login(tokens)
    await session.store.save_consistent(tokens)
    return tokens


async def _login_then_logout_while_a_refreshes(rig: Tabs, signing_in: AuthSession) -> list:
    """Tab 0 refreshes (holding the lock); ``signing_in`` logs in (answered, its commit
    waiting for the lock); tab 0 logs out; then the refresh answers. The three outcomes."""
    a = rig.tabs[0]
    request = await rig.refresh_in_flight(a)
    login = asyncio.create_task(signing_in.login("demo", "demo-pass"))
    while not rig.server.calls("/auth/login"):
        await yield_to_loop()
    await yield_to_loop()
    logout = asyncio.create_task(a.logout())
    await yield_to_loop()
    rig.transport.release("/auth/refresh")
    return await asyncio.gather(request, login, logout, return_exceptions=True)


def test_logout_wins_over_a_login_of_the_same_tab_still_on_its_way():
    """A login answered but still waiting for the lock (another refresh holds it) when the
    user logs out in that tab is dropped: tab and store end signed out, the login rejects
    with LoginError, and its tokens are revoked (found by the property soak)."""
    rig = Tabs()
    a = rig.tabs[0]
    rig.server.expire(rig.initial.access_token)
    issued_to_login = []
    answer_login = rig.server._login

    def login_recorded(request):
        answer = answer_login(request)
        issued_to_login.append(answer[1]["refresh_token"])
        return answer

    rig.server._login = login_recorded

    _request, login, _logout = asyncio.run(_login_then_logout_while_a_refreshes(rig, a))
    assert isinstance(login, LoginError)
    assert a.tokens is None and rig.store.load() is None
    assert issued_to_login and issued_to_login[0] not in rig.server.live_refresh  # revoked


def test_logout_ends_a_sign_in_this_tab_adopted_while_the_logout_waited_for_the_lock():
    """Tab B's login lands while tab A's logout waits for the lock, and A hears of it at
    once: A's logout still ends with A, B and the store signed out (found by the soak)."""
    rig = Tabs()
    a, b = rig.tabs
    rig.server.expire(rig.initial.access_token)
    # B's sign-in reaches A by a storage event before A's logout clears the store.
    rig.tell_at_once(a, when=lambda tokens: b.machine.tokens is tokens)

    asyncio.run(_login_then_logout_while_a_refreshes(rig, b))
    rig.storage_event(b)
    assert rig.store.load() is None and a.tokens is None and b.tokens is None


def test_refresh_answer_dropped_by_a_logout_never_leaves_its_spent_token_to_another_tab():
    """Tab A logs out while its refresh flies and tab B waits for the lock to refresh the
    same tokens: A's dropped answer clears the store under the lock, so B never presents
    the refresh token the server just rotated (found by the property soak)."""
    rig = Tabs()
    a, b = rig.tabs
    rig.server.expire(rig.initial.access_token)

    async def scenario():
        request = await rig.refresh_in_flight(a)
        waiting = asyncio.create_task(b.refresh())
        await yield_to_loop()
        logout = asyncio.create_task(a.logout())
        await yield_to_loop()
        rig.transport.release("/auth/refresh")
        return await asyncio.gather(request, waiting, logout, return_exceptions=True)

    asyncio.run(scenario())
    assert rig.server.refresh_calls == 1
    assert rig.store.load() is None and a.tokens is None and b.tokens is None


def test_ended_sign_in_found_by_a_storage_event_is_cleared_only_under_the_lock():
    """Tab A logged out and hears a storage event while tab B's refresh of that sign-in
    holds the lock: A's clean-up waits for the lock, so the store is never cleared and
    then written again with the same sign-in (found by the property soak)."""
    rig = Tabs()
    a, b = rig.tabs
    rig.server.expire(rig.initial.access_token)
    history = []
    save, clear = rig.store.save, rig.store.clear

    def save_recorded(tokens):
        history.append(("save", tokens.login))
        save(tokens)

    def clear_recorded():
        stored = rig.store.load()
        history.append(("clear", stored.login if stored else None))
        clear()

    rig.store.save, rig.store.clear = save_recorded, clear_recorded

    async def scenario():
        request = await rig.refresh_in_flight(b)
        logout = asyncio.create_task(a.logout())
        await yield_to_loop()
        rig.storage_event(a)  # some earlier write reaches A now
        await yield_to_loop()
        rig.transport.release("/auth/refresh")
        return await asyncio.gather(request, logout, return_exceptions=True)

    asyncio.run(scenario())
    cleared = [login for op, login in history if op == "clear" and login]
    for login in cleared:
        first_clear = history.index(("clear", login))
        assert ("save", login) not in history[first_clear:], history


def test_tab_never_refreshes_tokens_it_adopted_while_waiting_for_the_lock():
    """Tab B waits for the lock to refresh the same expired token as tab A; A's new tokens
    reach B by a storage event before B gets the lock: B uses them, no second refresh
    (found by the property test's "not due" invariant and the three-tab test)."""
    rig = Tabs()
    a, b = rig.tabs
    rig.server.expire(rig.initial.access_token)
    rig.tell_at_once(b)  # A's new tokens reach B while B waits for the lock

    async def scenario():
        request = await rig.refresh_in_flight(a)
        waiting = asyncio.create_task(b.fetch(get("/api/items")))
        while not b.gate.busy:  # B got its 401 and leads a flight, queued for the lock
            await yield_to_loop()
        await yield_to_loop()
        rig.transport.release("/auth/refresh")
        await request
        return await waiting

    response = asyncio.run(scenario())
    assert response.status == 200
    assert rig.server.refresh_calls == 1 and b.tokens == a.tokens == rig.store.load()


# -- 7. leeway is clamped below the lifetime -------------------------------------------------


def test_leeway_longer_than_the_lifetime_is_clamped_to_half_of_it():
    """leeway=3600 on a 30 s token refreshes 15 s before expiry, not on every request."""
    tokens = TokenSet("A", "rA", expires_at=1030.0, issued_at=1000.0)
    assert tokens.leeway(3600) == 15.0
    assert not tokens.needs_refresh(1000.0, 3600)
    assert tokens.needs_refresh(1015.0, 3600)


def test_timer_never_reschedules_with_a_zero_wait_for_a_huge_leeway():
    """refresh_due_at stays in the future for a fresh token whatever the leeway."""
    rig = Rig(leeway=10_000)
    assert rig.session.refresh_due_at() > rig.clock.now()


# -- 9. a 401 a refresh cannot fix ------------------------------------------------------------


def test_insufficient_scope_401_is_returned_without_a_refresh():
    """A 401 with error="insufficient_scope" is the answer: no refresh, no rotation."""
    rig = Rig()
    response = asyncio.run(rig.session.fetch(get("/api/admin")))
    assert response.status == 401 and rig.server.refresh_calls == 0


@pytest.mark.parametrize(
    "challenge, refresh",
    [
        (None, True),
        ("Bearer", True),
        ('Bearer realm="api"', True),
        ('Bearer error="invalid_token"', True),
        ('Bearer error=invalid_token, error_description="x"', True),
        ('Bearer realm="x", error="insufficient_scope"', False),
        ('Bearer error="invalid_request"', False),
        ('Bearer error_description="invalid_token"', True),
    ],
)
def test_which_401_challenges_call_for_a_refresh(challenge, refresh):
    """Only a 401 without an error, or with invalid_token, is worth a refresh."""
    from authfetch.core import Headers, default_token_expired

    class Answer:
        status = 401
        headers = Headers({} if challenge is None else {"WWW-Authenticate": challenge})

    assert default_token_expired(None, Answer()) is refresh


# -- found by reading: a stalled refresh, and bugs hidden as network errors ---------------------


def test_stalled_refresh_times_out_with_refresh_unavailable_and_keeps_the_session():
    """A refresh endpoint that never answers: waiters get RefreshUnavailableError after the
    refresh timeout (per attempt), and the session is kept."""
    rig = Rig(refresh_timeout=0.01, refresh_attempts=2)
    rig.clock.t += 601

    async def scenario():
        rig.transport.hold("/auth/refresh")
        return await asyncio.gather(
            *[rig.session.fetch(get("/api/items")) for _ in range(3)], return_exceptions=True
        )

    results = asyncio.run(scenario())
    assert all(isinstance(r, RefreshUnavailableError) for r in results)
    assert rig.session.tokens == rig.initial and rig.hooks.logouts == []


def test_a_bug_in_the_transport_is_not_retried_as_a_network_error():
    """Only TransportError counts as "unreachable": a bug surfaces as itself."""
    rig = Rig()
    rig.clock.t += 601

    async def broken(request, timeout=None):
        if "refresh" in request.url:
            raise KeyError("bug")
        raise TransportError("down")

    rig.transport.send = broken
    with pytest.raises(KeyError):
        asyncio.run(rig.session.fetch(get("/api/items")))
    assert rig.session.machine.state == "signed-in"
