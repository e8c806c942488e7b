"""The demo page's Python: wiring only (the auth logic lives in authfetch).

It shows the login form or the signed-in view, the items list, and feeds the
token panel: the event log (from ``on_event``) and the times the ticking
``static/panel.js`` counts down to (from ``on_tokens`` and ``/api/me``).
"""

import asyncio
import json
import sys

import js
from pyscript import document, when

from authfetch import (
    ConfigurationError,
    LoginError,
    RefreshUnavailableError,
    SessionExpiredError,
    TokenSet,
)
from authfetch.web import AuthFetch, Response, setup, setup_async, spawn

SESSION_ENDED = "Your session has ended. Please sign in again."
LOGOUT_MESSAGES = {
    "expired": SESSION_ENDED,
    "logout": "You are signed out.",
    "external": "You signed out in another tab.",
}
LOGOUT_REASONS = {
    "expired": "the refresh token was refused",
    "logout": "you logged out",
    "external": "you logged out in another tab",
}
UNREACHABLE = "The server could not be reached. Is it running? Try again in a moment."
UNAVAILABLE = "The server could not renew your session just now; you are still signed in."
BURST_SIZE = 20
CLOCK_STEP_S = 40
MAX_LOG_ENTRIES = 100
GROUP_WITHIN_MS = 1000  # a burst's identical lines become one line with a count...
GROUP_AMONG = 4  # ...when one of the newest four
TIMES = "\u00d7"  # the multiplication sign of "x20"

#: What the page knows beyond the tokens: from ``/api/me``, and refreshes seen in a burst.
known = {"session_expires_at": None, "idle_timeout": None, "app_open": False}
burst = {"refreshes": 0}


def element(element_id: str) -> object:
    """The page element with ``element_id``."""
    return document.getElementById(element_id)


def say(element_id: str, text: str, tone: str = "error") -> None:
    """Show ``text`` in the message line ``element_id`` (``tone``: error, info or ok)."""
    line = element(element_id)
    line.textContent = text
    line.dataset.tone = tone


# -- the event log ------------------------------------------------------------------


def describe(name: str, detail: dict) -> tuple[str, str] | None:
    """``(tag, text)`` for the event log, in words (``None``: not worth a line)."""
    target = f"{detail.get('method', '')} {path_of(detail.get('url', ''))}"
    status = detail.get("status")
    if name == "request" and detail.get("replay"):
        return "replay", f"Request replayed: {target}"
    if name == "request":
        return "send", f"Request sent: {target}"
    if name == "response" and detail.get("role") == "login" and status == 200:
        return "ok", "Signed in: access token and refresh token received"
    if name == "response" and status == 401:
        return "401", f"401 seen for {target}"
    if name == "response" and status and status >= 400:
        return "error", f"HTTP {status} for {target}"
    if name == "refresh":
        return "refresh", "Refresh started"
    if name == "refreshed":
        if status == 200:
            return "ok", "Refresh succeeded: new access and refresh token"
        return "error", f"Refresh failed (HTTP {status})"
    if name == "network-error":
        return "error", f"Network error: {target}"
    if name == "adopted":
        return "adopt", "Token adopted from another tab"
    if name == "logout":
        return "logout", f"Logged out: {LOGOUT_REASONS.get(detail.get('reason'), 'session over')}"
    return None


def path_of(url: str) -> str:
    """The path of an absolute URL on this page's origin (full URL elsewhere)."""
    origin = str(document.location.origin)
    return url[len(origin) :] if url.startswith(origin) else url


def log_event(name: str, detail: dict) -> None:
    """Add a line at the top of the event log; the same line again soon after counts up."""
    if name == "refresh":
        burst["refreshes"] += 1
    described = describe(name, detail)
    if described is None:
        return
    tag, text = described
    log, now = element("event-log"), js.Date.now()
    same = recent_entry(log, text, now)
    if same is not None:
        count = int(same.dataset.count) + 1
        same.dataset.count = str(count)
        same.querySelector(".count").textContent = f"{TIMES}{count}"
        return
    entry = document.createElement("li")
    entry.dataset.event, entry.dataset.tag = name, tag
    entry.dataset.text, entry.dataset.at, entry.dataset.count = text, str(now), "1"
    for css, content in (("time", clock_time(now)), ("tag", tag), ("text", text), ("count", "")):
        part = document.createElement("time" if css == "time" else "span")
        part.className = css
        part.textContent = content
        entry.appendChild(part)
    log.prepend(entry)
    while log.children.length > MAX_LOG_ENTRIES:
        log.removeChild(log.lastElementChild)


def recent_entry(log: object, text: str, now: float) -> object:
    """A log line with ``text`` among the newest few, added less than 1 s ago (or ``None``)."""
    for index in range(min(GROUP_AMONG, log.children.length)):
        entry = log.children.item(index)
        if now - float(entry.dataset.at) >= GROUP_WITHIN_MS:
            return None
        if entry.dataset.text == text:
            return entry
    return None


def clock_time(ms: float) -> str:
    """``HH:MM:SS`` of a local epoch time in milliseconds."""
    return str(js.Date.new(ms).toLocaleTimeString("en-GB"))


