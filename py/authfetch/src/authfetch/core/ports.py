"""The ports the core talks through, and their default implementations.

The interfaces — :class:`Transport`, :class:`SyncTransport`, :class:`Response`,
:class:`Store`, :class:`Clock`, :class:`SyncClock`, :class:`LockFactory` — are
declared for the type checker only (MicroPython has no ``typing``). The browser
edge supplies its own implementations (``fetch``, ``localStorage`` + an
IndexedDB copy, ``navigator.locks``); the defaults here keep the core usable and
testable alone.
"""

import asyncio
import time

from .tokens import TokenSet

#: The one storage key holding the whole session as JSON.
STORAGE_KEY = "authfetch.session"


def parse_session(text: "str | None") -> "TokenSet | None":
    """The TokenSet stored as JSON ``text``; ``None`` for nothing or a malformed value."""
    if not text:
        return None
    try:
        return TokenSet.from_json(str(text))
    except (ValueError, TypeError):
        return None


class KeyValueStore:
    """A session store over a Web-Storage-like backend (``getItem/setItem/removeItem``).

    ``window.localStorage`` or ``sessionStorage`` can be passed as is. The
    whole TokenSet is one JSON value under ``key`` (one atomic write, one
    ``storage`` event). Unreadable data loads as ``None``. Its consistent
    read and write (see :class:`Store`) are the plain ones: a single page has
    nothing to be consistent with.
    """

    def __init__(self, backend: "Any", key: str = STORAGE_KEY) -> None:
        self.backend = backend
        self.key = key

    def load(self) -> "TokenSet | None":
        """Return the stored TokenSet, or ``None`` if absent or corrupt."""
        return parse_session(self.backend.getItem(self.key))

    def save(self, tokens: TokenSet) -> None:
        """Store ``tokens`` under the key."""
        self.backend.setItem(self.key, tokens.to_json())

    def clear(self) -> None:
        """Remove the session."""
        self.backend.removeItem(self.key)

    async def load_consistent(self) -> "TokenSet | None":
        """The session as every tab sees it now (here: :meth:`load`)."""
        return self.load()

    async def save_consistent(self, tokens: "TokenSet | None") -> None:
        """Write the cross-tab copy (here: nothing beyond :meth:`save`)."""

    def save_consistent_soon(self, tokens: "TokenSet | None") -> None:
        """Write the cross-tab copy without waiting (for the sync driver)."""


class DictBackend:
    """A plain-dict backend with the Web Storage method names."""

    def __init__(self) -> None:
        self.data: dict = {}

    def getItem(self, key: str) -> "str | None":
        """Return the value under ``key`` or ``None``."""
        return self.data.get(key)

    def setItem(self, key: str, value: str) -> None:
        """Set ``key`` to ``value``."""
        self.data[key] = value

    def removeItem(self, key: str) -> None:
        """Remove ``key`` if present."""
        self.data.pop(key, None)


class MemoryStore(KeyValueStore):
    """The in-memory store (the "memory" storage backend): gone when the page goes."""

    def __init__(self, tokens: "TokenSet | None" = None, key: str = STORAGE_KEY) -> None:
        super().__init__(DictBackend(), key)
        if tokens is not None:
            self.save(tokens)


class SystemClock:
    """The real clock for the async session: ``time.time()`` and ``asyncio.sleep``."""

    def now(self) -> float:
        """Return local epoch seconds."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Sleep without blocking the event loop."""
        await asyncio.sleep(seconds)


class SystemSyncClock:
    """The real clock for the sync session: ``time.time()`` and ``time.sleep``."""

    def now(self) -> float:
        """Return local epoch seconds."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds``."""
        time.sleep(seconds)


class NoLock:
    """An async context manager that locks nothing (single tab, tests)."""

    async def __aenter__(self) -> "NoLock":
        """Enter at once."""
        return self

    async def __aexit__(self, *exc_info: object) -> bool:
        """Leave at once; never swallows an exception."""
        return False


def no_lock() -> NoLock:
    """Default lock factory: no cross-tab lock."""
    return NoLock()


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    from .request import ReplayableRequest

    class Headers(Protocol):
        """Response headers: a case-insensitive ``get``."""

        def get(self, name: str, default: "str | None" = None) -> "str | None":
            """The value of ``name`` or ``default``."""

    class Response(Protocol):
        """What a transport answers: a status and headers; the body is read by the driver."""

        status: int
        headers: Any

    class Transport(Protocol):
        """Sends one request; raises ``TransportError`` when no response came."""

        async def send(self, request: ReplayableRequest, timeout: "float | None" = None) -> Any:
            """Send ``request`` once (give up after ``timeout`` s); the response."""

    class SyncTransport(Protocol):
        """The blocking transport of the sync driver."""

        def send(self, request: ReplayableRequest, timeout: "float | None" = None) -> Any:
            """Send ``request`` once; the response (with a sync ``json()``)."""

    class Store(Protocol):
        """Where the session lives; the consistent pair is the cross-tab view (read under lock)."""

        key: str

        def load(self) -> "TokenSet | None":
            """The stored session."""

        def save(self, tokens: "TokenSet") -> None:
            """Store ``tokens``."""

        def clear(self) -> None:
            """Remove the session."""

        async def load_consistent(self) -> "TokenSet | None":
            """The session as every tab sees it now."""

        async def save_consistent(self, tokens: "TokenSet | None") -> None:
            """Write the cross-tab copy before the lock is released."""

        def save_consistent_soon(self, tokens: "TokenSet | None") -> None:
            """Write the cross-tab copy without waiting."""

    class Clock(Protocol):
        """Local time and a non-blocking sleep."""

        def now(self) -> float:
            """Local epoch seconds."""

        async def sleep(self, seconds: float) -> None:
            """Wait ``seconds``."""

    class SyncClock(Protocol):
        """Local time and a blocking sleep."""

        def now(self) -> float:
            """Local epoch seconds."""

        def sleep(self, seconds: float) -> None:
            """Block ``seconds``."""

    class Lock(Protocol):
        """An async context manager held across every tab of the origin."""

        async def __aenter__(self) -> object:
            """Wait until held (raises ``RefreshUnavailableError`` on timeout)."""

        async def __aexit__(self, *exc_info: object) -> object:
            """Release."""

    class ProofKeys(Protocol):
        """The DPoP keys (RFC 9449), shared by every tab: made, used and deleted here."""

        async def create(self) -> dict:
            """Make and keep a new non-extractable P-256 key pair; its public JWK."""

        async def sign(self, jkt: str, data: str) -> str:
            """ES256-sign the text ``data`` with the kept key of thumbprint ``jkt``; the
            signature (r || s) as base64url text."""

        async def prune(self, keep: "list[str]", young: bool) -> None:
            """Delete every kept key but ``keep`` (``young``: and those made lately)."""

    class LockFactory(Protocol):
        """Makes a new cross-tab lock for each use."""

        def __call__(self) -> Lock:
            """A fresh lock."""
