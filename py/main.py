"""The demo page's Python: wiring only (the auth logic lives in authfetch)."""

from __future__ import annotations

import sys
import time

import jwt
import pyodide_http
from pyscript import document, when

from authfetch import LoginError
from authfetch.web import setup, spawn

SESSION_ENDED = "Your session has ended. Please sign in again."
LOGOUT_REASONS = {
    "expired": "the refresh token was refused",
    "logout": "you logged out",
    "external": "you logged out in another tab",
}
MAX_LOG_ENTRIES = 200


def element(element_id: str):
    """The page element with ``element_id``."""
    return document.getElementById(element_id)


def describe(name: str, detail: dict) -> str | None:
    """One line for the event log, in words (``None``: not worth a line)."""
    target = f"{detail.get('method', '')} {path_of(detail.get('url', ''))}"
    status = detail.get("status")
    if name == "request":
        return f"Request replayed: {target}" if detail.get("replay") else f"Request sent: {target}"
    if name == "response" and status == 401:
        return f"401 seen for {target}"
    if name == "refresh":
        return "Refresh started"
    if name == "refreshed":
        return "Refresh succeeded" if status == 200 else f"Refresh failed (HTTP {status})"
    if name == "network-error":
        return f"Network error: {target}"
    if name == "adopted":
        return "Token adopted from another tab"
    if name == "logout":
        return f"Logged out: {LOGOUT_REASONS.get(detail.get('reason'), detail.get('reason'))}"
    return None


def path_of(url: str) -> str:
    """The path of an absolute URL on this page's origin (full URL elsewhere)."""
    origin = str(document.location.origin)
    return url[len(origin) :] if url.startswith(origin) else url


def log_event(name: str, detail: dict) -> None:
    """Append a line to the event log (newest last, bounded)."""
    text = describe(name, detail)
    if text is None:
        return
    log = element("event-log")
    entry = document.createElement("li")
    entry.textContent = f"{time.strftime('%H:%M:%S')} {text}"
    entry.dataset.event = name
    log.appendChild(entry)
    while log.children.length > MAX_LOG_ENTRIES:
        log.removeChild(log.firstElementChild)


def show_login(message: str = "") -> None:
    """Show the sign-in form (with an optional message) in place of the app."""
    element("app").hidden = True
    element("login").hidden = False
    element("login-message").textContent = message


async def show_app() -> None:
    """Show the signed-in view with the user from ``/api/me``."""
    response = await client.fetch("/api/me")
    if not response.ok:
        show_login(f"Could not load your profile (HTTP {response.status}).")
        return
    me = await response.json()
    element("username-shown").textContent = me.get("username", "?")
    element("login").hidden = True
    element("app").hidden = False


def on_logout(reason: str) -> None:
    """The session ended (expired, logged out here or in another tab)."""
    show_login(SESSION_ENDED if reason == "expired" else "")


@when("submit", "#login-form")
def sign_in(event) -> None:
    """Stop the browser's own form submission (synchronously), then log in."""
    event.preventDefault()
    spawn(log_in())


async def log_in() -> None:
    """Log in with the form's credentials."""
    element("login-message").textContent = ""
    try:
        await client.login(element("username").value, element("password").value)
    except LoginError as error:
        wrong = error.status == 401
        element("login-message").textContent = (
            "Wrong username or password." if wrong else f"Sign-in failed: {error}"
        )
        return
    await show_app()


@when("click", "#logout")
async def sign_out(_event) -> None:
    """Log out here and in every other tab."""
    await client.logout()


client = setup(on_logout=on_logout, on_event=log_event)
pyodide_http.patch_all()
element(
    "runtime-info"
).textContent = f"Python {sys.version.split()[0]} · PyJWT {jwt.__version__} · pyodide_http patched"
element("loading").hidden = True
if client.state()["loggedIn"]:
    spawn(show_app())
else:
    show_login()
