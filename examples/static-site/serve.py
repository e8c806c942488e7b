"""Serve this example as the static site it stands for, on its own origin.

    .venv/bin/python -m server --allow-origin http://127.0.0.1:8080     # the API, port 8000
    .venv/bin/python examples/static-site/serve.py                      # the site, port 8080

then open http://127.0.0.1:8080. The site is laid out as you would deploy it:

====================  =========================================================
URL                   served from
====================  =========================================================
``/``                 this folder (index.html, pyscript*.toml, app.js, site.css)
``/vendor/…``         PyScript and MicroPython / Pyodide, self-hosted
                      (``make setup`` fills vendor/)
``/authfetch.tar.gz``    the authfetch package in one archive (``make setup`` builds
                      build/authfetch.tar.gz)
``/authfetch-mpy.tar.gz``  the same compiled for MicroPython, what its config names
                      (build/authfetch-mpy.tar.gz)
``/authfetch-start.js``   the library's start-up watch (a page that cannot start
                      says why), from the package's ``web/`` folder
====================  =========================================================

``index.html`` and the ``pyscript*.toml`` files are templates: the fields in
double braces are filled in from ``vendor/runtimes.json`` (the versions
package.json pins) and from ``--interpreter`` (``mpy``, the default, or
``py``). ``--api ORIGIN`` serves index.html with ORIGIN in place of the API
origin written in it (``http://127.0.0.1:8000``: in the options and in the
CSP), so the API may run on another port. ``--export DIR`` writes the site,
filled in, into DIR instead of serving it: a copy ready to deploy. The
end-to-end tests use :func:`make_server`.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENDOR = ROOT / "vendor"
ARCHIVE = ROOT / "build" / "authfetch.tar.gz"
MPY_ARCHIVE = ROOT / "build" / "authfetch-mpy.tar.gz"
#: The library's start-up watch: a page that cannot start says why (shipped in the package).
START_JS = ROOT / "py" / "authfetch" / "src" / "authfetch" / "web" / "authfetch-start.js"
WRITTEN_API = "http://127.0.0.1:8000"
#: URL prefix -> file or folder; the longest matching prefix wins, "/" is this folder.
MOUNTS = {
    "/vendor/": VENDOR,
    "/authfetch.tar.gz/": ARCHIVE,
    "/authfetch-mpy.tar.gz/": MPY_ARCHIVE,
    "/authfetch-start.js/": START_JS,
    "/": HERE,
}
TYPES = {".mjs": "text/javascript", ".wasm": "application/wasm", ".toml": "application/toml"}
#: ``--interpreter`` -> PyScript's script type and this folder's config for it.
INTERPRETERS = {"mpy": "pyscript.toml", "py": "pyscript-py.toml"}
#: ``--interpreter`` -> the library archive its config names (MicroPython: compiled).
ARCHIVES = {"mpy": MPY_ARCHIVE, "py": ARCHIVE}
DEFAULT_INTERPRETER = "mpy"
#: The files of this folder that are templates, and the site's other files.
TEMPLATES = ("index.html", *INTERPRETERS.values())
SITE_FILES = ("app.js", "site.css")
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def fill(text: str, interpreter: str, api_origin: str) -> str:
    """A template of this folder with the versions, the interpreter and the API origin."""
    values = json.loads((VENDOR / "runtimes.json").read_text())
    values.update(interpreter=interpreter, config=INTERPRETERS[interpreter])
    text = PLACEHOLDER.sub(lambda match: values[match.group(1)], text)
    return text.replace(WRITTEN_API, api_origin)


class SiteHandler(SimpleHTTPRequestHandler):
    """Files from :data:`MOUNTS`; the templates filled in for this server."""

    extensions_map: ClassVar[dict[str, str]] = {**SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def translate_path(self, path: str) -> str:
        """Map a URL path to a file under its mount (never outside it)."""
        path = posixpath.normpath(unquote(urlsplit(path).path))
        for prefix, mounted in MOUNTS.items():
            if (path + "/").startswith(prefix):
                rest = path[len(prefix) :].strip("/")
                target = (mounted / rest).resolve() if rest else mounted
                if target == mounted or mounted in target.parents:
                    return str(target)
                break
        return str(HERE / "not-found")

    def do_GET(self) -> None:
        """Serve a template filled in; any other file as it is."""
        name = urlsplit(self.path).path.lstrip("/") or "index.html"
        if name not in TEMPLATES:
            super().do_GET()
            return
        text = fill((HERE / name).read_text(), self.server.interpreter, self.server.api_origin)
        body = text.encode()
        kind = "text/html; charset=utf-8" if name.endswith(".html") else TYPES[".toml"]
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self) -> None:
        """Revalidate every file: this is a development server."""
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Log only when the server was asked to."""
        if self.server.verbose:
            super().log_message(format, *args)


def make_server(
    port: int = 0,
    api_origin: str = WRITTEN_API,
    *,
    interpreter: str = DEFAULT_INTERPRETER,
    verbose: bool = False,
):
    """A site server on 127.0.0.1:``port`` (0: a free one); ``.url`` is its origin.

    Call ``serve_forever()`` (e.g. in a thread), then ``shutdown()``.
    """
    if interpreter not in INTERPRETERS:
        raise ValueError(f"interpreter must be one of {', '.join(INTERPRETERS)}")
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(SiteHandler, directory=str(HERE)))
    server.api_origin, server.interpreter, server.verbose = api_origin, interpreter, verbose
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.daemon_threads = True
    return server


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Run ``server`` in a daemon thread."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


def export(target: Path, interpreter: str, api_origin: str) -> None:
    """Write the deployable site into ``target``: the page and this interpreter's config
    filled in, the site's files, its archive, and only the vendored runtime folders this
    interpreter loads (export the other ``interpreter`` into the same folder for both)."""
    versions = json.loads((VENDOR / "runtimes.json").read_text())
    runtime = {"mpy": "micropython", "py": "pyodide"}[interpreter]
    target.mkdir(parents=True, exist_ok=True)
    for name in ("index.html", INTERPRETERS[interpreter]):  # the other config: not exported
        (target / name).write_text(fill((HERE / name).read_text(), interpreter, api_origin))
    for name in SITE_FILES:
        shutil.copy2(HERE / name, target / name)
    archive = ARCHIVES[interpreter]
    shutil.copy2(archive, target / archive.name)
    shutil.copy2(START_JS, target / START_JS.name)
    for name in ("pyscript", runtime):
        folder = Path("vendor") / name / versions[name]
        shutil.copytree(ROOT / folder, target / folder, dirs_exist_ok=True)


def main() -> None:
    """Command line: serve the site until Ctrl-C (or export it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--api", default=WRITTEN_API, help="the API origin (%(default)s)")
    parser.add_argument("--interpreter", choices=INTERPRETERS, default=DEFAULT_INTERPRETER)
    parser.add_argument("--export", type=Path, metavar="DIR", help="write the site into DIR")
    args = parser.parse_args()
    if args.export:
        export(args.export, args.interpreter, args.api.rstrip("/"))
        print(f"static site written to {args.export} ({args.interpreter})")
        return
    server = make_server(
        args.port, args.api.rstrip("/"), interpreter=args.interpreter, verbose=True
    )
    print(f"static site on {server.url} (API: {server.api_origin})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
