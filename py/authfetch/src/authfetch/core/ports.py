"""Default ports: an in-memory / Web-Storage-shaped store, clocks and a no-op lock.

The browser edge supplies its own (``localStorage`` + IndexedDB store,
``navigator.locks``); these defaults keep the core usable and testable alone.
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
    ``storage`` event). Unreadable data loads as ``None``.
    """

    def __init__(self, backend: object, key: str = STORAGE_KEY) -> None:
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


class SyncClock:
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
