"""The demo page on either PyScript interpreter, its configs, the library archive, vendor/.

The pinned runtime versions are written once, in package.json; the set-up
(tools/vendor.py) lays the runtimes out under ``vendor/<name>/<version>/`` and
records the versions in ``vendor/runtimes.json``. The page and its PyScript
configs are templates: ``{{pyscript}}``, ``{{pyodide}}``, ``{{micropython}}``
and the interpreter's own fields are filled in here, per request.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from flask import Blueprint, Response, current_app, request, send_from_directory

from .errors import json_error

bp = Blueprint("page", __name__)

# Vendored files live under a versioned folder (vendor/pyodide/<version>/...), so a
# new version is a new URL and the old one may be cached for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
# Files we generate or edit ourselves are revalidated on every load (ETag / 304).
REVALIDATE = "no-cache"
RUNTIMES_FILE = "runtimes.json"
LIBRARY_ARCHIVE = "authfetch.tar.gz"
#: The same modules compiled for MicroPython (tools/libarchive.py).
MPY_ARCHIVE = "authfetch-mpy.tar.gz"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


class Interpreter:
    """One of PyScript's two interpreters, as the demo page offers it."""

    def __init__(self, key: str, name: str, config: str) -> None:
        """``key`` is the query value and the script type; ``config`` the PyScript config."""
        self.key, self.name, self.config = key, name, config


#: ``?interpreter=`` value -> interpreter; the first is the default.
INTERPRETERS = {
    "py": Interpreter("py", "Pyodide", "pyscript.toml"),
    "mpy": Interpreter("mpy", "MicroPython", "pyscript-mpy.toml"),
}
CONFIGS = {interpreter.config for interpreter in INTERPRETERS.values()}


def runtime_versions(vendor_dir: str | Path) -> dict[str, str]:
    """``{"pyscript": version, ...}`` as the set-up vendored them."""
    return json.loads((Path(vendor_dir) / RUNTIMES_FILE).read_text())


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with every ``{{name}}`` replaced; an unknown name is a KeyError."""
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def _send(
    folder: str | Path, name: str, cache_control: str, mimetype: str | None = None
) -> Response:
    """Send ``folder/name`` (404 outside it) with the given Cache-Control."""
    response = send_from_directory(folder, name, max_age=None, mimetype=mimetype)
    response.headers["Cache-Control"] = cache_control
    return response


def _rendered(name: str, values: dict[str, str], mimetype: str) -> Response:
    """A project template filled with ``values``, revalidated by ETag."""
    template = (Path(current_app.config["PROJECT_ROOT"]) / name).read_text()
    response = Response(render(template, values), mimetype=mimetype)
    response.headers["Cache-Control"] = REVALIDATE
    response.add_etag()
    return response.make_conditional(request)  # type: ignore[return-value]


@bp.get("/")
def index() -> Response:
    """The demo page on ``?interpreter=py`` (default) or ``mpy``, under ``PAGE_CSP``."""
    key = request.args.get("interpreter", "py")
    interpreter = INTERPRETERS.get(key)
    if interpreter is None:
        choices = " or ".join(INTERPRETERS)
        return json_error(400, "invalid_request", f"interpreter must be {choices}, not {key!r}")
    other = next(each for each in INTERPRETERS.values() if each is not interpreter)
    values = {
        **runtime_versions(current_app.config["VENDOR_DIR"]),
        "interpreter": interpreter.key,
        "interpreter_name": interpreter.name,
        "config": interpreter.config,
        "other_interpreter": other.key,
        "other_name": other.name,
    }
    response = _rendered("index.html", values, "text/html")
    response.headers["Content-Security-Policy"] = current_app.config["PAGE_CSP"]
    return response


@bp.get("/<stem>.toml")
def pyscript_config(stem: str) -> Response:
    """A PyScript configuration of the demo page, with the vendored versions filled in."""
    name = f"{stem}.toml"
    if name not in CONFIGS:
        return json_error(404, "not_found", f"no such file: {name}")
    values = runtime_versions(current_app.config["VENDOR_DIR"])
    return _rendered(name, values, "application/toml")


@bp.get(f"/{LIBRARY_ARCHIVE}")
def library_archive() -> Response:
    """The authfetch package as one gzipped tar (built by the set-up; its URL has no version).

    Sent as ``application/gzip``: the guessed ``Content-Encoding: gzip`` would make the
    browser unpack the gzip layer before PyScript sees the file.
    """
    return _send(current_app.config["BUILD_DIR"], LIBRARY_ARCHIVE, REVALIDATE, "application/gzip")


@bp.get(f"/{MPY_ARCHIVE}")
def mpy_archive() -> Response:
    """The same package compiled for MicroPython (``.mpy``), sent like :func:`library_archive`."""
    return _send(current_app.config["BUILD_DIR"], MPY_ARCHIVE, REVALIDATE, "application/gzip")


@bp.get("/authfetch-start.js")
def start_watch() -> Response:
    """The library's start-up watch (a page that cannot start says why), from its package."""
    folder = Path(current_app.config["PROJECT_ROOT"]) / "py" / "authfetch" / "src" / "authfetch"
    return _send(folder / "web", "authfetch-start.js", REVALIDATE, "text/javascript")


@bp.get("/py/<path:name>")
def page_python(name: str) -> Response:
    """The page's own Python (``py/main.py``)."""
    return _send(Path(current_app.config["PROJECT_ROOT"]) / "py", name, REVALIDATE)


@bp.get("/static/<path:name>")
def static_asset(name: str) -> Response:
    """The page's own CSS, JavaScript and images."""
    return _send(Path(current_app.config["PROJECT_ROOT"]) / "static", name, REVALIDATE)


@bp.get("/vendor/<path:name>")
def vendored(name: str) -> Response:
    """Pinned PyScript / Pyodide / MicroPython files and wheels; generated files revalidate."""
    generated = name.endswith("pyodide-lock.json") or name == RUNTIMES_FILE
    return _send(current_app.config["VENDOR_DIR"], name, REVALIDATE if generated else IMMUTABLE)
