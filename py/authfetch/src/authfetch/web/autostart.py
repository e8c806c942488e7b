"""Start authfetch from options written in the page: no Python for the page author.

A page puts the options in a JSON block and imports this module as its Python::

    <script type="application/json" id="authfetch-options">
      {"api_base": "https://api.example.com"}
    </script>
    <script type="mpy" config="./pyscript.toml">import authfetch.web.autostart</script>

Running (or importing) this module reads the block and calls
:func:`authfetch.web.setup` with it, which publishes ``window.authfetch`` and
sets ``<html data-authfetch="ready">``. The options are those of ``setup``
that JSON can carry (:data:`OPTIONS`, from the client's one table); hooks
become DOM events instead: every authfetch event is dispatched on ``window`` as
a ``CustomEvent`` named ``authfetch:<name>`` (``authfetch:logout`` with
``detail.reason``, ``authfetch:refreshed`` with ``detail.status``, ...), and
``authfetch:ready`` follows once the bridge exists. Unreadable options set
``data-authfetch="error"`` and dispatch ``authfetch:error`` with
``detail.message``, so the page can say what is wrong (the block is read by the
browser's ``JSON.parse``; a value of the wrong type or range is named:
``option leeway must be a number of seconds >= 0, not 'ten'``); so does a provider
(``issuer``) whose discovery document cannot be read. A sign-in the page came
back from that failed dispatches ``authfetch:error`` too (``detail.name`` is
``LoginError``, with the provider's ``error`` and ``error_description``), and
the page still becomes ready (``authfetch.lastError()`` tells it again).
Start-up runs as a task (discovery and the code exchange are asynchronous).
Runs on both interpreters.
"""

import json

import js

from authfetch.core.options import check_values
from authfetch.web import OPTIONS as CLIENT_OPTIONS
from authfetch.web import AuthFetch, setup_async
from authfetch.web.ffi import H, spawn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: The id of the ``<script type="application/json">`` block holding the options.
OPTIONS_ID = "authfetch-options"
#: The options a page may set: ``setup``'s own and the client's data options.
OPTIONS = ["api_base", "bridge"]
OPTIONS.extend(CLIENT_OPTIONS)


#: JavaScript: the options block read by the browser's own ``JSON.parse`` (the same
#: reading on both interpreters and in the page's scripts), back as JSON text or an error.
_PARSE = js.Function.new(
    "text",
    "try { return JSON.stringify({options: JSON.parse(text)}); }"
    " catch (error) { return JSON.stringify({error: String(error.message)}); }",
)


def read_options(text: "str | None") -> "dict[str, Any]":
    """The options in ``text`` (JSON object, read by ``JSON.parse``; missing or blank: none);
    ``ValueError`` if it is not JSON or not an object, ``TypeError`` for an unknown name,
    ``ConfigurationError`` (naming the option) for a value of the wrong type or range."""
    if text is None or not text.strip():
        return {}
    parsed = json.loads(str(_PARSE(text)))
    if "error" in parsed:
        raise ValueError("#" + OPTIONS_ID + " is not valid JSON: " + parsed["error"])
    options = parsed["options"]
    if not isinstance(options, dict):
        raise ValueError("#" + OPTIONS_ID + " must hold a JSON object")
    unknown = sorted(name for name in options if name not in OPTIONS)
    if unknown:
        raise ValueError("unknown authfetch option(s): " + ", ".join(unknown))
    check_values(options)
    return options


def dispatch(name: str, detail: "dict[str, Any] | None" = None) -> None:
    """Dispatch ``CustomEvent("authfetch:<name>", {detail})`` on ``window``."""
    H.dispatch("authfetch:" + name, json.dumps(detail or {}))


async def start(options_id: str = OPTIONS_ID) -> "AuthFetch | None":
    """Set authfetch up from the page's options block; ``None`` (and an error event) if bad."""
    blocks = js.document.querySelectorAll("script#" + options_id)  # (no JS null to test)
    client = None
    message = None
    try:
        options = read_options(str(blocks.item(0).textContent) if blocks.length else None)
        client = await setup_async(**options, on_event=dispatch)
    except Exception as exc:
        message = str(exc) or type(exc).__name__
    if message is not None:
        js.document.documentElement.dataset.authfetch = "error"
        js.console.error("authfetch: " + message)
        dispatch("error", {"message": message})
        return None
    dispatch("ready")
    return client


spawn(start())
