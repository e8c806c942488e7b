"""The protected API: ``/api/me`` and ``/api/items``; every route needs a Bearer token.

Every view is wrapped in :func:`bearer_required`, which passes it the
request's :class:`Principal`. A request without Bearer credentials gets 401
with ``WWW-Authenticate: Bearer``; a malformed, forged, expired or revoked
token gets 401 with ``WWW-Authenticate: Bearer error="invalid_token"``; both
with a JSON body.

DPoP (RFC 9449): a token bound to a key (claim ``cnf.jkt``) is accepted only as
``Authorization: DPoP <token>`` with a valid ``DPoP`` proof of that key for this
request (``htm``, ``htu``, ``ath``). Otherwise 401 with ``WWW-Authenticate:
DPoP error="invalid_token"`` (a bound token sent as Bearer, an unbound one sent
as DPoP, no proof, or a bad token), ``error="invalid_dpop_proof"`` (a bad proof)
or ``error="use_dpop_nonce"`` plus ``DPoP-Nonce`` (a nonce is required).
Unbound tokens sent as Bearer work as before.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import Unauthorized

from . import dpop, sessions
from .db import get_db
from .errors import json_error, json_object
from .state import get_state
from .tokens import bound_jkt, verify_access_token

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


PrincipalView = Callable[[Principal], ResponseReturnValue]  # a view that needs the principal


def _unauthorized(description: str, *, invalid_token: bool = True) -> Unauthorized:
    """The 401 to raise: the RFC 6750 challenge and a JSON body."""
    if invalid_token:
        quoted = UNSAFE_IN_QUOTES.sub("", description.replace('"', "'"))
        challenge = f'{REALM}, error="invalid_token", error_description="{quoted}"'
        answer = json_error(401, "invalid_token", description, {"WWW-Authenticate": challenge})
    else:
        answer = json_error(401, "unauthorized", description, {"WWW-Authenticate": REALM})
    return Unauthorized(description, response=answer)


def _dpop_invalid_token(description: str) -> dpop.DPoPError:
    """The 401 with ``WWW-Authenticate: DPoP error="invalid_token"`` to raise."""
    return dpop.DPoPError(dpop.INVALID_TOKEN, description, dpop.API)


def authenticate() -> Principal:
    """The principal of the request's Bearer or DPoP token; raises the 401 if none.

    ``Unauthorized`` (a Bearer challenge) or :class:`dpop.DPoPError` (a DPoP one).
    """
    headers = request.headers.getlist("Authorization")
    if not headers:
        raise _unauthorized("bearer token required", invalid_token=False)
    parts = headers[0].split()
    scheme = parts[0].lower() if parts else ""
    if scheme not in ("bearer", "dpop"):
        raise _unauthorized("bearer token required", invalid_token=False)
    as_dpop = scheme == "dpop"
    refuse: Callable[[str], Exception] = _dpop_invalid_token if as_dpop else _unauthorized
    if len(headers) != 1 or len(parts) != 2:
        raise refuse("malformed Authorization header")
    state = get_state()
    now = state.clock.now()
    try:
        claims = verify_access_token(state.access, parts[1], now)
        jkt = bound_jkt(claims)
    except jwt.PyJWTError as rejected:
        raise refuse(f"access token rejected: {rejected}") from None
    session = sessions.live_session(get_db(), claims["fam"], now)
    if session is None or str(session.user_id) != claims["sub"]:
        raise refuse("unknown session or session ended")
    if not as_dpop and jkt is not None:
        raise _dpop_invalid_token(
            "this access token is bound to a DPoP key: send it as Authorization: DPoP "
            "with a DPoP proof"
        )
    if as_dpop:
        if jkt is None:
            raise refuse("this access token is not DPoP-bound: send it as Bearer")
        if dpop.check_request(dpop.API, access_token=parts[1], jkt=jkt) is None:
            raise refuse("a DPoP proof (DPoP header) is required with a DPoP-bound token")
    return Principal(
        session.user_id, session.username, claims["fam"], claims["exp"], session.expires_at
    )


def bearer_required(view: PrincipalView) -> Callable[[], ResponseReturnValue]:
    """Run ``view`` with the request's :class:`Principal`; answer 401 without a valid token."""

    @functools.wraps(view)
    def guarded() -> ResponseReturnValue:
        """Authenticate, then call the view."""
        return view(authenticate())

    return guarded


@bp.after_request
def _count_and_no_store(response: Response) -> Response:
    """Count answers (not preflights) for the test stats; per-user data is never cached."""
    stats, status = get_state().stats, response.status_code
    if request.method != "OPTIONS" and (status == 401 or status < 400):
        stats.incr("api_401" if status == 401 else "api_ok")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/me")
@bearer_required
def me(principal: Principal) -> Response:
    """``{"username", "family", "expires_at", "session_expires_at", "idle_timeout"}``.

    ``expires_at`` is the access token's ``exp``; ``session_expires_at`` the
    login's absolute end and ``idle_timeout`` the seconds without a refresh
    after which it ends (read-only, for the demo's token panel).
    """
    return jsonify(
        username=principal.username,
        family=principal.family_id,
        expires_at=principal.expires_at,
        session_expires_at=principal.session_expires_at,
        idle_timeout=current_app.config["IDLE_TTL"],
    )


@bp.get("/items")
@bearer_required
def list_items(principal: Principal) -> Response:
    """The user's items, oldest first: ``[{"id", "title", "created_at"}, …]``."""
    rows = (
        get_db()
        .execute(
            "SELECT id, title, created_at FROM items WHERE user_id = ? ORDER BY id",
            (principal.user_id,),
        )
        .fetchall()
    )
    return jsonify([dict(row) for row in rows])


@bp.post("/items")
@bearer_required
def create_item(principal: Principal) -> tuple[Response, int] | Response:
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
        (principal.user_id, title, now),
    )
    item = {"id": cursor.lastrowid, "title": title, "created_at": now}
    return jsonify(item), 201
