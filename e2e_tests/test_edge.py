"""The browser edge's own guarantees, on both interpreters: URLs judged as the browser
reads them, the Web Lock never left held, close(), another tab's localStorage.clear(),
a refresh that never answers, logout racing a refresh, and no promise left pending."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Page, Route, expect
from pytest_authfetch import AuthfetchServer

from e2e_tests.conftest import (
    bridge_login,
    demo_url,
    expire_access_token,
    open_ready_page,
    python_page,
    serve_page,
    stats,
)

# (request URL, whether it may carry the bearer). {o} is the server's origin, {h} its
# host:port, {p} its port. The bearer belongs to the server's origin as the browser
# reads the URL, and to nothing else.
URLS = [
    ("/api/me", True),
    ("api/me", True),
    ("{o}/api/me", True),
    ("HTTP://127.0.0.1:{p}/api/me", True),
    ("http://127.0.0.1:{p}/./api/../api/me", True),
    ("http://127.0.0.1:0{p}/api/me", True),  # leading zero in the port
    ("http://127.0.0.1.:{p}/api/me", True),  # trailing dot
    ("http://0x7f.0.0.1:{p}/api/me", True),  # hexadecimal IPv4
    ("http://2130706433:{p}/api/me", True),  # IPv4 as one number
    ("http://127.1:{p}/api/me", True),  # short IPv4
    ("http://%31%32%37.0.0.1:{p}/api/me", True),  # percent-encoded host
    ("http://127.0.0.1:{p}/%61pi/me", True),  # percent-encoded path
    ("http://127.0.0.1:{p}/api/\tme", True),  # a tab, removed by the parser
    ("  /api/me  ", True),  # spaces, trimmed
    ("//{h}/api/me", True),  # scheme-relative, own host
    ("http://{h}\\@evil.example/api/me", True),  # own host; the rest is its path
    ("http://evil.example\\@{h}/api/me", False),  # the backslash ends the host
    ("HTTP://EVIL.EXAMPLE\\@{h}/api/me", False),
    ("http://evil.example\\{h}/api/me", False),
    ("\\\\evil.example/api/me", False),  # backslashes are slashes in http(s)
    ("/\\evil.example/api/me", False),
    ("\\/evil.example/api/me", False),
    (" //evil.example/api/me", False),
    ("//evil.example/api/me", False),
    ("https:evil.example/api/me", False),
    ("http:\\\\evil.example\\api\\me", False),
    ("http://{h}@evil.example/api/me", False),  # userinfo that looks like our host
    ("http://evil.example#@{h}/api/me", False),
    ("http://evil.example?@{h}/api/me", False),
    ("http://evil.\nexample/api/me", False),  # a newline, removed by the parser
    ("http://evil%2eexample/api/me", False),
    ("http://evil.example:{p}/api/me", False),
    ("http://localhost:{p}/api/me", False),  # same machine, another origin
    ("http://[::1]:{p}/api/me", False),  # IPv6
    ("http://[::ffff:127.0.0.1]:{p}/api/me", False),
    ("http://127.0.0.1:80/api/me", False),  # default port: another origin
    ("https://{h}/api/me", False),  # another scheme
    ("http://user:pw@{h}/api/me", False),  # fetch refuses credentials in a URL
    ("http://127.0.0.1:{p}:80/api/me", False),  # not a URL
    ("javascript:alert(1)", False),
    ("blob:{o}/00000000-0000-4000-8000-000000000000", False),
    ("data:text/plain,hi", False),
    ("ftp://{h}/api/me", False),
]
# The same with a body (a JS Request normalises those first).
WITH_BODY = "{method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'}"
BODY_URLS = [
    ("http://evil.example\\@{h}/api/items", False),
    ("\\\\evil.example/api/items", False),
    ("{o}/api/items", True),
]
# The same as a JS Request object with its body and no init (Pyodide hands Python a JS
# null for the missing init: found by the Firefox suite).
AS_REQUEST = (
    "new Request(u, {method: 'POST', headers: {'Content-Type': 'application/json'},"
    " body: JSON.stringify({title: 'sent as a Request'})})"
)

#: Start ``GET /api/me`` without waiting; ``window.__r`` gets its status or error name.
FETCH_ME_IN_BACKGROUND = (
    "window.__r = undefined; authfetch.fetch('/api/me')"
    ".then(r => { window.__r = r.status; }, e => { window.__r = e.name; }); 0"
)


def test_bearer_goes_only_to_the_origin_the_browser_sends_to(
    new_context, fresh_server: AuthfetchServer, interpreter: str, page_errors
):
    """Every tricky URL is read by the browser's own parser: the bearer is attached exactly
    when the request really goes to the allow-listed origin, and nothing crashes."""
    page_errors.allow(r"^console\.error: Fetch API cannot load (javascript|ftp):")
    page_errors.allow(r"^console\.error: Failed to load resource: net::ERR_FILE_NOT_FOUND$")
    origin = fresh_server.url
    context: BrowserContext = new_context(bypass_csp=True)  # to see what would leave
    sent: list[tuple[str, str | None]] = []

    def intercept(route: Route) -> None:
        headers = route.request.all_headers()
        bearer = headers.get("authorization")
        if "authorization" in headers.get("access-control-request-headers", ""):
            bearer = "preflight"
        sent.append((route.request.url, bearer))
        parts = urlsplit(route.request.url)
        if f"{parts.scheme}://{parts.netloc}" == origin:
            route.continue_()
        else:  # off the machine: answer here, as a server there would, and record
            cors = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "*"}
            route.fulfill(status=200, headers=cors, body="{}")

    page = open_ready_page(context.new_page(), demo_url(origin, interpreter))
    bridge_login(page)
    context.route("**/*", intercept)
    port, host = str(fresh_server.port), f"127.0.0.1:{fresh_server.port}"
    cases = [(url, bearer, "u, undefined") for url, bearer in URLS]
    cases += [(url, bearer, f"u, {WITH_BODY}") for url, bearer in BODY_URLS]
    cases += [(url, bearer, AS_REQUEST) for url, bearer in BODY_URLS]
    for template, bearer_expected, arguments in cases:
        url = template.format(o=origin, h=host, p=port)
        sent.clear()
        outcome = page.evaluate(
            f"u => authfetch.fetch({arguments})"
            ".then(r => 'answered ' + r.status, e => 'rejected ' + e.name)",
            url,
        )
        assert outcome.startswith("answered") or outcome == "rejected TypeError", (url, outcome)
        if arguments == AS_REQUEST and bearer_expected:
            assert outcome == "answered 201", (url, outcome)  # the body arrived
        with_bearer = [(sent_url, value) for sent_url, value in sent if value]
        for sent_url, _value in with_bearer:
            parts = urlsplit(sent_url)
            assert f"{parts.scheme}://{parts.netloc}" == origin, (url, sent_url)
        assert bool(with_bearer) == bearer_expected, (url, sent)


def test_lock_timeout_fails_clearly_and_leaves_no_rejection(
    page: Page, fresh_server: AuthfetchServer, interpreter: str
):
    """While another tab holds the refresh lock past lock_timeout, the request fails with
    RefreshUnavailableError, no unhandled rejection appears, and the session is kept."""
    page.clock.install()
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    bridge_login(page)
    page.evaluate(
        "navigator.locks.request('authfetch:authfetch.session',"
        " () => new Promise(r => { window.__releaseOther = r; })); 0"
    )
    expire_access_token(fresh_server)
    page.evaluate(FETCH_ME_IN_BACKGROUND)
    run_until(page, "window.__r !== undefined", seconds=30)
    assert page.evaluate("window.__r") == "RefreshUnavailableError"
    assert page.evaluate("authfetch.state().loggedIn") is True
    page.evaluate("window.__releaseOther()")
    assert page.evaluate("authfetch.fetch('/api/me').then(r => r.status)") == 200
    assert stats(fresh_server)["refresh_ok"] == 1


def run_until(page: Page, condition: str, seconds: int) -> None:
    """Move the page's fake clock a second at a time until ``condition`` holds."""
    for _ in range(seconds):
        if page.evaluate(condition):
            return
        page.clock.run_for(1_000)
    assert page.evaluate(condition), f"not true after {seconds} s of page time: {condition}"


