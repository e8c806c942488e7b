"""The cross-tab lock of a page: Web Locks where the page has them, and always the lease.

The core's lease (:mod:`authfetch.core.lease`) lives in ``localStorage``. Where
``navigator.locks`` is missing (not a secure context) it is the lock itself,
and its confirmation goes through IndexedDB: a compare-and-set in one
readwrite transaction, which the browser serialises across tabs — unlike
``localStorage``, whose per-process copies in Chromium can each read back
their own write for a moment. Where Web Locks exist, the lease is taken
inside the Web Lock only so that the synchronous (urllib) path of any tab sees
that a refresh is on.
"""

from authfetch.core.lease import LEASE_SUFFIX, Lease, lease_lock_factory
from authfetch.web.ffi import H
from authfetch.web.locks import web_lock_factory
from authfetch.web.storage import IDB_STORE, IndexedDBCopy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class IndexedDBLeaseConfirm:
    """The lease's central compare-and-set, in the IndexedDB database of the session copy."""

    def __init__(self, key: str, clock: "Any") -> None:
        """Confirm leases under ``key`` (the lease's own key), timed by ``clock``."""
        self.key = key
        self.clock = clock
        self.database = IndexedDBCopy(key)

    async def claim(self, owner: str, expires: float) -> bool:
        """Take the central lease for ``owner`` until ``expires``; whether it was free.

        If IndexedDB cannot be used (some private modes), the ``localStorage``
        lease alone decides (it was read back as ours).
        """
        try:
            db = await self.database._open()
            now = repr(self.clock.now())
            won = await H.idbClaim(db, IDB_STORE, self.key, owner, now, repr(expires))
        except Exception as exc:
            print("authfetch: IndexedDB lease unavailable, using localStorage's:", repr(exc))
            return True
        return str(won) == "won"

    async def release(self, owner: str) -> None:
        """Give the central lease back if ``owner`` holds it."""
        try:
            await H.idbRelease(await self.database._open(), IDB_STORE, self.key, owner)
        except Exception as exc:
            print("authfetch: IndexedDB lease not released:", repr(exc))


def page_lock(store: "Any", storage_key: str, timeout: float, clock: "Any") -> "Any":
    """The ``lock`` port for a page: ``None`` for a store of one tab (session, memory);
    otherwise the lease (over ``localStorage``) inside the Web Lock, or the lease
    with its IndexedDB confirmation where ``navigator.locks`` is missing."""
    if not getattr(store, "shared", False):
        return None
    lease = Lease(store.backend, storage_key + LEASE_SUFFIX, clock)
    if H.hasLocks():
        inner = web_lock_factory("authfetch:" + storage_key, timeout)
        return lease_lock_factory(lease, inner, timeout)
    print("authfetch: no navigator.locks (not a secure context?): a localStorage lease instead")
    confirm = IndexedDBLeaseConfirm(lease.key, clock)
    return lease_lock_factory(lease, None, timeout, confirm)
