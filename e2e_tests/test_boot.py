"""The page boots: self-hosted PyScript + Pyodide start with no internet."""

from __future__ import annotations

from playwright.sync_api import Page, Route, expect
from pytest_authfetch import AuthfetchServer

from e2e_tests.conftest import READY_TIMEOUT_MS, open_ready_page


def test_page_starts_python_offline(page: Page, server: AuthfetchServer, offline_requests):
    """Python starts in the page, pyodide_http imports, and nothing leaves 127.0.0.1."""
    open_ready_page(page, server.url)
    expect(page.locator("#runtime-info")).to_contain_text("pyodide_http patched")
    expect(page.locator("#runtime-info")).to_contain_text("pyodide_http")
    expect(page.locator("#loading")).to_be_hidden()


def test_loading_indicator_shows_while_python_loads(page: Page, server: AuthfetchServer):
    """While Pyodide's files are still on their way, the page shows a loading indicator."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/python_stdlib.zip", hold)
    with page.expect_request("**/python_stdlib.zip", timeout=READY_TIMEOUT_MS):
        page.goto(server.url)
    expect(page.locator("#loading")).to_be_visible()
    expect(page.locator("#loading")).to_contain_text("Starting Python")
    expect(page.locator("html")).not_to_have_attribute("data-authfetch", "ready")
    assert len(held) == 1, "the standard library request was not held back"
    for route in held:
        route.continue_()
    expect(page.locator("html")).to_have_attribute(
        "data-authfetch", "ready", timeout=READY_TIMEOUT_MS
    )
    expect(page.locator("#loading")).to_be_hidden()
