"""The one seam between authfetch and JavaScript, for both PyScript interpreters.

What differs between Pyodide and MicroPython (proxies, bytes, time, tasks, how a
JS error arrives) is in :mod:`.ffi_pyodide` and :mod:`.ffi_micropython`, chosen
here by ``sys.implementation.name``; everything below and every other module of
``authfetch.web`` is written once.
"""

import json
import sys

from authfetch.core import (
    AuthFetchError,
    ConfigurationError,
    DPoPError,
    LoginError,
    NotReplayableError,
    RefreshUnavailableError,
    SessionExpiredError,
)
from authfetch.web.jshelpers import H

if sys.implementation.name == "micropython":
    from authfetch.web.ffi_micropython import (
        JsException,
        bytes_from_js,
        bytes_to_js,
        js_error_of,
        now,
        proxy,
        release,
        spawn_task,
    )
else:
    from authfetch.web.ffi_pyodide import (
        JsException,
        bytes_from_js,
        bytes_to_js,
        js_error_of,
        now,
        proxy,
        release,
        spawn_task,
    )

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import Any

__all__ = [
    "H",
    "JsCall",
    "JsException",
    "Settler",
    "Timer",
    "bytes_from_js",
    "bytes_to_js",
    "error_for_js",
    "js_error_of",
    "json_to_js",
    "now",
    "proxy",
    "reject_with",
    "release",
    "spawn",
]

#: The errors JavaScript sees by name (a subclass reports its public parent's name).
PUBLIC_ERRORS = (
    SessionExpiredError,
    RefreshUnavailableError,
    NotReplayableError,
    LoginError,
    ConfigurationError,
    DPoPError,
)

#: Tasks started from callbacks, referenced until done.
_RUNNING: set = set()


def spawn(coroutine: "Coroutine[Any, Any, Any]") -> "Any":
    """Run ``coroutine`` as a task that stays referenced until it ends; an error it
    ends with is printed (a background task has no caller to raise to)."""
    task_of: list = []

    async def run() -> None:
        try:
            await coroutine
        except Exception as exc:
            print("authfetch: background task failed:", repr(exc))
        finally:
            if task_of:
                _RUNNING.discard(task_of[0])

    task = spawn_task(run())
    task_of.append(task)
    _RUNNING.add(task)
    return task


def json_to_js(value: object) -> "Any":
    """A plain JS value of JSON-able ``value`` (integers keep all their bits)."""
    return H.json(json.dumps(value))


def reject_with(reject: "Any", exc: BaseException) -> None:
    """Reject a JS promise for ``exc`` (see :func:`error_for_js`)."""
    H.fail(reject, error_for_js(exc))


class JsCall:
    """One ``window.authfetch.fetch`` call, settled through the helpers by its id (the
    promise's ``resolve`` and ``reject`` stay in JavaScript)."""

    _finish = H.finish
    _fail = H.failCall

    def __init__(self, ident: int) -> None:
        """The call ``ident`` (a small integer chosen by the bridge)."""
        self.ident = ident

    def resolve(self, value: "Any") -> None:
        """Fulfil the call's promise with ``value``."""
        JsCall._finish(self.ident, value)

    def reject(self, exc: BaseException) -> None:
        """Reject the call's promise for ``exc`` (see :func:`error_for_js`)."""
        JsCall._fail(self.ident, error_for_js(exc))

    def reject_value(self, value: "Any") -> None:
        """Reject the call's promise with a JS value (a boxed error)."""
        JsCall._fail(self.ident, value)


def error_for_js(exc: BaseException) -> "Any":
    """What a promise rejects with for ``exc``: the JS error it wraps (a network
    ``TypeError``, boxed), else an ``Error`` named after its public class."""
    original = getattr(exc, "js_error", None) or js_error_of(exc)
    if original is not None:
        return original
    name = type(exc).__name__
    if isinstance(exc, AuthFetchError):
        for public in PUBLIC_ERRORS:
            if isinstance(exc, public):
                name = public.__name__
                break
    return H.error(name, str(exc) or name)


class Settler:
    """Step Python code when JS promises settle, through one long-lived callback.

    ``then(promise, on_done)`` calls ``on_done(ok, value)`` once; no proxy is made
    per promise (MicroPython cannot free them), ids stay small integers.
    """

    def __init__(self) -> None:
        """One callback for every promise."""
        self._pending: dict = {}
        self._next = 0
        self._callback = proxy(self._settled)
        # The helpers, looked up once (each lookup on a JS object crosses the FFI).
        self._settle, self._send, self._request = H.settle, H.send, H.request

    def then(self, promise: "Any", on_done: "Callable[[bool, Any], None]") -> None:
        """Call ``on_done(True, value)`` or ``on_done(False, error)`` when ``promise`` settles."""
        self._settle(promise, self._register(on_done), self._callback)

    def fetch(
        self, url: "Any", init: "Any", timeout_ms: int, on_done: "Callable[..., None]"
    ) -> None:
        """``fetch(url, init)`` (aborted after ``timeout_ms``, 0: never), then
        ``on_done(True, response, status)`` or ``on_done(False, error)``; a network error
        arrives as fetch's own error (boxed)."""
        self._send(url, init, timeout_ms, self._register(on_done), self._callback)

    def request(
        self,
        url: str,
        caller: "Any",
        method: str,
        headers_json: str,
        body: "Any",
        stream: bool,
        timeout_ms: int,
        on_done: "Callable[..., None]",
    ) -> None:
        """:meth:`fetch` with the init made in JavaScript, in one call: the caller's send
        options (``caller``: a JS init, the id of the bridge's call that holds it, or
        ``None``), ``method``, the headers as JSON pairs, the body (a ``Uint8Array``, a
        stream, or ``None``)."""
        self._request(
            url, caller, method, headers_json, body, stream, timeout_ms,
            self._register(on_done), self._callback,
        )  # fmt: skip

    def _register(self, on_done: "Callable[[bool, Any], None]") -> int:
        """A new id for ``on_done``."""
        self._next = (self._next + 1) % 1_000_000_000
        self._pending[self._next] = on_done
        return self._next

    def _settled(self, step_id: int, ok: bool, value: "Any", status: "Any" = None) -> None:
        """JavaScript's report for ``step_id`` (a fetch's answer comes with its ``status``)."""
        on_done = self._pending.pop(int(step_id), None)
        if on_done is None:
            return
        if status is None:
            on_done(bool(ok), value)
        else:
            on_done(True, value, int(status))


#: The page's one :class:`Settler`.
SETTLER = Settler()


class Timer:
    """One re-armable ``setTimeout`` (asyncio's ``call_later`` is missing on MicroPython)."""

    def __init__(self, callback: "Callable[[], None]") -> None:
        """Call ``callback()`` when the timer fires."""
        self._callback = callback
        self._handle: Any = None
        self._proxy = proxy(self._fired)

    def arm(self, seconds: float) -> None:
        """Fire in ``seconds`` (replacing any earlier arming)."""
        self.cancel()
        self._handle = H.timeout(self._proxy, int(max(0.0, seconds) * 1000))

    def cancel(self) -> None:
        """Do not fire."""
        if self._handle is not None:
            import js

            js.clearTimeout(self._handle)
            self._handle = None

    def close(self) -> None:
        """Cancel and free the callback."""
        self.cancel()
        release(self._proxy)

    def _fired(self, _unused: "Any" = None) -> None:
        """The browser's timer fired."""
        self._handle = None
        self._callback()
