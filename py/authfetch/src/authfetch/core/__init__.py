"""The pure core of authfetch: no ``js``/``pyscript``/``pyodide`` imports, no I/O.

Runs under CPython and MicroPython alike: only ``json``, ``binascii``, ``time``,
``asyncio`` and ``random`` of the standard library, plain classes, and
annotations as strings (the interfaces in :mod:`.ports` exist for the type
checker only).
"""

from .claims import unverified_claims
from .commands import Load, Persist, ReadJson, Refresh, Send, Sleep
from .errors import (
    AuthFetchError,
    ConfigurationError,
    LoginError,
    NotReplayableError,
    RefreshUnavailableError,
    SessionExpiredError,
    TransportError,
    TransportTimeoutError,
)
from .events import (
    ROLE_API,
    ROLE_LOGIN,
    ROLE_LOGOUT,
    ROLE_REFRESH,
    Event,
    answer_event,
    send_event,
)
from .expiry import default_leeway, estimate_skew, needs_refresh, parse_http_date
from .flow import login_flow, logout_flow, refresh_call, refresh_request, request_flow
from .gate import RefreshCancelled, RefreshGate
from .machine import ENDED, REFRESHING, SIGNED_IN, SIGNED_OUT, SessionMachine
from .oauth import (
    OAuthClient,
    begin_sign_in,
    callback_params,
    check_id_token,
    discovery_flow,
    end_session_url,
    exchange_flow,
    remember_pending,
    take_pending,
    without_callback,
)
from .policy import (
    DEFAULT_REFRESH_TIMEOUT,
    REFRESH_OK,
    REFRESH_SESSION_OVER,
    REFRESH_UNAVAILABLE,
    AuthConfig,
    backoff_delay,
    challenge_error,
    classify_refresh_status,
    default_token_expired,
)
from .ports import (
    STORAGE_KEY,
    DictBackend,
    KeyValueStore,
    MemoryStore,
    NoLock,
    SystemClock,
    SystemSyncClock,
    no_lock,
    parse_session,
)
from .request import Headers, ReplayableRequest, body_bytes
from .session import AuthSession, SessionCore, new_login_id
from .sync import SyncAuthSession
from .tokens import TokenSet
from .urls import origin, resolve, same_endpoint, split_url, whatwg_clean

__all__ = [
    "DEFAULT_REFRESH_TIMEOUT",
    "ENDED",
    "REFRESHING",
    "REFRESH_OK",
    "REFRESH_SESSION_OVER",
    "REFRESH_UNAVAILABLE",
    "ROLE_API",
    "ROLE_LOGIN",
    "ROLE_LOGOUT",
    "ROLE_REFRESH",
    "SIGNED_IN",
    "SIGNED_OUT",
    "STORAGE_KEY",
    "AuthConfig",
    "AuthFetchError",
    "AuthSession",
    "ConfigurationError",
    "DictBackend",
    "Event",
    "Headers",
    "KeyValueStore",
    "Load",
    "LoginError",
    "MemoryStore",
    "NoLock",
    "NotReplayableError",
    "OAuthClient",
    "Persist",
    "ReadJson",
    "Refresh",
    "RefreshCancelled",
    "RefreshGate",
    "RefreshUnavailableError",
    "ReplayableRequest",
    "Send",
    "SessionCore",
    "SessionExpiredError",
    "SessionMachine",
    "Sleep",
    "SyncAuthSession",
    "SystemClock",
    "SystemSyncClock",
    "TokenSet",
    "TransportError",
    "TransportTimeoutError",
    "answer_event",
    "backoff_delay",
    "begin_sign_in",
    "body_bytes",
    "callback_params",
    "challenge_error",
    "check_id_token",
    "classify_refresh_status",
    "default_leeway",
    "default_token_expired",
    "discovery_flow",
    "end_session_url",
    "estimate_skew",
    "exchange_flow",
    "login_flow",
    "logout_flow",
    "needs_refresh",
    "new_login_id",
    "no_lock",
    "origin",
    "parse_http_date",
    "parse_session",
    "refresh_call",
    "refresh_request",
    "remember_pending",
    "request_flow",
    "resolve",
    "same_endpoint",
    "send_event",
    "split_url",
    "take_pending",
    "unverified_claims",
    "whatwg_clean",
    "without_callback",
]
