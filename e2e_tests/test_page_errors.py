"""The error watch that every end-to-end test runs under really sees what goes wrong."""

from __future__ import annotations

from playwright.sync_api import Page

from e2e_tests.conftest import PageErrors


def test_unhandled_rejection_and_uncaught_error_are_seen(page: Page, page_errors: PageErrors):
    """An unhandled rejection, an uncaught exception and a console error in a page are
    each recorded (so any test whose page does one of them fails at teardown)."""
    page.set_content("<p>nothing here</p>")
    with page.expect_event("pageerror"):
        page.evaluate("setTimeout(() => Promise.reject(new Error('lost rejection')), 0)")
    with page.expect_event("pageerror"):
        page.evaluate("setTimeout(() => { throw new TypeError('uncaught throw'); }, 0)")
    with page.expect_event("console"):
        page.evaluate("console.error('said in red')")
    assert len(page_errors.unexpected()) == 3
    assert "lost rejection" in page_errors.unexpected()[0]
    assert "uncaught throw" in page_errors.unexpected()[1]
    assert "said in red" in page_errors.unexpected()[2]
    for expected in ("lost rejection", "uncaught throw", "said in red"):
        page_errors.allow(expected)
    assert page_errors.unexpected() == []
