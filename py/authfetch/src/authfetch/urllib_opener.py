"""``urllib.request`` with authfetch: the sync session behind an ``OpenerDirector``.

In the browser, pyodide-http's ``patch_all()`` turns ``urllib.request.urlopen``
into a synchronous ``XMLHttpRequest`` — and it replaces
``OpenerDirector.open`` for every opener, so handlers added with
``build_opener(handler)`` are never called there. authfetch therefore gives an
opener of its own (:class:`AuthOpener`, whose ``open`` runs the core's sync
flow and sends through the patched ``urlopen``) instead of a handler. The same
code runs under plain CPython, where ``urlopen`` is the real one.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request
import urllib.response
from email.message import Message
from http.client import HTTPMessage
from typing import Any

from authfetch.core import ReplayableRequest, SyncAuthSession, TransportError, origin

DEFAULT_TIMEOUT_S = 30.0


class _SameOriginAuthRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects like a browser does: ``Authorization`` never crosses to another origin.

    urllib's own handler copies every header to the redirected request, so a
    bearer meant for the API would be sent to wherever the API redirects.
    """

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        """The redirected request, without ``Authorization`` if it leaves the origin."""
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin_or_none(new.full_url) != _origin_or_none(req.full_url):
            for name in [n for n in new.headers if n.lower() == "authorization"]:
                del new.headers[name]
            new.unredirected_hdrs.pop("Authorization", None)
        return new


def _origin_or_none(url: str) -> str | None:
    """The origin of ``url``, or ``None`` when it has none."""
    try:
        return origin(url)
    except ValueError:
        return None


class UrllibResponse:
    """A whole response read by ``urlopen``: status, headers and body bytes."""

    def __init__(self, status: int, headers: Message, body: bytes, url: str) -> None:
        """Hold one response."""
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url

    def json(self) -> Any:
        """The body decoded as JSON."""
        import json

        return json.loads(self.body or b"null")


class UrllibTransport:
    """The core's sync transport over urllib (patched by pyodide-http in the browser, or not).

    HTTP error statuses come back as responses, not exceptions; only a failure
    to get any response raises ``TransportError`` (the core's network error).
    Redirects drop ``Authorization`` when they change origin, as browsers do.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        """Send with ``timeout`` seconds (ignored by pyodide-http on the main thread)."""
        self.timeout = timeout

    def send(self, request: ReplayableRequest, timeout: float | None = None) -> UrllibResponse:
        """Send ``request`` once, within ``timeout`` seconds (default: the transport's)."""
        outgoing = urllib.request.Request(
            request.url, data=request.body, headers=dict(request.headers.items()),
            method=request.method,
        )  # fmt: skip
        # An opener of urllib's own per call: pyodide-http replaces OpenerDirector.open
        # when it patches (the browser then follows redirects itself, as fetch does).
        opener = urllib.request.build_opener(_SameOriginAuthRedirects())
        try:
            with opener.open(outgoing, timeout=timeout or self.timeout) as answer:
                return UrllibResponse(answer.status, answer.headers, answer.read(), request.url)
        except urllib.error.HTTPError as error:
            return UrllibResponse(error.code, error.headers, error.read(), request.url)
        except OSError as error:  # URLError, timeouts, refused connections
            raise TransportError(str(error))  # noqa: B904


def _as_replayable(target: str | urllib.request.Request, data: Any) -> ReplayableRequest:
    """The urllib arguments as a request the core can replay."""
    if isinstance(target, urllib.request.Request):
        headers = dict(target.header_items())
        body = target.data if data is None else data
        return ReplayableRequest(
            target.full_url, target.get_method(), headers, body, stream=_is_stream(body)
        )
    method = "GET" if data is None else "POST"
    return ReplayableRequest(target, method, None, data, stream=_is_stream(data))


def _is_stream(body: Any) -> bool:
    """Whether a urllib body is a file or iterable that cannot be copied for a replay."""
    return body is not None and not isinstance(body, (bytes, bytearray, memoryview, str))


class AuthOpener(urllib.request.OpenerDirector):
    """An opener whose ``open`` attaches the bearer, refreshes and replays once.

    ``open(url_or_request, data=None)`` answers like urllib: a response object
    for 2xx/3xx, ``urllib.error.HTTPError`` for 4xx/5xx (after the refresh and
    replay). Relative URLs resolve against the page (or ``api_base``).
    """

    def __init__(self, session: SyncAuthSession) -> None:
        """Use ``session`` (usually sharing state with the page's async session)."""
        super().__init__()
        self.session = session

    def open(self, fullurl: Any, data: Any = None, timeout: Any = None) -> Any:
        """Send through the session; urllib's answer for the final response.

        ``timeout`` is accepted for urllib's signature; the transport's applies.
        """
        response = self.session.fetch(_as_replayable(fullurl, data))
        if response.status >= 400:
            raise urllib.error.HTTPError(
                response.url, response.status, "", response.headers, io.BytesIO(response.body)
            )
        return urllib.response.addinfourl(
            io.BytesIO(response.body), response.headers, response.url, response.status
        )


def build_opener(session: SyncAuthSession) -> AuthOpener:
    """An :class:`AuthOpener` for ``session``."""
    return AuthOpener(session)
