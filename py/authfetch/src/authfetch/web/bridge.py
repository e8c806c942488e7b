"""``window.authfetch``: the library for plain JavaScript (docs/reference/javascript.md).

=================  ==============================================================
member             meaning
=================  ==============================================================
login(u, p)        Promise of the state; rejects with ``LoginError``
login()            with a provider: goes to its sign-in page (code + PKCE)
fetch(input, init) Promise of a real JS ``Response``; rejects with
                   ``SessionExpiredError``, ``RefreshUnavailableError``,
                   ``NotReplayableError`` or fetch's own network ``TypeError``
logout()           Promise; revokes, clears storage, every tab logs out
state()            ``{loggedIn, expiresAt (ms epoch or null), refreshes}``
lastError()        ``null``, or the failed sign-in the page came back from:
                   ``{name, message, error, error_description}``
close()            stop this client (listeners, timer); ``window.authfetch`` goes
=================  ==============================================================

Each method makes its promise in JavaScript and hands ``resolve``/``reject`` to
Python (a value returned by Python to JavaScript can get lost on MicroPython);
``fetch`` keeps them in JavaScript and hands Python the call's id instead
(:class:`~authfetch.web.ffi.JsCall`: no proxy made per request);
``state()`` reads a JSON snapshot that Python rewrites whenever it changes. When
the bridge is ready, ``<html data-authfetch="ready">`` is set.
"""

import json

import js

from authfetch.web.client import AuthFetch, error_detail
from authfetch.web.ffi import H, json_to_js, proxy, reject_with, release, spawn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable
    from typing import Any


def state_of(client: AuthFetch) -> dict:
    """The bridge's camelCase state: ``{loggedIn, expiresAt (ms epoch or None), refreshes}``."""
    snapshot = client.snapshot()
    expires = snapshot["expires_at"]
    return {
        "loggedIn": snapshot["signed_in"],
        "expiresAt": None if expires is None else int(expires * 1000),
        "refreshes": snapshot["refreshes"],
    }


async def _settle(work: "Awaitable[Any]", resolve: "Any", reject: "Any", result: "Any") -> None:
    """Await ``work``; ``resolve(result())`` or ``reject`` with the error for JavaScript."""
    try:
        await work
    except Exception as exc:
        reject_with(reject, exc)
        return
    resolve(result())


def expose(client: AuthFetch, name: str = "authfetch") -> "Any":
    """Publish ``client`` as ``window[name]`` and set the ready marker."""

    def state() -> "Any":
        return json_to_js(state_of(client))

    def login(arguments: str, resolve: "Any", reject: "Any") -> None:
        spawn(_settle(client.login(*json.loads(arguments)), resolve, reject, state))

    def logout(resolve: "Any", reject: "Any") -> None:
        spawn(_settle(client.logout(), resolve, reject, lambda: None))

    py = js.Object.new()
    methods = [proxy(client.fetch_js), proxy(login), proxy(logout), proxy(client.close)]
    py.fetch, py.login, py.logout, py.close = methods
    api = H.bridge(py)

    def publish(changed: AuthFetch) -> None:
        api._state = json.dumps(state_of(changed))
        error = changed.sign_in_error
        api._error = json.dumps(None if error is None else error_detail(error))

    def withdraw() -> None:
        if getattr(js.window, name) == api:
            js.Reflect.deleteProperty(js.window, name)
        for method in methods:
            release(method)

    client.watch(publish)
    client.on_close(withdraw)
    publish(client)
    setattr(js.window, name, api)
    js.document.documentElement.dataset.authfetch = "ready"
    return api
