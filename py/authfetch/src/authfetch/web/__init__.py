"""The browser edge of authfetch: the only part that touches JavaScript.

The same on both PyScript interpreters (Pyodide and MicroPython). Typical use in
a page's Python::

    from authfetch.web import setup
    client = setup("https://api.example.com")      # also publishes window.authfetch
    response = await client.fetch("/api/me")
"""

from authfetch.core import unverified_claims
from authfetch.web.bridge import expose
from authfetch.web.client import HOOKS, OPTIONS, AuthFetch, BrowserClock
from authfetch.web.ffi import spawn
from authfetch.web.transport import Response

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "HOOKS",
    "OPTIONS",
    "AuthFetch",
    "BrowserClock",
    "Response",
    "expose",
    "setup",
    "spawn",
    "unverified_claims",
]

#: The client :func:`setup` made last (a second call closes it first).
_current: list = []


def setup(
    api_base: "str | None" = None, *, bridge: "str | None" = "authfetch", **options: "Any"
) -> AuthFetch:
    """Create and start an :class:`AuthFetch`; publish it as ``window[bridge]`` unless ``None``.

    ``api_base`` defaults to the page's own origin. ``options`` are those of
    :class:`AuthFetch` (storage, endpoints, allowed_origins, leeway, hooks...).
    Calling ``setup`` again closes the client it made before (listeners, timer).
    """
    while _current:
        _current.pop().close()
    client = AuthFetch(api_base, **options).start()
    if bridge:
        expose(client, bridge)
    _current.append(client)
    return client
