"""Refresh-token families: login, rotation with reuse detection, revocation.

A *family* is one login. Its refresh tokens form a chain; at most one of them is
*live* (``used_at IS NULL``) at any time, and every check happens inside one
``BEGIN IMMEDIATE`` transaction, so concurrent refreshes are serialised by
SQLite and the rotation itself is a compare-and-swap on ``used_at``.

Presenting a refresh token ``T`` at server time ``now``:

1. unknown hash → ``invalid_grant``;
2. family revoked → ``invalid_grant``;
3. past the family's absolute expiry (login + refresh TTL) → revoke, ``invalid_grant``;
4. ``T`` already used, and either it was *retired* (replaced by a grace
   re-issue without ever being presented itself, so it has no successor) or
   ``now`` lies outside ``[T.used_at, T.used_at + grace)`` → **reuse**: revoke
   the family (its refresh tokens and, through the ``fam`` claim, its access
   tokens), ``invalid_grant``. A ``used_at`` in the future (the clock stepped
   back) is outside the window: fail closed;
5. idle for the idle TTL since the family's last refresh (or login) → revoke,
   ``invalid_grant``;
6. ``T`` already used, inside its window → **grace re-issue**: the family's live
   token (whoever holds it) is retired (``used_at = now``, no successor) and a
   fresh successor of ``T`` is issued. ``T.used_at`` stays its first use, so
   the window is never renewed, and the retired token has no window at all. We
   cannot hand back the successor issued the first time: only its hash is
   stored;
7. otherwise **rotate**: mark ``T`` used (``UPDATE … WHERE used_at IS NULL``, one
   row or nothing) and issue its successor.

So a thief and the owner who both hold ``T`` can take turns only until ``T``'s
window closes: after that, whichever of them presents anything but the one
live token revokes the family.

Rotation never moves the absolute expiry.

A family opened with a DPoP proof is *bound* to that key's thumbprint (table
``dpop_bindings``): the token endpoints check :func:`bound_jkt` of a presented
token, and the proof, before they call :func:`rotate`, so a bound token presented
without its key changes nothing here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from .db import immediate
from .tokens import hash_refresh_token, new_id, new_refresh_token


@dataclass(frozen=True)
class RefreshPolicy:
    """Lifetimes of a login, in seconds."""

    absolute_ttl: float
    idle_ttl: float
    reuse_grace: float


@dataclass(frozen=True)
class Grant:
    """A successful login or refresh: whose session, and its new refresh token."""

    user_id: int
    family_id: str
    refresh_token: str
    issued_at: float


class InvalidGrant(Exception):
    """The refresh token cannot be used (any reason); ``reuse`` marks reuse detection."""

    def __init__(self, description: str, *, reuse: bool = False) -> None:
        """Keep the human-readable reason and whether it was reuse."""
        super().__init__(description)
        self.description = description
        self.reuse = reuse


def start(
    conn: sqlite3.Connection,
    user_id: int,
    now: float,
    policy: RefreshPolicy,
    jkt: str | None = None,
) -> Grant:
    """Open a new family for ``user_id`` with its first refresh token (bound to ``jkt``)."""
    with immediate(conn):
        return start_locked(conn, user_id, now, policy, jkt)


def start_locked(
    conn: sqlite3.Connection,
    user_id: int,
    now: float,
    policy: RefreshPolicy,
    jkt: str | None = None,
) -> Grant:
    """:func:`start` inside the caller's write transaction (a code exchange's)."""
    family_id, token = new_id(), new_refresh_token()
    conn.execute(
        "INSERT INTO families (id, user_id, created_at, expires_at, last_used_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (family_id, user_id, now, now + policy.absolute_ttl, now),
    )
    _insert_token(conn, token, family_id, None, now)
    if jkt is not None:
        conn.execute("INSERT INTO dpop_bindings (family_id, jkt) VALUES (?, ?)", (family_id, jkt))
    return Grant(user_id, family_id, token, now)


def bound_jkt(conn: sqlite3.Connection, presented: str) -> str | None:
    """The DPoP key thumbprint the family of refresh token ``presented`` is bound to, if any.

    None for an unbound family and for an unknown token (rotation refuses that one).
    """
    row = conn.execute(
        "SELECT b.jkt FROM refresh_tokens t JOIN dpop_bindings b ON b.family_id = t.family_id"
        " WHERE t.hash = ?",
        (hash_refresh_token(presented),),
    ).fetchone()
    return None if row is None else str(row["jkt"])


def rotate(
    conn: sqlite3.Connection, presented: str, clock: Callable[[], float], policy: RefreshPolicy
) -> Grant:
    """Exchange ``presented`` for a successor (see the module docstring for the rules).

    The time is read from ``clock`` once the write lock is held, so timestamps
    follow the order in which concurrent refreshes are serialised. Raises
    :class:`InvalidGrant`; revocations it decides are committed first.
    """
    with immediate(conn):
        outcome = _rotate_locked(conn, hash_refresh_token(presented), clock(), policy)
    if isinstance(outcome, InvalidGrant):
        raise outcome
    return outcome


def _rotate_locked(
    conn: sqlite3.Connection, digest: str, now: float, policy: RefreshPolicy
) -> Grant | InvalidGrant:
    """The body of :func:`rotate`, run while holding the write lock."""
    row = conn.execute(
        "SELECT t.used_at, t.family_id, f.user_id, f.expires_at, f.last_used_at,"
        " f.revoked_at, f.revoked_reason"
        " FROM refresh_tokens t JOIN families f ON f.id = t.family_id WHERE t.hash = ?",
        (digest,),
    ).fetchone()
    if row is None:
        return InvalidGrant("unknown refresh token")
    family_id = row["family_id"]
    if row["revoked_at"] is not None:
        return InvalidGrant(f"session revoked ({row['revoked_reason']})")
    if now >= row["expires_at"]:
        return _revoke_locked(conn, family_id, now, "absolute lifetime exceeded")
    used_at = row["used_at"]
    if used_at is not None and not _inside_grace(conn, digest, used_at, now, policy):
        return _revoke_locked(conn, family_id, now, "refresh token reuse detected", reuse=True)
    if now - row["last_used_at"] >= policy.idle_ttl:
        return _revoke_locked(conn, family_id, now, "idle timeout")
    if used_at is None:
        swapped = conn.execute(
            "UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL",
            (now, digest),
        ).rowcount
        if swapped != 1:  # unreachable under BEGIN IMMEDIATE; never issue a second branch
            return InvalidGrant("refresh token already used")
    else:  # grace re-issue: retire the family's live token, whoever holds it
        conn.execute(
            "UPDATE refresh_tokens SET used_at = ? WHERE family_id = ? AND used_at IS NULL",
            (now, family_id),
        )
    token = new_refresh_token()
    _insert_token(conn, token, family_id, digest, now)
    conn.execute("UPDATE families SET last_used_at = ? WHERE id = ?", (now, family_id))
    return Grant(row["user_id"], family_id, token, now)


def _inside_grace(
    conn: sqlite3.Connection, digest: str, used_at: float, now: float, policy: RefreshPolicy
) -> bool:
    """Whether a used token may be exchanged again: it was exchanged, ``now`` is in its window."""
    if not used_at <= now < used_at + policy.reuse_grace:
        return False
    exchanged = conn.execute(
        "SELECT 1 FROM refresh_tokens WHERE parent_hash = ? LIMIT 1", (digest,)
    ).fetchone()
    return exchanged is not None


def revoke_family_locked(conn: sqlite3.Connection, family_id: str, now: float, reason: str) -> None:
    """Revoke family ``family_id`` inside the caller's write transaction (first reason wins)."""
    _revoke_locked(conn, family_id, now, reason)


