"""The browser's ``fetch`` as the core's transport, and requests/responses across the FFI."""

import asyncio
import json

import js

from authfetch.core import ReplayableRequest, TransportError, TransportTimeoutError
from authfetch.web.ffi import SETTLER, H, bytes_from_js, bytes_to_js

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_BODYLESS = ("GET", "HEAD")


class JsHeaders:
    """Read-only, case-insensitive view of a JS ``Headers`` object."""

    def __init__(self, headers: "Any") -> None:
        """Wrap ``headers`` (a JS ``Headers``)."""
        self._headers = headers

    def get(self, name: str, default: "str | None" = None) -> "str | None":
        """The value of ``name``, or ``default``."""
        value = json.loads(str(H.header(self._headers, name)))
        return default if value is None else value


class Response:
    """A ``fetch`` response for Python callers; ``.js`` is the real JS ``Response``.

    ``status`` is read once (or given by the JavaScript that saw the answer); ``ok``,
    ``url`` and ``headers`` are read from the JS object when asked for: a request that
    only needs the status crosses into JavaScript for nothing else.
    """

    def __init__(self, js_response: "Any", status: "int | None" = None) -> None:
        """Wrap ``js_response`` (whose ``status`` may be given)."""
        self.js = js_response
        self.status: int = int(js_response.status) if status is None else status
        self._headers: JsHeaders | None = None

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx (as ``Response.ok``)."""
        return 200 <= self.status <= 299

    @property
    def url(self) -> str:
        """The response's URL (after redirects)."""
        return str(self.js.url)

    @property
    def headers(self) -> JsHeaders:
        """The response's headers, case-insensitive and read-only."""
        if self._headers is None:
            self._headers = JsHeaders(self.js.headers)
        return self._headers

    async def json(self) -> "Any":
        """The body decoded as JSON (read as text: no JS numbers cross the boundary)."""
        return json.loads(await self.text())

    async def text(self) -> str:
        """The body as text."""
        return str(await self.js.clone().text())

    async def bytes(self) -> bytes:
        """The body as bytes."""
        return bytes_from_js(await self.js.clone().arrayBuffer())

    def __repr__(self) -> str:
        """Status and URL."""
        return "<Response " + str(self.status) + " " + self.url + ">"


def transport_error(reason: "Any") -> TransportError:
    """A :class:`TransportError` for a rejected ``fetch``, keeping the (boxed) JS error."""
    text = str(H.errorText(reason))
    timed_out = text.startswith("TimeoutError")  # helpers.fetch aborts with a TimeoutError
    error = (TransportTimeoutError if timed_out else TransportError)(text)
    error.js_error = reason  # type: ignore[attr-defined]
    return error


class FetchTransport:
    """Send :class:`ReplayableRequest` objects with the browser's ``fetch``.

    :meth:`start` begins a send and hands the outcome to a callback (for the
    promise-chained driver); :meth:`send` awaits it (the core's async driver).
    A send with a ``timeout`` (the core gives one to the refresh call) is
    aborted in JavaScript when it has no answer in time.
    """

    def start(
        self,
        request: ReplayableRequest,
        on_done: "Callable[[bool, Any], None]",
        timeout: "float | None" = None,
    ) -> None:
        """Call ``fetch`` now; ``on_done(True, Response)`` or ``on_done(False, boxed error)``."""
        options = request.options or {}
        if request.stream:
            body = request.body
        else:
            body = None if request.body is None else bytes_to_js(request.body)
        headers = json.dumps(request.headers.items())  # [[name, value], ...]

        def answered(ok: bool, value: "Any", status: int = 0) -> None:
            on_done(ok, Response(value, status) if ok else value)

        SETTLER.request(
            request.url, options.get("js_init"), request.method, headers, body, request.stream,
            int(timeout * 1000) if timeout else 0, answered,
        )  # fmt: skip

    async def send(self, request: ReplayableRequest, timeout: "float | None" = None) -> Response:
        """Send once; a network failure raises :class:`TransportError` (``.js_error`` kept)."""
        done = asyncio.Event()
        outcome: list = []

        def settled(ok: bool, value: "Any") -> None:
            outcome.append((ok, value))
            done.set()

        self.start(request, settled, timeout)
        await done.wait()
        ok, value = outcome[0]
        if not ok:
            raise transport_error(value)
        return value


def simple_request(description: dict, init: "Any") -> "ReplayableRequest | None":
    """The common case, a URL and no body, from :func:`describe`'s answer at once; ``init``
    is the caller's init, or the id of the bridge's call that holds it (``helpers.makeInit``
    finds it there at each send).

    ``None`` when there is a body to read first (use :func:`request_from_js`).
    """
    if not description.get("simple"):
        return None
    return ReplayableRequest(
        description["url"],
        description["method"],
        [(pair[0], pair[1]) for pair in description["headers"]],
        retry=description["retry"],
        options={"js_init": init},
    )


async def request_from_js(resource: "Any", init: "Any", retry: bool) -> ReplayableRequest:
    """Turn ``fetch(resource, init)`` arguments with a body into a replayable request.

    ``js.Request`` normalises them (URL by the browser's parser, a ``Request``
    input's options, the Content-Type ``fetch`` gives ``FormData``,
    ``URLSearchParams``...). The body is read into bytes once, before the first
    send; a ``ReadableStream`` body is passed through: sent once, never replayed.
    """
    stream = bool(H.isStream(init))
    if stream:
        normalized = js.Request.new(resource, H.withoutBody(init))
        body: Any = init.body
    else:
        normalized = js.Request.new(resource, init)  # a null init is no options
        body = None
        # Decided by the method, not by ``Request.body``: Firefox has no such property.
        if str(normalized.method).upper() not in _BODYLESS:
            body = bytes_from_js(await normalized.arrayBuffer()) or None
    described = json.loads(str(H.requestJson(normalized)))
    return ReplayableRequest(
        described["url"],
        described["method"],
        [(pair[0], pair[1]) for pair in described["headers"]],
        body,
        stream=stream,
        retry=retry,
        # The normalized Request carries mode, credentials, signal... of a Request
        # input and of the init alike; each send copies them.
        options={"js_init": normalized},
    )
