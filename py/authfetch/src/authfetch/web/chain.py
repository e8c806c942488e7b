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

from authfetch.core import (
    DPoPError,
    Refresh,
    RefreshUnavailableError,
    Send,
    SignProof,
    answer_event,
    send_event,
)
from authfetch.web.dpop import BrowserKeys
from authfetch.web.ffi import SETTLER, JsCall, spawn
from authfetch.web.transport import Response, transport_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any

    from authfetch.core import AuthSession
    from authfetch.web.transport import FetchTransport


def run_flow(
    flow: "Any", session: "AuthSession", transport: "FetchTransport", call: JsCall
) -> None:
    """Drive ``flow``; settle the JavaScript ``call`` with its result or error when it ends.

    The one dispatch of this driver: ``Send`` goes to the transport's promise,
    ``Refresh`` to the session's single flight, ``SignProof`` (DPoP) to WebCrypto's
    promise; anything else (a body read) to the session's own async dispatch. The
    flow is stepped through :func:`_to_the_end`, whose last command is its result:
    no ``StopIteration`` is raised on the common path (MicroPython raises exceptions
    through a JavaScript throw, which costs more than the rest of a step).
    """
    steps = _to_the_end(flow)

    def step(value: "Any" = None, error: "BaseException | None" = None) -> None:
        try:
            command = steps.send(value) if error is None else steps.throw(error)
        except Exception as exc:  # every failure must reach the JS caller
            call.reject(exc)
            return
        if isinstance(command, Send):
            _send(session, transport, command, step)
        elif isinstance(command, _Result):
            result = command.value
            call.resolve(result.js if isinstance(result, Response) else result)
        elif isinstance(command, Refresh):
            spawn(_refresh(session.refresh, command.stale, step))
        elif isinstance(command, SignProof) and isinstance(session.keys, BrowserKeys):
            _sign(session.keys, command, step)
        else:
            spawn(_execute(session, command, step))

    step()


class _Result:
    """The last command of :func:`_to_the_end`: the flow's result."""

    def __init__(self, value: "Any") -> None:
        self.value = value


def _to_the_end(flow: "Any") -> "Any":
    """``flow``'s commands, then its result as a :class:`_Result` (never resumed after)."""
    result = yield from flow
    yield _Result(result)


def _send(session: "AuthSession", transport: "FetchTransport", command: Send, step: "Any") -> None:
    """Start the send; step the flow with the response, or throw the network error in."""
    request = command.request
    told = session.config.request_events
    if told:
        session.emit(send_event(request))

    def settled(ok: bool, value: "Any") -> None:
        if ok:
            if told:
                session.emit(answer_event(request, value.status))
            step(value, None)
        else:
            error = transport_error(value)
            if told:
                session.emit(answer_event(request, None, error))
            step(None, error)

    transport.start(request, settled, command.timeout)


def _sign(keys: BrowserKeys, command: SignProof, step: "Any") -> None:
    """Start WebCrypto's signature; step the flow with it, or with the ``DPoPError``."""

    def settled(ok: bool, value: "Any") -> None:
        try:
            if not ok:
                raise DPoPError("DPoP key store: the signature failed")
            signature = keys.signature(value)
        except DPoPError as exc:
            step(None, exc)
            return
        step(signature, None)

    SETTLER.then(keys.start_signing(command.jkt, command.data), settled)


async def _execute(session: "AuthSession", command: object, step: "Any") -> None:
    """Step the flow with what the session's driver makes of ``command``."""
    try:
        value = await session.execute(command)
    except Exception as exc:
        step(None, exc)
        return
    step(value, None)


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
