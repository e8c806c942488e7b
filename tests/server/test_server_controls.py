"""The /__test__/ controls: only with testing on; stats, reset, clock and faults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from serverkit import bearer, family_of, live_tokens, login, me, refresh

from server.state import STAT_NAMES, get_state
from server.testing import DropConnection, get_controls

CONTROLS = [
    ("GET", "/__test__/stats"),
    ("POST", "/__test__/reset"),
    ("POST", "/__test__/clock"),
    ("GET", "/__test__/clock"),
    ("POST", "/__test__/faults"),
    ("GET", "/__test__/faults"),
]


@pytest.mark.parametrize(("method", "path"), CONTROLS)
def test_controls_are_404_without_testing(
    make_app: Callable[..., Flask], method: str, path: str
) -> None:
    """Without --testing the test routes do not exist (JSON 404)."""
    client = make_app(TESTING_ROUTES=False).test_client()
    response = client.open(path, method=method, json={"advance": 1, "count": 1, "status": 503})
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert get_state(client.application).clock.offset == 0


def test_stats_count_what_happened(app: Flask, client: FlaskClient) -> None:
    """The counters follow logins, refreshes, refusals, reuse and API answers."""
    assert client.get("/__test__/stats").get_json() == dict.fromkeys(STAT_NAMES, 0)
    tokens = login(client)
    newer = refresh(client, tokens["refresh_token"]).get_json()
    refresh(client, "unknown")
    get_state(app).clock.advance(60)
    refresh(client, tokens["refresh_token"])  # reuse after grace
    me(client, newer["access_token"])  # family revoked → 401
    assert client.get("/__test__/stats").get_json() == {
        "refresh_ok": 1,
        "refresh_failed": 2,
        "reuse_detected": 1,
        "api_401": 1,
        "api_ok": 0,
        "login": 1,
        "code_exchanged": 0,
        "revoked": 0,
        "dpop_accepted": 0,
        "dpop_refused": 0,
        "dpop_nonce_challenges": 0,
    }


def test_reset_drops_sessions_and_items_keeps_users(app: Flask, client: FlaskClient) -> None:
    """Reset: counters zero, sessions and items gone, clock back, demo user still there."""
    tokens = login(client)
    client.post("/api/items", headers=bearer(tokens["access_token"]), json={"title": "x"})
    client.post("/__test__/clock", json={"advance": 5})
    client.post("/__test__/faults", json={"count": 3, "status": 503})
    response = client.post("/__test__/reset")
    assert response.status_code == 200
    assert client.get("/__test__/stats").get_json() == dict.fromkeys(STAT_NAMES, 0)
    assert client.get("/__test__/clock").get_json()["offset"] == 0
    assert client.get("/__test__/faults").get_json()["count"] == 0
    assert me(client, tokens["access_token"]).status_code == 401
    assert refresh(client, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    fresh = login(client)
    assert client.get("/api/items", headers=bearer(fresh["access_token"])).get_json() == []


def test_clock_advances_the_server_time(app: Flask, client: FlaskClient) -> None:
    """POST /__test__/clock moves time forward for token expiry checks."""
    token = login(client)["access_token"]
    before = client.get("/__test__/clock").get_json()
    response = client.post("/__test__/clock", json={"advance": 40})
    assert response.status_code == 200
    after = response.get_json()
    assert after["offset"] == before["offset"] + 40
    assert after["now"] - before["now"] >= 40
    assert me(client, token).status_code == 401


@pytest.mark.parametrize(
    "body",
    [{}, {"advance": -1}, {"advance": "5"}, {"advance": True}, {"advance": None},
     {"advance": 10**400}, {"advance": 1e308}],
    ids=["missing", "negative", "string", "bool", "null", "huge-int", "huge-float"],
)  # fmt: skip
def test_bad_clock_request_is_400(client: FlaskClient, body: dict[str, Any]) -> None:
    """The clock only moves forward by a sane number of seconds."""
    response = client.post("/__test__/clock", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("body", [b"NaN", b"Infinity"], ids=["nan", "infinity"])
def test_non_finite_clock_advance_is_400(client: FlaskClient, body: bytes) -> None:
    """NaN and Infinity (which Python's JSON parser accepts) are refused."""
    response = client.post(
        "/__test__/clock", data=b'{"advance": ' + body + b"}", content_type="application/json"
    )
    assert response.status_code == 400


def test_status_fault_answers_without_rotating(app: Flask, client: FlaskClient) -> None:
    """{"count": 2, "status": 503}: two refreshes get a JSON 503, the token stays usable."""
    tokens = login(client)
    armed = client.post("/__test__/faults", json={"count": 2, "status": 503})
    assert armed.status_code == 200
    assert armed.get_json()["count"] == 2
    for _ in range(2):
        failed = refresh(client, tokens["refresh_token"])
        assert failed.status_code == 503
        assert failed.get_json()["error"] == "injected_fault"
    assert refresh(client, tokens["refresh_token"]).status_code == 200
    stats = client.get("/__test__/stats").get_json()
    assert (stats["refresh_ok"], stats["refresh_failed"]) == (1, 0)


def test_delay_fault_waits_then_answers(app: Flask, client: FlaskClient) -> None:
    """{"count": 1, "delay_ms": 250}: the next refresh sleeps 0.25 s, then succeeds."""
    slept: list[float] = []
    get_controls(app).sleep = slept.append
    tokens = login(client)
    client.post("/__test__/faults", json={"count": 1, "delay_ms": 250})
    assert refresh(client, tokens["refresh_token"]).status_code == 200
    assert refresh(client, "unknown").status_code == 400
    assert slept == [0.25]


def test_drop_fault_commits_then_loses_the_response(app: Flask, client: FlaskClient) -> None:
    """{"drop_after_commit": true}: the rotation is committed, the body raises DropConnection."""
    tokens = login(client)
    client.post("/__test__/faults", json={"count": 1, "drop_after_commit": True})
    with pytest.raises(DropConnection):  # the WSGI server sees it before any byte is sent
        refresh(client, tokens["refresh_token"])
    assert live_tokens(app, family_of(tokens["access_token"])) == 1
    retried = refresh(client, tokens["refresh_token"])  # the client retries within the grace
    assert retried.status_code == 200
    assert client.get("/__test__/stats").get_json()["refresh_ok"] == 2


def test_new_fault_replaces_and_zero_disarms(client: FlaskClient) -> None:
    """Arming again replaces the armed fault; count 0 disarms."""
    client.post("/__test__/faults", json={"count": 5, "status": 503})
    client.post("/__test__/faults", json={"count": 1, "status": 502})
    assert client.get("/__test__/faults").get_json()["status"] == 502
    client.post("/__test__/faults", json={"count": 0})
    assert client.get("/__test__/faults").get_json()["count"] == 0
    tokens = login(client)
    assert refresh(client, tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{}, {"count": -1, "status": 503}, {"count": "1", "status": 503}, {"count": 1},
     {"count": 1, "status": 200}, {"count": 1, "status": 600}, {"count": 1, "delay_ms": -5},
     {"count": 1, "delay_ms": 10**9}, {"count": 1, "drop_after_commit": "yes"},
     {"count": 1, "status": 503, "drop_after_commit": True}, {"count": True, "status": 503}],
    ids=["empty", "negative", "string-count", "nothing-to-do", "status-200", "status-600",
         "negative-delay", "huge-delay", "drop-not-bool", "status-and-drop", "bool-count"],
)  # fmt: skip
def test_bad_fault_request_is_400(client: FlaskClient, body: dict[str, Any]) -> None:
    """The fault route validates what it arms."""
    response = client.post("/__test__/faults", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_preflight_does_not_take_a_fault(make_app: Callable[..., Flask]) -> None:
    """A CORS preflight of /auth/refresh leaves the armed fault to the refresh itself."""
    client = make_app(ALLOW_ORIGINS=["http://app.example"]).test_client()
    tokens = login(client)
    client.post("/__test__/faults", json={"count": 1, "status": 503})
    preflight = client.options(
        "/auth/refresh",
        headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert refresh(client, tokens["refresh_token"]).status_code == 503