@when("click", "#clear-log")
def clear_log(_event) -> None:
    """Empty the event log."""
    element("event-log").replaceChildren()


# -- the token panel ------------------------------------------------------------------


def on_tokens(tokens: TokenSet) -> None:
    """New tokens (login, refresh, another tab): update the panel, open the app if needed."""
    if "client" not in globals():
        return  # a sign-in finished during start-up: main() opens the app once it has the client
    update_panel(tokens)
    open_app()


def update_panel(tokens: TokenSet | None) -> None:
    """Write the times ``panel.js`` counts down to (local epoch ms) and tick it now."""
    bar, absolute = element("access-bar"), element("refresh-absolute")
    idle = element("refresh-idle")
    if tokens is not None and tokens.lifetime:
        bar.dataset.lifetimeMs = str(int(tokens.lifetime * 1000))
        bar.dataset.leewayMs = str(int(tokens.leeway(client.config.leeway) * 1000))
        element("access-lifetime").textContent = f"{tokens.lifetime:.0f} s"
    if tokens is not None and known["session_expires_at"]:
        absolute.dataset.at = str(int((known["session_expires_at"] - tokens.skew) * 1000))
    if tokens is not None and known["idle_timeout"] and tokens.issued_at:
        idle_end = tokens.issued_at + known["idle_timeout"] - tokens.skew
        idle.dataset.at = str(int(idle_end * 1000))
    js.window.dispatchEvent(js.Event.new("authfetch:panel"))


@when("click", "#burst")
async def fire_burst(_event) -> None:
    """Send 20 requests at once and say how many refreshes they needed."""
    button = element("burst")
    button.disabled = True
    say("panel-message", f"Sending {BURST_SIZE} requests…", "info")
    burst["refreshes"] = 0
    results = await asyncio.gather(
        *(client.fetch("/api/items") for _ in range(BURST_SIZE)), return_exceptions=True
    )
    button.disabled = False
    ok = sum(1 for result in results if isinstance(result, Response) and result.ok)
    refreshes = burst["refreshes"]
    if refreshes == 0:
        shared = "no refresh was needed: the access token was still good"
    elif refreshes == 1:
        shared = "all of them shared one refresh"
    else:
        shared = f"{refreshes} refreshes"
    say("panel-message", f"{ok} of {BURST_SIZE} requests succeeded; {shared}.", "ok")


@when("click", "#advance-clock")
async def advance_clock(_event) -> None:
    """Move the server's clock past the access token's expiry (``--testing`` servers)."""
    try:
        init = {"method": "POST", "headers": {"Content-Type": "application/json"}}
        init["body"] = json.dumps({"advance": CLOCK_STEP_S})
        response = await js.fetch("/__test__/clock", js.JSON.parse(json.dumps(init)))
    except Exception:
        say("panel-message", UNREACHABLE)
        return
    if not response.ok:
        say("panel-message", f"The server did not move its clock (HTTP {response.status}).")
        return
    say(
        "panel-message",
        f"The server's clock is now {CLOCK_STEP_S} s ahead: it sees your access token as "
        "expired, this tab does not know yet. Send a request and watch the log.",
        "info",
    )


async def offer_clock_button() -> None:
    """Show the clock button only when the server has its test controls on."""
    try:
        testing = bool((await js.fetch("/__test__/stats")).ok)
    except Exception:
        testing = False
    element("advance-clock").hidden = not testing
    element("clock-hint").hidden = testing


# -- the signed-in view ---------------------------------------------------------------


async def call_api(path: str, message_id: str, **options) -> "Response | None":
    """``client.fetch`` with failures said in words (``None``: nothing to show)."""
    try:
        return await client.fetch(path, **options)
    except SessionExpiredError:
        return None  # on_logout already shows the login form
    except RefreshUnavailableError:
        say(message_id, UNAVAILABLE)
    except Exception:
        say(message_id, UNREACHABLE)
    return None


async def error_text(response: Response) -> str:
    """The server's own description of an error answer, else its status."""
    try:
        body = await response.json()
    except Exception:
        body = {}
    description = body.get("error_description") if isinstance(body, dict) else None
    return description or f"HTTP {response.status}"


def open_app() -> None:
    """Switch to the signed-in view once per session."""
    if not known["app_open"]:
        known["app_open"] = True
        spawn(show_app())


async def show_app() -> None:
    """Show the signed-in view: the user from ``/api/me``, then the items."""
    element("login").hidden = True
    element("app").hidden = False
    say("item-message", "")
    response = await call_api("/api/me", "item-message")
    if response is None:
        return
    if not response.ok:
        say("item-message", f"Could not load your profile: {await error_text(response)}.")
        return
    me = await response.json()
    element("username-shown").textContent = me.get("username", "?")
    known["session_expires_at"] = me.get("session_expires_at")
    known["idle_timeout"] = me.get("idle_timeout")
    update_panel(client.session.tokens)
    await load_items()


