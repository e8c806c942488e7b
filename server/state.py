"""Per-app runtime state: the server clock, the counters and the injected faults.

Everything here lives in memory, one instance per Flask app, and is thread-safe
(waitress serves requests from several threads).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from server.tokens import AccessPolicy

EXTENSION_KEY = "authfetch"
STAT_NAMES = ("refresh_ok", "refresh_failed", "reuse_detected", "api_401", "api_ok", "login")


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


@dataclass(frozen=True)
class Fault:
    """What to do to one refresh call: wait, answer a status, or lose the response."""

    delay_ms: int = 0
    status: int | None = None
    drop_after_commit: bool = False

    def as_json(self) -> dict[str, Any]:
        """The fault as the JSON the fault route accepts."""
        return {
            "delay_ms": self.delay_ms,
            "status": self.status,
            "drop_after_commit": self.drop_after_commit,
        }


class Faults:
    """A fault armed for the next ``count`` refresh calls (a new one replaces the old)."""

    def __init__(self) -> None:
        """Nothing armed."""
        self._lock = threading.Lock()
        self._fault: Fault | None = None
        self._remaining = 0

    def arm(self, fault: Fault, count: int) -> None:
        """Apply ``fault`` to the next ``count`` refresh calls (0 disarms)."""
        with self._lock:
            self._fault, self._remaining = (fault, count) if count > 0 else (None, 0)

    def take(self) -> Fault | None:
        """Consume one use of the armed fault, if any (each call takes its own)."""
        with self._lock:
            if self._fault is None or self._remaining <= 0:
                return None
            self._remaining -= 1
            fault = self._fault
            if self._remaining == 0:
                self._fault = None
            return fault

    def pending(self) -> dict[str, Any]:
        """The armed fault and how many calls it still applies to."""
        with self._lock:
            fault = self._fault or Fault()
            return {"count": self._remaining, **fault.as_json()}

    def clear(self) -> None:
        """Disarm."""
        self.arm(Fault(), 0)


@dataclass
class AppState:
    """Everything one app keeps in memory besides its config."""

    access: AccessPolicy
    dummy_hash: str
    clock: Clock = field(default_factory=Clock)
    stats: Stats = field(default_factory=Stats)
    faults: Faults = field(default_factory=Faults)
    sleep: Callable[[float], None] = time.sleep
    limiter: Any = None


def get_state(app: Flask | None = None) -> AppState:
    """The :class:`AppState` of ``app`` (default: the current app)."""
    target = app if app is not None else current_app
    return target.extensions[EXTENSION_KEY]
