"""Chromium, the clients under test and how their pages are served and opened.

Every client is driven through one small API in the page, ``window.peer``:
``login(u, p)``, ``fetch(path)`` (resolves with the HTTP status once the body is
read, or the error's name), ``state()`` → ``{loggedIn, expiresAt, refreshes}``.
The peers' pages define it themselves (``bench/peers/session.js``); for
authfetch a few lines over ``window.authfetch`` (the bridge) define it.

The benchmark's own pages (``/bench/…``: the peers, the bare authfetch pages,
the interpreters' floors and passthrough floors, on Pyodide and MicroPython)
are served under the API server's origin (same origin as the API, like the
demo page) by a Playwright route that reads ``bench/``. Routing sends every
request of the context through Playwright and turns the HTTP cache off, so the
route is removed as soon as the pages are loaded: the measured API traffic
goes straight to the server. Start-up and memory, which need the cache, load
every page (the demo too) from :class:`StaticServer`, which serves the bench's
files and the project's ``/vendor/`` and the library archives with the project's
caching and passes everything else (the demo page, ``/api``, ``/auth``) to the
API server, so the first authorized request stays on the page's origin.
"""

from __future__ import annotations

import hashlib
import http.server
import mimetypes
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route

from e2e_tests.serverproc import CHROMIUM_ARGS, chromium_executable
from server.page import render, runtime_versions

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
#: Pyodide starts in 2-4 s here; a cold start on a busy 2-core machine takes longer.
READY_TIMEOUT_MS = 90_000
#: MicroPython starts in well under a second: a page not ready after this failed to start.
MPY_READY_TIMEOUT_MS = 20_000
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
    """One page under test: its path, its ready marker, and the interpreter it runs on."""

    key: str
    label: str
    path: str
    ready_attribute: str
    interpreter: str | None = None  # "py", "mpy", or None for JavaScript only

    @property
    def is_peer(self) -> bool:
        """The page defines ``window.peer`` itself (a JavaScript peer, a passthrough floor)."""
        return self.ready_attribute == "peer"

    @property
    def is_authfetch(self) -> bool:
        """An authfetch page (``window.peer`` is defined over ``window.authfetch``)."""
        return self.ready_attribute == "authfetch"

    @property
    def routed(self) -> bool:
        """The page is one of the benchmark's own (``/bench/…``), not the project's."""
        return self.path.startswith("/bench/")

    @property
    def ready_timeout_ms(self) -> int:
        """How long the page may take to mark itself ready."""
        return MPY_READY_TIMEOUT_MS if self.interpreter == "mpy" else READY_TIMEOUT_MS


#: The interpreters: script type -> (label, vendor folder, entry file).
INTERPRETERS = {
    "py": ("Pyodide", "pyodide", "pyodide.mjs"),
    "mpy": ("MicroPython", "micropython", "micropython.mjs"),
}


def _per_interpreter(key: str, label: str, path: str, ready: str) -> dict[str, Client]:
    """The same page on each interpreter (``{i}`` in ``key`` and ``path``)."""
    return {
        kind: Client(
            key.format(i=kind), f"{label}, {name}", path.format(i=kind), ready, interpreter=kind
        )
        for kind, (name, _folder, _entry) in INTERPRETERS.items()
    }


#: The demo page (the project's server) on each interpreter.
AUTHFETCH = {
    "py": Client(
        "authfetch", "authfetch demo, Pyodide", "/?dialect=json", "authfetch", interpreter="py"
    ),
    "mpy": Client(
        "authfetch-mpy",
        "authfetch demo, MicroPython",
        "/?interpreter=mpy&dialect=json",
        "authfetch",
        interpreter="mpy",
    ),
}
#: authfetch alone on a page (``setup()``, no demo UI, no packages): the library's own cost.
AUTHFETCH_BARE = _per_interpreter(
    "authfetch-bare-{i}", "authfetch bare page", "/bench/peers/authfetch-bare-{i}.html", "authfetch"
)
#: The same with ``dpop: true``: every request carries a proof signed by WebCrypto.
AUTHFETCH_DPOP = _per_interpreter(
    "authfetch-dpop-{i}",
    "authfetch bare page, DPoP",
    "/bench/peers/authfetch-dpop-{i}.html",
    "authfetch",
)
#: PyScript and the interpreter with nothing on top: each interpreter's floor.
FLOOR = _per_interpreter(
    "floor-{i}", "PyScript alone (floor)", "/bench/peers/floor-{i}.html", "pyscript"
)
#: JavaScript calls one Python function that only calls fetch: the per-request floor.
PASSTHROUGH = _per_interpreter(
    "passthrough-{i}", "passthrough floor", "/bench/peers/passthrough-{i}.html", "peer"
)
PLAIN = Client("plain", "plain fetch with a bearer", "/bench/peers/plain.html", "peer")
CLASSIC = Client("classic", "classic interceptor", "/bench/peers/classic.html", "peer")
AUTH_REFRESH = Client(
    "auth-refresh", "axios-auth-refresh 5.0.2", "/bench/peers/auth-refresh.html", "peer"
)
AUTH_REFRESH_NODEDUP = Client(
    "auth-refresh-nodedup",
    "axios-auth-refresh 5.0.2, deduplicateRefresh: false",
    "/bench/peers/auth-refresh-nodedup.html",
    "peer",
)
PEERS = (CLASSIC, AUTH_REFRESH, AUTH_REFRESH_NODEDUP)
#: The clients of the behaviour scenarios (burst, tabs, lifetimes).
CLIENTS = (AUTHFETCH["py"], AUTHFETCH["mpy"], *PEERS)

