"""Serve this example as the static site it stands for, on its own origin.

    .venv/bin/python -m server --allow-origin http://127.0.0.1:8080     # the API, port 8000
    .venv/bin/python examples/static-site/serve.py                      # the site, port 8080

then open http://127.0.0.1:8080. The site is laid out as you would deploy it:

====================  =========================================================
URL                   served from
====================  =========================================================
``/``                 this folder (index.html, pyscript.toml, app.js, site.css)
``/vendor/…``         PyScript and Pyodide, self-hosted (``make setup`` fills vendor/)
``/authfetch/…``      the authfetch package (py/authfetch/src/authfetch)
====================  =========================================================

``--api ORIGIN`` serves index.html with ORIGIN in place of the API origin
written in it (``http://127.0.0.1:8000``: in the options and in the CSP), so
the API may run on another port. The end-to-end tests use :func:`make_server`.
"""

from __future__ import annotations

import argparse
import posixpath
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WRITTEN_API = "http://127.0.0.1:8000"
#: URL prefix -> folder; the longest matching prefix wins, "/" is this folder.
MOUNTS = {
    "/vendor/": ROOT / "vendor",
    "/authfetch/": ROOT / "py" / "authfetch" / "src" / "authfetch",
    "/": HERE,
}
TYPES = {".mjs": "text/javascript", ".wasm": "application/wasm", ".toml": "application/toml"}


class SiteHandler(SimpleHTTPRequestHandler):
    """Files from :data:`MOUNTS`; index.html with the API origin of the server."""

    extensions_map: ClassVar[dict[str, str]] = {**SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def translate_path(self, path: str) -> str:
        """Map a URL path to a file under its mount (never outside it)."""
        path = posixpath.normpath(unquote(urlsplit(path).path))
        for prefix, folder in MOUNTS.items():
            if (path + "/").startswith(prefix):
                rest = path[len(prefix) :].strip("/")
                target = (folder / rest).resolve()
                if target == folder or folder in target.parents:
                    return str(target)
                break
        return str(HERE / "not-found")

    def do_GET(self) -> None:
        """Serve the page with the API origin swapped in; any other file as it is."""
        if urlsplit(self.path).path not in ("/", "/index.html"):
            super().do_GET()
            return
        page = (HERE / "index.html").read_text().replace(WRITTEN_API, self.server.api_origin)
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
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


def make_server(port: int = 0, api_origin: str = WRITTEN_API, *, verbose: bool = False):
    """A site server on 127.0.0.1:``port`` (0: a free one); ``.url`` is its origin.

    Call ``serve_forever()`` (e.g. in a thread), then ``shutdown()``.
    """
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(SiteHandler, directory=str(HERE)))
    server.api_origin, server.verbose = api_origin, verbose
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.daemon_threads = True
    return server


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Run ``server`` in a daemon thread."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


def main() -> None:
    """Command line: serve the site until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--api", default=WRITTEN_API, help="the API origin (%(default)s)")
    args = parser.parse_args()
    server = make_server(args.port, args.api.rstrip("/"), verbose=True)
    print(f"static site on {server.url} (API: {server.api_origin})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
