"""Start authfetch from options written in the page: no Python for the page author.

A page names this file as its Python and puts the options in a JSON block::

    <script type="application/json" id="authfetch-options">
      {"api_base": "https://api.example.com"}
    </script>
    <script type="py" src="./authfetch/web/autostart.py" config="./pyscript.toml"></script>

Running (or importing) this module reads the block and calls
:func:`authfetch.web.setup` with it, which publishes ``window.authfetch`` and
sets ``<html data-authfetch="ready">``. The options are those of ``setup``
that JSON can carry (:data:`OPTIONS`); hooks become DOM events instead: every
authfetch event is dispatched on ``window`` as a ``CustomEvent`` named
``authfetch:<name>`` (``authfetch:logout`` with ``detail.reason``,
``authfetch:refreshed`` with ``detail.status``, ...), and
``authfetch:ready`` follows once the bridge exists. Unreadable options set
``data-authfetch="error"`` and dispatch ``authfetch:error`` with
``detail.message``, so the page can say what is wrong.
"""

from __future__ import annotations

import json
from typing import Any

import js

from authfetch.web import AuthFetch, setup
from authfetch.web.ffi import to_js_object

#: The id of the ``<script type="application/json">`` block holding the options.
OPTIONS_ID = "authfetch-options"
#: The options a page may set (those of ``setup`` that are not Python callables).
OPTIONS = (
    "api_base", "bridge", "storage", "storage_key", "login_endpoint", "refresh_endpoint",
    "logout_endpoint", "allowed_origins", "leeway", "refresh_attempts", "lock_timeout",
    "login_url",
)  # fmt: skip


def read_options(text: str | None) -> dict[str, Any]:
    """The options in ``text`` (JSON object; missing or blank: none); ``ValueError`` if bad."""
    if text is None or not text.strip():
        return {}
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"#{OPTIONS_ID} is not valid JSON: {exc}") from None
    if not isinstance(options, dict):
        raise ValueError(f"#{OPTIONS_ID} must hold a JSON object")
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown authfetch option(s): {', '.join(unknown)}")
    return options


def dispatch(name: str, detail: dict[str, Any] | None = None) -> None:
    """Dispatch ``CustomEvent("authfetch:<name>", {detail})`` on ``window``."""
    init = to_js_object({"detail": detail or {}})
    js.window.dispatchEvent(js.CustomEvent.new(f"authfetch:{name}", init))


def start(options_id: str = OPTIONS_ID) -> AuthFetch | None:
    """Set authfetch up from the page's options block; ``None`` (and an error event) if bad."""
    blocks = js.document.querySelectorAll(f"script#{options_id}")  # (no JS null to test)
    try:
        options = read_options(str(blocks.item(0).textContent) if blocks.length else None)
        client = setup(**options, on_event=dispatch)
    except Exception as exc:
        message = str(exc) or type(exc).__name__
        js.document.documentElement.dataset.authfetch = "error"
        js.console.error(f"authfetch: {message}")
        dispatch("error", {"message": message})
        return None
    dispatch("ready")
    return client


client = start()
