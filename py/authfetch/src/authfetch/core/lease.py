"""A cross-tab lock for pages without Web Locks: a lease in Web Storage (owner + expiry).

``navigator.locks`` exists only in secure contexts. Without it, tabs take turns
through a *lease* kept under ``<storage key>.lock`` in the shared
``localStorage``, as auth0-spa-js's ``browser-tabs-lock`` does: write
``{"owner", "expires"}``, let a racing write arrive, read it back, and hold the
lease only if it still names this owner. In Chromium each tab process has its
own copy of ``localStorage`` (a racing write can be unseen for a moment), so
the edge adds a *confirmation* that goes through one central store (an
IndexedDB compare-and-set, see ``authfetch.web.lease``): of two tabs that both
read their own lease back, exactly one wins it.

The synchronous (urllib) path cannot wait for a promise: it takes the lease only
when it is free (:meth:`Lease.try_take`, no waiting) and otherwise does not
refresh. The async paths take the lease too — inside the Web Lock where there
is one — so a sync refresh in one tab never overlaps an async one in another.
A lease expires after :data:`LEASE_TTL_S` (a tab that went away mid-refresh
does not block the others for longer).
"""

import asyncio
import json
import random

from .errors import RefreshUnavailableError

#: Appended to the storage key for the lease's own key.
LEASE_SUFFIX = ".lock"
#: A lease outlives any refresh it guards (3 attempts x 5 s timeout + backoff).
LEASE_TTL_S = 20.0
#: How often a tab waiting for the lease looks again.
POLL_S = 0.05
#: How long a tab lets a racing write of another tab arrive before reading its lease back.
SETTLE_S = 0.05


class LeaseTimeoutError(RefreshUnavailableError):
    """The lease was not free in time: the session is kept, a later request tries again."""


def new_owner() -> str:
    """A fresh owner id (64 random bits as hex)."""
    return f"{random.getrandbits(32):08x}{random.getrandbits(32):08x}"


class Lease:
    """The lease under ``key`` in a Web-Storage-like ``backend``, held by one owner at a time.

    Only plain reads and writes: no waiting (the sync path uses it as is).
    ``clock.now()`` gives local epoch seconds (every tab of a browser shares it).
    """

    def __init__(self, backend: "Any", key: str, clock: "Any", ttl: float = LEASE_TTL_S) -> None:
        self.backend = backend
        self.key = key
        self.clock = clock
        self.ttl = ttl
        self.owner = new_owner()

    def _read(self) -> "tuple[str, float] | None":
        """``(owner, expires)`` as stored; ``None`` for nothing or a malformed value."""
        try:
            entry = json.loads(self.backend.getItem(self.key) or "null")
            return str(entry["owner"]), float(entry["expires"])
        except (ValueError, TypeError, KeyError):
            return None

    def holder(self) -> "str | None":
        """The owner holding the lease now, or ``None`` when it is free (or expired)."""
        entry = self._read()
        if entry is None or entry[1] <= self.clock.now():
            return None
        return entry[0]

    def held_by_other(self) -> bool:
        """Tell whether another owner holds the lease now."""
        holder = self.holder()
        return holder is not None and holder != self.owner

    def ours(self) -> bool:
        """Tell whether this owner holds the lease now."""
        return self.holder() == self.owner

    def expires(self) -> float:
        """When a lease taken now expires."""
        return self.clock.now() + self.ttl

    def try_take(self) -> bool:
        """Write this owner's lease if it is free; tell whether it reads back as ours."""
        if self.held_by_other():
            return False
        entry = {"owner": self.owner, "expires": self.expires()}
        self.backend.setItem(self.key, json.dumps(entry))
        return self.ours()

    def give_back(self) -> None:
        """Remove the lease if it still names this owner (never another tab's)."""
        entry = self._read()
        if entry is not None and entry[0] == self.owner:
            self.backend.removeItem(self.key)


