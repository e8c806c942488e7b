"""Locust load on the mock server: API clients that log in, call the API and refresh, plus storms
of parallel refreshes of one token. Run by ``python -m bench.load`` (which sets the env below).

* ``ApiClient`` (all users but one): log in, then ``TASKS`` tasks — ``GET /api/me``,
  ``GET /api/items``, ``POST /api/items``, a refresh (rotation) — and stop. A 401 on
  the API (expired access token, 30 s) is answered like a client would: refresh, call again.
* ``RefreshStorm`` (one user): ``STORMS`` times, log in and send ``STORM_SIZE`` refreshes of
  the same refresh token at once, then count the family's live refresh tokens in the
  server's database (must be exactly one; the family must not be revoked).

Every answer's status is counted; the totals, latency percentiles and storms are written
as JSON to ``$AUTHFETCH_LOAD_RESULTS`` when the run ends.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from typing import Any

import gevent
import jwt
from gevent.event import Event
from gevent.pool import Group
from locust import FastHttpUser, between, events, task
from locust.env import Environment
from locust.exception import StopUser

TASKS = int(os.environ.get("AUTHFETCH_LOAD_TASKS", "40"))
STORMS = int(os.environ.get("AUTHFETCH_LOAD_STORMS", "10"))
STORM_SIZE = int(os.environ.get("AUTHFETCH_LOAD_STORM_SIZE", "50"))
USERS = int(os.environ.get("AUTHFETCH_LOAD_USERS", "200"))  # ApiClient users
DB_PATH = os.environ.get("AUTHFETCH_LOAD_DB", "")
RESULTS_PATH = os.environ.get("AUTHFETCH_LOAD_RESULTS", "load-results.json")
DEMO = {"username": "demo", "password": "demo-pass"}
#: waitress serves at most 100 connections (``connection_limit``) and leaves the rest in the
#: listen queue: with keep-alive, clients 101-200 would wait for others to finish. So each
#: request gets a connection of its own, unless ``AUTHFETCH_LOAD_KEEP_ALIVE=1``.
KEEP_ALIVE = os.environ.get("AUTHFETCH_LOAD_KEEP_ALIVE") == "1"
HEADERS = None if KEEP_ALIVE else {"Connection": "close"}

LOGIN_TIMEOUT_S = 150.0  # scrypt: 200 logins at once queue for a while on 2 busy cores

statuses: Counter[int] = Counter()
transport_errors: Counter[str] = Counter()
#: Response times (ms) of everything but logins: the API and refresh calls clients wait on.
api_times: list[float] = []
storms: list[dict[str, Any]] = []
finished_users = 0
logins_done = 0
ramp_done = Event()  # every client has logged in (or failed to): the storms start then


@events.request.add_listener
def count_status(
    name: str, response_time: float, response: Any, exception: BaseException | None, **_kw: Any
) -> None:
    """Count every answer by status (0 = no answer) and every transport error by type."""
    status = getattr(response, "status_code", 0) or 0
    if not name.startswith("/auth/login"):
        api_times.append(response_time)
    statuses[status] += 1
    if exception is not None and status == 0:
        transport_errors[type(exception).__name__] += 1


def user_finished(environment: Environment) -> None:
    """Count a user that is done; the last one ends the run (bounded by count, not only time)."""
    global finished_users
    finished_users += 1
    if finished_users >= USERS + 1 and environment.runner is not None:
        gevent.spawn_later(0.1, environment.runner.quit)


@events.quitting.add_listener
def write_results(environment: Environment, **_kw: Any) -> None:
    """Write the figures the runner reports."""
    total = environment.stats.total
    per_name = {
        f"{entry.method} {entry.name}": {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p99_ms": entry.get_response_time_percentile(0.99),
        }
        for entry in environment.stats.entries.values()
    }
    results = {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "seconds": total.last_request_timestamp - total.start_time
        if total.last_request_timestamp
        else 0,
        "p50_ms": total.get_response_time_percentile(0.5),
        "p99_ms": total.get_response_time_percentile(0.99),
        "api_p50_ms": percentile(api_times, 0.5),
        "api_p99_ms": percentile(api_times, 0.99),
        "per_name": per_name,
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
        "transport_errors": dict(transport_errors),
        "storms": storms,
        "users_finished": finished_users,
    }
    with open(RESULTS_PATH, "w") as out:
        json.dump(results, out, indent=1)


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile of ``values`` (nearest rank; 0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def login_finished() -> None:
    """Count a client's first login; when all are in, let the storms begin."""
    global logins_done
    logins_done += 1
    if logins_done >= USERS:
        ramp_done.set()


