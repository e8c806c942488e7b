"""No refresh relies on the server's reuse grace (issue 15): the three reproductions."""

import asyncio
import binascii
import json

from authfetch_fakes import BASE, ConsistentStore, FakeClock, FakeResponse, Rig, yield_to_loop

import authfetch.core as core
from authfetch.core import (
    AuthConfig,
    AuthSession,
    DictBackend,
    KeyValueStore,
    MemoryStore,
    ReplayableRequest,
    SessionExpiredError,
    SyncAuthSession,
    TokenSet,
    TransportError,
)

#: The transport's error for a send that got no answer in time (a network error before).
TIMEOUT_ERROR = getattr(core, "TransportTimeoutError", TransportError)
ACCESS_TTL = 600.0


class GraceServer:
    """The mock server's rotation rules (server/sessions.py) in memory, with its clock.

    A used refresh token presented again inside ``grace`` seconds of its first use
    gets a new successor and retires the family's live token; outside, or a retired
    token at any time, is reuse: the family is revoked.
    """

    def __init__(self, clock: FakeClock, grace: float) -> None:
        self.clock = clock
        self.grace = grace
        self.n = 0
        self.tokens: dict = {}  # refresh token -> {"used_at", "child", "retired"}
        self.live: str | None = None
        self.access: set = set()
        self.revoked = False
        self.presented: list = []  # (refresh token, server time)
        self.api_calls = 0

    def issue(self, parent: "str | None" = None) -> dict:
        """A new access/refresh pair; the refresh token becomes the live one."""
        self.n += 1
        access, refresh = "access-" + str(self.n), "refresh-" + str(self.n)
        self.access.add(access)
        self.tokens[refresh] = {"used_at": None, "child": None, "retired": False}
        if parent is not None:
            self.tokens[parent]["child"] = refresh
        self.live = refresh
        return {"access_token": access, "refresh_token": refresh, "expires_in": ACCESS_TTL}

    def login(self) -> TokenSet:
        """A sign-in, as the client stores it."""
        return TokenSet.from_token_response(self.issue(), self.clock.t, login="login-1")

    def expire_access(self) -> None:
        """Every access token issued so far is refused from now on."""
        self.access.clear()

    def refresh(self, token: str) -> tuple:
        """Rotate ``token``: ``(status, payload)``."""
        now = self.clock.t
        self.presented.append((token, now))
        record = self.tokens.get(token)
        if record is None or self.revoked:
            return 400, {"error": "invalid_grant"}
        used = record["used_at"]
        if used is not None:
            inside = used <= now < used + self.grace and record["child"] is not None
            if record["retired"] or not inside:
                self.revoked = True
                self.access.clear()
                return 400, {"error": "invalid_grant"}
            if self.live is not None:  # grace re-issue: the live token is retired
                self.tokens[self.live]["used_at"] = now
                self.tokens[self.live]["retired"] = True
            return 200, self.issue(token)
        record["used_at"] = now
        return 200, self.issue(token)

    def handle(self, request: ReplayableRequest) -> tuple:
        """``(status, payload, headers)`` for a request to the fake API."""
        if request.url.endswith("/auth/refresh"):
            status, payload = self.refresh((request.json() or {}).get("refresh_token"))
            return status, payload, {}
        self.api_calls += 1
        auth = request.headers.get("authorization") or ""
        token = auth[len("Bearer ") :]
        if request.url.endswith("/api/always401") or token not in self.access:
            return 401, {"error": "invalid_token"}, {"WWW-Authenticate": "Bearer"}
        return 200, {"token": token}, {}


class StallingTransport:
    """Delivers to a GraceServer; the first ``stalls`` refresh answers stall past the timeout.

    A stalled refresh is committed by the server, then the client's timeout fires:
    the clock moves on by the timeout and the send raises the timeout error.
    """

    def __init__(self, server: GraceServer, clock: FakeClock, stalls: int = 0) -> None:
        self.server = server
        self.clock = clock
        self.stalls = stalls

    async def send(self, request: ReplayableRequest, timeout: "float | None" = None):
        """Answer, or commit and stall past ``timeout``."""
        await yield_to_loop()
        status, payload, headers = self.server.handle(request)
        if request.role == "refresh" and self.stalls:
            self.stalls -= 1
            self.clock.t += timeout if timeout is not None else 60.0
            raise TIMEOUT_ERROR("no answer in " + str(timeout) + " s")
        await yield_to_loop()
        return FakeResponse(status, payload, headers)


class SharedStore(KeyValueStore):
    """One origin's ``localStorage`` as a tab sees it, shared by every tab (no Web Locks)."""

    shared = True


def get(path: str) -> ReplayableRequest:
    """A GET to the fake API."""
    return ReplayableRequest(BASE + path)


# -- 1. a stalled answer ----------------------------------------------------------------


