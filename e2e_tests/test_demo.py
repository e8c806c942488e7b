"""The demo page, driven as a person would: type, click, read what the page says."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from pytest_authfetch import AuthfetchServer

from e2e_tests.conftest import SCREENSHOTS, demo_url, expire_access_token, open_ready_page, stats

SESSION_ENDED = "Your session has ended. Please sign in again."
FULL_LIFE = re.compile(r"^(29|30) s left$")  # a second may pass between login and look


def sign_in(page: Page, password: str = "demo-pass") -> None:
    """Fill the sign-in form with the demo user and submit it."""
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def log_line(page: Page, text: str):
    """The event-log lines containing ``text``."""
    return page.locator("#event-log li", has_text=text)


def test_sign_in_list_add_and_log_out(
    page: Page, fresh_server: AuthfetchServer, offline_requests, interpreter: str
):
    """A person signs in (after a typo), sees the empty list, adds an item, meets a
    validation error in words, and logs out to the login form."""
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    expect(page.get_by_text("Demo account: demo / demo-pass")).to_be_visible()
    sign_in(page, password="wrong")
    expect(page.locator("#login-message")).to_have_text("Wrong username or password.")
    sign_in(page)
    expect(page.get_by_role("heading", name="Signed in as demo")).to_be_visible()
    expect(page.get_by_text("No items yet.")).to_be_visible()
    page.get_by_label("New item").fill("Buy milk")
    page.get_by_role("button", name="Add item").click()
    expect(page.locator("#items li")).to_have_text(["Buy milk"])
    expect(page.get_by_label("New item")).to_have_value("")
    page.get_by_label("New item").fill("   ")
    page.get_by_role("button", name="Add item").click()
    expect(page.locator("#item-message")).to_have_text(
        "Not added: title must be a string of 1-200 characters."
    )
    expect(page.locator("#items li")).to_have_count(1)
    page.reload()
    expect(page.locator("#items li")).to_have_text(["Buy milk"], timeout=60_000)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("#login-message")).to_have_text("You are signed out.")
    expect(log_line(page, "Logged out: you logged out")).to_have_count(1)


def test_panel_shows_twenty_requests_share_one_refresh(
    page: Page, fresh_server: AuthfetchServer, interpreter: str
):
    """With the server clock moved past expiry, the 20-request button ends in one
    refresh: the log shows 401s, one refresh and the replays, the counter goes to 1."""
    page.set_viewport_size({"width": 1280, "height": 900})
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    sign_in(page)
    expect(page.locator("#access-remaining")).to_have_text(FULL_LIFE)
    expect(page.locator("#refresh-count")).to_have_text("0")
    expect(page.locator("#refresh-absolute")).to_contain_text("(in 7 h 59 min)")
    expect(page.locator("#refresh-idle")).to_contain_text(re.compile(r"\(in (29|30) min"))
    page.get_by_label("New item").fill("Watch the token panel")
    page.get_by_role("button", name="Add item").click()
    expect(page.locator("#items li")).to_have_count(1)
    page.get_by_role("button", name="Move server clock +40 s").click()
    expect(page.locator("#panel-message")).to_contain_text("clock is now 40 s ahead")
    page.get_by_role("button", name="Fire 20 requests at once").click()
    expect(page.locator("#panel-message")).to_have_text(
        "20 of 20 requests succeeded; all of them shared one refresh."
    )
    expect(log_line(page, "Refresh succeeded")).to_have_count(1)
    expect(log_line(page, "Refresh started")).to_have_count(1)
    expect(log_line(page, "401 seen for GET /api/items")).to_contain_text("\u00d720")
    expect(log_line(page, "Request replayed: GET /api/items")).to_contain_text("\u00d720")
    expect(page.locator("#refresh-count")).to_have_text("1")
    counters = stats(fresh_server)
    assert (counters["refresh_ok"], counters["reuse_detected"]) == (1, 0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "demo.png", full_page=True)


def test_countdown_runs_and_refreshes_before_expiry(
    page: Page, fresh_server: AuthfetchServer, interpreter: str
):
    """The countdown follows the browser clock, and at the mark the token is renewed
    ahead of time: the log shows the refresh and no 401."""
    page.clock.install()
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    sign_in(page)
    expect(page.locator("#access-remaining")).to_have_text(FULL_LIFE)
    page.clock.fast_forward(12_000)
    expect(page.locator("#access-remaining")).to_have_text(re.compile(r"^1[78] s left$"))
    fresh_server.advance(21)
    page.clock.fast_forward(9_000)  # 21 s in: past the refresh mark at 20 s
    expect(log_line(page, "Refresh succeeded")).to_have_count(1)
    expect(page.locator("#refresh-count")).to_have_text("1")
    expect(page.locator("#access-remaining")).to_have_text(FULL_LIFE)
    expect(log_line(page, "401 seen")).to_have_count(0)
    assert stats(fresh_server)["api_401"] == 0


def test_dead_refresh_token_returns_to_login_with_message(
    page: Page, fresh_server, interpreter: str
):
    """When the server no longer knows the session, the next action ends at the login
    form with a message in words, and the log says why."""
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    sign_in(page)
    expect(page.get_by_text("No items yet.")).to_be_visible()
    fresh_server.reset()  # the server forgets every session
    expire_access_token(fresh_server)
    page.get_by_label("New item").fill("Lost on the way")
    page.get_by_role("button", name="Add item").click()
    expect(page.locator("#login-message")).to_have_text(SESSION_ENDED)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()
    expect(log_line(page, "Refresh failed (HTTP 400)")).to_have_count(1)
    expect(log_line(page, "Logged out: the refresh token was refused")).to_have_count(1)
    sign_in(page)
    expect(page.get_by_role("heading", name="Signed in as demo")).to_be_visible()


def test_phone_width_and_keyboard_only(page: Page, fresh_server: AuthfetchServer, interpreter: str):
    """At 375 px wide nothing scrolls sideways, every field has a label, and a person
    signs in and adds an item with the keyboard alone, seeing where the focus is."""
    page.set_viewport_size({"width": 375, "height": 740})
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type("demo")
    page.keyboard.press("Tab")
    page.keyboard.type("demo-pass")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Signed in as demo")).to_be_visible()
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input')].filter(i => i.labels.length === 0).length"
    )
    assert unlabelled == 0
    page.get_by_label("New item").focus()
    page.keyboard.type("Typed, not clicked")
    page.keyboard.press("Enter")
    expect(page.locator("#items li")).to_have_text(["Typed, not clicked"])
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Add item")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


@pytest.fixture
def plain_server(authfetch_server_factory: Callable[..., AuthfetchServer]) -> AuthfetchServer:
    """A server started without ``--testing`` (as ``make run`` does)."""
    return authfetch_server_factory(testing=False)


def test_clock_button_only_with_test_controls(page: Page, plain_server: AuthfetchServer):
    """Without --testing the page offers no clock button, and says how to get one."""
    open_ready_page(page, demo_url(plain_server.url, "py"))
    sign_in(page)
    expect(page.get_by_role("heading", name="Signed in as demo")).to_be_visible()
    expect(page.get_by_role("button", name="Fire 20 requests at once")).to_be_visible()
    expect(page.get_by_role("button", name="Move server clock +40 s")).to_be_hidden()
    expect(page.locator("#clock-hint")).to_contain_text("--testing")
