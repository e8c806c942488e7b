"""Run a request flow by chaining the browser's promises (the bridge's fast path).

``await`` resumes a coroutine through a task of the browser's event loop after
every promise it waits on. The request flow is a sans-IO generator, so it can
instead be stepped straight from the moment ``fetch``'s promise settles: the
common case (bearer attached, a 2xx back) then costs one ``fetch`` and a few
microseconds of Python, as JavaScript would. Only a refresh goes through the
session's asyncio gate (shared with every other caller), and its outcome steps
the flow on. Every way a flow ends settles the caller's promise, once: its
result, its error, or — if the refresh task is cancelled — a named error.
"""

from authfetch.core import REFRESH, SEND, RefreshUnavailableError
from authfetch.web.ffi import reject_with, spawn
from authfetch.web.transport import FetchTransport, transport_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any


def run_flow(
    flow: "Any",
    transport: FetchTransport,
    refresh: "Callable[[str], Awaitable[Any]]",
    resolve: "Any",
    reject: "Any",
) -> None:
    """Drive ``flow``; call JS ``resolve(result)`` or ``reject(error)`` when it ends."""

    def step(value: "Any" = None, error: "BaseException | None" = None) -> None:
        try:
            kind, arg = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            resolve(stop.value)
            return
        except Exception as exc:  # every failure must reach the JS caller
            reject_with(reject, exc)
            return
        if kind == SEND:
            _send(transport, arg, step)
        elif kind == REFRESH:
            spawn(_refresh(refresh, arg, step))
        else:
            step(None, ValueError("unexpected flow command " + repr(kind)))

    step()


def _send(transport: FetchTransport, request: "Any", step: "Any") -> None:
    """Start the send; step the flow with the response, or throw the network error in."""
    note = transport.announce(request)

    def settled(ok: bool, value: "Any") -> None:
        if ok:
            transport.settled(note, int(value.status))
            step(value, None)
        else:
            transport.settled(note, error=value)
            step(None, transport_error(value))

    transport.start(request, settled)


async def _refresh(refresh: "Callable[[str], Awaitable[Any]]", stale: str, step: "Any") -> None:
    """Step the flow with the shared refresh's tokens or error; a cancelled refresh
    task still settles the caller (``RefreshUnavailableError``)."""
    try:
        tokens = await refresh(stale)
    except Exception as exc:
        step(None, exc)
        return
    except BaseException:  # CancelledError: the caller must not wait forever
        step(None, RefreshUnavailableError("the refresh was cancelled"))
        raise
    step(tokens, None)
