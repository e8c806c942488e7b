"""Chromium, the clients under test and how their pages are served and opened.

Every client is driven through one small API in the page, ``window.peer``:
``login(u, p)``, ``fetch(path)`` (resolves with the HTTP status once the body is
read, or the error's name), ``state()`` → ``{loggedIn, expiresAt, refreshes}``.
The peers' pages define it themselves (``bench/peers/session.js``); for
authfetch a few lines over ``window.authfetch`` (the bridge) define it.

The benchmark's own pages (``/bench/…``: the peers, the bare authfetch page,
the PyScript baseline) are served under the API server's origin (same origin
as the API, like the demo page) by a Playwright route that reads ``bench/``.
Routing sends every request of the context through Playwright and turns the
HTTP cache off, so the route is removed as soon as the pages are loaded: the
measured API traffic goes straight to the server. Start-up and memory, which
need the cache, use :class:`StaticServer` instead (nothing there talks to the
API).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import mimetypes
import re
import threading
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route

from e2e_tests.serverproc import CHROMIUM_ARGS, chromium_executable

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
#: Pyodide starts in 2-4 s here; a cold start on a busy 2-core machine takes longer.
READY_TIMEOUT_MS = 90_000
#: Bound on any one wait for requests fired in a page.
REQUEST_TIMEOUT_MS = 60_000
#: Folders of ``bench/`` that the pages may load.
SERVED_DIRS = ("peers", "node_modules")
CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".toml": "application/toml",
    ".py": "text/x-python",
    ".zip": "application/zip",
    ".whl": "application/zip",
}

USERNAME, PASSWORD = "demo", "demo-pass"


@dataclass(frozen=True)
class Client:
    """One implementation under test: its page and its ready marker."""

    key: str
    label: str
    path: str
    ready_attribute: str

    @property
    def is_peer(self) -> bool:
        """A JavaScript peer (its page defines ``window.peer`` itself)."""
        return self.ready_attribute == "peer"

    @property
    def is_authfetch(self) -> bool:
        """An authfetch page (``window.peer`` is defined over ``window.authfetch``)."""
        return self.ready_attribute == "authfetch"

    @property
    def routed(self) -> bool:
        """The page is one of the benchmark's own (``/bench/…``), not the project's."""
        return self.path.startswith("/bench/")


AUTHFETCH = Client("authfetch", "authfetch", "/", "authfetch")
CLASSIC = Client("classic", "classic interceptor", "/bench/peers/classic.html", "peer")
AUTH_REFRESH = Client(
    "auth-refresh", "axios-auth-refresh 5.0.2", "/bench/peers/auth-refresh.html", "peer"
)
PEERS = (CLASSIC, AUTH_REFRESH)
CLIENTS = (AUTHFETCH, *PEERS)
#: authfetch alone on a page (``setup()``, no demo UI): the library's own cost.
AUTHFETCH_BARE = Client(
    "authfetch-bare", "authfetch, bare page", "/bench/peers/authfetch-bare.html", "authfetch"
)
#: PyScript + Pyodide with no packages and no authfetch: the platform's own start-up.
PYSCRIPT_ONLY = Client(
    "pyscript-only",
    "PyScript + Pyodide alone (baseline)",
    "/bench/peers/pyscript-only.html",
    "pyscript",
)

#: ``window.peer`` over authfetch's bridge; the body is read like axios reads it.
AUTHFETCH_DRIVER = """() => {
    window.peer = {
        name: 'authfetch',
        login: (username, password) => authfetch.login(username, password),
        fetch: (path) => authfetch.fetch(path).then(
            async (response) => { await response.text(); return response.status; },
            (error) => error.name || 'Error'),
        state: () => authfetch.state(),
    };
}"""

#: Records ``performance.now()`` (ms since navigation start) when a ready marker appears.
READY_PROBE = """(() => {
    const mark = () => {
        const html = document.documentElement;
        if (window.__benchReadyAt === undefined && html &&
                ['authfetch', 'peer', 'pyscript'].some((name) => html.dataset[name] === 'ready')) {
            window.__benchReadyAt = performance.now();
        }
    };
    new MutationObserver(mark).observe(document, {
        subtree: true, attributes: true,
        attributeFilter: ['data-authfetch', 'data-peer', 'data-pyscript'],
    });
})();"""


def launch(playwright: Playwright) -> Browser:
    """Launch headless Chromium with the flags this offline machine needs."""
    return playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)


BARE_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <link rel="icon" href="data:,">
  <title>authfetch bench: {title}</title>
  <script type="module" src="{core_js}"></script>
</head>
<body>
  <script type="py" src="./{script}" config="./{config}"></script>
</body>
</html>
"""


