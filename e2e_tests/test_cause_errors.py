"""Errors that name their cause: a sign-in from the example static site to an API the page's
CSP blocks, that does not allow the page's origin (CORS), or that is down, each says which."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from functools import partial
from types import SimpleNamespace

import pytest
from playwright.sync_api import Page
from pytest_authfetch import AuthfetchServer, ServerOptions
from pytest_authfetch.plugin import ServerPool

from e2e_tests.conftest import INTERPRETERS, open_ready_page
from e2e_tests.test_static_site import load_serve

#: Records every ``authfetch:network-error`` detail.
RECORD_NETWORK_ERRORS = (
    "window.__networkErrors = [];"
    "addEventListener('authfetch:network-error', e => window.__networkErrors.push(e.detail));"
)
#: Stands for the API origin in the page until it is filled in.
TOKEN = "http://api.invalid"
SIGN_IN = "authfetch.login('demo', 'demo-pass').then(() => 'ok', e => e.name + ': ' + e.message)"


def closed_port_origin() -> str:
    """An origin on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture(scope="module", params=INTERPRETERS)
def site(
    request: pytest.FixtureRequest, authfetch_server_pool: ServerPool
) -> Iterator[SimpleNamespace]:
    """The example site on one interpreter; ``site.server.csp`` (if set) replaces the API
    origin in the page's CSP only; ``site.server.api_origin`` is the API the page calls."""
    serve = load_serve()

    class Handler(serve.SiteHandler):
        """The example's handler; the CSP's connect-src may name another origin."""

        def do_GET(self) -> None:
            name = self.path.split("?", 1)[0].lstrip("/") or "index.html"
            if name != "index.html" or self.server.csp is None:
                super().do_GET()
                return
            text = serve.fill((serve.HERE / name).read_text(), self.server.interpreter, TOKEN)
            text = text.replace(
                "connect-src 'self' " + TOKEN, "connect-src 'self' " + self.server.csp
            )
            body = text.replace(TOKEN, self.server.api_origin).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = serve.make_server(interpreter=request.param)
    server.RequestHandlerClass = partial(Handler, directory=str(serve.HERE))
    api = authfetch_server_pool.new(ServerOptions(allow_origins=(server.url,)))
    server.csp = None
    serve.serve_in_thread(server)
    yield SimpleNamespace(server=server, url=server.url, api=api)
    server.shutdown()
    server.server_close()
    api.stop()


def sign_in(page: Page, site: SimpleNamespace, api_origin: str, csp: str | None = None) -> str:
    """Open the site calling ``api_origin`` (``csp``: the origin its CSP allows instead) and
    sign in through ``window.authfetch``; ``"ok"`` or the error's name and message."""
    site.server.api_origin, site.server.csp = api_origin, csp
    page.add_init_script(RECORD_NETWORK_ERRORS)
    open_ready_page(page, site.url)
    return page.evaluate(SIGN_IN)


def test_csp_block_names_the_directive_to_change(page: Page, site, page_errors):
    """The API missing from the page's connect-src: the error says to add it there."""
    page_errors.allow(r"Content Security Policy|Failed to fetch|Content-Security-Policy")
    outcome = sign_in(page, site, site.api.url, csp="http://127.0.0.1:9")
    cause = f"blocked by this page's Content-Security-Policy: add {site.api.url} to connect-src"
    assert outcome.startswith("LoginError: login failed") and cause in outcome, outcome
    events = page.evaluate("window.__networkErrors")
    assert events and cause in events[-1]["error"]


def test_api_that_does_not_allow_the_page_names_cors(
    page: Page, site, server: AuthfetchServer, page_errors
):
    """The API's CORS list without the page's origin: the error names CORS and the origin."""
    page_errors.allow(r"CORS|Failed to fetch|blocked by|ERR_FAILED")
    outcome = sign_in(page, site, server.url)
    cause = (
        f"{server.url} is down, or blocked by CORS: check that the API allows this page's"
        f" origin ({site.url})"
    )
    assert outcome.startswith("LoginError: login failed") and cause in outcome, outcome
    assert cause in page.evaluate("window.__networkErrors")[-1]["error"]


def test_api_that_is_down_says_down_or_cors(page: Page, site, page_errors):
    """Nothing listening at the API's origin: the error says down or CORS, naming both origins."""
    page_errors.allow(r"ERR_CONNECTION_REFUSED|Failed to fetch|blocked by")
    down = closed_port_origin()
    outcome = sign_in(page, site, down)
    assert f"{down} is down, or blocked by CORS" in outcome, outcome
    assert f"allows this page's origin ({site.url})" in outcome