#: ``window.peer`` over authfetch's bridge; the body is read like axios reads it.
AUTHFETCH_DRIVER = """() => {
    window.peer = {
        name: 'authfetch',
        login: (username, password) => authfetch.login(username, password),
        fetch: (path) => authfetch.fetch(path).then(
            async (response) => { await response.text(); return response.status; },
            (error) => error.name || 'Error'),
        state: () => authfetch.state(),
        // The stored access token, for the overhead scenario's plain fetch beside each request.
        accessToken: () =>
            (JSON.parse(localStorage.getItem('authfetch.session')) || {}).access_token,
    };
}"""

#: Start-up probe: ``performance.now()`` (ms since navigation start) when the page marks
#: itself ready, then one authorized ``GET /api/me`` through the page's own client
#: (authfetch, ``window.peer``, or for a floor ``fetch`` with the stored bearer) and the
#: time its 200 (body read) arrived.
STARTUP_PROBE = """(() => {
    const KINDS = ['authfetch', 'peer', 'pyscript'];
    const first = (kind) => {
        const read = (response) => response.text().then(() => response.status);
        if (kind === 'authfetch') return window.authfetch.fetch('/api/me').then(read);
        if (kind === 'peer') return window.peer.fetch('/api/me');
        const token = localStorage.getItem('bench.access_token');
        return fetch('/api/me', {headers: {Authorization: 'Bearer ' + token}}).then(read);
    };
    const mark = () => {
        const html = document.documentElement;
        if (window.__benchReadyAt !== undefined || !html) return;
        const kind = KINDS.find((name) => html.dataset[name] === 'ready');
        if (kind === undefined) return;
        window.__benchReadyAt = performance.now();
        first(kind).then(
            (status) => { window.__benchFirst = {status, at: performance.now()}; },
            (error) => { window.__benchFirst = {status: String(error && error.name || error),
                                                at: performance.now()}; });
    };
    new MutationObserver(mark).observe(document, {
        subtree: true, attributes: true,
        attributeFilter: KINDS.map((name) => 'data-' + name),
    });
})();"""

#: Logs any page in: authfetch's bridge, ``window.peer``, or (a floor) a plain login whose
#: access token the probe's ``fetch`` uses.
LOGIN_ANY = """async ([username, password]) => {
    const html = document.documentElement;
    if (html.dataset.authfetch === 'ready') return authfetch.login(username, password);
    if (html.dataset.peer === 'ready') return peer.login(username, password);
    const response = await fetch('/auth/login', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({username, password})});
    localStorage.setItem('bench.access_token', (await response.json()).access_token);
}"""


def launch(playwright: Playwright) -> Browser:
    """Launch headless Chromium with the flags this offline machine needs."""
    return playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)


BARE_PAGE = """<!doctype html>
<html lang="en" data-interpreter="{{interpreter}}">
<head>
  <meta charset="utf-8">
  <link rel="icon" href="data:,">
  <title>authfetch bench: {{title}}</title>
  <script type="module" src="/vendor/pyscript/{{pyscript}}/core.js"></script>{{module}}
</head>
<body>
  <script type="{{interpreter}}" src="./{{script}}" config="./{{config}}"></script>
</body>
</html>
"""


def bare_page(interpreter: str, title: str, script: str, config: str, module: str = "") -> str:
    """A page running ``script`` with ``config`` on the vendored PyScript and ``interpreter``;
    ``module``: a JavaScript module of ``bench/peers/`` loaded first."""
    tag = f'\n  <script type="module" src="./{module}"></script>' if module else ""
    values = {
        **runtime_versions(ROOT / "vendor"),
        "interpreter": interpreter,
        "title": f"{title} ({INTERPRETERS[interpreter][0]})",
        "script": script,
        "config": config,
        "module": tag,
    }
    return render(BARE_PAGE, values)


#: The library archive each interpreter's configs name, as the guide says (docs/embed.md).
ARCHIVES = {"py": "authfetch.tar.gz", "mpy": "authfetch-mpy.tar.gz"}