def absolute(url: str) -> str:
    """``./x`` (relative to the project's page at ``/``) as ``/x``."""
    return "/" + url.removeprefix("./") if url.startswith("./") else url


def bare_page(title: str, script: str, config: str) -> str:
    """A page running ``script`` with ``config`` on the PyScript of the demo page."""
    index = (ROOT / "index.html").read_text()
    found = re.search(r'src="\.?/?(vendor/pyscript/[^"]+/core\.js)"', index)
    if found is None:
        raise RuntimeError("index.html names no vendor/pyscript/<version>/core.js")
    return BARE_PAGE.format(core_js="/" + found.group(1), title=title, script=script, config=config)


def bare_config(interpreter_only: bool = False) -> str:
    """The demo page's ``pyscript.toml`` with its URLs made absolute (same interpreter,
    packages and library files), so a page under ``/bench/peers/`` can use it.

    ``interpreter_only`` keeps just the interpreter: PyScript + Pyodide and nothing else.
    """
    config = tomllib.loads((ROOT / "pyscript.toml").read_text())
    if interpreter_only:
        config = {"interpreter": config["interpreter"]}
    lines = [
        f"interpreter = {json.dumps(absolute(config['interpreter']))}",
        f"packages = {json.dumps(config.get('packages', []))}",
        "",
        "[files]",
    ]
    for source, target in config.get("files", {}).items():
        lines.append(f"{json.dumps(absolute(source))} = {json.dumps(target)}")
    return "\n".join(lines) + "\n"


#: Files made on request from the project's own page and config.
GENERATED: dict[str, tuple[Callable[[], str], str]] = {
    "/bench/peers/authfetch-bare.html": (
        lambda: bare_page("the library alone", "authfetch_bare.py", "authfetch-bare.toml"),
        "text/html",
    ),
    "/bench/peers/authfetch-bare.toml": (bare_config, "application/toml"),
    "/bench/peers/pyscript-only.html": (
        lambda: bare_page("PyScript and Pyodide alone", "pyscript_only.py", "pyscript-only.toml"),
        "text/html",
    ),
    "/bench/peers/pyscript-only.toml": (
        lambda: bare_config(interpreter_only=True),
        "application/toml",
    ),
}


def bench_file(url_path: str) -> Path | None:
    """The file under ``bench/`` that ``/bench/<dir>/…`` names, if it may be served."""
    parts = [part for part in unquote(url_path).split("/") if part]
    if len(parts) < 3 or parts[0] != "bench" or parts[1] not in SERVED_DIRS or ".." in parts:
        return None
    path = BENCH_DIR.joinpath(*parts[1:])
    return path if path.is_file() else None


def content_type(path: Path) -> str:
    """The Content-Type for a served file (JavaScript modules need a JS type)."""
    guessed = mimetypes.guess_type(path.name)[0]
    return CONTENT_TYPES.get(path.suffix, guessed or "application/octet-stream")


def serve_bench_file(route: Route) -> None:
    """Fulfil ``/bench/…`` like the static server does (404 for anything unknown)."""
    entry = static_entry(urlsplit(route.request.url).path)
    if entry is None:
        route.fulfill(status=404, body="not found", content_type="text/plain")
        return
    body, kind, _cache, _etag = entry
    route.fulfill(status=200, body=body, content_type=kind)


