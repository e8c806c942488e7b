"""SQLite storage: one connection per request (or thread), schema created on start.

The connection runs in autocommit mode; code that must read and write atomically
wraps itself in :func:`immediate`, which takes SQLite's write lock up front
(``BEGIN IMMEDIATE``) so concurrent writers queue on the busy timeout instead of
failing half way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app, g
from werkzeug.security import generate_password_hash

from .files import create_private_file

BUSY_TIMEOUT_S = 10.0
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-pass"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL
);
-- One family per login. Every refresh token of the login belongs to it; the
-- access tokens carry its id (claim "fam"), so revoking it kills them all.
CREATE TABLE IF NOT EXISTS families (
    id             TEXT PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at     REAL NOT NULL,
    expires_at     REAL NOT NULL,   -- absolute: login + REFRESH_TTL, never extended
    last_used_at   REAL NOT NULL,   -- login or last refresh, for the idle timeout
    revoked_at     REAL,            -- NULL while the session lives
    revoked_reason TEXT
);
-- Refresh tokens, by SHA-256 hash only. A token is live while used_at IS NULL;
-- at most one token per family is live at any time.
CREATE TABLE IF NOT EXISTS refresh_tokens (
    hash        TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL REFERENCES families(id) ON DELETE CASCADE,
    parent_hash TEXT,
    created_at  REAL NOT NULL,
    used_at     REAL              -- set once: exchanged (has a successor), or retired
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_parent ON refresh_tokens(parent_hash);
CREATE TABLE IF NOT EXISTS items (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS items_user ON items(user_id);
-- Authorization codes of the OAuth provider (server/codes.py), by SHA-256 hash only.
-- Single use: used_at is set by the first exchange, whatever its outcome; family_id
-- is the sign-in a successful exchange opened (revoked if the code comes back).
CREATE TABLE IF NOT EXISTS auth_codes (
    hash           TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce          TEXT,
    scope          TEXT NOT NULL,
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time      REAL NOT NULL,
    expires_at     REAL NOT NULL,
    used_at        REAL,
    family_id      TEXT
);
-- DPoP (RFC 9449): the key thumbprint a family's refresh tokens are bound to, set when the
-- login (or code exchange) came with a proof; a bound token refreshes only with that key.
CREATE TABLE IF NOT EXISTS dpop_bindings (
    family_id TEXT PRIMARY KEY REFERENCES families(id) ON DELETE CASCADE,
    jkt       TEXT NOT NULL
);
-- The families opened by a code exchange: which client, what scope, when the user signed in.
CREATE TABLE IF NOT EXISTS oidc_sessions (
    family_id TEXT PRIMARY KEY REFERENCES families(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    scope     TEXT NOT NULL,
    auth_time REAL NOT NULL
);
"""


def connect(path: str | Path) -> sqlite3.Connection:
    """Open a connection in autocommit mode with rows as mappings and a busy timeout."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def get_db() -> sqlite3.Connection:
    """The current request's connection, opened on first use."""
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE"])
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    """Close the request's connection, if one was opened."""
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that holds the lock from its first statement."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def init_db(app: Flask) -> None:
    """Create the db (0600, folders 0700), schema (WAL) and demo user if missing; add teardown."""
    path = Path(app.config["DATABASE"])
    create_private_file(path)  # SQLite gives its -wal and -shm files the db's mode
    conn = connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(SCHEMA)
        with immediate(conn):
            exists = conn.execute(
                "SELECT 1 FROM users WHERE username = ?", (DEMO_USERNAME,)
            ).fetchone()
            if not exists:
                digest = generate_password_hash(
                    DEMO_PASSWORD, method=app.config["PASSWORD_HASH_METHOD"]
                )
                conn.execute(
                    "INSERT INTO users (username, password_hash) VALUES (?, ?)",
                    (DEMO_USERNAME, digest),
                )
    finally:
        conn.close()
    app.teardown_appcontext(close_db)
