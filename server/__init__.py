"""authfetch demo server: the page, its self-hosted assets, and the token-issuing mock API."""

from __future__ import annotations

import mimetypes
import re
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.security import generate_password_hash

from server.state import EXTENSION_KEY, AppState
from server.tokens import AccessPolicy, load_secret

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Python's mimetypes table may lack these; browsers insist on the right types.
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/toml", ".toml")

PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; connect-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
LOGIN_RATE_LIMIT = "10 per minute"
TESTING_LOGIN_RATE_LIMIT = "1000 per minute"
ORIGIN_RE = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")

DEFAULT_CONFIG: dict[str, Any] = {
    "PROJECT_ROOT": str(PROJECT_ROOT),
    "VENDOR_DIR": str(PROJECT_ROOT / "vendor"),
    "BUILD_DIR": str(PROJECT_ROOT / "build"),  # authfetch.tar.gz, built by the set-up
    "ACCESS_TTL": 30,  # seconds; short so a person watching the demo sees refreshes
    "REFRESH_TTL": 8 * 3600,  # absolute lifetime of a login; rotation never extends it
    "IDLE_TTL": 30 * 60,  # a login unused (no refresh) this long ends
    "REUSE_GRACE": 10.0,  # a used refresh token may come back this long (lost response)
    "DATABASE": None,  # None: <instance folder>/authfetch.sqlite3
    "SECRET_FILE": None,  # None: "<DATABASE>.secret"; $AUTHFETCH_SECRET wins over both
    "ALLOW_ORIGINS": [],  # CORS origins for /auth/* and /api/*; none by default
    "TESTING_ROUTES": False,  # register /__test__/*
    "JWT_ISSUER": "authfetch",
    "JWT_AUDIENCE": "authfetch-api",
    "JWT_LEEWAY": 5,  # seconds of clock skew tolerated on exp / iat / nbf
    "LOGIN_RATE_LIMIT": None,  # None: 10 per minute, or 1000 per minute with TESTING_ROUTES
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_HEADERS_ENABLED": False,  # only Retry-After, and only on the 429
    "PASSWORD_HASH_METHOD": "scrypt",  # werkzeug's default scrypt parameters
    "MAX_CONTENT_LENGTH": 16 * 1024,
    "PAGE_CSP": PAGE_CSP,
}


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app; ``test_config`` overrides the defaults (tests, CLI)."""
    app = Flask(__name__, static_folder=None, instance_path=str(PROJECT_ROOT / "instance"))
    app.config.from_mapping(DEFAULT_CONFIG)
    if test_config:
        app.config.from_mapping(test_config)
    _resolve_config(app)

    from server import api, auth, db, errors, page, testing

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
    )
    errors.init_app(app)
    app.register_blueprint(page.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    if app.config["TESTING_ROUTES"]:
        app.register_blueprint(testing.bp)
    _init_rate_limit(app)
    if app.config["ALLOW_ORIGINS"]:
        CORS(
            app,
            resources=[r"/auth/.*", r"/api/.*"],
            origins=list(app.config["ALLOW_ORIGINS"]),
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["WWW-Authenticate", "Retry-After"],
            methods=["GET", "POST", "OPTIONS"],
            max_age=600,
        )
    return app


def _resolve_config(app: Flask) -> None:
    """Fill the derived defaults and refuse settings that cannot work."""
    config = app.config
    if not config["DATABASE"]:
        config["DATABASE"] = str(Path(app.instance_path) / "authfetch.sqlite3")
    if not config["SECRET_FILE"]:
        config["SECRET_FILE"] = config["DATABASE"] + ".secret"
    if not config["LOGIN_RATE_LIMIT"]:
        testing = config["TESTING_ROUTES"]
        config["LOGIN_RATE_LIMIT"] = TESTING_LOGIN_RATE_LIMIT if testing else LOGIN_RATE_LIMIT
    for key in ("ACCESS_TTL", "REFRESH_TTL", "IDLE_TTL"):
        if not config[key] >= 1:
            raise ValueError(f"{key} must be at least 1 second")
    if not config["REUSE_GRACE"] >= 0:
        raise ValueError("REUSE_GRACE must be >= 0")
    for origin in config["ALLOW_ORIGINS"]:
        if not ORIGIN_RE.fullmatch(origin):
            raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")


def _init_rate_limit(app: Flask) -> None:
    """Limit ``POST /auth/login`` per client address (``LOGIN_RATE_LIMIT``), answered as 429."""
    limiter = Limiter(key_func=get_remote_address)
    limiter.init_app(app)
    app.view_functions["auth.login"] = limiter.limit(
        lambda: current_app.config["LOGIN_RATE_LIMIT"],
        methods=["POST"],
        error_message="too many login attempts; try again later",
    )(app.view_functions["auth.login"])
    app.extensions[EXTENSION_KEY].limiter = limiter

    @app.after_request
    def _retry_after(response: Response) -> Response:
        """Tell a rate-limited client when to come back."""
        limit = limiter.current_limit if response.status_code == 429 else None
        if limit is not None:
            response.headers["Retry-After"] = str(max(1, limit.reset_at - int(time.time())))
        return response
