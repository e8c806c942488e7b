"""The server's configuration: every default in one place, and the checks run at start.

``DEFAULT_CONFIG`` is the one source of defaults: ``create_app`` starts from it
and ``python -m server`` derives its flags' defaults from it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent

PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; connect-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
LOGIN_RATE_LIMIT = "10 per minute"
TESTING_LOGIN_RATE_LIMIT = "1000 per minute"
#: The demo page on both interpreters: registered redirect URIs of the demo client by default.
DEFAULT_REDIRECT_URIS = ("/", "/?interpreter=mpy")
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
    # The OAuth 2.0 / OpenID Connect provider (server/oidc.py). A URI starting with "/" is
    # relative to the issuer (the origin the request came to); any other is absolute.
    "OIDC_CLIENT_ID": "authfetch-demo",  # the one registered client: public, PKCE S256
    "REDIRECT_URIS": list(DEFAULT_REDIRECT_URIS),  # --redirect-uri adds to these
    "POST_LOGOUT_REDIRECT_URIS": list(DEFAULT_REDIRECT_URIS),  # plus every REDIRECT_URIS
    "SIGNING_KEY_FILE": None,  # None: "<DATABASE>.rsa-key.pem", the ID tokens' RS256 key
    "CODE_TTL": 60,  # seconds an authorization code may be exchanged (once)
    "ID_TOKEN_TTL": 600,  # seconds an ID token is valid
    # DPoP (RFC 9449, server/dpop.py): proofs are checked whenever a request carries one.
    "DPOP_NONCE": False,  # require a server nonce in every proof from the start
    "DPOP_IAT_WINDOW": 60,  # seconds a proof's iat may differ from the server clock
}


class ConfigError(ValueError):
    """A setting or a file the server cannot start with; the message says which and why."""


def resolve_config(app: Flask) -> None:
    """Fill the derived defaults and refuse settings that cannot work (:class:`ConfigError`)."""
    config = app.config
    if not config["DATABASE"]:
        config["DATABASE"] = str(Path(app.instance_path) / "authfetch.sqlite3")
    if not config["SECRET_FILE"]:
        config["SECRET_FILE"] = config["DATABASE"] + ".secret"
    if not config["SIGNING_KEY_FILE"]:
        config["SIGNING_KEY_FILE"] = config["DATABASE"] + ".rsa-key.pem"
    if not config["LOGIN_RATE_LIMIT"]:
        testing = config["TESTING_ROUTES"]
        config["LOGIN_RATE_LIMIT"] = TESTING_LOGIN_RATE_LIMIT if testing else LOGIN_RATE_LIMIT
    for key in ("ACCESS_TTL", "REFRESH_TTL", "IDLE_TTL"):
        if not config[key] >= 1:
            raise ConfigError(f"{key} must be at least 1 second")
    if not config["REUSE_GRACE"] >= 0:
        raise ConfigError("REUSE_GRACE must be >= 0")
    for origin in config["ALLOW_ORIGINS"]:
        if not ORIGIN_RE.fullmatch(origin):
            raise ConfigError(f"not an origin (scheme://host[:port]): {origin!r}")
    for key in ("REDIRECT_URIS", "POST_LOGOUT_REDIRECT_URIS"):
        for uri in config[key]:
            problem = redirect_uri_problem(uri)
            if problem:
                raise ConfigError(f"{key}: {problem}")
    for key in ("CODE_TTL", "ID_TOKEN_TTL", "DPOP_IAT_WINDOW"):
        if not config[key] >= 1:
            raise ConfigError(f"{key} must be at least 1 second")


def redirect_uri_problem(uri: str) -> str | None:
    """What is wrong with a redirect URI to register (``/path`` or absolute), or None.

    A relative one is a path on the issuer's origin (``/`` then no second ``/``);
    an absolute one has an ``http``/``https`` scheme and a host. Neither may carry
    a fragment (RFC 6749 §3.1.2).
    """
    if not isinstance(uri, str) or not uri:
        return f"not a URI: {uri!r}"
    if "#" in uri:
        return f"a redirect URI must not have a fragment: {uri!r}"
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in uri):
        return f"a redirect URI must not contain spaces or control characters: {uri!r}"
    if uri.startswith("/"):
        if uri.startswith("//"):
            return f"a relative redirect URI is a path, not //host: {uri!r}"
        return None
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"not /path or an absolute http(s) URI: {uri!r}"
    return None
