"""A cross-tab lock on the Web Locks API (``navigator.locks``)."""

from __future__ import annotations

import asyncio
from typing import Any

import js
from pyodide.ffi import create_once_callable

from authfetch.core import RefreshUnavailableError
from authfetch.web.ffi import to_js_object


class LockTimeoutError(RefreshUnavailableError):
    """The cross-tab lock was not granted in time (another tab holds it too long).

    A kind of :class:`RefreshUnavailableError`: the session is kept and a later
    request tries again.
    """


class WebLock:
    """``async with WebLock("authfetch.refresh"):`` — held across every tab of the origin.

    The lock is released when the block ends, whatever happens in it, and by
    the browser if the tab goes away. Waiting is bounded by ``timeout`` seconds.
    """

    def __init__(self, name: str, timeout: float = 10.0) -> None:
        """Lock ``name`` (one per storage key); give up waiting after ``timeout`` s."""
        self.name = name
        self.timeout = timeout
        self._release: asyncio.Future[None] | None = None
        self._granted: Any = None

    async def __aenter__(self) -> WebLock:
        """Wait until this tab holds the lock."""
        loop = asyncio.get_event_loop()
        acquired: asyncio.Future[None] = loop.create_future()
        release: asyncio.Future[None] = loop.create_future()

        async def hold(_lock: Any) -> None:
            acquired.set_result(None)
            await release

        controller = js.AbortController.new()
        options = to_js_object({"mode": "exclusive"})
        options.signal = controller.signal
        self._granted = js.navigator.locks.request(self.name, options, create_once_callable(hold))
        try:
            await asyncio.wait_for(asyncio.shield(acquired), self.timeout)
        except TimeoutError as exc:
            controller.abort()
            if not acquired.done():
                message = f"lock {self.name!r} not granted in {self.timeout} s"
                raise LockTimeoutError(message) from exc
        self._release = release
        return self

    async def __aexit__(self, *_exc: object) -> None:
        """Release the lock and wait until the browser has let it go."""
        if self._release is not None and not self._release.done():
            self._release.set_result(None)
        await self._granted


def web_lock_factory(name: str, timeout: float = 10.0):
    """A no-argument factory of :class:`WebLock` (the core's ``lock`` port)."""
    return lambda: WebLock(name, timeout)
