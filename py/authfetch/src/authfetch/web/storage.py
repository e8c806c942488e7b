"""Where the session lives in the browser: Web Storage or memory, plus an IndexedDB copy.

The page's store is ``localStorage`` (default), ``sessionStorage`` or memory:
one JSON value under one key (one atomic write, one ``storage`` event).

Under the cross-tab lock the session is read from a copy kept in IndexedDB.
In Chromium each tab process has its own copy of ``localStorage``, and a lock
can be granted before another tab's write has reached it; IndexedDB goes
through the browser's central store, so a copy committed before the lock was
released is what the next holder reads. Only ``localStorage`` is shared
between tabs, so only it gets the copy (and the Web Lock).
"""

import js

from authfetch.core import STORAGE_KEY, KeyValueStore, MemoryStore, TokenSet, parse_session
from authfetch.web.ffi import H, spawn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

IDB_NAME = "authfetch"
IDB_STORE = "sessions"
#: Written to the IndexedDB copy on logout, so "logged out" differs from "never written".
LOGGED_OUT = "null"


class IndexedDBCopy:
    """The session's JSON under ``key`` in IndexedDB, read consistently across tabs."""

    def __init__(self, key: str) -> None:
        """Mirror the value stored under ``key``."""
        self.key = key
        self._db: Any = None

    async def _open(self) -> "Any":
        """The database, opened (and created) on first use."""
        if self._db is None:
            self._db = await H.idbOpen(IDB_NAME, IDB_STORE)
        return self._db

    async def read(self) -> "str | None":
        """The stored text: JSON, :data:`LOGGED_OUT`, or ``None`` if never written."""
        value = await H.idbGet(await self._open(), IDB_STORE, self.key)
        return None if value is None else str(value)

    async def write(self, text: str) -> None:
        """Store ``text`` and wait until the transaction has committed."""
        await H.idbPut(await self._open(), IDB_STORE, self.key, text)


class SharedStore(KeyValueStore):
    """``localStorage`` for the page, an IndexedDB copy for reads under the lock."""

    shared = True

    def __init__(self, backend: "Any", key: str = STORAGE_KEY) -> None:
        """Store under ``key`` in ``backend`` (``window.localStorage``)."""
        super().__init__(backend, key)
        self.copy = IndexedDBCopy(key)

    async def load_consistent(self) -> "TokenSet | None":
        """The session as every tab sees it now (the IndexedDB copy).

        A copy never written (first use, or storage written by something else)
        falls back to ``localStorage``; a logged-out marker reads as ``None``.
        """
        text = None
        try:
            text = await self.copy.read()
        except Exception as exc:  # IndexedDB missing or blocked (some private modes)
            print("authfetch: IndexedDB copy unreadable, using localStorage:", repr(exc))
        if text is None:
            return self.load()
        return parse_session(text)

    async def save_consistent(self, tokens: "TokenSet | None") -> None:
        """Write the IndexedDB copy (``None``: logged out) before the lock is released."""
        try:
            await self.copy.write(LOGGED_OUT if tokens is None else tokens.to_json())
        except Exception as exc:  # the copy is an optimisation of the cross-tab read
            print("authfetch: IndexedDB copy not written:", repr(exc))

    def save_consistent_soon(self, tokens: "TokenSet | None") -> None:
        """Write the IndexedDB copy in the background (the sync session cannot wait)."""
        spawn(self.save_consistent(tokens))


class TabStore(KeyValueStore):
    """``sessionStorage``: one tab's session, no cross-tab copy or lock needed."""

    shared = False


class PageMemoryStore(MemoryStore):
    """Memory only: the session ends when the page does."""

    shared = False


def make_store(kind: str, key: str = STORAGE_KEY) -> KeyValueStore:
    """The store for ``kind``: ``"local"`` (default), ``"session"`` or ``"memory"``."""
    if kind == "local":
        return SharedStore(js.localStorage, key)
    if kind == "session":
        return TabStore(js.sessionStorage, key)
    if kind == "memory":
        return PageMemoryStore(key=key)
    raise ValueError("storage must be 'local', 'session' or 'memory', not " + repr(kind))
