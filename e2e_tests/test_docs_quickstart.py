"""The README's quick start, as written, works in Chromium: its PyScript config, script tags and
Python on each interpreter, and its plain-JavaScript page, against the mock server on another
origin (the placeholders PYSCRIPT, MICROPYTHON, PYODIDE and the API's origin filled in)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from e2e_tests.conftest import INTERPRETERS, READY_TIMEOUT_MS
from e2e_tests.conftest import browser_type_launch_args as browser_type_launch_args
from e2e_tests.serverproc import ROOT

README = ROOT / "README.md"
START_JS = ROOT / "py" / "authfetch" / "src" / "authfetch" / "web" / "authfetch-start.js"
WRITTEN_API = "https://api.example.com"
#: What the test appends to a sample to know it ran to its end.
DONE = "import js\njs.document.documentElement.dataset.sample = 'done'\n"


def readme_block(heading: str, language: str, index: int = 0) -> str:
    """The ``index``-th ``language`` code block under the README's ``heading``."""
    section = README.read_text().split(f"\n### {heading}\n", 1)[1].split("\n## ", 1)[0]
    section = section.split("\n### ", 1)[0]
    blocks = re.findall(rf"^```{language}\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    return blocks[index]


class QuickStartSite(SimpleHTTPRequestHandler):
    """The test's files (``self.server.files``), the archive, the start-up watch and vendor/."""

    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
    }

    def do_GET(self) -> None:
        """A generated file if the test wrote one at this path, else a file of the tree."""
        path = self.path.split("?", 1)[0]
        body = self.server.files.get(path)  # type: ignore[attr-defined]
        if body is None:
            super().do_GET()
            return
        data = body.encode()
        self.send_response(200)
        kind = "text/javascript" if path.endswith(".js") else "text/plain"
        self.send_header("Content-Type", "text/html" if path == "/" else kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def translate_path(self, path: str) -> str:
        """vendor/ and the library's built archive and start-up watch, nothing else."""
        path = path.split("?", 1)[0]
        if path.startswith("/vendor/") and ".." not in path:
            return str(ROOT / path.lstrip("/"))
        if path in ("/authfetch.tar.gz", "/authfetch-mpy.tar.gz"):
            return str(ROOT / "build" / path.lstrip("/"))
        if path == "/authfetch-start.js":
            return str(START_JS)
        return str(ROOT / "not-found")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def site(authfetch_server_factory) -> Iterator[ThreadingHTTPServer]:
    """A site on a free port (``.url``, ``.files``) and an API allowing it (``.api``)."""
    http = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuickStartSite, directory=str(ROOT)))
    http.daemon_threads = True
    http.url = f"http://127.0.0.1:{http.server_address[1]}"  # type: ignore[attr-defined]
    http.api = authfetch_server_factory(allow_origins=[http.url])  # type: ignore[attr-defined]
    http.files = {}  # type: ignore[attr-defined]
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield http
    http.shutdown()
    http.server_close()


def fill(text: str) -> str:
    """The README's placeholders with the pinned versions."""
    versions = json.loads((ROOT / "vendor" / "runtimes.json").read_text())
    for name in ("pyscript", "micropython", "pyodide"):
        text = text.replace(name.upper(), versions[name])
    return text


