"""A cross-tab lock on the Web Locks API (``navigator.locks``)."""

from authfetch.core import RefreshUnavailableError
from authfetch.web.ffi import H, JsException

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class LockTimeoutError(RefreshUnavailableError):
    """The cross-tab lock was not granted in time (another tab holds it too long).

    A kind of :class:`RefreshUnavailableError` (JavaScript sees that name): the
    session is kept and a later request tries again.
    """


class WebLock:
    """``async with WebLock("authfetch:key"):`` — held across every tab of the origin.

    The lock is released when the block ends, whatever happens in it, and by the
    browser if the tab goes away. Waiting is bounded by ``timeout`` seconds. A
    waiter that is cancelled withdraws its request; if the browser grants it
    anyway in that instant, it is released at once (never held by nobody).
    """

    def __init__(self, name: str, timeout: float = 10.0) -> None:
        """Lock ``name`` (one per storage key); give up waiting after ``timeout`` s."""
        self.name = name
        self.timeout = timeout
        self._handle: Any = None

    async def __aenter__(self) -> "WebLock":
        """Wait until this tab holds the lock."""
        handle = H.lock(self.name, int(self.timeout * 1000))
        timed_out = False
        try:
            await handle.granted
        except JsException:
            timed_out = True
        except BaseException:  # cancelled while waiting (CancelledError)
            handle.cancel()
            raise
        if timed_out:
            message = "lock " + self.name + " not granted in " + str(self.timeout) + " s"
            raise LockTimeoutError(message)
        self._handle = handle
        return self

    async def __aexit__(self, *_exc: object) -> None:
        """Release the lock."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.release()


def web_lock_factory(name: str, timeout: float = 10.0) -> "Callable[[], WebLock]":
    """A no-argument factory of :class:`WebLock` (the core's ``lock`` port)."""
    return lambda: WebLock(name, timeout)
