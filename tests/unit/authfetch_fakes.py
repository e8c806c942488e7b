"""Test doubles for the authfetch core: fake clock, fake server, fake transports, stores."""

import asyncio
import itertools
import json

from authfetch.core import (
    AuthConfig,
    AuthSession,
    Headers,
    MemoryStore,
    SyncAuthSession,
    TokenSet,
    TransportError,
    split_url,
)

BASE = "https://api.example"
START = 1_700_000_000.0


async def yield_to_loop() -> None:
    """Let other tasks run once (``asyncio.sleep(0)``: no time passes, nothing waits)."""
    await asyncio.sleep(0)


class FakeClock:
    """A clock that only moves when told to; ``sleep`` records the delay and advances."""

    def __init__(self, now: float = START) -> None:
        self.t = now
        self.sleeps: list[float] = []

    def now(self) -> float:
        """Current fake time."""
        return self.t

    async def sleep(self, seconds: float) -> None:
        """Record the delay, advance time, never block."""
        self.sleeps.append(seconds)
        self.t += seconds


class SyncFakeClock(FakeClock):
    """The same fake clock with a synchronous ``sleep``."""

    def sleep(self, seconds: float) -> None:  # type: ignore[override]
        """Record the delay, advance time, never block."""
        self.sleeps.append(seconds)
        self.t += seconds


class FakeResponse:
    """What a transport returns: status, case-insensitive headers, async json()."""

    def __init__(self, status: int, payload: object = None, headers: object = None) -> None:
        self.status = status
        self.payload = payload
        self.headers = Headers(headers)

    async def json(self) -> object:
        """Return the decoded body."""
        return self.payload


class SyncFakeResponse(FakeResponse):
    """The same response with a synchronous json()."""

    def json(self) -> object:  # type: ignore[override]
        """Return the decoded body."""
        return self.payload


def path_of(url: str) -> str:
    """Path of an absolute URL, query dropped."""
    return split_url(url)[3].split("?", 1)[0] or "/"


class FakeServer:
    """Token issuer with rotation plus a tiny API, kept entirely in memory.

    ``refresh_script`` scripts the next refresh answers: an int status, or an
    exception instance to raise (a network error). ``on_refresh`` runs when a
    refresh call arrives (to simulate another tab or a login meanwhile).
    """

    def __init__(self, access_ttl: float = 600.0, clock: FakeClock | None = None) -> None:
        self.access_ttl = access_ttl
        self.clock = clock
        self.counter = itertools.count(1)
        self.valid_access: set[str] = set()
        self.live_refresh: set[str] = set()
        self.received: list = []
        self.refresh_script: list = []
        self.omit_refresh_token = False
        self.on_refresh = None
        self.extra_headers: dict = {}

    # -- token issuing ---------------------------------------------------------

    def issue(self) -> dict:
        """Mint a new access/refresh pair and return the token response body."""
        n = next(self.counter)
        access, refresh = f"access-{n}", f"refresh-{n}"
        self.valid_access.add(access)
        self.live_refresh.add(refresh)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": self.access_ttl,
        }

    def tokens(self, now: float = START, previous: TokenSet | None = None) -> TokenSet:
        """Mint a pair as the client stores it: a refresh of ``previous``, else a new sign-in."""
        login = "login-" + str(next(self.counter))
        return TokenSet.from_token_response(self.issue(), now, previous=previous, login=login)

    def expire(self, access: str) -> None:
        """Make the server reject ``access`` (expired on the server's clock)."""
        self.valid_access.discard(access)

    # -- request log -----------------------------------------------------------

    def calls(self, path: str) -> list:
        """Requests received on ``path``."""
        return [r for r in self.received if path_of(r.url) == path]

    @property
    def refresh_calls(self) -> int:
        """How many refresh calls arrived."""
        return len(self.calls("/auth/refresh"))

    def count_401(self) -> int:
        """How many API requests were answered 401."""
        return sum(1 for r in self.received if getattr(r, "answered", None) == 401)

    # -- routing -----------------------------------------------------------------

    def handle(self, request) -> tuple:
        """Answer ``(status, payload, headers)``; raises for a scripted network error."""
        path = path_of(request.url)
        if path == "/auth/login":
            return self._login(request)
        if path == "/auth/refresh":
            return self._refresh(request)
        if path == "/auth/logout":
            self.live_refresh.discard((request.json() or {}).get("refresh_token"))
            return 204, None, {}
        return self._api(request, path)

    def _login(self, request) -> tuple:
        body = request.json()
        if body == {"username": "demo", "password": "demo-pass"}:
            return 200, self.issue(), self.extra_headers
        return 401, {"error": "invalid_credentials"}, {}

    def _refresh(self, request) -> tuple:
        if self.on_refresh is not None:
            self.on_refresh()
        if self.refresh_script:
            step = self.refresh_script.pop(0)
            if isinstance(step, BaseException):
                raise step
            if step != 200:
                return step, {"error": "invalid_grant" if step < 500 else "unavailable"}, {}
        token = (request.json() or {}).get("refresh_token")
        if token not in self.live_refresh:
            return 400, {"error": "invalid_grant"}, {}
        self.live_refresh.discard(token)
        payload = self.issue()
        if self.omit_refresh_token:
            self.live_refresh.add(token)
            payload.pop("refresh_token")
        return 200, payload, self.extra_headers

    def _api(self, request, path: str) -> tuple:
        auth = request.headers.get("authorization") or ""
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        if path == "/api/admin" and token in self.valid_access:
            request.answered = 401
            challenge = 'Bearer error="insufficient_scope", scope="admin"'
            return 401, {"error": "insufficient_scope"}, {"WWW-Authenticate": challenge}
        if path == "/api/always401" or token not in self.valid_access:
            request.answered = 401
            return 401, {"error": "invalid_token"}, {"WWW-Authenticate": "Bearer"}
        request.answered = 200
        return 200, {"path": path, "token": token, "body": request.body}, {}