# Lab pages: a little Python of the test's own on the interpreter under test.
LOCK_LAB = """
import asyncio
import js
from pyscript.ffi import create_proxy
from authfetch.web.locks import WebLock

waiting = []


async def hold():
    async with WebLock("authfetch:lab", 60):
        js.window.__entered = True


def start(_unused=None):
    waiting.append(asyncio.create_task(hold()))


def cancel(_unused=None):
    waiting.pop().cancel()


js.window.startWaiter = create_proxy(start)
js.window.cancelWaiter = create_proxy(cancel)
js.document.documentElement.dataset.lab = "ready"
"""


def open_lab(page: Page, origin: str, interpreter: str, python: str) -> Page:
    """Open a page running ``python`` on ``interpreter``; wait for its ready mark."""
    url = serve_page(page.context, origin + "/e2e-lab.html", python_page(interpreter, python))
    page.goto(url)
    expect(page.locator("html")).to_have_attribute("data-lab", "ready", timeout=60_000)
    return page


def test_cancelled_lock_waiter_never_holds_the_lock(
    page: Page, server: AuthfetchServer, interpreter: str
):
    """A waiter cancelled while queued for the Web Lock withdraws: when the holder lets go,
    the lock is free, not kept by a waiter nobody listens to."""
    open_lab(page, server.url, interpreter, LOCK_LAB)
    page.evaluate(
        "navigator.locks.request('authfetch:lab', () => new Promise(r => { window.__free = r; }));"
        " 0"
    )
    page.evaluate("startWaiter()")
    page.wait_for_function(
        "navigator.locks.query().then(s => s.pending.some(l => l.name === 'authfetch:lab'))"
    )
    page.evaluate("cancelWaiter()")
    page.evaluate("window.__free()")
    page.wait_for_function(
        "navigator.locks.query().then(s => !s.held.length && !s.pending.length)", timeout=10_000
    )
    assert page.evaluate("window.__entered === undefined")


