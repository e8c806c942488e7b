"""The browser edge of authfetch: the only part that touches JavaScript.

Typical use in a page's Python::

    from authfetch.web import setup
    client = setup("https://api.example.com")      # also publishes window.authfetch
    response = await client.fetch("/api/me")
"""

from __future__ import annotations

from typing import Any

from authfetch.web.bridge import expose
from authfetch.web.client import AuthFetch, BrowserClock, unverified_claims
from authfetch.web.ffi import spawn
from authfetch.web.transport import Response

__all__ = [
    "AuthFetch",
    "BrowserClock",
    "Response",
    "expose",
    "setup",
    "spawn",
    "unverified_claims",
]


def setup(
    api_base: str | None = None, *, bridge: str | None = "authfetch", **options: Any
) -> AuthFetch:
    """Create and start an :class:`AuthFetch`; publish it as ``window[bridge]`` unless ``None``.

    ``api_base`` defaults to the page's own origin. ``options`` are those of
    :class:`AuthFetch` (storage, endpoints, allowed_origins, leeway, hooks...).
    """
    client = AuthFetch(api_base, **options).start()
    if bridge:
        expose(client, bridge)
    return client