class FakeTransport:
    """Async transport over a FakeServer; yields to the loop so requests interleave.

    ``hold(path)`` parks requests to ``path`` after they arrive until
    ``release(path)``; ``arrived(path)`` waits for one to arrive.
    """

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self._holds: dict = {}
        self._arrivals: dict = {}

    def hold(self, path: str) -> None:
        """Park requests to ``path`` until released."""
        self._holds[path] = asyncio.Event()
        self._arrivals[path] = asyncio.Event()

    def release(self, path: str) -> None:
        """Let parked requests to ``path`` get their answer."""
        self._holds.pop(path).set()

    async def arrived(self, path: str) -> None:
        """Wait until a request to ``path`` reached the server."""
        await self._arrivals[path].wait()

    async def send(self, request, timeout: float | None = None) -> FakeResponse:
        """Deliver ``request`` to the server (which may raise a network error)."""
        self.server.received.append(request)
        await yield_to_loop()
        path = path_of(request.url)
        if path in self._holds:
            self._arrivals[path].set()
            await self._holds[path].wait()
        status, payload, headers = self.server.handle(request)
        await yield_to_loop()
        return FakeResponse(status, payload, headers)


class SyncFakeTransport:
    """Synchronous transport over a FakeServer."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server

    def send(self, request, timeout: float | None = None) -> SyncFakeResponse:
        """Deliver ``request`` to the server (which may raise a network error)."""
        self.server.received.append(request)
        status, payload, headers = self.server.handle(request)
        return SyncFakeResponse(status, payload, headers)


class CountingStore(MemoryStore):
    """MemoryStore that counts writes and clears."""

    def __init__(self, tokens: TokenSet | None = None) -> None:
        self.saves = 0
        self.clears = 0
        super().__init__(tokens)

    def save(self, tokens: TokenSet) -> None:
        """Count, then save."""
        self.saves += 1
        super().save(tokens)

    def clear(self) -> None:
        """Count, then clear."""
        self.clears += 1
        super().clear()


class ConsistentStore(CountingStore):
    """A store whose consistent copy (IndexedDB at the edge) may be ahead of ``load()``."""

    def __init__(self, tokens: TokenSet | None = None) -> None:
        super().__init__(tokens)
        self.central = tokens
        self.consistent_reads = 0

    async def load_consistent(self) -> TokenSet | None:
        """Read the central copy."""
        self.consistent_reads += 1
        return self.central

    async def save_consistent(self, tokens: TokenSet | None) -> None:
        """Write the central copy."""
        self.central = tokens


class RecordingLock:
    """Cross-tab lock double: a real lock (waiters queue) that counts how often it was held."""

    def __init__(self) -> None:
        self.entered = 0
        self.held = False
        self._lock: asyncio.Lock | None = None

    def __call__(self) -> "RecordingLock":
        return self

    async def __aenter__(self) -> "RecordingLock":
        if self._lock is None:
            self._lock = asyncio.Lock()
        await self._lock.acquire()
        self.held = True
        self.entered += 1
        return self

    async def __aexit__(self, *exc_info: object) -> bool:
        self.held = False
        assert self._lock is not None
        self._lock.release()
        return False


class Hooks:
    """Records every hook call."""

    def __init__(self) -> None:
        self.tokens: list = []
        self.errors: list = []
        self.logouts: list = []

    def kwargs(self) -> dict:
        """The hook arguments of AuthConfig."""
        return {
            "on_tokens": self.tokens.append,
            "on_refresh_error": self.errors.append,
            "on_logout": self.logouts.append,
        }


class Rig:
    """One logged-in session wired to a fake server, clock, store and hooks."""

    def __init__(self, sync: bool = False, store=None, access_ttl: float = 600.0, **config):
        self.clock = SyncFakeClock() if sync else FakeClock()
        self.server = FakeServer(access_ttl=access_ttl, clock=self.clock)
        self.hooks = Hooks()
        self.initial = self.server.tokens(self.clock.now())
        self.store = store if store is not None else CountingStore(self.initial)
        if isinstance(self.store, ConsistentStore) and self.store.central is None:
            self.store.central = self.initial
            self.store.save(self.initial)
        config.setdefault("random", lambda: 0.5)
        self.config = AuthConfig(BASE, **self.hooks.kwargs(), **config)
        if sync:
            self.transport = SyncFakeTransport(self.server)
            self.session = SyncAuthSession(self.config, self.transport, self.store, self.clock)
        else:
            self.transport = FakeTransport(self.server)
            self.lock = RecordingLock()
            self.session = AuthSession(
                self.config, self.transport, self.store, self.lock, self.clock
            )


def network_error() -> TransportError:
    """A fresh network failure."""
    return TransportError("Failed to fetch")


def body_of(response) -> object:
    """The JSON payload a fake response carries."""
    return response.payload


def dumps(value: object) -> bytes:
    """JSON bytes as the core encodes them."""
    return json.dumps(value).encode()