class ApiClient(FastHttpUser):
    """A client of the API: log in, call, refresh when told the token expired, rotate."""

    wait_time = between(0.5, 2.0)
    network_timeout = LOGIN_TIMEOUT_S
    default_headers = HEADERS

    def on_start(self) -> None:
        """Log in (the demo user: every client is a login of its own, a family of its own)."""
        self.done = 0
        self.tokens = self.login()
        login_finished()

    def on_stop(self) -> None:
        """Report that this client is done."""
        user_finished(self.environment)

    def login(self) -> dict[str, Any] | None:
        """POST /auth/login; the tokens, or ``None`` (counted as a failure)."""
        with self.client.post("/auth/login", json=DEMO, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"login {response.status_code}")
                return None
            tokens: dict[str, Any] = response.json()
            return tokens

    def refresh(self) -> None:
        """Rotate the refresh token (on refusal, log in again: the session was over)."""
        if self.tokens is None:
            self.tokens = self.login()
            return
        body = {"refresh_token": self.tokens["refresh_token"]}
        with self.client.post("/auth/refresh", json=body, catch_response=True) as response:
            if response.status_code == 200:
                self.tokens = response.json()
                return
            response.failure(f"refresh {response.status_code}")
        self.tokens = self.login()

    def api(self, method: str, path: str, body: Any = None) -> None:
        """Call the API with the bearer; on 401 refresh once and call again (a client's retry)."""
        if self.tokens is None:  # the login failed: try it again instead
            self.tokens = self.login()
            return
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.tokens['access_token']}"}
            name = path if attempt == 1 else f"{path} (after refresh)"
            with self.client.request(
                method, path, json=body, headers=headers, name=name, catch_response=True
            ) as response:
                if response.status_code == 401 and attempt == 1:
                    response.success()  # an expired access token: expected, counted by status
                else:
                    return
            self.refresh()
            if self.tokens is None:
                return

    def step(self) -> None:
        """Count a task; after ``TASKS`` of them this client stops."""
        self.done += 1
        if self.done >= TASKS or (self.tokens is None and self.done >= 3):
            raise StopUser()

    @task(6)
    def me(self) -> None:
        """GET /api/me."""
        self.api("GET", "/api/me")
        self.step()

    @task(3)
    def list_items(self) -> None:
        """GET /api/items."""
        self.api("GET", "/api/items")
        self.step()

    @task(1)
    def create_item(self) -> None:
        """POST /api/items."""
        self.api("POST", "/api/items", {"title": "load"})
        self.step()

    @task(1)
    def rotate(self) -> None:
        """POST /auth/refresh: rotation, as a client's proactive refresh does."""
        self.refresh()
        self.step()


class RefreshStorm(FastHttpUser):
    """Storms: one refresh token presented ``STORM_SIZE`` times at once, then the invariant."""

    fixed_count = 1
    concurrency = STORM_SIZE  # connections of this user's pool: the storm is truly parallel
    wait_time = between(1.0, 2.0)
    network_timeout = LOGIN_TIMEOUT_S
    default_headers = HEADERS

    def on_start(self) -> None:
        """Wait until every client has logged in: storm the steady state, not the login queue."""
        ramp_done.wait(timeout=LOGIN_TIMEOUT_S)

    def on_stop(self) -> None:
        """Report that the storm user is done."""
        user_finished(self.environment)

    @task
    def storm(self) -> None:
        """Log in, fire the storm, count live successors; after ``STORMS`` storms, stop."""
        if len(storms) >= STORMS:
            raise StopUser()
        tokens = self.client.post("/auth/login", json=DEMO, name="/auth/login (storm)").json()
        family = jwt.decode(tokens["access_token"], options={"verify_signature": False})["fam"]
        body = {"refresh_token": tokens["refresh_token"]}
        answers: Counter[int] = Counter()

        def one() -> None:
            """One refresh of the shared token."""
            with self.client.post(
                "/auth/refresh", json=body, name="/auth/refresh (storm)", catch_response=True
            ) as response:
                answers[response.status_code] += 1
                response.success()  # judged below, by the family's state

        group = Group()
        for _ in range(STORM_SIZE):
            group.spawn(one)
        group.join()
        live, revoked = family_state(family)
        storms.append({"answers": dict(answers), "live": live, "revoked": revoked})


def family_state(family: str) -> tuple[int, bool]:
    """How many refresh tokens of ``family`` could still be exchanged, and whether it is revoked."""
    conn = sqlite3.connect(f"file:{DB_PATH}?mode=ro", uri=True, timeout=30)
    try:
        live = conn.execute(
            "SELECT COUNT(*) FROM refresh_tokens WHERE family_id = ? AND used_at IS NULL",
            (family,),
        ).fetchone()[0]
        revoked = conn.execute(
            "SELECT revoked_at IS NOT NULL FROM families WHERE id = ?", (family,)
        ).fetchone()[0]
    finally:
        conn.close()
    return live, bool(revoked)
