"""examples/static-site: a plain HTML page on its own origin, calling the API on another
through ``window.authfetch``, with no Python written by the page's author."""

from __future__ import annotations

import importlib.util
import tomllib
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace

import pytest
from playwright.sync_api import Page, Request, Route, expect
from pytest_authfetch import ServerOptions
from pytest_authfetch.plugin import ServerPool

from e2e_tests.conftest import (
    INTERPRETERS,
    READY_TIMEOUT_MS,
    SCREENSHOTS,
    expire_access_token,
    open_ready_page,
    stats,
)
from e2e_tests.serverproc import ROOT

SITE = ROOT / "examples" / "static-site"
RECORD_CSP_VIOLATIONS = (
    "window.__violations = [];"
    "document.addEventListener('securitypolicyviolation',"
    " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
)


def load_serve() -> ModuleType:
    """The example's own static file server (examples/static-site/serve.py)."""
    spec = importlib.util.spec_from_file_location("static_site_serve", SITE / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=INTERPRETERS)
def site_and_api(
    request: pytest.FixtureRequest, authfetch_server_pool: ServerPool
) -> Iterator[SimpleNamespace]:
    """The static site on one port (on each interpreter), the API (``--allow-origin`` the
    site) on another."""
    serve = load_serve()
    site = serve.make_server(interpreter=request.param)
    api = authfetch_server_pool.new(ServerOptions(allow_origins=(site.url,)))
    site.api_origin = api.url
    serve.serve_in_thread(site)
    yield SimpleNamespace(url=site.url, api=api)
    site.shutdown()
    site.server_close()
    api.stop()


@pytest.fixture
def static_site(site_and_api: SimpleNamespace) -> SimpleNamespace:
    """The static site and a reset API: no sessions, zero counters, real time."""
    site_and_api.api.reset()
    return site_and_api


def test_example_configs_ship_the_library_as_one_archive():
    """The example's PyScript configs name the library in one line, the archive (compiled
    for MicroPython on MicroPython), and a vendored interpreter: MicroPython by default,
    Pyodide as the alternative."""
    for name, runtime, archive in (
        ("pyscript.toml", "micropython", "authfetch-mpy.tar.gz"),
        ("pyscript-py.toml", "pyodide", "authfetch.tar.gz"),
    ):
        config = tomllib.loads((SITE / name).read_text())
        assert config["files"] == {"./" + archive: "./*"}
        assert config["interpreter"].startswith(f"./vendor/{runtime}/{{{{{runtime}}}}}/")
        assert "packages" not in config


def test_static_page_signs_in_and_calls_the_api_cross_origin(page: Page, static_site):
    """Plain JavaScript on the site signs in and reads and writes the API on another
    origin, with the bearer attached and a refresh after expiry, under the page's CSP."""
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    sent: list[Request] = []

    def record(request: Request) -> None:
        sent.append(request)

    page.on("request", record)
    api = static_site.api
    assert static_site.url != api.url
    open_ready_page(page, static_site.url)
    expect(page.locator("#api-origin")).to_have_text(api.url)
    expect(page.locator("#status")).to_have_text("signed out")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo-pass")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Hello, demo")).to_be_visible()
    page.get_by_label("New note").fill("Saved across origins")
    page.get_by_role("button", name="Save note").click()
    expect(page.locator("#note-list li")).to_have_text(["Saved across origins"])
    expire_access_token(api)
    page.get_by_label("New note").fill("Saved after a silent refresh")
    page.get_by_role("button", name="Save note").click()
    expect(page.locator("#note-list li")).to_have_count(2)
    expect(page.locator("#status")).to_contain_text("renewed 1 time")
    counters = stats(api)
    assert (counters["login"], counters["refresh_ok"], counters["api_401"]) == (1, 1, 1)
    to_api = [r for r in sent if r.url.startswith(api.url + "/api/")]
    assert to_api and all(r.all_headers()["authorization"].startswith("Bearer ") for r in to_api)
    assert not [r for r in sent if r.url.startswith(static_site.url + "/api/")]
    assert page.evaluate("window.__violations") == []
    page.set_viewport_size({"width": 900, "height": 640})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "static-site.png", full_page=True)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_broken_options_are_reported_in_the_page(page: Page, static_site, page_errors):
    """A mistyped option stops authfetch with a message the page shows in words."""
    page_errors.allow(r"^console\.error: authfetch: unknown authfetch option\(s\): api_bsae$")

    def mistype(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, body=response.text().replace("api_base", "api_bsae"))

    page.route(static_site.url + "/", mistype)
    page.goto(static_site.url)
    expect(page.locator("html")).to_have_attribute(
        "data-authfetch", "error", timeout=READY_TIMEOUT_MS
    )
    expect(page.locator("#status")).to_have_text(
        "authfetch could not start: unknown authfetch option(s): api_bsae"
    )
