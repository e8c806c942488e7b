"""The pure core of authfetch: no ``js``/``pyscript``/``pyodide`` imports, no I/O.

Runs under CPython and is kept to what MicroPython also has (``json``,
``time``, ``asyncio``, ``random``).
"""

from .claims import unverified_claims
from .errors import (
    AuthFetchError,
    LoginError,
    NotReplayableError,
    RefreshUnavailableError,
    SessionExpiredError,
    TransportError,
)
from .expiry import default_leeway, estimate_skew, needs_refresh, parse_http_date
from .flow import (
    LOAD,
    PERSIST,
    READ_JSON,
    REFRESH,
    SEND,
    SLEEP,
    login_flow,
    logout_flow,
    refresh_flow,
    refresh_request,
    request_flow,
    run_async,
    run_sync,
)
from .gate import RefreshGate
from .policy import (
    REFRESH_OK,
    REFRESH_SESSION_OVER,
    REFRESH_UNAVAILABLE,
    AuthConfig,
    backoff_delay,
    classify_refresh_status,
    default_token_expired,
)
from .ports import (
    STORAGE_KEY,
    DictBackend,
    KeyValueStore,
    MemoryStore,
    NoLock,
    SyncClock,
    SystemClock,
    no_lock,
    parse_session,
)
from .request import Headers, ReplayableRequest, body_bytes
from .session import AuthSession, SessionBase, SessionState
from .sync import SyncAuthSession
from .tokens import TokenSet
from .urls import origin, resolve, same_endpoint, split_url

__all__ = [
    "LOAD",
    "PERSIST",
    "READ_JSON",
    "REFRESH",
    "REFRESH_OK",
    "REFRESH_SESSION_OVER",
    "REFRESH_UNAVAILABLE",
    "SEND",
    "SLEEP",
    "STORAGE_KEY",
    "AuthConfig",
    "AuthFetchError",
    "AuthSession",
    "DictBackend",
    "Headers",
    "KeyValueStore",
    "LoginError",
    "MemoryStore",
    "NoLock",
    "NotReplayableError",
    "RefreshGate",
    "RefreshUnavailableError",
    "ReplayableRequest",
    "SessionBase",
    "SessionExpiredError",
    "SessionState",
    "SyncAuthSession",
    "SyncClock",
    "SystemClock",
    "TokenSet",
    "TransportError",
    "backoff_delay",
    "body_bytes",
    "classify_refresh_status",
    "default_leeway",
    "default_token_expired",
    "estimate_skew",
    "login_flow",
    "logout_flow",
    "needs_refresh",
    "no_lock",
    "origin",
    "parse_http_date",
    "parse_session",
    "refresh_flow",
    "refresh_request",
    "request_flow",
    "resolve",
    "run_async",
    "run_sync",
    "same_endpoint",
    "split_url",
    "unverified_claims",
]
