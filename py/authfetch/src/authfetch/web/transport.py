"""The browser's ``fetch`` as the core's transport, and requests/responses across the FFI."""

from __future__ import annotations

from typing import Any

import js
from pyodide.ffi import JsException, to_js

from authfetch.core import ReplayableRequest, TransportError
from authfetch.web.ffi import to_js_object

#: fetch() init members that are about the send itself; kept from the caller's init.
_PASS_THROUGH = (
    "mode", "credentials", "cache", "redirect", "referrer", "referrerPolicy",
    "integrity", "keepalive", "signal", "priority",
)  # fmt: skip
_BODYLESS = ("GET", "HEAD")


class JsHeaders:
    """Read-only, case-insensitive view of a JS ``Headers`` object."""

    def __init__(self, headers: Any) -> None:
        """Wrap ``headers`` (a JS ``Headers``)."""
        self._headers = headers

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of ``name``, or ``default``."""
        value = self._headers.get(name)
        return default if value is None else value


class Response:
    """A ``fetch`` response for Python callers; ``.js`` is the real JS ``Response``."""

    def __init__(self, js_response: Any) -> None:
        """Wrap ``js_response``."""
        self.js = js_response
        self.status: int = js_response.status
        self.ok: bool = js_response.ok
        self.url: str = js_response.url
        self.headers = JsHeaders(js_response.headers)

    async def json(self) -> Any:
        """The body decoded as JSON (to Python dicts and lists)."""
        value = await self.js.clone().json()
        return value.to_py() if hasattr(value, "to_py") else value

    async def text(self) -> str:
        """The body as text."""
        return await self.js.clone().text()

    async def bytes(self) -> bytes:
        """The body as bytes."""
        return (await self.js.clone().arrayBuffer()).to_bytes()

    def __repr__(self) -> str:
        """Status and URL."""
        return f"<Response {self.status} {self.url}>"


def transport_error(reason: Any) -> TransportError:
    """A :class:`TransportError` for a rejected ``fetch``, keeping the JS error."""
    error = TransportError(str(reason))
    error.js_error = getattr(reason, "js_error", reason)
    return error


class FetchTransport:
    """Send :class:`ReplayableRequest` objects with the browser's ``fetch``.

    :meth:`start` begins a send and returns the JS promise (for drivers that
    chain promises); :meth:`announce` and :meth:`settled` bracket every send,
    for subclasses that report what happens on the wire.
    """

    def start(self, request: ReplayableRequest) -> Any:
        """Call ``fetch`` now; the JS promise of its ``Response``."""
        return js.fetch(request.url, _init_for(request))

    def announce(self, request: ReplayableRequest) -> Any:
        """Called before each send; its result is handed to :meth:`settled`."""
        return None

    def settled(self, note: Any, status: int | None = None, error: Any = None) -> None:
        """Called after each send with the status, or the network error."""

    async def send(self, request: ReplayableRequest) -> Response:
        """Send once; a network failure raises :class:`TransportError` (``.js_error`` kept)."""
        note = self.announce(request)
        try:
            js_response = await self.start(request)
        except JsException as exc:
            self.settled(note, error=exc)
            raise transport_error(exc) from exc
        self.settled(note, js_response.status)
        return Response(js_response)


def _init_for(request: ReplayableRequest) -> Any:
    """The JS ``fetch`` init of ``request``: caller's options, our method/headers/body."""
    init = js.Object.new()
    caller = (request.options or {}).get("js_init")
    if caller is not None:
        for name in _PASS_THROUGH:
            if hasattr(caller, name) and getattr(caller, name) is not None:
                setattr(init, name, getattr(caller, name))
    init.method = request.method
    init.headers = to_js([list(pair) for pair in request.headers.items()])
    if request.stream:
        init.body = request.body
        init.duplex = "half"
    elif request.body is not None:
        init.body = to_js(request.body)
    return init


async def request_from_js(resource: Any, init: Any = None) -> ReplayableRequest:
    """Turn ``fetch(resource, init)`` arguments from JavaScript into a replayable request.

    The body is read into bytes once, before the first send (``FormData``,
    ``Blob``, ``URLSearchParams`` included, with the Content-Type ``fetch``
    would give them). A ``ReadableStream`` body is passed through: sent once,
    never replayed. ``init.authfetch = {retry: false}`` opts out of the retry.
    """
    simple = bodyless_request(resource, init)
    if simple is not None:
        return simple
    options = to_js_object({}) if init is None else init
    stream = _is_stream(getattr(options, "body", None))
    if stream:
        normalized = js.Request.new(resource, _without_body(options))
        body: Any = options.body
    else:
        normalized = js.Request.new(resource, options)
        body = None
        if normalized.method.upper() not in _BODYLESS and normalized.body is not None:
            body = (await normalized.arrayBuffer()).to_bytes()
    headers = [(pair[0], pair[1]) for pair in _array_from(normalized.headers.entries())]
    return ReplayableRequest(
        normalized.url,
        normalized.method,
        headers,
        body,
        stream=stream,
        retry=_retry_allowed(options),
        # The normalized Request carries mode, credentials, signal... of a Request
        # input and of the init alike; the transport copies them to each send.
        options={"js_init": normalized},
    )


def bodyless_request(resource: Any, init: Any = None) -> ReplayableRequest | None:
    """The common case, a URL string and no body, at once and without a JS ``Request``.

    ``None`` when there is a body to read first (use :func:`request_from_js`).
    """
    if not isinstance(resource, str) or getattr(init, "body", None) is not None:
        return None
    headers = getattr(init, "headers", None)
    pairs = _array_from(js.Headers.new(headers).entries()) if headers is not None else []
    return ReplayableRequest(
        resource,
        str(getattr(init, "method", None) or "GET"),
        [(pair[0], pair[1]) for pair in pairs],
        retry=_retry_allowed(init),
        options={"js_init": init},
    )


def _array_from(iterable: Any) -> Any:
    """JavaScript's ``Array.from`` (``from`` is a Python keyword)."""
    return getattr(js.Array, "from")(iterable)


def _is_stream(body: Any) -> bool:
    """Whether a JS body is a ``ReadableStream`` (cannot be copied for a replay)."""
    return body is not None and js.Object.prototype.toString.call(body) == "[object ReadableStream]"


def _without_body(options: Any) -> Any:
    """A shallow copy of a fetch init without its body."""
    copy = js.Object.assign(js.Object.new(), options)
    js.Reflect.deleteProperty(copy, "body")
    return copy


def _retry_allowed(options: Any) -> bool:
    """False when the caller passed ``{authfetch: {retry: false}}``."""
    settings = getattr(options, "authfetch", None)
    return not (settings is not None and getattr(settings, "retry", True) is False)
