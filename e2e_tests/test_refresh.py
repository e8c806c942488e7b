"""Silent refresh in one tab, against the real server: expiry, bursts, faults, proactive."""

from __future__ import annotations

from playwright.sync_api import Page, Request, expect
from pytest_authfetch import AuthfetchServer

from e2e_tests.conftest import (
    bridge_fetch_statuses,
    bridge_login,
    demo_url,
    expire_access_token,
    open_ready_page,
    stats,
)


def test_expired_token_is_refreshed_once_and_request_replayed(
    page: Page, fresh_server, interpreter: str
):
    """After expiry a request still succeeds, with exactly one refresh on the server."""
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    bridge_login(page)
    expect(page.get_by_text("No items yet.")).to_be_visible()  # the demo's own loads are done
    expire_access_token(fresh_server)
    assert bridge_fetch_statuses(page, "/api/me") == [200]
    counters = stats(fresh_server)
    assert counters["refresh_ok"] == 1
    assert counters["api_401"] == 1
    assert page.evaluate("authfetch.state().refreshes") == 1


def test_fifty_concurrent_requests_at_expiry_share_one_refresh(
    page: Page, fresh_server, interpreter: str
):
    """50 requests fired together at expiry all succeed after a single refresh."""
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    bridge_login(page)
    expire_access_token(fresh_server)
    assert bridge_fetch_statuses(page, "/api/me", 50) == [200] * 50
    counters = stats(fresh_server)
    assert counters["refresh_ok"] == 1
    assert counters["reuse_detected"] == 0


def signed_in_recording_posts(page: Page, server: AuthfetchServer, interpreter: str) -> list:
    """Open the demo signed in; the list that every ``POST /api/items`` it sends goes into."""
    posts: list[Request] = []

    def record(request: Request) -> None:
        if request.url.endswith("/api/items") and request.method == "POST":
            posts.append(request)

    page.on("request", record)
    open_ready_page(page, demo_url(server.url, interpreter))
    bridge_login(page)
    return posts


def test_replayed_body_is_byte_for_byte_the_original(page: Page, fresh_server, interpreter: str):
    """A POST hit by expiry is replayed with exactly the bytes and type first sent,
    for a JSON string and for a URLSearchParams body that fetch encodes itself."""
    posts = signed_in_recording_posts(page, fresh_server, interpreter)
    inits = (
        "{method: 'POST', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({title: 'caf\\u00e9 \\u2615'})}",
        "{method: 'POST', body: new URLSearchParams({title: 'form'})}",
    )
    statuses = []
    for init in inits:
        expire_access_token(fresh_server)
        statuses.append(page.evaluate(f"authfetch.fetch('/api/items', {init}).then(r => r.status)"))
    assert statuses == [201, 415]  # the API takes JSON only; the replay happened first
    assert len(posts) == 4
    json_sent, json_replayed, form_sent, form_replayed = posts
    assert json_replayed.post_data_buffer == json_sent.post_data_buffer
    assert json_sent.post_data_json == {"title": "caf\u00e9 \u2615"}
    assert form_sent.post_data == form_replayed.post_data == "title=form"
    for request in (form_sent, form_replayed):
        assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")


#: A body of a size pages send (an upload): 200 KB of a known pattern.
LARGE_BODY = bytes((index * 7) % 256 for index in range(200_000))


def test_a_large_body_is_sent_and_replayed_whole(page: Page, fresh_server, interpreter: str):
    """A 200 KB binary POST hit by expiry is read into Python, sent and replayed byte for
    byte (MicroPython's frozen pure-Python binascii made this a MemoryError)."""
    posts = signed_in_recording_posts(page, fresh_server, interpreter)
    expire_access_token(fresh_server)
    outcome = page.evaluate(
        """([size]) => {
            const body = new Uint8Array(size);
            for (let i = 0; i < size; i++) body[i] = (i * 7) % 256;
            return authfetch.fetch('/api/items', {method: 'POST', body,
                headers: {'Content-Type': 'application/octet-stream'}})
                .then(r => r.status, e => e.name + ': ' + e.message);
        }""",
        [len(LARGE_BODY)],
    )
    assert isinstance(outcome, int), outcome  # the API refuses it (size, type): an answer
    assert len(posts) == 2  # sent, 401, refreshed, replayed
    assert [request.post_data_buffer == LARGE_BODY for request in posts] == [True, True]


