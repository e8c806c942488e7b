"""The browser edge of authfetch: the only part that touches JavaScript.

The same on both PyScript interpreters (Pyodide and MicroPython). Typical use in
a page's Python::

    from authfetch.web import setup
    client = setup("https://api.example.com")      # also publishes window.authfetch
    response = await client.fetch("/api/me")

At a standard provider (OAuth 2.0 / OpenID Connect) start-up is asynchronous
(discovery, and the sign-in the page may be coming back from)::

    client = await setup_async("https://api.example.com",
                               issuer="https://id.example.com", client_id="my-spa")
    if not client.logged_in:
        await client.login()      # goes to the provider's sign-in page
"""

from authfetch.core import ConfigurationError, unverified_claims
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
    "setup_async",
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
    client = _create(api_base, options)
    if client.oauth is not None:
        client.close()
        raise ConfigurationError(
            "a provider (issuer) needs `await setup_async(...)`: discovery and finishing the"
            " sign-in are asynchronous"
        )
    return _publish(client.start(), bridge)


async def setup_async(
    api_base: "str | None" = None, *, bridge: "str | None" = "authfetch", **options: "Any"
) -> AuthFetch:
    """:func:`setup` for either dialect, awaiting what start-up needs first: at a provider,
    its discovery document and the sign-in the page came back from (if any). Raises
    ``ConfigurationError`` (naming the URL and the problem) when the provider cannot be used;
    a failed sign-in is kept in ``client.sign_in_error`` (the client still works)."""
    client = _create(api_base, options)
    try:
        await client.prepare()
    except BaseException:
        client.close()
        raise
    return _publish(client.start(), bridge)


def _create(api_base: "str | None", options: dict) -> AuthFetch:
    """Close the client made before, make a new one (not started)."""
    while _current:
        _current.pop().close()
    client = AuthFetch(api_base, **options)
    _current.append(client)
    return client


def _publish(client: AuthFetch, bridge: "str | None") -> AuthFetch:
    """Publish ``client`` as ``window[bridge]`` (unless ``None``)."""
    if bridge:
        expose(client, bridge)
    return client
