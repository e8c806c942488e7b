"""Authorization codes of the OAuth 2.0 provider: issue, and exchange once (with PKCE).

A code is 256 random bits (``secrets.token_urlsafe(32)``); the database stores
only its SHA-256, with everything it is bound to: the client, the exact
redirect URI, the PKCE S256 challenge, the nonce, the granted scope, the user
and when they signed in. It lives ``CODE_TTL`` seconds of server time.

An exchange runs in one ``BEGIN IMMEDIATE`` transaction and marks the code used
whatever the outcome, so a code is presented successfully at most once. A code
presented again revokes the sign-in (token family) its first exchange opened
(RFC 6749 §4.1.2: "the authorization server … SHOULD revoke … all tokens
previously issued based on that authorization code").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from .db import immediate
from .sessions import Grant, InvalidGrant, RefreshPolicy, revoke_family_locked, start_locked
from .tokens import hash_refresh_token, new_refresh_token


@dataclass(frozen=True)
class CodeRequest:
    """What a code is bound to."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    scope: str
    user_id: int
    auth_time: float


@dataclass(frozen=True)
class Exchanged:
    """A successful exchange: the new sign-in and what its ID token needs."""

    grant: Grant
    username: str
    client_id: str
    nonce: str | None
    scope: str
    auth_time: float


@dataclass(frozen=True)
class OidcSession:
    """The provider's record of a sign-in (a family opened by a code exchange)."""

    username: str
    client_id: str
    scope: str
    auth_time: float


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of ``verifier``: BASE64URL(SHA256(ASCII(verifier)))."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def issue(conn: sqlite3.Connection, request: CodeRequest, now: float, ttl: float) -> str:
    """Store a new code for ``request``, valid ``ttl`` seconds from ``now``; return it."""
    code = new_refresh_token()
    with immediate(conn):
        conn.execute(
            "INSERT INTO auth_codes (hash, client_id, redirect_uri, code_challenge, nonce, scope,"
            " user_id, auth_time, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                hash_refresh_token(code),
                request.client_id,
                request.redirect_uri,
                request.code_challenge,
                request.nonce,
                request.scope,
                request.user_id,
                request.auth_time,
                now + ttl,
            ),
        )
    return code


def exchange(
    conn: sqlite3.Connection,
    code: str,
    *,
    client_id: str,
    redirect_uri: str,
    verifier: str,
    clock: Callable[[], float],
    policy: RefreshPolicy,
    jkt: str | None = None,
) -> Exchanged:
    """Exchange ``code`` for a new sign-in; raises :class:`InvalidGrant` with the reason.

    The code is spent by this call whatever happens (committed before raising). The new
    sign-in is bound to the DPoP key ``jkt`` when given.
    """
    with immediate(conn):
        outcome = _exchange_locked(conn, hash_refresh_token(code), clock(), policy,
                                   client_id, redirect_uri, verifier, jkt)  # fmt: skip
    if isinstance(outcome, InvalidGrant):
        raise outcome
    return outcome


def _exchange_locked(
    conn: sqlite3.Connection,
    digest: str,
    now: float,
    policy: RefreshPolicy,
    client_id: str,
    redirect_uri: str,
    verifier: str,
    jkt: str | None,
) -> Exchanged | InvalidGrant:
    """The body of :func:`exchange`, run while holding the write lock."""
    row = conn.execute(
        "SELECT c.*, u.username FROM auth_codes c JOIN users u ON u.id = c.user_id"
        " WHERE c.hash = ?",
        (digest,),
    ).fetchone()
    if row is None:
        return InvalidGrant("unknown authorization code")
    if row["used_at"] is not None:
        if row["family_id"] is not None:
            revoke_family_locked(conn, row["family_id"], now, "authorization code reused")
        return InvalidGrant("authorization code already used; the sign-in it gave is revoked")
    conn.execute("UPDATE auth_codes SET used_at = ? WHERE hash = ?", (now, digest))
    if now >= row["expires_at"]:
        return InvalidGrant("authorization code expired")
    if row["client_id"] != client_id:
        return InvalidGrant("authorization code issued to another client")
    if row["redirect_uri"] != redirect_uri:
        return InvalidGrant("redirect_uri differs from the authorization request's")
    if not hmac.compare_digest(s256(verifier), row["code_challenge"]):
        return InvalidGrant("PKCE verification failed: code_verifier does not match")
    grant = start_locked(conn, row["user_id"], now, policy, jkt)
    conn.execute("UPDATE auth_codes SET family_id = ? WHERE hash = ?", (grant.family_id, digest))
    conn.execute(
        "INSERT INTO oidc_sessions (family_id, client_id, scope, auth_time) VALUES (?, ?, ?, ?)",
        (grant.family_id, row["client_id"], row["scope"], row["auth_time"]),
    )
    return Exchanged(
        grant, row["username"], row["client_id"], row["nonce"], row["scope"], row["auth_time"]
    )


def oidc_session(conn: sqlite3.Connection, family_id: str) -> OidcSession | None:
    """The provider's record of family ``family_id``; None for a JSON-dialect login."""
    row = conn.execute(
        "SELECT u.username, o.client_id, o.scope, o.auth_time FROM oidc_sessions o"
        " JOIN families f ON f.id = o.family_id JOIN users u ON u.id = f.user_id"
        " WHERE o.family_id = ?",
        (family_id,),
    ).fetchone()
    if row is None:
        return None
    return OidcSession(row["username"], row["client_id"], row["scope"], row["auth_time"])