def config_for(interpreter: str) -> str:
    """The README's pyscript.toml, with the Pyodide lines of its comments for ``py``."""
    toml = fill(readme_block("Python in the page (MicroPython or Pyodide)", "toml"))
    if interpreter == "py":
        pyodide = re.search(r'"(\./vendor/pyodide/[^"]+)"', toml)
        archive = re.search(r'Pyodide: ("\./authfetch\.tar\.gz")', toml)
        assert pyodide is not None and archive is not None
        toml = re.sub(
            r"^interpreter = .*$", f'interpreter = "{pyodide.group(1)}"', toml, flags=re.M
        )
        toml = re.sub(r'^"\./authfetch-mpy\.tar\.gz"', archive.group(1), toml, flags=re.M)
    return toml


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_readme_python_quick_start_runs(page: Page, site, interpreter: str):
    """The README's config, script tags and main.py sign in, POST an item and log out."""
    heading = "Python in the page (MicroPython or Pyodide)"
    tags = fill(readme_block(heading, "html"))
    if interpreter == "py":
        tags = tags.replace('type="mpy"', 'type="py"')
    main = readme_block(heading, "python").replace(WRITTEN_API, site.api.url)
    site.files.update(
        {
            "/": f"<!doctype html><html><head><link rel='icon' href='data:,'>{tags}</head></html>",
            "/pyscript.toml": config_for(interpreter),
            "/main.py": main + DONE,
        }
    )
    printed: list[str] = []

    def record(message: ConsoleMessage) -> None:
        printed.append(message.text)

    page.on("console", record)
    page.goto(site.url + "/")
    expect(page.locator("html")).to_have_attribute("data-sample", "done", timeout=READY_TIMEOUT_MS)
    assert any(text.startswith("201 ") and "milk" in text for text in printed), printed
    stats = site.api.stats()
    assert (stats["login"], stats["api_ok"]) == (1, 1)


def test_readme_javascript_quick_start_runs(page: Page, site):
    """The README's plain-JavaScript page starts authfetch, signs in and reads /api/me."""
    html = fill(readme_block("Plain JavaScript through `window.authfetch`", "html"))
    html = html.replace(WRITTEN_API, site.api.url)
    marker = "document.documentElement.dataset.sample = me.username;\n</script>"
    assert html.rstrip().endswith("</script>")
    html = html.rstrip()[: -len("</script>")] + marker
    site.files.update(
        {
            "/": f"<!doctype html><html><head>{html}</head></html>",
            "/pyscript.toml": config_for("mpy"),
        }
    )
    page.goto(site.url + "/")
    expect(page.locator("html")).to_have_attribute("data-sample", "demo", timeout=READY_TIMEOUT_MS)
    assert site.api.stats()["login"] == 1


def test_getting_started_sample_is_the_readme_one():
    """Getting started's Python sample is the README's (which the test above runs)."""
    guide = (ROOT / "docs" / "getting-started.md").read_text().split("## 2. Python in the page")[1]
    sample = re.search(r"^```python\n(.*?)^```", guide, re.MULTILINE | re.DOTALL)
    assert sample is not None
    readme = readme_block("Python in the page (MicroPython or Pyodide)", "python")
    assert readme.split("\n", 1)[1] == sample.group(1)


def embed_block(heading: str, language: str) -> str:
    """The first ``language`` code block under docs/embed.md's ``## heading``."""
    section = (ROOT / "docs" / "embed.md").read_text().split(f"\n## {heading}\n", 1)[1]
    found = re.search(rf"^```{language}\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert found is not None
    return found.group(1)


def test_embed_page_sections_run_as_written(page: Page, site):
    """docs/embed.md's tags, config and JavaScript sign in, read /api/me and log out, as written."""
    head = fill(embed_block("2. The script tags", "html")).replace(WRITTEN_API, site.api.url)
    app = embed_block("5. Your JavaScript", "js").replace(WRITTEN_API, site.api.url)
    app += "document.documentElement.dataset.sample = me.username;\n"
    site.files.update(
        {
            "/": f"<!doctype html><html><head>{head}</head>"
            "<body><section id='signin' hidden>Sign in</section></body></html>",
            "/pyscript.toml": fill(embed_block("3. `pyscript.toml`", "toml")),
            "/app.js": app,
        }
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(site.url + "/")
    expect(page.locator("html")).to_have_attribute("data-sample", "demo", timeout=READY_TIMEOUT_MS)
    expect(page.locator("#signin")).to_be_visible()
    assert errors == []
    stats = site.api.stats()
    assert (stats["login"], stats["api_ok"]) == (1, 1)
