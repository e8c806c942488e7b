"""The FFI primitives on MicroPython (``jsffi``): integers are 32-bit across the
boundary, proxies cannot be freed, bytes need a conversion, asyncio has no futures."""

import asyncio
import gc
import time

from jsffi import JsException, create_proxy

from authfetch.core.b64 import b64, unb64
from authfetch.web.jshelpers import H

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import Any

__all__ = ["JsException", "bytes_from_js", "bytes_to_js", "js_error_of", "now", "proxy", "release"]
__all__ += ["spawn_task"]

#: Bytes allocated between two runs of MicroPython's collector. PyScript's port sets 16 KB, so
#: a full mark-and-sweep ran about every fourth request (about 0.24 ms each, ``make profile``);
#: with 256 KB it runs about every sixtieth. Raised once, when the library loads, and only from
#: a smaller positive value: a page's own larger threshold, or none (-1), is kept.
GC_THRESHOLD = 256 * 1024


def _raise_gc_threshold() -> None:
    """Raise MicroPython's collection threshold to :data:`GC_THRESHOLD` (see there)."""
    current = gc.threshold()  # type: ignore[attr-defined]
    if 0 <= current < GC_THRESHOLD:
        gc.threshold(GC_THRESHOLD)  # type: ignore[attr-defined]


_raise_gc_threshold()


def proxy(function: "Callable[..., Any]") -> "Any":
    """A JS function calling ``function`` (kept for the page's life: no ``destroy`` here)."""
    return create_proxy(function)


def release(js_function: "Any") -> None:
    """Nothing to free: MicroPython's proxies have no ``destroy``."""


def spawn_task(coroutine: "Coroutine[Any, Any, Any]") -> "asyncio.Task[Any]":
    """Schedule ``coroutine`` on the event loop."""
    return asyncio.create_task(coroutine)


def now() -> float:
    """Local epoch seconds (``Date.now()`` would arrive cut to 32 bits)."""
    return time.time()


def bytes_to_js(data: bytes) -> "Any":
    """``data`` as a ``Uint8Array`` (through base64 text)."""
    return H.bytesFromBase64(b64(data))


def bytes_from_js(buffer: "Any") -> bytes:
    """The bytes of an ``ArrayBuffer`` (through base64 text)."""
    return unb64(str(H.base64FromBuffer(buffer)))


def js_error_of(exc: BaseException) -> "Any":
    """The JS error a ``JsException`` carries, boxed (``None`` for a Python error)."""
    if not isinstance(exc, JsException):
        return None
    args = exc.args
    if len(args) >= 3:
        return H.box(args[0])
    return H.box(H.error(str(args[0]) if args else "Error", str(args[-1]) if args else ""))
