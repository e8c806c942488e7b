"""``window.authfetch``: the library for plain JavaScript (the contract in ARCHITECTURE.md).

=================  ==============================================================
member             meaning
=================  ==============================================================
login(u, p)        Promise of the state; rejects with ``LoginError``
fetch(input, init) Promise of a real JS ``Response``; rejects with
                   ``SessionExpiredError``, ``RefreshUnavailableError``,
                   ``NotReplayableError`` or fetch's own network ``TypeError``
logout()           Promise; revokes, clears storage, every tab logs out
state()            ``{loggedIn, expiresAt (ms epoch or null), refreshes}``
=================  ==============================================================

When the bridge is ready, ``<html data-authfetch="ready">`` is set.
"""

from __future__ import annotations

import json
from typing import Any

import js

from authfetch.web.client import AuthFetch
from authfetch.web.ffi import keep, to_promise


def _state(client: AuthFetch) -> Any:
    """The state as a plain JS object (``None`` becomes ``null``, not ``undefined``)."""
    return js.JSON.parse(json.dumps(client.state()))


def expose(client: AuthFetch, name: str = "authfetch") -> Any:
    """Publish ``client`` as ``window[name]`` and set the ready marker."""
    bridge = js.Object.new()
    bridge.login = keep(
        lambda username, password: to_promise(
            lambda: client.login(str(username), str(password)), lambda _tokens: _state(client)
        )
    )
    bridge.fetch = keep(lambda resource, init=None: client.fetch_js(resource, init))
    bridge.logout = keep(lambda: to_promise(client.logout, lambda _none: None))
    bridge.state = keep(lambda: _state(client))
    setattr(js.window, name, bridge)
    js.document.documentElement.dataset.authfetch = "ready"
    return bridge