def bare_config(interpreter: str, library: bool) -> str:
    """A PyScript config: the vendored ``interpreter``, and with ``library`` the authfetch
    archive (the same one line as the project's configs); no packages."""
    _name, folder, entry = INTERPRETERS[interpreter]
    version = runtime_versions(ROOT / "vendor")[folder]
    lines = [f'interpreter = "/vendor/{folder}/{version}/{entry}"']
    if library:
        lines += ["", "[files]", f'"/{ARCHIVES[interpreter]}" = "./*"']
    return "\n".join(lines) + "\n"


def _generated() -> dict[str, tuple[Callable[[], str], str]]:
    """The bench's pages and configs made on request, for each interpreter."""
    pages = {
        "authfetch-bare": ("the library alone", "authfetch_bare.py", True, ""),
        "authfetch-dpop": ("the library alone, DPoP on", "authfetch_dpop.py", True, ""),
        "floor": ("PyScript alone", "floor.py", False, ""),
        "passthrough": ("passthrough floor", "passthrough.py", False, "passthrough.js"),
    }
    made: dict[str, tuple[Callable[[], str], str]] = {}
    for name, (title, script, library, module) in pages.items():
        for kind in INTERPRETERS:
            stem = f"/bench/peers/{name}-{kind}"
            config = f"{name}-{kind}.toml"

            def page(kind=kind, title=title, script=script, config=config, module=module) -> str:
                return bare_page(kind, title, script, config, module)

            def toml(kind=kind, library=library) -> str:
                return bare_config(kind, library)

            made[f"{stem}.html"] = (page, "text/html")
            made[f"{stem}.toml"] = (toml, "application/toml")
    return made


#: Files made on request from the vendored versions.
GENERATED = _generated()


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
        f"html[data-{client.ready_attribute}=ready]",
        state="attached",
        timeout=client.ready_timeout_ms,
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
    and ETag; ``None`` for what it passes to the API server.

    The peer pages and packages of ``bench/``, the generated pages, the project's
    ``/vendor/`` files and the library archives, cached the way the project's server
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
    if url_path.lstrip("/") in ARCHIVES.values():
        path = ROOT / "build" / url_path.lstrip("/")
        return path.read_bytes(), "application/gzip", REVALIDATE, file_etag(path)
    parts = [part for part in unquote(url_path).split("/") if part]
    if len(parts) < 2 or parts[0] != "vendor" or ".." in parts:
        return None
    path = ROOT.joinpath(*parts)
    if not path.is_file():
        return None
    immutable = not path.name.endswith(("pyodide-lock.json", "runtimes.json"))
    cache = IMMUTABLE if immutable else REVALIDATE
    return path.read_bytes(), content_type(path), cache, file_etag(path)


#: Response headers the static server passes back from the API server.
PASSED_HEADERS = (
    "Content-Type", "Cache-Control", "ETag", "WWW-Authenticate", "Content-Security-Policy",
    "Retry-After",
)  # fmt: skip
#: Request headers it passes on.
FORWARDED_HEADERS = ("Authorization", "Content-Type", "If-None-Match", "Accept")


class _BenchFileHandler(http.server.BaseHTTPRequestHandler):
    """GET/HEAD of what :func:`static_entry` knows, with ETag revalidation (304); anything
    else (the demo page, the API) is passed to the upstream server."""

    server: _StaticHTTPServer

    def do_GET(self) -> None:
        """Serve the file, or 304 when the browser's copy is current."""
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        """Headers only."""
        self._answer(with_body=False)

    def do_POST(self) -> None:
        """The API's POSTs (login, refresh, logout) go upstream."""
        self._proxy(with_body=True)

    def _answer(self, with_body: bool) -> None:
        """Send the entry named by the path, or pass the request upstream."""
        entry = static_entry(urlsplit(self.path).path)
        if entry is None:
            self._proxy(with_body)
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

    def _proxy(self, with_body: bool) -> None:
        """Forward the request to the upstream server and relay its answer."""
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        request = urllib.request.Request(
            self.server.upstream + self.path, data=data, method=self.command
        )
        for name in FORWARDED_HEADERS:
            if self.headers.get(name):
                request.add_header(name, self.headers[name])
        try:
            response = urllib.request.urlopen(request, timeout=60)
        except urllib.error.HTTPError as error:  # 304, 4xx, 5xx: relayed as they are
            response = error
        with response:
            payload = response.read()
            self.send_response(response.status)
            for name in PASSED_HEADERS:
                if response.headers.get(name):
                    self.send_header(name, response.headers[name])
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if with_body:
                self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet."""


class _StaticHTTPServer(http.server.ThreadingHTTPServer):
    """The HTTP server, knowing its upstream."""

    upstream: str


class StaticServer:
    """The benchmark's pages over plain HTTP with real caching, on a free port, in front
    of the API server ``upstream`` (its origin)."""

    def __init__(self, upstream: str) -> None:
        """Start serving in a background thread."""
        self.httpd = _StaticHTTPServer(("127.0.0.1", 0), _BenchFileHandler)
        self.httpd.upstream = upstream
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()
