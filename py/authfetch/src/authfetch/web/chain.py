"""Run a request flow by chaining the browser's promises (the bridge's fast path).

``await`` in Pyodide resumes a coroutine through a task of the browser's event
loop after every promise it waits on. The request flow is a sans-IO generator,
so it can instead be stepped straight from the ``then`` callbacks of
``fetch``'s promise: the common case (bearer attached, a 2xx back) then costs
one ``fetch`` and a few microseconds of Python, as JavaScript would. Only a
refresh goes through the session's asyncio gate (shared with every other
caller), and its result steps the flow on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import js
from pyodide.ffi import create_once_callable

from authfetch.core import REFRESH, SEND
from authfetch.web.ffi import rejection, spawn
from authfetch.web.transport import FetchTransport, transport_error

Step = Callable[[Any, BaseException | None], None]


def flow_promise(
    flow: Any, transport: FetchTransport, refresh: Callable[[str], Awaitable[Any]]
) -> Any:
    """A JS Promise of the flow's result; it rejects with the flow's error for JavaScript."""

    def executor(resolve: Any, reject: Any) -> None:
        def step(value: Any = None, error: BaseException | None = None) -> None:
            try:
                kind, arg = flow.send(value) if error is None else flow.throw(error)
            except StopIteration as stop:
                resolve(stop.value)
                return
            except Exception as exc:  # every failure must reach the JS caller
                reject(rejection(exc))
                return
            if kind == SEND:
                _send(transport, arg, step)
            elif kind == REFRESH:
                spawn(refresh(arg)).add_done_callback(lambda task: _resume(task, step))
            else:
                step(None, ValueError(f"unexpected flow command {kind!r}"))

        step()

    return js.Promise.new(create_once_callable(executor))


def _send(transport: FetchTransport, request: Any, step: Step) -> None:
    """Start the send; step the flow with the response, or throw the network error in."""
    note = transport.announce(request)
    callbacks: list[Any] = []

    def fulfilled(response: Any) -> None:
        callbacks[1].destroy()
        transport.settled(note, response.status)
        step(response, None)

    def failed(reason: Any) -> None:
        callbacks[0].destroy()
        transport.settled(note, error=reason)
        step(None, transport_error(reason))

    callbacks.extend((create_once_callable(fulfilled), create_once_callable(failed)))
    transport.start(request).then(*callbacks)


def _resume(task: Any, step: Step) -> None:
    """Step the flow with a finished refresh: its tokens, or its exception."""
    error = task.exception()
    step(None if error is not None else task.result(), error)