def test_a_stalled_refresh_answer_is_retried_at_once_inside_a_ten_second_grace():
    """A refresh whose answer stalls past the default timeout is retried at once, inside
    a 10 s grace: the sign-in survives (before: the retry came 10.4 s later, reuse)."""
    clock = FakeClock()
    server = GraceServer(clock, grace=10.0)
    config = AuthConfig(BASE, random=lambda: 0.5)
    transport = StallingTransport(server, clock, stalls=1)
    session = AuthSession(config, transport, MemoryStore(server.login()), clock=clock)
    server.expire_access()
    response = asyncio.run(session.fetch(get("/api/me")))
    assert not server.revoked, "the retry after the timeout was seen as reuse"
    assert response.status == 200
    (first, at), (again, retried_at) = server.presented
    assert again == first and retried_at - at < 10.0
    assert clock.sleeps == [], "no backoff sleep after a timeout"


def test_a_stalled_answer_under_grace_zero_ends_the_session_once():
    """With grace 0 a stalled (lost) answer ends the session cleanly: SessionExpiredError,
    one logout event, the store cleared."""
    clock = FakeClock()
    server = GraceServer(clock, grace=0.0)
    logouts: list = []
    config = AuthConfig(BASE, random=lambda: 0.5, on_logout=logouts.append)
    transport = StallingTransport(server, clock, stalls=1)
    session = AuthSession(config, transport, MemoryStore(server.login()), clock=clock)
    server.expire_access()

    async def three() -> list:
        calls = [session.fetch(get("/api/me")) for _ in range(3)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(three())
    assert all(isinstance(r, SessionExpiredError) for r in results), results
    assert logouts == ["expired"]
    assert session.store.load() is None


def test_the_default_refresh_timeout_leaves_room_for_one_retry_in_a_ten_second_grace():
    """Timeout plus the retry fit the 10 s grace the README recommends."""
    config = AuthConfig(BASE)
    assert config.refresh_timeout is not None and config.refresh_timeout * 2 <= 10.0


# -- 2. tabs without Web Locks, and the sync path --------------------------------------


def two_tabs_without_locks(grace: float = 10.0) -> tuple:
    """A GraceServer and two tabs of one origin sharing ``localStorage``, no Web Locks."""
    clock = FakeClock()
    server = GraceServer(clock, grace=grace)
    backend = DictBackend()
    config = AuthConfig(BASE, random=lambda: 0.5)
    SharedStore(backend).save(server.login())
    tabs = []
    for _ in range(2):
        store = SharedStore(backend)
        tabs.append(AuthSession(config, StallingTransport(server, clock), store, clock=clock))
    return clock, server, tabs


def test_two_tabs_without_web_locks_due_together_refresh_once_and_keep_the_sign_in():
    """Two tabs without Web Locks due at one instant, five rounds: one refresh a round, no
    reuse, both signed in (before: both refreshed, and a retired token was adopted)."""
    clock, server, tabs = two_tabs_without_locks()

    async def both() -> list:
        calls = [tab.fetch(get("/api/me")) for tab in tabs]
        return await asyncio.gather(*calls, return_exceptions=True)

    for round_number in range(1, 6):
        clock.t += ACCESS_TTL + 1
        server.expire_access()
        results = asyncio.run(both())
        for tab in tabs:  # the storage events of the round
            tab.adopt(tab.store.load())
        assert not server.revoked, "revoked in round " + str(round_number)
        assert [getattr(r, "status", repr(r)) for r in results] == [200, 200], results
        assert len(server.presented) == round_number, "more than one refresh in a round"
    assert all(tab.tokens is not None for tab in tabs)


def test_a_sync_refresh_never_races_another_tabs_refresh_under_the_lock():
    """A sync (urllib) call due while another tab's refresh holds the lock does not present
    the same refresh token: it fails with the session kept, or uses what that tab stored."""
    clock, server, tabs = two_tabs_without_locks(grace=0.0)
    sync = SyncAuthSession(
        tabs[1].config, _SyncOver(server), tabs[1].store, _SyncClock(clock), tabs[1].machine
    )
    clock.t += ACCESS_TTL + 1
    server.expire_access()
    outcome: dict = {}

    class HoldingTransport(StallingTransport):
        async def send(self, request, timeout=None):
            if request.role == "refresh" and "sync" not in outcome:
                try:  # the sync call in the other tab, while this refresh is on the wire
                    outcome["sync"] = sync.fetch(get("/api/me")).status
                except Exception as exc:
                    outcome["sync"] = exc
            return await super().send(request, timeout)

    tabs[0].transport = HoldingTransport(server, clock)
    response = asyncio.run(tabs[0].fetch(get("/api/me")))
    assert response.status == 200
    assert not server.revoked, "the sync path presented the token the locked refresh presented"
    assert len(server.presented) == 1
    assert tabs[1].tokens is not None


class _SyncClock:
    """The shared fake clock, with a blocking sleep."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def now(self) -> float:
        """The shared time."""
        return self.clock.t

    def sleep(self, seconds: float) -> None:
        """Advance."""
        self.clock.t += seconds


class _SyncOver:
    """A synchronous transport over the GraceServer."""

    def __init__(self, server: GraceServer) -> None:
        self.server = server

    def send(self, request: ReplayableRequest, timeout: "float | None" = None):
        """Answer at once."""
        status, payload, headers = self.server.handle(request)
        return _SyncResponse(status, payload, headers)


class _SyncResponse(FakeResponse):
    """A response whose ``json()`` is synchronous."""

    def json(self) -> object:  # type: ignore[override]
        """The body."""
        return self.payload


# -- 3. a 401 a refresh cannot cure --------------------------------------------------------


def test_ten_requests_to_an_always_401_endpoint_cost_at_most_one_refresh():
    """An endpoint answering every request 401 with a bare ``WWW-Authenticate: Bearer``:
    10 requests, one after another, make at most one refresh (before: 10)."""
    clock = FakeClock()
    server = GraceServer(clock, grace=0.0)
    transport = StallingTransport(server, clock)
    session = AuthSession(AuthConfig(BASE), transport, MemoryStore(server.login()), clock=clock)

    async def ten() -> list:
        statuses = []
        for _ in range(10):
            statuses.append((await session.fetch(get("/api/always401"))).status)
        return statuses

    assert asyncio.run(ten()) == [401] * 10
    assert len(server.presented) <= 1
    assert not server.revoked


def test_concurrent_401s_for_a_just_refreshed_token_cost_no_second_refresh():
    """Ten concurrent requests to an always-401 endpoint: one refresh, ten 401s."""
    clock = FakeClock()
    server = GraceServer(clock, grace=0.0)
    transport = StallingTransport(server, clock)
    session = AuthSession(AuthConfig(BASE), transport, MemoryStore(server.login()), clock=clock)

    async def ten() -> list:
        calls = [session.fetch(get("/api/always401")) for _ in range(10)]
        return [r.status for r in await asyncio.gather(*calls)]

    assert asyncio.run(ten()) == [401] * 10
    assert len(server.presented) <= 1


# -- the spent refresh token's clean-up --------------------------------------------------


def test_a_dropped_refresh_answer_never_clears_a_newer_sign_in_of_another_tab():
    """A refresh whose answer this tab drops (it logged out meanwhile) clears the store only
    if the page store still holds that sign-in: not another tab's newer one."""
    rig = Rig(store=ConsistentStore())
    other = rig.server.tokens(rig.clock.now())
    rig.server.expire(rig.initial.access_token)
    rig.transport.hold("/auth/refresh")

    async def scenario() -> None:
        request = asyncio.create_task(rig.session.fetch(get("/api/me")))
        await rig.transport.arrived("/auth/refresh")
        rig.session._sign_out_here()  # this tab's logout: its sign-in is over here
        rig.store.save(other)  # another tab's sign-in reaches localStorage (not yet the copy)
        rig.transport.release("/auth/refresh")
        await asyncio.gather(request, return_exceptions=True)

    asyncio.run(scenario())
    assert rig.store.load() == other, "the other tab's newer sign-in was wiped"


# -- newer means newer to the server ------------------------------------------------------


def jwt_with_iat(iat: int, jti: str) -> str:
    """An unsigned JWT-shaped token carrying ``iat`` (only the claims are read)."""
    payload = json.dumps({"iat": iat, "exp": iat + 600, "jti": jti}).encode()
    segment = binascii.b2a_base64(payload).decode().strip().replace("+", "-").replace("/", "_")
    return "e30." + segment.rstrip("=") + ".sig"


def test_of_two_sessions_of_one_sign_in_the_one_the_server_issued_last_wins():
    """Adoption compares the server's issue times (``iat``), not the tabs' refresh counts."""
    older = TokenSet(jwt_with_iat(1_700_000_100, "a"), "r-a", login="L", version=3)
    newer = TokenSet(jwt_with_iat(1_700_000_200, "b"), "r-b", login="L", version=1)
    assert newer.is_newer_than(older)
    assert not older.is_newer_than(newer)


def test_opaque_tokens_of_one_sign_in_fall_back_to_the_order_of_refreshes():
    """Without a readable ``iat`` (opaque tokens, or the same second) the refresh count decides."""
    first = TokenSet("opaque-1", "r1", login="L", version=1)
    second = TokenSet("opaque-2", "r2", login="L", version=2)
    assert second.is_newer_than(first) and not first.is_newer_than(second)
    same_second = TokenSet(jwt_with_iat(1_700_000_100, "c"), "r3", login="L", version=4)
    earlier = TokenSet(jwt_with_iat(1_700_000_100, "d"), "r4", login="L", version=3)
    assert same_second.is_newer_than(earlier)
