"""The demo signs in at the mock server's OpenID Connect provider; each bad answer of a
sign-in is a clear error with nothing stored. Both interpreters."""

from __future__ import annotations

import json

from playwright.sync_api import BrowserContext, Page, expect
from pytest_authfetch import AuthfetchServer

from e2e_tests.conftest import READY_TIMEOUT_MS, PageErrors, demo_url, open_ready_page
from e2e_tests.test_options import serve_options_page

SESSION_KEY = "authfetch.session"


def go_to_provider(page: Page) -> None:
    """Click the demo's "Sign in" and wait for the provider's sign-in page."""
    page.locator("#provider-button").click()
    expect(page.locator("input[name=username]")).to_be_visible()


def back_on_the_demo(page: Page) -> None:
    """Wait until the browser is back on the demo and the page has started again."""
    page.wait_for_url(lambda url: "/oauth/" not in url, timeout=READY_TIMEOUT_MS)
    expect(page.locator("html")).to_have_attribute(
        "data-authfetch", "ready", timeout=READY_TIMEOUT_MS
    )
    expect(page.locator("#loading")).to_be_hidden(timeout=READY_TIMEOUT_MS)


def sign_in_at_provider(page: Page, password: str = "demo-pass") -> None:
    """Fill the mock provider's sign-in page and submit it; wait until back on the demo."""
    page.locator("input[name=username]").fill("demo")
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Sign in").click()
    back_on_the_demo(page)


def stored(page: Page) -> dict | None:
    """The session the page stored, if any."""
    text = page.evaluate(f"localStorage.getItem('{SESSION_KEY}')")
    return None if text is None else json.loads(text)


def test_the_demo_signs_in_at_the_provider_and_comes_back_signed_in(
    page: Page, fresh_server: AuthfetchServer, interpreter: str
):
    """ "Sign in" goes to the provider's page; back on the demo the app shows, the address bar
    is the demo's own URL again (no code, no state), the tokens are stored with the ID
    token, and the API answers."""
    url = demo_url(fresh_server.url, interpreter, dialect="oidc")
    open_ready_page(page, url)
    go_to_provider(page)
    sign_in_at_provider(page)
    expect(page.locator("#app")).to_be_visible()
    assert page.url == url
    session = stored(page)
    assert session is not None and session["id_token"] and session["refresh_token"]
    assert page.evaluate("authfetch.fetch('/api/me').then(r => r.status)") == 200
    assert fresh_server.stats()["code_exchanged"] == 1


def test_a_denied_sign_in_is_a_clear_error_and_stores_nothing(
    page: Page, fresh_server: AuthfetchServer, interpreter: str
):
    """Cancel on the provider's page comes back as error=access_denied: the demo says so,
    lastError() carries the provider's error, and nothing is stored."""
    open_ready_page(page, demo_url(fresh_server.url, interpreter, dialect="oidc"))
    go_to_provider(page)
    page.get_by_role("button", name="Cancel").click()
    back_on_the_demo(page)
    expect(page.locator("#login-message")).to_contain_text("access_denied")
    assert page.evaluate("authfetch.lastError().error") == "access_denied"
    assert page.evaluate("authfetch.state().loggedIn") is False
    assert stored(page) is None
    assert "code=" not in page.url and "error=" not in page.url


def test_a_forged_state_is_refused_before_any_exchange(
    page: Page, fresh_server: AuthfetchServer, interpreter: str
):
    """A callback URL whose state this tab never sent is refused: no code exchange, nothing
    stored, the error named."""
    url = demo_url(fresh_server.url, interpreter, dialect="oidc")
    open_ready_page(page, url + ("&" if "?" in url else "?") + "code=stolen&state=forged")
    assert page.evaluate("authfetch.lastError().error") == "invalid_state"
    expect(page.locator("#login-message")).to_contain_text("state")
    assert stored(page) is None
    assert fresh_server.stats()["code_exchanged"] == 0


def test_a_reloaded_callback_url_exchanges_nothing_and_keeps_the_session(
    page: Page, fresh_server: AuthfetchServer, interpreter: str
):
    """Going to the provider's answer again (the callback URL reloaded) exchanges no code a
    second time and neither wipes nor replaces the session the first one stored."""
    open_ready_page(page, demo_url(fresh_server.url, interpreter, dialect="oidc"))
    go_to_provider(page)
    callbacks: list[str] = []
    page.on("framenavigated", lambda frame: callbacks.append(frame.url))
    sign_in_at_provider(page)
    expect(page.locator("#app")).to_be_visible()
    callback = next(url for url in callbacks if "code=" in url)
    first = stored(page)
    open_ready_page(page, callback)
    assert page.evaluate("authfetch.lastError().error") == "invalid_state"
    assert page.evaluate("authfetch.state().loggedIn") is True
    assert stored(page) == first
    assert fresh_server.stats()["code_exchanged"] == 1


def test_an_id_token_with_a_wrong_nonce_is_refused_and_nothing_stored(
    page: Page, fresh_server: AuthfetchServer, interpreter: str
):
    """An ID token whose nonce is not the one this sign-in sent is refused: the demo says
    so, lastError() names invalid_id_token, nothing is stored."""
    fresh_server.arm_id_token_nonce("not-the-nonce-we-sent")
    open_ready_page(page, demo_url(fresh_server.url, interpreter, dialect="oidc"))
    go_to_provider(page)
    sign_in_at_provider(page)
    expect(page.locator("#login-message")).to_contain_text("nonce")
    assert page.evaluate("authfetch.lastError().error") == "invalid_id_token"
    assert stored(page) is None
    assert page.evaluate("authfetch.state().loggedIn") is False


def test_an_unreadable_discovery_document_stops_start_up_with_a_message_naming_it(
    context: BrowserContext,
    fresh_server: AuthfetchServer,
    interpreter: str,
    page_errors: PageErrors,
):
    """An issuer whose discovery document is missing: data-authfetch="error" and an
    authfetch:error event whose message names the document's URL, never a hang."""
    page_errors.allow(r"authfetch: the discovery document")
    issuer = fresh_server.url + "/no-such-issuer"
    options = {"issuer": issuer, "client_id": "authfetch-demo"}
    url = serve_options_page(context, fresh_server.url, options, interpreter)
    page = context.new_page()
    page.add_init_script(
        "addEventListener('authfetch:error', (e) => { window.__error = e.detail.message; })"
    )
    page.goto(url)
    expect(page.locator("html")).to_have_attribute("data-authfetch", "error", timeout=60_000)
    message = page.evaluate("window.__error")
    assert issuer + "/.well-known/openid-configuration" in message
