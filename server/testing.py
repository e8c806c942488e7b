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
  A refresh call is ``POST /auth/refresh`` or a ``grant_type=refresh_token``
  request to ``POST /oauth/token``.
* ``POST /__test__/faults`` ``{"id_token_nonce": VALUE, "count": N}`` → the ID
  tokens of the next N code exchanges at ``/oauth/token`` carry ``nonce: VALUE``
  instead of the real one (re-signed with the provider's key); answers
  ``{"id_token_nonce", "count"}``. ``{"count": 0}`` disarms it too.
* ``POST /__test__/dpop`` ``{"require_nonce": bool, "rotate_every_answer": bool,
  "refuse_proofs": bool}`` (any of them) → flip DPoP's switches; answers all
  three (``GET`` reads them). ``require_nonce``: every proof must carry the
  current nonce; ``rotate_every_answer``: every answer carries a new nonce and
  no nonce a client has seen is accepted (nonces required); ``refuse_proofs``:
  every proof is refused as ``invalid_dpop_proof``. Reset puts them back to the
  command line's (``--dpop-nonce``) and forgets the proofs' ``jti`` values.

The faults are applied by request hooks this blueprint installs on the app
when it is registered (:func:`_inject_fault`, :func:`_lose_answer`); the token
views know nothing of them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import jwt
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask.blueprints import BlueprintSetupState
from waitress.channel import ClientDisconnected  # type: ignore[import-untyped]  # no types

from .db import get_db, immediate
from .dpop import get_dpop
from .errors import json_error, json_object
from .idtokens import issue_id_token
from .ratelimit import limiter
from .state import get_state

bp = Blueprint("testing", __name__, url_prefix="/__test__")

FORM = "application/x-www-form-urlencoded"

CONTROLS_KEY = "authfetch.testing"
FAULTED_ENDPOINT = "auth.refresh"
TOKEN_ENDPOINT = "oidc.token"  # its refresh_token grant is a refresh call too
MAX_NONCE_CHARS = 2048
MAX_DELAY_MS = 60_000
MAX_ADVANCE_S = 10 * 365 * 24 * 3600


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


class NonceOverride:
    """A nonce armed for the ID tokens of the next ``count`` code exchanges."""

    def __init__(self) -> None:
        """Nothing armed."""
        self._lock = threading.Lock()
        self._value: str | None = None
        self._remaining = 0

    def arm(self, value: str, count: int) -> None:
        """Use ``value`` for the next ``count`` exchanges (0 disarms)."""
        with self._lock:
            self._value, self._remaining = (value, count) if count > 0 else (None, 0)

    def take(self) -> str | None:
        """Consume one use, if any."""
        with self._lock:
            if self._value is None or self._remaining <= 0:
                return None
            value = self._value
            self._remaining -= 1
            if self._remaining == 0:
                self._value = None
            return value

    def pending(self) -> dict[str, Any]:
        """``{"id_token_nonce", "count"}``."""
        with self._lock:
            return {"id_token_nonce": self._value, "count": self._remaining}

    def clear(self) -> None:
        """Disarm."""
        with self._lock:
            self._value, self._remaining = None, 0


@dataclass
class ControlState:
    """What the test routes keep per app: the armed faults, and how a delay waits."""

    faults: Faults = field(default_factory=Faults)
    nonces: NonceOverride = field(default_factory=NonceOverride)
    sleep: Callable[[float], None] = time.sleep


def get_controls(app: Flask | None = None) -> ControlState:
    """The :class:`ControlState` of ``app`` (default: the current app)."""
    target = app if app is not None else current_app
    controls: ControlState = target.extensions[CONTROLS_KEY]
    return controls


@bp.record_once
def _install(setup: BlueprintSetupState) -> None:
    """Give the app its test controls when the blueprint is registered."""
    setup.app.extensions[CONTROLS_KEY] = ControlState()


@bp.before_app_request
def _inject_fault() -> Response | None:
    """Apply an armed fault to a refresh call: wait, then maybe answer its status instead."""
    if request.method != "POST" or not _is_refresh_call():  # not a preflight
        return None
    controls = get_controls()
    fault = controls.faults.take()
    if fault is None:
        return None
    g.fault = fault
    if fault.delay_ms:
        controls.sleep(fault.delay_ms / 1000)
    if fault.status is not None:
        return json_error(fault.status, "injected_fault", f"fault injected: {fault.status}")
    return None


def _is_refresh_call() -> bool:
    """``POST /auth/refresh``, or ``POST /oauth/token`` with ``grant_type=refresh_token``."""
    if request.endpoint == FAULTED_ENDPOINT:
        return True
    if request.endpoint != TOKEN_ENDPOINT or request.mimetype != FORM:
        return False
    return request.form.getlist("grant_type") == ["refresh_token"]


@bp.after_app_request
def _swap_nonce(response: Response) -> Response:
    """Give the ID token of a code exchange the armed nonce instead of the real one."""
    if request.endpoint != TOKEN_ENDPOINT or response.status_code != 200:
        return response
    if request.form.getlist("grant_type") != ["authorization_code"]:
        return response
    body = response.get_json(silent=True)
    if not isinstance(body, dict) or "id_token" not in body:
        return response
    nonce = get_controls().nonces.take()
    if nonce is None:
        return response
    signing_key = get_state().signing_key
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    claims["nonce"] = nonce
    body["id_token"] = issue_id_token(signing_key, claims)
    response.set_data(json.dumps(body))
    return response


@bp.after_app_request
def _lose_answer(response: Response) -> Response:
    """Lose the answer of a refresh that committed, if its fault says so."""
    fault: Fault | None = g.pop("fault", None)
    if fault is not None and fault.drop_after_commit and response.status_code == 200:
        return lost_response()
    return response


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
        conn.execute("DELETE FROM auth_codes")
        conn.execute("DELETE FROM oidc_sessions")
        conn.execute("DELETE FROM dpop_bindings")
        conn.execute("DELETE FROM refresh_tokens")
        conn.execute("DELETE FROM families")
        conn.execute("DELETE FROM items")
    state = get_state()
    state.stats.reset()
    state.clock.reset()
    get_controls().faults.clear()
    get_controls().nonces.clear()
    get_dpop().reset()
    limiter.reset()
    return jsonify(reset=True)


DPOP_SWITCHES = ("require_nonce", "rotate_every_answer", "refuse_proofs")


@bp.get("/dpop")
def read_dpop() -> Response:
    """DPoP's switches: ``{"require_nonce", "rotate_every_answer", "refuse_proofs"}``."""
    return jsonify(get_dpop().settings().as_json())


@bp.post("/dpop")
def set_dpop() -> Response:
    """Flip the DPoP switches named in the body (booleans); answer all of them."""
    body = json_object()
    unknown = sorted(set(body) - set(DPOP_SWITCHES))
    if unknown:
        return json_error(
            400, "invalid_request", f"unknown switch {unknown[0]!r}; use {', '.join(DPOP_SWITCHES)}"
        )
    if not all(isinstance(value, bool) for value in body.values()):
        return json_error(400, "invalid_request", "every switch must be true or false")
    return jsonify(get_dpop().update(**body).as_json())


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
    return jsonify(get_controls().faults.pending())


@bp.post("/faults")
def arm_faults() -> Response:
    """Arm a fault for the next ``count`` refresh calls (or a nonce for code exchanges)."""
    body = json_object()
    if "id_token_nonce" in body:
        return _arm_nonce(body)
    fault_or_error = _parse_fault(body)
    if isinstance(fault_or_error, str):
        return json_error(400, "invalid_request", fault_or_error)
    faults = get_controls().faults
    faults.arm(fault_or_error, body["count"])
    if body["count"] == 0:
        get_controls().nonces.clear()
    return jsonify(faults.pending())


def _arm_nonce(body: dict[str, Any]) -> Response:
    """``{"id_token_nonce": VALUE, "count": N}``: the next N code exchanges' ID tokens carry
    VALUE as their ``nonce`` (the refresh fault stays as it was)."""
    value, count = body["id_token_nonce"], body.get("count")
    if set(body) - {"id_token_nonce", "count"}:
        return json_error(400, "invalid_request", "id_token_nonce goes with count only")
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NONCE_CHARS:
        return json_error(
            400, "invalid_request", f"id_token_nonce must be a string of 1-{MAX_NONCE_CHARS}"
        )
    if not _is_int(count) or count < 0:
        return json_error(400, "invalid_request", "count must be an integer >= 0")
    nonces = get_controls().nonces
    nonces.arm(value, count)
    return jsonify(nonces.pending())


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


def _is_int(value: object) -> TypeGuard[int]:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    """An int or float that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)