CLOSE_LAB = """
import js
from authfetch.web import setup

js.window.__events = js.JSON.parse("[]")


def recorder(tag):
    def on_event(name, detail):
        js.window.__events.push(tag + ":" + name)

    return on_event


first = setup(on_event=recorder("first"))
second = setup(on_event=recorder("second"))  # closes the first
js.document.documentElement.dataset.lab = "ready"
"""
# Another tab's logout as this tab sees it: the key is gone, then the storage event
# arrives (a tab's own writes fire no storage event in it, so the test sends one).
STORAGE_REMOVED = (
    "localStorage.removeItem('authfetch.session');"
    " window.dispatchEvent(new StorageEvent('storage', {key: 'authfetch.session',"
    " newValue: null, storageArea: localStorage}))"
)


def test_second_setup_and_close_let_go_of_every_listener(
    page: Page, fresh_server: AuthfetchServer, interpreter: str
):
    """A second setup() closes the first client (none of its listeners fires again); the
    new one works; after close() no listener fires and window.authfetch is gone."""
    open_lab(page, fresh_server.url, interpreter, CLOSE_LAB)
    bridge_login(page)
    assert page.evaluate("authfetch.fetch('/api/me').then(r => r.status)") == 200
    page.evaluate(STORAGE_REMOVED)  # "another tab logged out"
    page.wait_for_function("window.__events.includes('second:logout')")
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    assert [e for e in page.evaluate("window.__events") if e.startswith("first:")] == []
    bridge_login(page)
    page.evaluate("authfetch.close()")
    assert page.evaluate("typeof window.authfetch") == "undefined"
    seen = len(page.evaluate("window.__events"))
    page.evaluate(STORAGE_REMOVED)  # a listener left would record its event right here
    assert len(page.evaluate("window.__events")) == seen


