"""Per-app runtime state: the server clock and the counters.

Everything here lives in memory, one instance per Flask app, and is thread-safe
(waitress serves requests from several threads).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, current_app

from .idtokens import SigningKey
from .tokens import AccessPolicy

EXTENSION_KEY = "authfetch"
STAT_NAMES = (
    "refresh_ok",
    "refresh_failed",
    "reuse_detected",
    "api_401",
    "api_ok",
    "login",
    "code_exchanged",
    "revoked",
    "dpop_accepted",
    "dpop_refused",
    "dpop_nonce_challenges",
)


class Clock:
    """The one server clock: real time plus an offset that tests move forward."""

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        """Use ``source`` (default ``time.time``) as the real time."""
        self._source = source
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        """Seconds added to real time."""
        with self._lock:
            return self._offset

    def now(self) -> float:
        """Current server time in seconds since the epoch."""
        return self._source() + self.offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds``; return the new offset."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
            return self._offset

    def reset(self) -> None:
        """Back to real time."""
        with self._lock:
            self._offset = 0.0


class Stats:
    """Thread-safe counters reported by ``GET /__test__/stats``."""

    def __init__(self) -> None:
        """Start every counter at zero."""
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(STAT_NAMES, 0)

    def incr(self, name: str) -> None:
        """Add one to counter ``name``."""
        with self._lock:
            self._counts[name] += 1

    def snapshot(self) -> dict[str, int]:
        """A copy of all counters."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._counts = dict.fromkeys(STAT_NAMES, 0)


@dataclass
class AppState:
    """Everything one app keeps in memory besides its config."""

    access: AccessPolicy
    dummy_hash: str
    signing_key: SigningKey  # the provider's RS256 key (ID tokens, JWKS)
    clock: Clock = field(default_factory=Clock)
    stats: Stats = field(default_factory=Stats)


def get_state(app: Flask | None = None) -> AppState:
    """The :class:`AppState` of ``app`` (default: the current app)."""
    target = app if app is not None else current_app
    return target.extensions[EXTENSION_KEY]
