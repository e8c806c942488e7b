"""Fixtures for the end-to-end tests: Debian's Chromium, a real server, offline check.

The server comes from this project's pytest plugin (``py/pytest-authfetch``):
``server`` and ``fresh_server`` are its shared default server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, WebError, expect
from pytest_authfetch import AuthfetchServer, ServerOptions
from pytest_authfetch.plugin import ServerPool

from e2e_tests.oidc_provider import oidc_provider_factory  # noqa: F401 - a fixture
from e2e_tests.pagehost import page_host  # noqa: F401 - a fixture
from e2e_tests.serverproc import CHROMIUM_ARGS, ROOT, chromium_executable

# Pyodide needs 2-4 s to start here; a cold start on a busy 2-core CI machine more.
READY_TIMEOUT_MS = 60_000
LOCAL_HOSTS = {"127.0.0.1"}
# Screenshots the tests take; `make screenshots` points this at docs/screenshots
# so the README's images are refreshed on purpose, not by every test run.
SCREENSHOTS = ROOT / os.environ.get("AUTHFETCH_SCREENSHOTS", "test-results/screenshots")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Launch Debian's Chromium with the flags this offline machine needs."""
    try:
        executable = chromium_executable()
    except RuntimeError as error:
        pytest.exit(str(error), returncode=1)
    return {**browser_type_launch_args, "executable_path": executable, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def server(authfetch_server_pool: ServerPool) -> AuthfetchServer:
    """The session's real server (default options, test controls on), not reset."""
    return authfetch_server_pool.get(ServerOptions())


#: Console errors that are the browser reporting an HTTP status (a 401 the library then
#: handles, a 404 a test asks for), not a failure of the page's code.
HTTP_STATUS_CONSOLE = re.compile(r"^Failed to load resource: the server responded with a status")


class PageErrors:
    """Uncaught errors and unhandled rejections (and console errors) of every page of a test."""

    def __init__(self) -> None:
        """Nothing seen, nothing allowed yet."""
        self.seen: list[str] = []
        self._allowed: list[re.Pattern[str]] = []

    def watch(self, context: BrowserContext) -> BrowserContext:
        """Record what goes wrong in every page of ``context``, now and later."""
        context.on("weberror", self._web_error)
        context.on("console", self._console)
        return context

    def allow(self, pattern: str) -> None:
        """Expect errors matching ``pattern`` (regular expression) in this test."""
        self._allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        """What was seen and not allowed."""
        return [text for text in self.seen if not any(p.search(text) for p in self._allowed)]

    def _web_error(self, error: WebError) -> None:
        """An uncaught exception or an unhandled rejection ("Uncaught (in promise)")."""
        self.seen.append(f"pageerror: {error.error}")

    def _console(self, message: ConsoleMessage) -> None:
        """A console error other than the browser's note about an HTTP status."""
        if message.type == "error" and not HTTP_STATUS_CONSOLE.search(message.text):
            self.seen.append(f"console.error: {message.text}")


@pytest.fixture(autouse=True)
def page_errors() -> Iterator[PageErrors]:
    """Every end-to-end test fails if one of its pages throws, leaves a rejection
    unhandled or logs an error (a test expecting one calls ``page_errors.allow``)."""
    errors = PageErrors()
    yield errors
    unexpected = errors.unexpected()
    assert unexpected == [], f"the page reported errors: {unexpected}"


@pytest.fixture
def new_context(
    new_context: Callable[..., BrowserContext], page_errors: PageErrors
) -> Callable[..., BrowserContext]:
    """pytest-playwright's context factory (also behind ``context`` and ``page``), watched
    by :func:`page_errors`; tests make their own contexts with it, not ``browser``."""

    def create(**options: Any) -> BrowserContext:
        return page_errors.watch(new_context(**options))

    return create


@pytest.fixture
def offline_requests(context: BrowserContext) -> Iterator[list[str]]:
    """Every URL the browser asked for that leaves 127.0.0.1; the test fails if any."""
    leaked: list[str] = []

    def record(request) -> None:
        host = urlsplit(request.url).hostname
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host not in LOCAL_HOSTS:
            leaked.append(request.url)

    context.on("request", record)
    yield leaked
    assert leaked == [], f"the page made requests off this machine: {leaked}"


@pytest.fixture
def fresh_server(authfetch_server: AuthfetchServer) -> AuthfetchServer:
    """The session's server, reset: no sessions, zero counters, real time, no faults."""
    return authfetch_server


#: The two PyScript interpreters, by their ``?interpreter=`` value and script type.
INTERPRETERS = ("py", "mpy")
#: Each interpreter's PyScript config, served by the demo server.
CONFIGS = {"py": "/pyscript.toml", "mpy": "/pyscript-mpy.toml"}


@pytest.fixture(params=INTERPRETERS)
def interpreter(request: pytest.FixtureRequest) -> str:
    """The test runs once on Pyodide ("py") and once on MicroPython ("mpy")."""
    return request.param


def demo_url(origin: str, interpreter: str, dialect: str = "json") -> str:
    """The demo page of ``origin`` on ``interpreter``: signing in with the JSON dialect
    (``login(username, password)``, what most tests drive) or at the server's provider
    (``dialect="oidc"``, the demo's default)."""
    page = origin + ("/?interpreter=mpy" if interpreter == "mpy" else "/")
    if dialect == "oidc":
        return page
    return page + ("&" if "?" in page else "?") + "dialect=" + dialect


def python_page(interpreter: str, python: str = "", src: str = "", head: str = "") -> str:
    """An HTML page running ``python`` (or the file ``src``) on ``interpreter``, under the
    demo server's PyScript and configs; ``head`` goes before PyScript."""
    from server.page import runtime_versions

    pyscript = runtime_versions(ROOT / "vendor")["pyscript"]
    source = f' src="{src}"' if src else ""
    return (
        f'<!doctype html><html><head><meta charset="utf-8">{head}'
        f'<script type="module" src="/vendor/pyscript/{pyscript}/core.js"></script></head>'
        f'<body><script type="{interpreter}"{source} config="{CONFIGS[interpreter]}">'
        f"{python}</script></body></html>"
    )


def serve_page(context: BrowserContext, url: str, html: str) -> str:
    """Have ``url`` answer with ``html`` (under the server's origin); ``url``."""
    context.route(url, lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    return url


def open_ready_page(page: Page, url: str) -> Page:
    """Open ``url`` and wait until the page says Python and the bridge are ready."""
    page.goto(url)
    expect(page.locator("html")).to_have_attribute(
        "data-authfetch", "ready", timeout=READY_TIMEOUT_MS
    )
    return page


def bridge_login(page: Page) -> dict:
    """Log the demo user in through ``window.authfetch``; the state afterwards."""
    return page.evaluate("authfetch.login('demo', 'demo-pass')")


#: Arms a tab (``page.evaluate(ARM_TAB, [url, requests])``): ``window.__go(round)`` fires
#: ``requests`` concurrent ``authfetch.fetch(url)`` in this tab and, through a
#: BroadcastChannel message, in every other armed tab of the browser in the same event-loop
#: turn (not one Playwright round trip apart); ``window.__rounds[round]`` holds each tab's
#: statuses or error names.
ARM_TAB = """([url, requests]) => {
    window.__rounds = {};
    const fire = (round) => Promise.all(Array.from({length: requests}, () =>
        authfetch.fetch(url).then(r => r.status, e => e.name)))
        .then(statuses => { window.__rounds[round] = statuses; });
    const channel = new BroadcastChannel('authfetch-test-go');
    channel.onmessage = (event) => fire(event.data);
    window.__go = (round) => { channel.postMessage(round); fire(round); };
}"""


def bridge_fetch_statuses(page: Page, path: str, count: int = 1) -> list:
    """Fire ``count`` concurrent ``authfetch.fetch(path)``; statuses or error names."""
    return page.evaluate(
        """([path, count]) => Promise.all(Array.from({length: count}, () =>
            authfetch.fetch(path).then(r => r.status, e => e.name)))""",
        [path, count],
    )


def stats(server: AuthfetchServer) -> dict:
    """The server's test counters."""
    return dict(server.stats())


def expire_access_token(server: AuthfetchServer, seconds: float = 40) -> None:
    """Move the server clock past the access token's lifetime (30 s + 5 s leeway)."""
    server.advance(seconds)