async def load_items() -> None:
    """Fetch and show the user's items."""
    response = await call_api("/api/items", "item-message")
    if response is None:
        return
    if not response.ok:
        say("item-message", f"Could not load your items: {await error_text(response)}.")
        return
    items = await response.json()
    element("items").replaceChildren()
    for item in items:
        show_item(item)
    element("items-empty").hidden = bool(items)


def show_item(item: dict) -> None:
    """Append one item to the list."""
    entry = document.createElement("li")
    entry.textContent = item.get("title", "")
    element("items").appendChild(entry)
    element("items-empty").hidden = True


@when("submit", "#item-form")
def submit_item(event) -> None:
    """Stop the browser's own form submission (synchronously), then add the item."""
    event.preventDefault()
    spawn(add_item())


async def add_item() -> None:
    """POST the new item; show it, or the server's reason for refusing it."""
    field = element("item-title")
    say("item-message", "")
    title = {"title": field.value}
    response = await call_api("/api/items", "item-message", method="POST", json=title)
    if response is None:
        return
    if response.status != 201:
        say("item-message", f"Not added: {await error_text(response)}.")
        return
    show_item(await response.json())
    field.value = ""
    say("item-message", "Added.", "ok")


# -- signing in and out ----------------------------------------------------------------


def show_login(message: str = "", tone: str = "error") -> None:
    """Show the sign-in (the provider's button, or the form) in place of the app."""
    known["app_open"] = False
    element("app").hidden = True
    element("login").hidden = False
    say("login-message", message, tone)
    element("provider-sign-in").hidden = not AT_PROVIDER
    element("login-form").hidden = AT_PROVIDER
    element("provider-button" if AT_PROVIDER else "username").focus()


@when("click", "#provider-button")
async def sign_in_at_provider(_event) -> None:
    """Go to the provider's sign-in page; the sign-in finishes when the browser comes back."""
    say("login-message", "Going to the sign-in page…", "info")
    await client.login()


def on_logout(reason: str) -> None:
    """The session ended (expired, logged out here or in another tab)."""
    element("items").replaceChildren()
    say("panel-message", "")
    tone = "error" if reason == "expired" else "info"
    show_login(LOGOUT_MESSAGES.get(reason, SESSION_ENDED), tone)


@when("submit", "#login-form")
def sign_in(event) -> None:
    """Stop the browser's own form submission (synchronously), then log in."""
    event.preventDefault()
    spawn(log_in())


async def log_in() -> None:
    """Log in with the form's credentials; ``on_tokens`` then opens the app."""
    say("login-message", "Signing in…", "info")
    try:
        await client.login(element("username").value, element("password").value)
    except LoginError as error:
        if error.status == 401:
            say("login-message", "Wrong username or password.")
        elif error.status == 429:
            say("login-message", "Too many sign-in attempts. Wait a minute, then try again.")
        else:
            say("login-message", f"Sign-in failed: {error}.")
        return
    except Exception:
        say("login-message", UNREACHABLE)
        return
    element("password").value = ""


@when("click", "#logout")
async def sign_out(_event) -> None:
    """Log out here and in every other tab."""
    await client.logout()


def runtime_info() -> str:
    """Which Python runs the page (and, on Pyodide, that synchronous urllib works)."""
    try:
        import pyodide_http
    except ImportError:  # MicroPython: no urllib, no pyodide_http (the async path only)
        version = ".".join(str(part) for part in sys.implementation.version[:3])
        return f"MicroPython {version} · all of it running in this tab"
    pyodide_http.patch_all()
    version = sys.version.split()[0]
    return f"Python {version} (Pyodide) · pyodide_http patched · all of it running in this tab"


#: The demo signs in at this server's OpenID Connect provider; ``?dialect=json`` uses the
#: JSON dialect of a custom backend instead (a username/password form).
AT_PROVIDER = "dialect=json" not in str(js.location.search)
#: ``?dialect=json&dpop=1`` binds the tokens to a key (DPoP). The JSON dialect only: the
#: provider's redirect URIs are the demo's two pages as they are.
DPOP = not AT_PROVIDER and "dpop=1" in str(js.location.search)
HOOKS = {"on_tokens": on_tokens, "on_logout": on_logout, "on_event": log_event}


async def start_client() -> AuthFetch:
    """The demo's client: at the provider (discovery, then the sign-in the page came back
    from), or the JSON dialect."""
    if not AT_PROVIDER:
        return setup(dpop=DPOP, **HOOKS)
    origin = str(js.location.origin)
    page = origin + ("/?interpreter=mpy" if sys.implementation.name == "micropython" else "/")
    return await setup_async(issuer=origin, client_id="authfetch-demo", redirect_uri=page, **HOOKS)


async def main() -> None:
    """Start the client, then show the app or the sign-in."""
    global client
    element("runtime-info").textContent = runtime_info()
    try:
        client = await start_client()
    except ConfigurationError as error:
        element("loading").textContent = f"authfetch cannot start: {error}"
        return
    spawn(offer_clock_button())
    element("loading").hidden = True
    if client.logged_in:
        open_app()
    elif client.sign_in_error is not None:
        show_login(f"Sign-in failed: {client.sign_in_error}.")
    else:
        show_login()


client: AuthFetch
spawn(main())