def revoke_by_token(conn: sqlite3.Connection, presented: str, now: float, reason: str) -> bool:
    """Revoke the family of any of its refresh tokens; False if the token is unknown."""
    with immediate(conn):
        row = conn.execute(
            "SELECT family_id FROM refresh_tokens WHERE hash = ?",
            (hash_refresh_token(presented),),
        ).fetchone()
        if row is None:
            return False
        _revoke_locked(conn, row["family_id"], now, reason)
    return True


@dataclass(frozen=True)
class LiveSession:
    """A login whose access tokens are honoured: not revoked, not past its absolute end."""

    user_id: int
    username: str
    expires_at: float


def live_session(conn: sqlite3.Connection, family_id: str, now: float) -> LiveSession | None:
    """The login ``family_id`` if its access tokens are still honoured at ``now``, else None."""
    row = conn.execute(
        "SELECT u.id, u.username, f.expires_at FROM families f"
        " JOIN users u ON u.id = f.user_id"
        " WHERE f.id = ? AND f.revoked_at IS NULL AND ? < f.expires_at",
        (family_id, now),
    ).fetchone()
    return None if row is None else LiveSession(row["id"], row["username"], row["expires_at"])


def _revoke_locked(
    conn: sqlite3.Connection, family_id: str, now: float, reason: str, *, reuse: bool = False
) -> InvalidGrant:
    """Mark the family revoked (first reason wins); return the matching error."""
    conn.execute(
        "UPDATE families SET revoked_at = ?, revoked_reason = ?"
        " WHERE id = ? AND revoked_at IS NULL",
        (now, reason, family_id),
    )
    return InvalidGrant(f"session revoked ({reason})", reuse=reuse)


def _insert_token(
    conn: sqlite3.Connection, token: str, family_id: str, parent: str | None, now: float
) -> None:
    """Store a new live refresh token (hash only)."""
    conn.execute(
        "INSERT INTO refresh_tokens (hash, family_id, parent_hash, created_at) VALUES (?, ?, ?, ?)",
        (hash_refresh_token(token), family_id, parent, now),
    )
