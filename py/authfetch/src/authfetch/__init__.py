"""authfetch: fetch that refreshes an expired access token once and replays the request.

This package root exports the pure core only; the browser edge
(``authfetch.browser``) is imported explicitly by pages that run in a browser.
"""

from .core import (
    STORAGE_KEY,
    AuthConfig,
    AuthFetchError,
    AuthSession,
    Headers,
    KeyValueStore,
    LoginError,
    MemoryStore,
    NoLock,
    NotReplayableError,
    RefreshGate,
    RefreshUnavailableError,
    ReplayableRequest,
    SessionExpiredError,
    SessionState,
    SyncAuthSession,
    SyncClock,
    SystemClock,
    TokenSet,
    TransportError,
    default_leeway,
    no_lock,
    parse_http_date,
    request_flow,
    run_async,
    run_sync,
)

__version__ = "0.1.0"

__all__ = [
    "STORAGE_KEY",
    "AuthConfig",
    "AuthFetchError",
    "AuthSession",
    "Headers",
    "KeyValueStore",
    "LoginError",
    "MemoryStore",
    "NoLock",
    "NotReplayableError",
    "RefreshGate",
    "RefreshUnavailableError",
    "ReplayableRequest",
    "SessionExpiredError",
    "SessionState",
    "SyncAuthSession",
    "SyncClock",
    "SystemClock",
    "TokenSet",
    "TransportError",
    "__version__",
    "default_leeway",
    "no_lock",
    "parse_http_date",
    "request_flow",
    "run_async",
    "run_sync",
]