class LeaseLock:
    """``async with``: the ``inner`` lock (a Web Lock, if any), then the lease.

    Without ``inner`` the lease is the cross-tab lock: after writing it, wait
    :data:`SETTLE_S`, read it back, and ask ``confirm`` (the edge's central
    compare-and-set, if any) before holding it; otherwise wait
    :data:`POLL_S` and try again, for at most ``timeout`` seconds
    (``LeaseTimeoutError``). With ``inner`` the async tabs already take turns,
    and the lease only tells the sync path that a refresh is on.
    ``wait(seconds, lease)`` is awaited between tries (default ``clock.sleep``).
    Each lock holds the lease under an owner id of its own (a copy of
    ``lease``), so two operations of one tab (a refresh, a sign-in) never both
    take it as "ours".
    """

    def __init__(
        self,
        lease: Lease,
        inner: "Any" = None,
        timeout: float = 10.0,
        confirm: "Any" = None,
        wait: "Any" = None,
    ) -> None:
        self.lease = Lease(lease.backend, lease.key, lease.clock, lease.ttl)
        self.inner = inner
        self.timeout = timeout
        self.confirm = confirm if inner is None else None
        self.wait = wait if wait is not None else self._sleep
        self._held = False

    async def _sleep(self, seconds: float, _lease: "Lease | None" = None) -> None:
        """The clock's sleep, then a turn of the loop (a fake clock's sleep may not yield)."""
        await self.lease.clock.sleep(seconds)
        await asyncio.sleep(0)

    async def __aenter__(self) -> "LeaseLock":
        """Hold the inner lock, then the lease."""
        if self.inner is not None:
            await self.inner.__aenter__()
        try:
            await self._take()
        except BaseException:
            if self.inner is not None:
                await self.inner.__aexit__(None, None, None)
            raise
        return self

    async def _take(self) -> None:
        """Take the lease, waiting for it at most ``timeout`` seconds."""
        waited = 0.0
        while True:
            if self.lease.try_take():
                if self.inner is None:
                    await self.wait(SETTLE_S, self.lease)
                    waited += SETTLE_S
                if self.lease.ours() and await self._confirmed():
                    self._held = True
                    return
            if waited >= self.timeout:
                raise LeaseTimeoutError(
                    "the cross-tab lease was not free in " + str(self.timeout) + " s"
                )
            await self.wait(POLL_S, self.lease)
            waited += POLL_S

    async def _confirmed(self) -> bool:
        """The central compare-and-set, where the edge has one (else: yes)."""
        if self.confirm is None:
            return True
        return bool(await self.confirm.claim(self.lease.owner, self.lease.expires()))

    async def __aexit__(self, *exc_info: object) -> bool:
        """Give the lease back (and its central copy), then the inner lock."""
        try:
            if self._held:
                self._held = False
                self.lease.give_back()
                if self.confirm is not None:
                    await self.confirm.release(self.lease.owner)
        finally:
            if self.inner is not None:
                await self.inner.__aexit__(*exc_info)
        return False


def lease_for(store: "Any", clock: "Any") -> "Lease | None":
    """The lease of a store shared by tabs (``store.shared``), ``None`` for any other."""
    if not getattr(store, "shared", False) or getattr(store, "backend", None) is None:
        return None
    return Lease(store.backend, store.key + LEASE_SUFFIX, clock)


def lease_lock_factory(
    lease: Lease,
    inner: "Callable[[], Any] | None" = None,
    timeout: float = 10.0,
    confirm: "Any" = None,
    wait: "Any" = None,
) -> "Callable[[], LeaseLock]":
    """A no-argument factory of :class:`LeaseLock` (the core's ``lock`` port)."""
    return lambda: LeaseLock(lease, inner() if inner is not None else None, timeout, confirm, wait)


def tab_lock(store: "Any", clock: "Any", lock: "Any" = None) -> "Any":
    """The cross-tab lock of a tab: ``lock`` (a Web Lock factory, or ``None`` where the page
    has none) with the store's lease around it when the store is shared; else ``lock``."""
    lease = lease_for(store, clock)
    if lease is None:
        return lock
    return lease_lock_factory(lease, lock)


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any