def test_dead_refresh_token_returns_to_login_once(
    page: Page, fresh_server: AuthfetchServer, interpreter: str
):
    """When the refresh token is refused, every waiting request fails clearly and the
    login form comes back once, with a message."""
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo-pass")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#username-shown")).to_have_text("demo")
    fresh_server.reset()  # the server forgets every session
    expire_access_token(fresh_server)
    assert bridge_fetch_statuses(page, "/api/me", 5) == ["SessionExpiredError"] * 5
    expect(page.locator("#login-message")).to_have_text(
        "Your session has ended. Please sign in again."
    )
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("#event-log li[data-event=logout]")).to_have_count(1)
    assert page.evaluate("localStorage.getItem('authfetch.session')") is None
    assert stats(fresh_server)["refresh_failed"] == 1


def test_refresh_503_twice_then_ok_keeps_session(page: Page, fresh_server, interpreter: str):
    """A refresh that answers 503 twice and then works ends in success, not a logout."""
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    bridge_login(page)
    fresh_server.fail_next_refresh(2, status=503)
    expire_access_token(fresh_server)
    assert bridge_fetch_statuses(page, "/api/me", 3) == [200, 200, 200]
    assert page.evaluate("authfetch.state().loggedIn") is True
    assert stats(fresh_server)["refresh_ok"] == 1


def test_refresh_unreachable_keeps_session_and_fails_clearly(
    page: Page, fresh_server, interpreter: str
):
    """When every refresh attempt gets a 503, requests fail with RefreshUnavailableError
    and the session is kept, so a later request succeeds."""
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    bridge_login(page)
    fresh_server.fail_next_refresh(3, status=503)
    expire_access_token(fresh_server)
    assert bridge_fetch_statuses(page, "/api/me", 2) == ["RefreshUnavailableError"] * 2
    assert page.evaluate("authfetch.state().loggedIn") is True
    assert bridge_fetch_statuses(page, "/api/me") == [200]


def test_lost_refresh_response_keeps_session(page: Page, fresh_server, interpreter: str):
    """A refresh whose response is lost after the server rotated still ends logged in."""
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    bridge_login(page)
    fresh_server.fail_next_refresh(lost=True)
    expire_access_token(fresh_server)
    assert bridge_fetch_statuses(page, "/api/me") == [200]
    assert page.evaluate("authfetch.state().loggedIn") is True
    assert stats(fresh_server)["reuse_detected"] == 0


def test_proactive_refresh_means_no_401_on_the_wire(page: Page, fresh_server, interpreter: str):
    """With proactive refresh, a session of five access lifetimes never sees a 401."""
    page.clock.install()
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    bridge_login(page)
    for lifetime in range(1, 6):
        for _ in range(2):  # 2 x 15 s: the timer fires 10 s before each expiry
            fresh_server.advance(15)
            page.clock.fast_forward(15_000)
        page.wait_for_function(f"authfetch.state().refreshes >= {lifetime}")
        assert bridge_fetch_statuses(page, "/api/me") == [200]
    counters = stats(fresh_server)
    assert counters["api_401"] == 0
    assert counters["refresh_ok"] == 5


def test_wake_from_sleep_refreshes_on_visibility_without_a_request(
    page: Page, fresh_server, interpreter: str
):
    """After a "sleep" that stalled the timers, becoming visible again refreshes at once,
    before any request can meet a 401."""
    page.clock.install()
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    bridge_login(page)
    fresh_server.advance(25)
    page.clock.set_system_time(page.evaluate("Date.now()") + 25_000)  # no timer fires
    assert page.evaluate("authfetch.state().refreshes") == 0
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_function("authfetch.state().refreshes === 1")
    assert bridge_fetch_statuses(page, "/api/me") == [200]
    assert stats(fresh_server)["api_401"] == 0


def test_back_online_retries_a_refresh_that_could_not_reach_the_server(
    page: Page, fresh_server, interpreter: str
):
    """A proactive refresh that met only 503s is tried again when the browser is back online."""
    page.clock.install()
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    bridge_login(page)
    fresh_server.fail_next_refresh(3, status=503)
    fresh_server.advance(25)
    page.clock.set_system_time(page.evaluate("Date.now()") + 25_000)
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    page.clock.run_for(3_000)  # the two jittered backoffs (at most 0.5 s + 1 s)
    page.wait_for_function(  # all three attempts have reached the server
        "fetch('/__test__/faults').then(r => r.json()).then(f => !f.count)", polling=100
    )
    state = page.evaluate("authfetch.state()")
    assert (state["loggedIn"], state["refreshes"]) == (True, 0)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_function("authfetch.state().refreshes === 1")
    assert stats(fresh_server)["api_401"] == 0
