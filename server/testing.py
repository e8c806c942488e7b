"""Test controls under ``/__test__/``, registered only with ``--testing``.

* ``GET /__test__/stats`` → the counters (see :data:`server.state.STAT_NAMES`).
* ``POST /__test__/reset`` → zero the counters, drop every session (families,
  refresh tokens) and item, keep the users; also disarm faults, put the clock
  back to real time and forget the login rate-limit hits.
* ``POST /__test__/clock`` ``{"advance": seconds}`` → move the server clock
  forward; answers ``{"offset", "now"}`` (``GET`` reads them).
* ``POST /__test__/faults`` ``{"count": N, "status": S}`` / ``{"count": N,
  "delay_ms": M}`` / ``{"count": N, "drop_after_commit": true}`` → the next N
  refresh calls answer S (JSON error, nothing rotated), wait M ms first, or
  rotate, commit and then lose their response (the connection closes before
  any byte of it is sent). ``delay_ms`` combines with either; ``{"count": 0}``
  disarms. A new call replaces the armed fault. ``GET`` shows what is armed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify
from waitress.channel import ClientDisconnected

from server.db import get_db, immediate
from server.errors import json_error, json_object
from server.state import Fault, get_state

bp = Blueprint("testing", __name__, url_prefix="/__test__")

MAX_DELAY_MS = 60_000
MAX_ADVANCE_S = 10 * 365 * 24 * 3600


class DropConnection(ClientDisconnected):
    """Raised while sending a response body to close the connection with nothing sent.

    Waitress treats :class:`ClientDisconnected` raised by the application's body
    iterator before any byte went out as "close quietly": no status line, no
    500 page. The client sees the connection close without a response.
    """


def lost_response() -> Response:
    """A response whose body iterator raises :class:`DropConnection` (a lost response)."""

    def body() -> Iterator[bytes]:
        raise DropConnection("fault injected: response dropped after commit")
        yield b""  # pragma: no cover - makes this a generator

    return Response(body(), mimetype="application/json")


@bp.get("/stats")
def stats() -> Response:
    """The counters."""
    return jsonify(get_state().stats.snapshot())


@bp.post("/reset")
def reset() -> Response:
    """Back to a clean server: no sessions, no items, zero counters, real time."""
    conn = get_db()
    with immediate(conn):
        conn.execute("DELETE FROM refresh_tokens")
        conn.execute("DELETE FROM families")
        conn.execute("DELETE FROM items")
    state = get_state()
    state.stats.reset()
    state.faults.clear()
    state.clock.reset()
    if state.limiter is not None:
        state.limiter.reset()
    return jsonify(reset=True)


def _clock_json() -> Response:
    """The clock's offset and current server time."""
    clock = get_state().clock
    return jsonify(offset=clock.offset, now=clock.now())


@bp.get("/clock")
def read_clock() -> Response:
    """``{"offset", "now"}``."""
    return _clock_json()


@bp.post("/clock")
def advance_clock() -> Response:
    """Move the server clock forward by ``{"advance": seconds}``."""
    seconds = json_object().get("advance")
    if not _is_number(seconds) or not 0 <= seconds <= MAX_ADVANCE_S:  # also rejects NaN
        return json_error(
            400, "invalid_request", f"advance must be a number of seconds in 0..{MAX_ADVANCE_S}"
        )
    get_state().clock.advance(float(seconds))
    return _clock_json()


@bp.get("/faults")
def read_faults() -> Response:
    """The armed fault and its remaining count."""
    return jsonify(get_state().faults.pending())


@bp.post("/faults")
def arm_faults() -> Response:
    """Arm a fault for the next ``count`` refresh calls."""
    body = json_object()
    fault_or_error = _parse_fault(body)
    if isinstance(fault_or_error, str):
        return json_error(400, "invalid_request", fault_or_error)
    faults = get_state().faults
    faults.arm(fault_or_error, body["count"])
    return jsonify(faults.pending())


def _parse_fault(body: dict[str, Any]) -> Fault | str:
    """The fault described by ``body``, or what is wrong with it."""
    count = body.get("count")
    if not _is_int(count) or count < 0:
        return "count must be an integer >= 0"
    delay_ms = body.get("delay_ms", 0)
    if not _is_int(delay_ms) or not 0 <= delay_ms <= MAX_DELAY_MS:
        return f"delay_ms must be an integer in 0..{MAX_DELAY_MS}"
    status = body.get("status")
    if status is not None and (not _is_int(status) or not 400 <= status <= 599):
        return "status must be an integer in 400..599"
    drop = body.get("drop_after_commit", False)
    if not isinstance(drop, bool):
        return "drop_after_commit must be a boolean"
    if status is not None and drop:
        return "status and drop_after_commit exclude each other"
    if count > 0 and status is None and not drop and not delay_ms:
        return "give status, delay_ms or drop_after_commit"
    return Fault(delay_ms=delay_ms, status=status, drop_after_commit=drop)


def _is_int(value: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """An int or float that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)
