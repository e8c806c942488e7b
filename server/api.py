"""The protected API: ``/api/me`` and ``/api/items``; every route needs a Bearer token.

A request without Bearer credentials gets 401 with ``WWW-Authenticate: Bearer``;
a malformed, forged, expired or revoked token gets 401 with
``WWW-Authenticate: Bearer error="invalid_token"``; both with a JSON body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jwt
from flask import Blueprint, Response, current_app, g, jsonify, request

from server.db import get_db
from server.errors import json_error, json_object
from server.state import get_state
from server.tokens import verify_access_token

bp = Blueprint("api", __name__, url_prefix="/api")

REALM = 'Bearer realm="authfetch"'
MAX_TITLE_CHARS = 200
UNSAFE_IN_QUOTES = re.compile(r'[^\x20-\x7e]|["\\]')  # keep a quoted-string valid


@dataclass(frozen=True)
class Principal:
    """Who the access token speaks for."""

    user_id: int
    username: str
    family_id: str
    expires_at: float
    session_expires_at: float


def _unauthorized(description: str, *, invalid_token: bool = True) -> Response:
    """A 401 with the RFC 6750 challenge and a JSON body."""
    if invalid_token:
        quoted = UNSAFE_IN_QUOTES.sub("", description.replace('"', "'"))
        challenge = f'{REALM}, error="invalid_token", error_description="{quoted}"'
        return json_error(401, "invalid_token", description, {"WWW-Authenticate": challenge})
    return json_error(401, "unauthorized", description, {"WWW-Authenticate": REALM})


def authenticate() -> Principal | Response:
    """The principal of the request's Bearer token, or the 401 to answer."""
    headers = request.headers.getlist("Authorization")
    if not headers:
        return _unauthorized("bearer token required", invalid_token=False)
    parts = headers[0].split()
    if not parts or parts[0].lower() != "bearer":
        return _unauthorized("bearer token required", invalid_token=False)
    if len(headers) != 1 or len(parts) != 2:
        return _unauthorized("malformed Authorization header")
    state = get_state()
    now = state.clock.now()
    try:
        claims = verify_access_token(state.access, parts[1], now)
    except jwt.PyJWTError as rejected:
        return _unauthorized(f"access token rejected: {rejected}")
    row = (
        get_db()
        .execute(
            "SELECT u.id, u.username, f.revoked_at, f.expires_at FROM families f"
            " JOIN users u ON u.id = f.user_id WHERE f.id = ?",
            (claims["fam"],),
        )
        .fetchone()
    )
    if row is None or str(row["id"]) != claims["sub"]:
        return _unauthorized("unknown session")
    if row["revoked_at"] is not None or now >= row["expires_at"]:
        return _unauthorized("session ended")
    return Principal(row["id"], row["username"], claims["fam"], claims["exp"], row["expires_at"])


@bp.before_request
def _require_bearer() -> Response | None:
    """Authenticate every API request (CORS preflights excepted)."""
    if request.method == "OPTIONS":
        return None
    result = authenticate()
    if isinstance(result, Response):
        return result
    g.principal = result
    return None


@bp.after_request
def _count_and_no_store(response: Response) -> Response:
    """Count answers (not preflights) for the test stats; per-user data is never cached."""
    stats, status = get_state().stats, response.status_code
    if request.method != "OPTIONS" and (status == 401 or status < 400):
        stats.incr("api_401" if status == 401 else "api_ok")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/me")
def me() -> Response:
    """``{"username", "family", "expires_at", "session_expires_at", "idle_timeout"}``.

    ``expires_at`` is the access token's ``exp``; ``session_expires_at`` the
    login's absolute end and ``idle_timeout`` the seconds without a refresh
    after which it ends (read-only, for the demo's token panel).
    """
    principal: Principal = g.principal
    return jsonify(
        username=principal.username,
        family=principal.family_id,
        expires_at=principal.expires_at,
        session_expires_at=principal.session_expires_at,
        idle_timeout=current_app.config["IDLE_TTL"],
    )


@bp.get("/items")
def list_items() -> Response:
    """The user's items, oldest first: ``[{"id", "title", "created_at"}, …]``."""
    rows = (
        get_db()
        .execute(
            "SELECT id, title, created_at FROM items WHERE user_id = ? ORDER BY id",
            (g.principal.user_id,),
        )
        .fetchall()
    )
    return jsonify([dict(row) for row in rows])


@bp.post("/items")
def create_item() -> tuple[Response, int] | Response:
    """Create ``{"title"}`` (string, 1 to 200 characters after trimming) → 201 item."""
    title = json_object().get("title")
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= MAX_TITLE_CHARS:
        return json_error(
            400, "invalid_request", f"title must be a string of 1-{MAX_TITLE_CHARS} characters"
        )
    title = title.strip()
    now = get_state().clock.now()
    cursor = get_db().execute(
        "INSERT INTO items (user_id, title, created_at) VALUES (?, ?, ?)",
        (g.principal.user_id, title, now),
    )
    item = {"id": cursor.lastrowid, "title": title, "created_at": now}
    return jsonify(item), 201
