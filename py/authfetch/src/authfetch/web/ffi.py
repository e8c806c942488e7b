"""The one seam between authfetch and JavaScript (Pyodide's FFI)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import js
from pyodide.ffi import JsProxy, create_once_callable, create_proxy, to_js

#: Proxies handed to JavaScript for the page's lifetime (event listeners, bridge methods).
_KEPT_ALIVE: list[Any] = []
#: Tasks started from callbacks, referenced until done (the loop keeps only weak refs).
_RUNNING: set[asyncio.Task[Any]] = set()


def spawn(coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
    """Run ``coroutine`` as a task that cannot be garbage-collected while it runs."""
    task = asyncio.ensure_future(coroutine)
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return task


def to_js_object(value: Any) -> Any:
    """Convert Python dicts/lists to plain JS objects/arrays (not Maps)."""
    return to_js(value, dict_converter=js.Object.fromEntries)


def keep(callback: Callable[..., Any]) -> Any:
    """A JS function for ``callback`` that stays valid for the page's lifetime."""
    proxy = create_proxy(callback)
    _KEPT_ALIVE.append(proxy)
    return proxy


def js_error(exc: BaseException) -> Any:
    """A JS ``Error`` whose ``name`` is the Python exception's class name."""
    error = js.Error.new(str(exc) or type(exc).__name__)
    error.name = type(exc).__name__
    return error


def rejection(exc: BaseException) -> Any:
    """What a JS promise rejects with for ``exc``: the original JS error if it wraps
    one (a network ``TypeError`` from ``fetch``), else :func:`js_error`."""
    original = getattr(exc, "js_error", None)
    return original if original is not None else js_error(exc)


def to_promise(make: Callable[[], Awaitable[Any]], convert: Callable[[Any], Any]) -> Any:
    """Run ``make()`` as a task and return a JS Promise of ``convert(result)``.

    A Python exception rejects the promise with :func:`js_error`, so JavaScript
    sees ``error.name == "SessionExpiredError"`` and not a generic PythonError.
    A ``JsException`` (e.g. a network ``TypeError`` from ``fetch``) rejects with
    the original JS error.
    """

    def executor(resolve: Any, reject: Any) -> None:
        async def run() -> None:
            try:
                result = convert(await make())
            except Exception as exc:  # every failure must reach the JS caller
                reject(rejection(exc))
            else:
                resolve(result)

        spawn(run())

    return js.Promise.new(create_once_callable(executor))


async def wait_request(request: JsProxy) -> Any:
    """Await an IndexedDB ``IDBRequest``; its ``result``, or raise its error."""
    future = asyncio.get_event_loop().create_future()

    def succeeded(_event: Any) -> None:
        if not future.done():
            future.set_result(request.result)

    def failed(_event: Any) -> None:
        if not future.done():
            future.set_exception(OSError(f"IndexedDB: {request.error and request.error.message}"))

    on_success, on_error = create_proxy(succeeded), create_proxy(failed)
    request.onsuccess, request.onerror = on_success, on_error
    try:
        return await future
    finally:
        on_success.destroy()
        on_error.destroy()
