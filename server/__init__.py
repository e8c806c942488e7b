"""authfetch demo server: the page, its self-hosted assets, and (later) the mock API."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Python's mimetypes table may lack these; browsers insist on the right types.
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/toml", ".toml")

DEFAULT_CONFIG: dict[str, Any] = {
    "PROJECT_ROOT": str(PROJECT_ROOT),
    "VENDOR_DIR": str(PROJECT_ROOT / "vendor"),
}


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app; ``test_config`` overrides the defaults (tests, CLI)."""
    app = Flask(__name__, static_folder=None, instance_path=str(PROJECT_ROOT / "instance"))
    app.config.from_mapping(DEFAULT_CONFIG)
    if test_config:
        app.config.from_mapping(test_config)

    from server import page

    app.register_blueprint(page.bp)
    return app
