"""The library as a wheel: a page names ``./authfetch-<version>-py3-none-any.whl`` in PyScript's
``packages`` and signs in, on Pyodide (micropip installs it) and on MicroPython (PyScript
unpacks a wheel named in ``packages`` into the working folder itself).

``AUTHFETCH_WHEEL_TIMING=N`` adds a measurement: N alternating loads of the same page with
the wheel in ``packages`` and with ``build/authfetch.tar.gz`` in ``[files]``, on each
interpreter, time from navigation to ``data-authfetch="ready"`` (docs: Getting started).
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import ClassVar

import pytest
from playwright.sync_api import Page, Request
from pytest_authfetch import ServerOptions
from pytest_authfetch.plugin import ServerPool

from e2e_tests.conftest import INTERPRETERS, open_ready_page, stats
from e2e_tests.serverproc import ROOT
from tools.wheel import version

WHEEL = ROOT / "build" / f"authfetch-{version()}-py3-none-any.whl"
ARCHIVE = ROOT / "build" / "authfetch.tar.gz"
RUNTIME = {"py": ("pyodide", "pyodide.mjs"), "mpy": ("micropython", "micropython.mjs")}
PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="application/json" id="authfetch-options">{{"api_base": "{api}"}}</script>
<script type="module" src="./vendor/pyscript/{pyscript}/core.js"></script>
<script type="{interpreter}" config="./pyscript.toml">import authfetch.web.autostart</script>
</head><body></body></html>"""


def config(interpreter: str, versions: dict, way: str) -> str:
    """The page's PyScript config: the library from the wheel or from the archive."""
    runtime, module = RUNTIME[interpreter]
    lines = [f'interpreter = "./vendor/{runtime}/{versions[runtime]}/{module}"']
    if way == "wheel":
        lines.append(f'packages = ["./{WHEEL.name}"]')
    else:
        lines += ["[files]", '"./authfetch.tar.gz" = "./*"']
    return "\n".join(lines) + "\n"


class WheelSite(SimpleHTTPRequestHandler):
    """The page and its config (the fixture's ``way`` picks the library's form), the wheel,
    the archive and ``vendor/``, served as a static host would, with the right types."""

    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".whl": "application/zip",
        ".gz": "application/gzip",
    }

    def do_GET(self) -> None:
        """The page and config from the server's settings; any other file from the tree."""
        path = self.path.split("?", 1)[0]
        site = self.server.site  # type: ignore[attr-defined]
        if path in ("/", "/pyscript.toml"):
            if path == "/":
                body = PAGE.format(
                    api=site.api_origin,
                    pyscript=site.versions["pyscript"],
                    interpreter=site.interpreter,
                )
                kind = "text/html; charset=utf-8"
            else:
                body, kind = config(site.interpreter, site.versions, site.way), "application/toml"
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(data)
            return
        super().do_GET()

    def translate_path(self, path: str) -> str:
        """``/vendor/…`` from vendor/, the wheel and the archive from build/."""
        path = path.split("?", 1)[0]
        if path.startswith("/vendor/") and ".." not in path:
            return str(ROOT / path.lstrip("/"))
        if path == "/" + WHEEL.name:
            return str(WHEEL)
        if path == "/authfetch.tar.gz":
            return str(ARCHIVE)
        return str(ROOT / "not-found")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module", params=INTERPRETERS)
def wheel_site(
    request: pytest.FixtureRequest, authfetch_server_pool: ServerPool
) -> Iterator[SimpleNamespace]:
    """The page on its own origin (one interpreter), the API allowing that origin."""

    http = ThreadingHTTPServer(("127.0.0.1", 0), partial(WheelSite, directory=str(ROOT)))
    http.daemon_threads = True
    url = f"http://127.0.0.1:{http.server_address[1]}"
    api = authfetch_server_pool.new(ServerOptions(allow_origins=(url,)))
    versions = json.loads((ROOT / "vendor" / "runtimes.json").read_text())
    site = SimpleNamespace(
        url=url, api=api, api_origin=api.url, versions=versions, interpreter=request.param
    )
    site.way = "wheel"
    http.site = site  # type: ignore[attr-defined]
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield site
    http.shutdown()
    http.server_close()
    api.stop()


def test_wheel_metadata_is_true():
    """The wheel holds every module of the library, the version of __init__, no dependency."""
    with zipfile.ZipFile(WHEEL) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"authfetch-{version()}.dist-info/METADATA").decode()
    package = ROOT / "py" / "authfetch" / "src"
    modules = {
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert modules <= names
    assert "authfetch/web/authfetch-start.js" in names
    assert f"Version: {version()}\n" in metadata
    assert "Requires-Dist" not in metadata
    assert "Requires-Python: >=3.11" in metadata


def test_page_with_the_wheel_in_packages_signs_in(page: Page, wheel_site: SimpleNamespace):
    """A page naming only the wheel in ``packages`` signs in and calls the API (no archive)."""
    wheel_site.api.reset()
    wheel_site.way = "wheel"
    fetched: list[str] = []

    def record(request: Request) -> None:
        fetched.append(request.url)

    page.on("request", record)
    open_ready_page(page, wheel_site.url + "/")
    state = page.evaluate("authfetch.login('demo', 'demo-pass')")
    assert state["loggedIn"] is True
    status = page.evaluate(f"authfetch.fetch('{wheel_site.api.url}/api/me').then(r => r.status)")
    assert status == 200
    assert stats(wheel_site.api)["login"] == 1
    assert wheel_site.url + "/" + WHEEL.name in fetched
    assert not [url for url in fetched if url.endswith("authfetch.tar.gz")]


@pytest.mark.skipif(
    not os.environ.get("AUTHFETCH_WHEEL_TIMING"), reason="a measurement: AUTHFETCH_WHEEL_TIMING=N"
)
def test_measure_wheel_against_archive(page: Page, wheel_site: SimpleNamespace):
    """Prints the median time to ready of N alternating loads with the wheel and the archive."""
    rounds = int(os.environ["AUTHFETCH_WHEEL_TIMING"])
    times: dict[str, list[float]] = {"wheel": [], "archive": []}
    for _ in range(rounds):
        for way in times:
            wheel_site.way = way
            start = time.perf_counter()
            open_ready_page(page, wheel_site.url + "/")
            times[way].append((time.perf_counter() - start) * 1000)
    wheel_site.way = "wheel"
    medians = {way: statistics.median(values) for way, values in times.items()}
    print(
        f"\n{wheel_site.interpreter}: median to ready over {rounds} warm loads:"
        f" wheel {medians['wheel']:.0f} ms, archive {medians['archive']:.0f} ms"
    )