def wait_ready(page: Page, client: Client) -> None:
    """Wait until the page marks itself ready; for authfetch, add ``window.peer``."""
    page.wait_for_selector(
        f"html[data-{client.ready_attribute}=ready]", state="attached", timeout=READY_TIMEOUT_MS
    )
    if client.is_authfetch:
        page.evaluate(AUTHFETCH_DRIVER)


def open_pages(
    context: BrowserContext, origin: str, client: Client, count: int = 1, fake_clock: bool = False
) -> list[Page]:
    """Open ``count`` ready tabs of ``client`` on ``origin`` (peer files routed only meanwhile).

    ``fake_clock`` installs Playwright's clock before the page loads (``page.clock``).
    """
    pattern = f"{origin}/bench/**"
    if client.routed:
        context.route(pattern, serve_bench_file)
    try:
        pages = []
        for _ in range(count):
            page = context.new_page()
            if fake_clock:
                page.clock.install()
            page.goto(origin + client.path)
            wait_ready(page, client)
            pages.append(page)
    finally:
        if client.routed:
            context.unroute(pattern, serve_bench_file)
    return pages


@contextmanager
def new_context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context (empty cache and storage), closed afterwards."""
    context = browser.new_context()
    try:
        yield context
    finally:
        context.close()


def login(page: Page) -> dict:
    """Log the demo user in through ``window.peer``; the client's state afterwards."""
    page.evaluate("([u, p]) => peer.login(u, p)", [USERNAME, PASSWORD])
    return page.evaluate("peer.state()")


IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def file_etag(path: Path) -> str:
    """An ETag from the file's modification time and size (no hashing of large files)."""
    stat = path.stat()
    return f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'


def static_entry(url_path: str) -> tuple[bytes, str, str, str] | None:
    """What the static server answers for ``url_path``: body, Content-Type, Cache-Control
    and ETag.

    The peer pages and packages of ``bench/``, the generated bare authfetch page, and
    the project's ``/vendor/`` and ``/py/`` files, cached the way the project's server
    caches them (versioned packages and vendored files for good, the rest revalidated).
    """
    if url_path in GENERATED:
        make, kind = GENERATED[url_path]
        body = make().encode()
        return body, kind, REVALIDATE, f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    path = bench_file(url_path)
    if path is not None:
        cache = IMMUTABLE if url_path.startswith("/bench/node_modules/") else REVALIDATE
        return path.read_bytes(), content_type(path), cache, file_etag(path)
    parts = [part for part in unquote(url_path).split("/") if part]
    if len(parts) < 2 or parts[0] not in ("vendor", "py") or ".." in parts:
        return None
    path = ROOT.joinpath(*parts)
    if not path.is_file():
        return None
    immutable = parts[0] == "vendor" and not path.name.endswith("pyodide-lock.json")
    cache = IMMUTABLE if immutable else REVALIDATE
    return path.read_bytes(), content_type(path), cache, file_etag(path)


class _BenchFileHandler(http.server.BaseHTTPRequestHandler):
    """GET/HEAD of what :func:`static_entry` knows, with ETag revalidation (304)."""

    def do_GET(self) -> None:
        """Serve the file, or 304 when the browser's copy is current."""
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        """Headers only."""
        self._answer(with_body=False)

    def _answer(self, with_body: bool) -> None:
        """Send the entry named by the path (404 for anything else)."""
        entry = static_entry(urlsplit(self.path).path)
        if entry is None:
            self.send_error(404)
            return
        body, kind, cache, etag = entry
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Cache-Control", cache)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Cache-Control", cache)
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet."""


class StaticServer:
    """The benchmark's own pages over plain HTTP with real caching, on a free port."""

    def __init__(self) -> None:
        """Start serving in a background thread."""
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BenchFileHandler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()
