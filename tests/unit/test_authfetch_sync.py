"""The synchronous driver over the same flows (the future urllib.request handler's engine)."""

import pytest
from authfetch_fakes import BASE, CountingStore, Rig, network_error

from authfetch.core import RefreshUnavailableError, ReplayableRequest, SessionExpiredError


def test_sync_expired_token_refreshes_once_and_replays():
    """Sync: a 401 causes one refresh and the request is replayed with the new token."""
    rig = Rig(sync=True)
    rig.server.expire(rig.initial.access_token)
    response = rig.session.fetch(ReplayableRequest(BASE + "/api/items", "POST", body=b"x"))
    assert response.status == 200 and rig.server.refresh_calls == 1
    first, replay = rig.server.calls("/api/items")
    assert (first.token, replay.token) == (
        rig.initial.access_token,
        rig.session.tokens.access_token,
    )
    assert first.body == replay.body == b"x"


def test_sync_invalid_grant_raises_session_expired():
    """Sync: invalid_grant raises SessionExpiredError, clears once and fires on_logout."""
    rig = Rig(sync=True)
    rig.server.expire(rig.initial.access_token)
    rig.server.live_refresh.clear()
    with pytest.raises(SessionExpiredError):
        rig.session.fetch(ReplayableRequest(BASE + "/api/items"))
    assert rig.store.clears == 1 and rig.hooks.logouts == ["expired"]


def test_sync_proactive_refresh_and_backoff():
    """Sync: a token past expiry is refreshed first, retrying a 502 after a recorded sleep."""
    rig = Rig(sync=True)
    rig.clock.t += 700
    rig.server.refresh_script = [502]
    response = rig.session.fetch(ReplayableRequest(BASE + "/api/items"))
    assert response.status == 200 and rig.server.count_401() == 0
    assert rig.clock.sleeps == [0.375]


def test_sync_network_errors_raise_refresh_unavailable_and_keep_session():
    """Sync: refresh unreachable on every attempt raises RefreshUnavailableError, session kept."""
    rig = Rig(sync=True)
    rig.clock.t += 700
    rig.server.refresh_script = [network_error() for _ in range(3)]
    with pytest.raises(RefreshUnavailableError):
        rig.session.fetch(ReplayableRequest(BASE + "/api/items"))
    assert rig.store.load() == rig.initial and len(rig.clock.sleeps) == 2


def test_sync_login_and_logout():
    """Sync: login stores tokens, logout revokes and clears."""
    rig = Rig(sync=True, store=CountingStore())
    tokens = rig.session.login("demo", "demo-pass")
    assert rig.store.load() == tokens
    rig.session.logout()
    assert rig.store.load() is None and rig.hooks.logouts == ["logout"]
    assert rig.server.calls("/auth/logout")[0].json() == {"refresh_token": tokens.refresh_token}
