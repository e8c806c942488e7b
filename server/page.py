"""The demo page, its Python files and the vendored PyScript / Pyodide assets."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, send_from_directory

bp = Blueprint("page", __name__)

# Vendored files live under a versioned folder (vendor/pyodide/314.0.7/...), so a
# new version is a new URL and the old one may be cached for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
# Files we generate or edit ourselves are revalidated on every load (ETag / 304).
REVALIDATE = "no-cache"
PAGE_FILES = ("index.html", "pyscript.toml")


def _send(folder: str | Path, name: str, cache_control: str) -> Response:
    """Send ``folder/name`` (404 outside it) with the given Cache-Control."""
    response = send_from_directory(folder, name, max_age=None)
    response.headers["Cache-Control"] = cache_control
    return response


@bp.get("/")
def index() -> Response:
    """The demo page, under the Content-Security-Policy of config ``PAGE_CSP``."""
    response = _send(current_app.config["PROJECT_ROOT"], "index.html", REVALIDATE)
    response.headers["Content-Security-Policy"] = current_app.config["PAGE_CSP"]
    return response


@bp.get("/pyscript.toml")
def pyscript_toml() -> Response:
    """The demo page's PyScript configuration."""
    return _send(current_app.config["PROJECT_ROOT"], "pyscript.toml", REVALIDATE)


@bp.get("/py/<path:name>")
def page_python(name: str) -> Response:
    """The page's own Python and the authfetch library sources."""
    return _send(Path(current_app.config["PROJECT_ROOT"]) / "py", name, REVALIDATE)


@bp.get("/static/<path:name>")
def static_asset(name: str) -> Response:
    """The page's own CSS, JavaScript and images."""
    return _send(Path(current_app.config["PROJECT_ROOT"]) / "static", name, REVALIDATE)


@bp.get("/vendor/<path:name>")
def vendored(name: str) -> Response:
    """Pinned PyScript / Pyodide files and wheels; the generated lock is revalidated."""
    cache = REVALIDATE if name.endswith("pyodide-lock.json") else IMMUTABLE
    return _send(current_app.config["VENDOR_DIR"], name, cache)