IDB_COPY = """() => new Promise((resolve) => {
    const open = indexedDB.open('authfetch', 1);
    open.onsuccess = () => {
        const get = open.result.transaction('sessions').objectStore('sessions')
            .get('authfetch.session');
        get.onsuccess = () => resolve(get.result === undefined ? 'unwritten' : get.result);
    };
})"""


def test_local_storage_clear_in_another_tab_signs_out_once(
    context: BrowserContext, fresh_server: AuthfetchServer, interpreter: str
):
    """localStorage.clear() in another tab (a storage event with key null) signs this tab
    out once, as "external", and clears the IndexedDB copy of the session."""
    url = demo_url(fresh_server.url, interpreter)
    first = open_ready_page(context.new_page(), url)
    bridge_login(first)
    expect(first.locator("#username-shown")).to_have_text("demo")
    second = open_ready_page(context.new_page(), url)
    assert first.evaluate(IDB_COPY) not in ("null", "unwritten")
    second.evaluate("localStorage.clear()")
    expect(first.locator("#login-message")).to_have_text("You signed out in another tab.")
    first.wait_for_function(f"({IDB_COPY})().then(v => v === 'null')")
    assert first.evaluate("authfetch.state().loggedIn") is False
    expect(first.locator("#event-log li[data-event=logout]")).to_have_count(1)


CANCEL_LAB = """
import asyncio
import js
from pyscript.ffi import create_proxy
from authfetch.core import Refresh
from authfetch.web.chain import run_flow
from authfetch.web.ffi import H, error_for_js
from authfetch.web.transport import FetchTransport


def flow():
    tokens = yield Refresh("stale")
    return tokens


class CancellingSession:
    async def refresh(self, _stale):
        raise asyncio.CancelledError()

    def emit(self, _event):
        pass


class Call:  # what the bridge's JsCall does, around a promise the test makes

    def __init__(self, resolve, reject):
        self.resolve_js, self.reject_js = resolve, reject

    def resolve(self, value):
        self.resolve_js(value)

    def reject(self, exc):
        H.fail(self.reject_js, error_for_js(exc))


def go(resolve, reject):
    run_flow(flow(), CancellingSession(), FetchTransport(), Call(resolve, reject))


js.window.goFlow = create_proxy(go)
js.document.documentElement.dataset.lab = "ready"
"""


def test_cancelled_refresh_task_settles_the_callers_promise(
    page: Page, server: AuthfetchServer, interpreter: str, page_errors
):
    """A request flow whose refresh task is cancelled rejects its JS promise with a named
    error instead of leaving it pending."""
    page_errors.allow("CancelledError")  # the cancelled task itself may be reported
    open_lab(page, server.url, interpreter, CANCEL_LAB)
    page.evaluate(
        "new Promise((resolve, reject) => goFlow(resolve, reject))"
        ".then(() => { window.__r = 'resolved'; }, e => { window.__r = e.name; }); 0"
    )
    page.wait_for_function("window.__r !== undefined", timeout=10_000)
    assert page.evaluate("window.__r") == "RefreshUnavailableError"


def test_refresh_that_never_answers_times_out_and_keeps_the_session(
    page: Page, fresh_server: AuthfetchServer, interpreter: str
):
    """A refresh endpoint that never answers is given up after refresh_timeout (10 s) per
    attempt: the request fails with RefreshUnavailableError and the session is kept."""
    held: list[Route] = []
    page.clock.install()
    open_ready_page(page, demo_url(fresh_server.url, interpreter))
    bridge_login(page)
    page.route("**/auth/refresh", lambda route: held.append(route))
    expire_access_token(fresh_server)
    page.evaluate(FETCH_ME_IN_BACKGROUND)
    run_until(page, "window.__r !== undefined", seconds=60)
    assert page.evaluate("window.__r") == "RefreshUnavailableError"
    assert len(held) == 3  # refresh_attempts, each aborted after its timeout
    assert page.evaluate("authfetch.state().loggedIn") is True
    page.unroute_all(behavior="ignoreErrors")
    assert page.evaluate("authfetch.fetch('/api/me').then(r => r.status)") == 200


