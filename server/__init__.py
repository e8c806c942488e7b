"""authfetch demo server: the page, its self-hosted assets, and the token-issuing mock API."""

from __future__ import annotations

import importlib
import mimetypes
import sys
from typing import Any

from flask import Flask, Response, request
from flask_cors import CORS
from werkzeug.security import generate_password_hash

from . import dpop, ratelimit
from .config import (
    DEFAULT_CONFIG,
    ORIGIN_RE,
    PAGE_CSP,
    PROJECT_ROOT,
    ConfigError,
    resolve_config,
)
from .idtokens import SigningKey
from .state import EXTENSION_KEY, AppState
from .tokens import AccessPolicy, load_secret


def _answer_to_server_too() -> None:
    """Relocated (the pytest plugin runs this package as ``pytest_authfetch.mockserver``),
    let ``server.errors`` name this package's module in this process.

    ``page.py`` still imports it absolutely; everything else here is relative.
    Remove this once ``page.py`` says ``from .errors import json_error``.
    """
    if __name__ == "server" or "server" in sys.modules:
        return
    sys.modules["server"] = sys.modules[__name__]
    sys.modules["server.errors"] = importlib.import_module(".errors", __name__)


_answer_to_server_too()

__all__ = ["DEFAULT_CONFIG", "ORIGIN_RE", "PAGE_CSP", "PROJECT_ROOT", "ConfigError", "create_app"]

# Python's mimetypes table may lack these; browsers insist on the right types.
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/toml", ".toml")

CORS_PREFIXES = ("/auth/", "/api/", "/oauth/token", "/oauth/revoke")  # with ALLOW_ORIGINS


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app; ``test_config`` overrides the defaults (tests, CLI).

    Raises :class:`ConfigError` for settings or files it cannot start with.
    """
    app = Flask(__name__, static_folder=None, instance_path=str(PROJECT_ROOT / "instance"))
    app.config.from_mapping(DEFAULT_CONFIG)
    if test_config:
        app.config.from_mapping(test_config)
    resolve_config(app)

    from . import api, auth, db, errors, oidc, openapi, page, testing

    db.init_db(app)
    app.extensions[EXTENSION_KEY] = AppState(
        access=AccessPolicy(
            secret=load_secret(app.config["SECRET_FILE"]),
            issuer=app.config["JWT_ISSUER"],
            audience=app.config["JWT_AUDIENCE"],
            ttl=int(app.config["ACCESS_TTL"]),
            leeway=float(app.config["JWT_LEEWAY"]),
        ),
        dummy_hash=generate_password_hash(
            "not-a-password", method=app.config["PASSWORD_HASH_METHOD"]
        ),
        signing_key=SigningKey(app.config["SIGNING_KEY_FILE"]),
    )
    errors.init_app(app)
    dpop.init_app(
        app,
        require_nonce=bool(app.config["DPOP_NONCE"]),
        window=float(app.config["DPOP_IAT_WINDOW"]),
    )
    app.register_blueprint(page.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(oidc.bp)
    app.register_blueprint(openapi.bp)
    if app.config["TESTING_ROUTES"]:
        app.register_blueprint(testing.bp)
    ratelimit.init_app(app)
    if app.config["ALLOW_ORIGINS"]:
        _init_cors(app)
    return app


def _init_cors(app: Flask) -> None:
    """CORS for ``ALLOW_ORIGINS`` on /auth, /api and the token and revocation endpoints.

    A page may send ``DPoP`` proofs and read the ``DPoP-Nonce`` it is given.

    Their answers all vary on ``Origin``. (Discovery and JWKS are open to every
    origin: ``server/oidc.py`` sets their header.)
    """
    CORS(
        app,
        resources=[_cors_pattern(prefix) for prefix in CORS_PREFIXES],
        origins=list(app.config["ALLOW_ORIGINS"]),
        allow_headers=["Authorization", "Content-Type", "DPoP"],
        expose_headers=["WWW-Authenticate", "Retry-After", "DPoP-Nonce"],
        methods=["GET", "POST", "OPTIONS"],
        max_age=600,
        vary_header=False,  # added below to every answer, not only to the allowed origins'
    )

    @app.after_request
    def _vary_on_origin(response: Response) -> Response:
        """A cache must not serve one origin's answer (CORS headers or none) to another."""
        if request.path.startswith(CORS_PREFIXES):
            response.vary.add("Origin")
        return response


def _cors_pattern(prefix: str) -> str:
    """flask-cors's resource pattern: a folder and everything under it, or one path."""
    return f"{prefix}.*" if prefix.endswith("/") else f"{prefix}$"
