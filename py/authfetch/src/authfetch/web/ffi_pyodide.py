"""The FFI primitives on Pyodide (CPython in WebAssembly)."""

import asyncio

import js
from pyodide.ffi import JsException, create_proxy, to_js

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import Any

__all__ = ["JsException", "bytes_from_js", "bytes_to_js", "js_error_of", "now", "proxy", "release"]
__all__ += ["spawn_task"]


def proxy(function: "Callable[..., Any]") -> "Any":
    """A JS function calling ``function`` that stays valid until :func:`release`."""
    return create_proxy(function)


def release(js_function: "Any") -> None:
    """Free a proxy made by :func:`proxy` (JavaScript can no longer call it)."""
    js_function.destroy()


def spawn_task(coroutine: "Coroutine[Any, Any, Any]") -> "asyncio.Task[Any]":
    """Schedule ``coroutine`` on the browser's event loop (also from a JS callback)."""
    return asyncio.ensure_future(coroutine)


def now() -> float:
    """Local epoch seconds from ``Date.now()`` (which ``page.clock`` can fake)."""
    return float(js.Date.now()) / 1000.0


def bytes_to_js(data: bytes) -> "Any":
    """``data`` as a ``Uint8Array``."""
    return to_js(data)


def bytes_from_js(buffer: "Any") -> bytes:
    """The bytes of an ``ArrayBuffer``."""
    return bytes(buffer.to_bytes())


def js_error_of(exc: BaseException) -> "Any":
    """``None``: a JS error that became a ``JsException`` cannot be handed back as itself
    (it would reach JavaScript as a ``PythonError``); the edge boxes errors in JS instead."""
    return None