# Delays the "complete" report of the IndexedDB write of a logout ("null"), so a test can
# land a refresh answer in that gap; window.__heldCopy() lets it through.
HOLD_LOGGED_OUT_COPY = """(() => {
  const put = IDBObjectStore.prototype.put;
  IDBObjectStore.prototype.put = function (value, key) {
    if (value === 'null' && window.__holdLoggedOutCopy) this.transaction.__held = true;
    return put.call(this, value, key);
  };
  const slot = Object.getOwnPropertyDescriptor(IDBTransaction.prototype, 'oncomplete');
  Object.defineProperty(IDBTransaction.prototype, 'oncomplete', {
    configurable: true,
    get() { return slot.get.call(this); },
    set(handler) {
      const transaction = this;
      slot.set.call(this, (event) => {
        if (transaction.__held) window.__heldCopy = () => handler.call(transaction, event);
        else handler.call(transaction, event);
      });
    },
  });
})();"""
NO_LOGOUT_CALL = '{"logout_endpoint": null}'


def test_logout_wins_over_a_refresh_that_lands_during_it(
    page: Page, fresh_server: AuthfetchServer, interpreter: str
):
    """A refresh answer that arrives while logout is still writing its IndexedDB copy is
    dropped: after the logout, storage is empty and a reload starts signed out."""
    held: list[Route] = []
    page.add_init_script(HOLD_LOGGED_OUT_COPY)
    head = f'<script type="application/json" id="authfetch-options">{NO_LOGOUT_CALL}</script>'
    html = python_page(interpreter, src="/py/authfetch/src/authfetch/web/autostart.py", head=head)
    url = serve_page(page.context, fresh_server.url + "/e2e-options.html", html)
    open_ready_page(page, url)
    bridge_login(page)
    page.route("**/auth/refresh", lambda route: held.append(route))
    expire_access_token(fresh_server)
    with page.expect_request("**/auth/refresh"):  # the refresh is on its way...
        page.evaluate(FETCH_ME_IN_BACKGROUND)
    while not held:  # ...and held at the network once its route handler has run
        page.evaluate("0")
    page.evaluate("window.__holdLoggedOutCopy = true; window.__logout = authfetch.logout(); 0")
    page.wait_for_function("typeof window.__heldCopy === 'function'")
    held[0].continue_()  # the server rotates; the answer lands in the logout's gap
    page.wait_for_function("window.__r !== undefined")
    page.evaluate("window.__heldCopy()")
    page.evaluate("window.__logout")
    assert page.evaluate("localStorage.getItem('authfetch.session')") is None
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-authfetch", "ready", timeout=60_000)
    assert page.evaluate("authfetch.state().loggedIn") is False


HEADERS_LAB = """
import js
from authfetch.web.transport import JsHeaders

headers = JsHeaders(js.Headers.new(js.JSON.parse('{"DPoP-Nonce": "n1", "X-Empty": ""}')))
js.window.__got = repr([headers.get("dpop-nonce"), headers.get("x-empty"),
                        headers.get("absent"), headers.get("absent", "d")])
js.document.documentElement.dataset.lab = "ready"
"""


def test_a_header_a_response_lacks_reads_as_none(
    page: Page, server: AuthfetchServer, interpreter: str
):
    """A response header that is not there reads as ``None`` (or the default) on both
    interpreters: MicroPython turns JS ``undefined`` into a truthy object, which once
    became a ``DPoP-Nonce`` of "undefined" on every answer without one."""
    open_lab(page, server.url, interpreter, HEADERS_LAB)
    assert page.evaluate("window.__got") == "['n1', '', None, 'd']"
