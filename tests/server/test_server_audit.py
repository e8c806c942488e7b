"""Regression tests for the audit findings of issue 9 (each failed on the code before its fix)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from serverkit import advance, assert_invalid_grant, family_of, live_tokens, login, me, refresh

HOUR = 3600.0


def ping_pong(
    app: Flask, client: FlaskClient, thief_every: float, owner_every: float
) -> tuple[float, int, str]:
    """Thief and owner refresh copies of one stolen token on their own schedules.

    Returns the server seconds after login at which a refresh was first refused
    (or ``HOUR`` if none was within an hour), the refreshes answered 200 before
    that, and the owner's last access token.
    """
    tokens = login(client)
    held = {"thief": tokens["refresh_token"], "owner": tokens["refresh_token"]}
    every = {"thief": thief_every, "owner": owner_every}
    due = dict(every)
    owner_access, elapsed, granted = tokens["access_token"], 0.0, 0
    while elapsed < HOUR:
        who = min(due, key=lambda name: due[name])
        advance(app, due[who] - elapsed)
        elapsed = due[who]
        response = refresh(client, held[who])
        if response.status_code != 200:
            assert_invalid_grant(response)
            return elapsed, granted, owner_access
        body = response.get_json()
        held[who] = body["refresh_token"]
        if who == "owner":
            owner_access = body["access_token"]
        granted += 1
        due[who] += every[who]
    return HOUR, granted, owner_access


@pytest.mark.parametrize("access_ttl", [5, 10, 15, 30])
@pytest.mark.parametrize("grace", [5.0, 10.0, 30.0, 60.0])
def test_finding1_stolen_token_ping_pong_is_detected(
    make_app: Callable[..., Flask], grace: float, access_ttl: int
) -> None:
    """Finding 1: a thief and the owner refreshing faster than the grace window are caught.

    Both refresh before their access token expires (thief at 1/2, owner at 2/3
    of its lifetime, the 5 s / 6.67 s of the report for a 10 s token). Before
    the fix an in-grace re-issue gave the token it retired a new window, so
    with intervals below the grace the two took turns for ever.
    """
    app = make_app(REUSE_GRACE=grace, ACCESS_TTL=access_ttl)
    client = app.test_client()
    thief_every, owner_every = access_ttl / 2, access_ttl * 2 / 3
    detected_at, granted, owner_access = ping_pong(app, client, thief_every, owner_every)
    assert detected_at <= grace + 2 * owner_every, (detected_at, granted)
    stats = client.get("/__test__/stats").get_json()
    assert stats["reuse_detected"] == 1
    assert live_tokens(app, family_of(owner_access)) == 0
    assert me(client, owner_access).status_code == 401


def test_finding1_retired_token_is_never_honoured(app: Flask, client: FlaskClient) -> None:
    """Finding 1: a token retired by a grace re-issue revokes the login when presented, at once."""
    first = login(client)
    second = refresh(client, first["refresh_token"]).get_json()
    third = refresh(client, first["refresh_token"]).get_json()  # in grace: second is retired
    advance(app, 1)
    reused = refresh(client, second["refresh_token"])
    assert_invalid_grant(reused)
    assert "reuse" in reused.get_json()["error_description"]
    assert_invalid_grant(refresh(client, third["refresh_token"]))


def test_finding1_grace_window_is_not_renewed(app: Flask, client: FlaskClient) -> None:
    """Finding 1: re-presenting a token inside its window does not extend the window."""
    first = login(client)
    refresh(client, first["refresh_token"])
    advance(app, 6)
    assert refresh(client, first["refresh_token"]).status_code == 200  # 6 s after first use
    advance(app, 4)
    assert_invalid_grant(refresh(client, first["refresh_token"]))  # 10 s after first use


def test_finding1_lost_responses_keep_a_lone_client_signed_in(
    app: Flask, client: FlaskClient
) -> None:
    """Finding 1 (guard): a client whose refresh answers are lost and who retries stays in.

    Every third rotation's answer is lost twice in a row; the client retries
    with the token it still holds, inside the grace window, for an hour.
    """
    token = login(client)["refresh_token"]
    for step in range(int(HOUR // 20)):
        advance(app, 20)
        lost = 2 if step % 3 == 0 else 0
        for _ in range(lost):
            assert refresh(client, token).status_code == 200  # answer never reaches the client
            advance(app, 2)
        response = refresh(client, token)
        assert response.status_code == 200, response.get_json()
        token = response.get_json()["refresh_token"]
    assert client.get("/__test__/stats").get_json()["reuse_detected"] == 0


def test_finding2_used_at_in_the_future_fails_closed(make_app: Callable[..., Flask]) -> None:
    """Finding 2: a token used "in the future" (clock stepped back) counts as reuse, not grace."""
    app = make_app()
    client = app.test_client()
    first = login(client)
    advance(app, 600)  # the test clock runs ahead, then the server restarts on real time
    assert refresh(client, first["refresh_token"]).status_code == 200
    restarted = make_app()
    reused = refresh(restarted.test_client(), first["refresh_token"])
    assert_invalid_grant(reused)
    assert "reuse" in reused.get_json()["error_description"]
