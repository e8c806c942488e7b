"""The token endpoints: ``/auth/login``, ``/auth/refresh``, ``/auth/logout``.

Token responses are ``{"access_token", "refresh_token", "token_type": "Bearer",
"expires_in"}`` and, like every answer of this blueprint, ``Cache-Control:
no-store``. A refused refresh is 400 ``{"error": "invalid_grant"}``.

DPoP (RFC 9449): a login or refresh with a valid ``DPoP`` proof gets
``"token_type": "DPoP"`` and an access token bound to the proof's key
(``cnf.jkt``); a login with a proof binds its refresh-token family to that key.
A bound refresh token refreshes only with a proof of that key, checked before
anything is rotated (:func:`refresh_proof`). A bad proof is 400
``invalid_dpop_proof``; a missing nonce 400 ``use_dpop_nonce`` (server/dpop.py).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from werkzeug.security import check_password_hash

from . import dpop, sessions
from .db import get_db
from .errors import json_error, json_object
from .ratelimit import LOGIN_LIMITED, LOGIN_SCOPE, limiter, login_limit
from .sessions import Grant, InvalidGrant
from .state import get_state
from .tokens import issue_access_token

bp = Blueprint("auth", __name__, url_prefix="/auth")

MAX_CREDENTIAL_CHARS = 1024


@bp.after_request
def _no_store(response: Response) -> Response:
    """Tokens must never sit in a cache."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def refresh_policy() -> sessions.RefreshPolicy:
    """Session lifetimes from the app config."""
    config = current_app.config
    return sessions.RefreshPolicy(
        absolute_ttl=config["REFRESH_TTL"],
        idle_ttl=config["IDLE_TTL"],
        reuse_grace=config["REUSE_GRACE"],
    )


def _token_response(grant: Grant, proof: dpop.Proof | None) -> Response:
    """The JSON answer of login and refresh (DPoP-bound when the request had a proof)."""
    policy = get_state().access
    jkt = None if proof is None else proof.jkt
    access = issue_access_token(policy, str(grant.user_id), grant.family_id, grant.issued_at, jkt)
    return jsonify(
        access_token=access,
        refresh_token=grant.refresh_token,
        token_type="Bearer" if jkt is None else "DPoP",
        expires_in=policy.ttl,
    )


def _string_field(body: dict[str, Any], name: str) -> str | None:
    """``body[name]`` if it is a non-empty string of sane length, else None."""
    value = body.get(name)
    if isinstance(value, str) and 0 < len(value) <= MAX_CREDENTIAL_CHARS:
        return value
    return None


@bp.post("/login")
@limiter.shared_limit(login_limit, LOGIN_SCOPE, methods=["POST"], error_message=LOGIN_LIMITED)
def login() -> Response:
    """Check ``{"username", "password"}`` and open a session (a new token family).

    Unknown user and wrong password get the same 401 after the same work: an
    unknown user's password is checked against a dummy hash of the same cost.
    Every attempt counts against the client address's ``LOGIN_RATE_LIMIT`` (429).
    """
    body = json_object()
    username, password = _string_field(body, "username"), _string_field(body, "password")
    if username is None or password is None:
        return json_error(400, "invalid_request", "username and password (strings) required")
    proof = dpop.check_request(dpop.TOKEN)
    user_id = check_credentials(username, password)
    if user_id is None:
        return json_error(401, "invalid_credentials", "unknown user or wrong password")
    state = get_state()
    jkt = None if proof is None else proof.jkt
    grant = sessions.start(get_db(), user_id, state.clock.now(), refresh_policy(), jkt)
    state.stats.incr("login")
    return _token_response(grant, proof)


def check_credentials(username: str, password: str) -> int | None:
    """The user's id if ``password`` is theirs, else None, after the same work either way.

    An unknown user's password is checked against a dummy hash of the same cost.
    The caller counts a success in the ``login`` stat.
    """
    user = (
        get_db()
        .execute("SELECT id, password_hash FROM users WHERE username = ?", (username,))
        .fetchone()
    )
    stored_hash = user["password_hash"] if user else get_state().dummy_hash
    password_ok = check_password_hash(stored_hash, password)
    if user is None or not password_ok:
        return None
    user_id: int = user["id"]
    return user_id


@bp.post("/refresh")
def refresh() -> Response:
    """Rotate ``{"refresh_token"}``: always a new refresh token, or 400 ``invalid_grant``."""
    presented = _string_field(json_object(), "refresh_token")
    if presented is None:
        get_state().stats.incr("refresh_failed")
        return json_error(400, "invalid_request", "refresh_token (string) required")
    proof = refresh_proof(presented)
    try:
        grant = rotate_counted(presented)
    except InvalidGrant as refused:
        return json_error(400, "invalid_grant", refused.description)
    return _token_response(grant, proof)


def refresh_proof(presented: str) -> dpop.Proof | None:
    """The DPoP proof of a refresh of ``presented``, checked before anything is rotated.

    The one check of both dialects. A token whose family is bound to a key needs a
    valid proof made with that key: without one, or with another key's, this
    raises :class:`dpop.DPoPError` (``invalid_dpop_proof``, counted as
    ``refresh_failed``) and the family is left as it was, so a stolen bound token
    neither rotates nor revokes the owner's session. A proof with an unbound token
    binds the new access token only (the family stays unbound).
    """
    bound = sessions.bound_jkt(get_db(), presented)
    try:
        proof = dpop.check_request(dpop.TOKEN, jkt=bound)
        if proof is None and bound is not None:
            raise dpop.DPoPError(
                dpop.INVALID_PROOF,
                "this refresh token is bound to a DPoP key: a DPoP proof made with that key "
                "is required",
                dpop.TOKEN,
            )
    except dpop.DPoPError as refused:
        if refused.error == dpop.INVALID_PROOF:
            get_state().stats.incr("refresh_failed")
        raise
    return proof


def rotate_counted(presented: str) -> Grant:
    """Rotate ``presented`` (:func:`sessions.rotate`) and count the outcome in the stats.

    The one refresh of both dialects: ``/auth/refresh`` and the ``refresh_token``
    grant of ``/oauth/token``. Raises :class:`InvalidGrant` (counted as
    ``refresh_failed``, and ``reuse_detected`` for reuse).
    """
    state = get_state()
    try:
        grant = sessions.rotate(get_db(), presented, state.clock.now, refresh_policy())
    except InvalidGrant as refused:
        state.stats.incr("refresh_failed")
        if refused.reuse:
            state.stats.incr("reuse_detected")
        raise
    state.stats.incr("refresh_ok")
    return grant


@bp.post("/logout")
def logout() -> Response:
    """Revoke the family of ``{"refresh_token"}``: 204, also for an unknown token.

    Logging out is idempotent: an unknown, used or already revoked token still
    gets 204, so a client can always clear its state; only a body without a
    ``refresh_token`` string is a 400.
    """
    presented = _string_field(json_object(), "refresh_token")
    if presented is None:
        return json_error(400, "invalid_request", "refresh_token (string) required")
    revoke_counted(presented, "logout")
    return Response(status=204)


def revoke_counted(presented: str, reason: str) -> None:
    """Revoke the family of refresh token ``presented`` if it is known (counted as ``revoked``)."""
    state = get_state()
    if sessions.revoke_by_token(get_db(), presented, state.clock.now(), reason):
        state.stats.incr("revoked")
