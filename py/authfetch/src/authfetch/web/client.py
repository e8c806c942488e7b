"""The browser client: the core session wired to fetch, storage, Web Locks, events and timers."""

import asyncio
import json
import time

import js

from authfetch.core import (
    DEFAULT_REFRESH_TIMEOUT,
    STORAGE_KEY,
    AuthConfig,
    AuthFetchError,
    AuthSession,
    ConfigurationError,
    DPoP,
    DPoPError,
    Event,
    LoginError,
    OAuthClient,
    ReplayableRequest,
    TokenSet,
    begin_sign_in,
    callback_params,
    end_session_url,
    remember_pending,
    take_pending,
    without_callback,
)
from authfetch.core.b64 import unb64
from authfetch.core.oauth import page_without_query, same_origin
from authfetch.core.options import check_values, under_base
from authfetch.web.chain import run_flow
from authfetch.web.dpop import BrowserKeys
from authfetch.web.ffi import SETTLER, H, JsCall, Timer, now, proxy, release, spawn
from authfetch.web.lease import page_lock
from authfetch.web.storage import make_store
from authfetch.web.transport import FetchTransport, Response, request_from_js, simple_request

#: The core's events that come with a request: their page detail names the request.
REQUEST_EVENTS = ("request", "response", "refresh", "refreshed", "network-error")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from authfetch.urllib_opener import AuthOpener

#: After a proactive refresh that could not reach the server, look again this much later.
RETRY_AFTER_UNAVAILABLE_S = 5.0

#: Every option of :class:`AuthFetch` that is data (JSON can carry it), with its default.
#: The one list of them: ``autostart`` and the options table of docs/getting-started.md follow it.
OPTIONS = {
    "storage": "local",  # "local", "session" or "memory"
    "storage_key": STORAGE_KEY,  # the one key holding the session as JSON
    "login_endpoint": "/auth/login",  # POST {username, password}
    "refresh_endpoint": "/auth/refresh",  # POST {refresh_token}; the only URL that sees it
    "logout_endpoint": "/auth/logout",  # POST {refresh_token} on logout; None: no call
    "allowed_origins": None,  # origins that get the bearer (default: api_base's)
    "leeway": None,  # seconds before expiry to refresh (default per token)
    "refresh_attempts": 3,  # tries for a refresh meeting a network error or 5xx
    "refresh_timeout": DEFAULT_REFRESH_TIMEOUT,  # s before a refresh without an answer aborts
    "lock_timeout": 10.0,  # seconds to wait for the cross-tab lock
    "login_url": None,  # a page to send the browser to when the session ends
    # A standard provider (OAuth 2.0 / OpenID Connect): `issuer` (or the endpoints) turns it on.
    "issuer": None,  # the provider; its discovery document gives the endpoints
    "client_id": None,  # required with a provider: the public client registered there
    "scope": None,  # asked for at sign-in (default "openid offline_access")
    "refresh_scope": None,  # sent with each refresh only when set
    "redirect_uri": None,  # default: this page's URL without query and fragment
    "post_logout_redirect_uri": None,  # with end_session_endpoint: logout ends the provider's
    "authorization_params": None,  # extra sign-in parameters: audience, resource, prompt...
    "authorization_endpoint": None,  # instead of discovery (with token_endpoint)
    "token_endpoint": None,  # instead of discovery
    "revocation_endpoint": None,  # instead of discovery
    "end_session_endpoint": None,  # instead of discovery
    "dpop": False,  # bind the tokens to a key no script can read (RFC 9449; secure pages only)
}
#: The options that name a standard provider (any of them set: OAuth 2.0 / OpenID Connect).
PROVIDER_OPTIONS = ("issuer", "authorization_endpoint", "token_endpoint")
#: The URL options of a provider, read by the browser's own URL parser against the page.
PROVIDER_URLS = (
    "redirect_uri",
    "post_logout_redirect_uri",
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "end_session_endpoint",
)
#: The options that are Python callables (hooks).
HOOKS = ("on_tokens", "on_refresh_error", "on_logout", "on_event")


#: The endpoints whose defaults go under ``api_base``'s path (``.../v1`` → ``.../v1/auth/login``).
BASE_ENDPOINTS = ("login_endpoint", "refresh_endpoint", "logout_endpoint")


def check_options(options: dict, api_base: "str | None" = None) -> dict:
    """Every option with its value (defaults filled in); ``TypeError`` for unknown names,
    ``ConfigurationError`` (naming the option) for a value of the wrong type or range.
    The default endpoints go under ``api_base``'s path (:func:`under_base`)."""
    unknown = sorted(name for name in options if name not in OPTIONS and name not in HOOKS)
    if unknown:
        raise TypeError("unknown authfetch option(s): " + ", ".join(unknown))
    values = dict(options)
    values["api_base"] = api_base
    check_values(values)
    if api_base is not None and not str(H.resolveUrl(api_base) or "").startswith("http"):
        raise ConfigurationError("option api_base is not an http(s) URL: " + repr(api_base))
    for name in HOOKS:
        if options.get(name) is not None and not callable(options[name]):
            raise ConfigurationError("option " + name + " must be a function or None")
    settings = dict(OPTIONS)
    for name in HOOKS:
        settings[name] = None
    if api_base is not None:
        for name in BASE_ENDPOINTS:
            settings[name] = under_base(api_base, str(settings[name]))
    settings.update(options)
    return settings


def oauth_client(settings: dict, page: str) -> "OAuthClient | None":
    """The provider's client of ``settings`` (``None``: the JSON dialect); ``ConfigurationError``
    when a provider is named without ``client_id`` or with a URL the browser cannot read."""
    if all(settings[name] is None for name in PROVIDER_OPTIONS):
        return None
    if not settings["client_id"]:
        raise ConfigurationError("client_id is required with issuer (the client registered there)")
    urls = {}
    for name in PROVIDER_URLS:
        value = settings[name]
        if value is not None:
            href = H.resolveUrl(str(value))
            if href is None:
                raise ConfigurationError(name + " is not a URL: " + repr(value))
            urls[name] = str(href)
    issuer = settings["issuer"]
    return OAuthClient(
        str(settings["client_id"]),
        urls.get("redirect_uri") or page_without_query(page),
        issuer=None if issuer is None else str(issuer),
        scope=settings["scope"],
        refresh_scope=settings["refresh_scope"],
        authorization_params=settings["authorization_params"],
        post_logout_redirect_uri=urls.get("post_logout_redirect_uri"),
        authorization_endpoint=urls.get("authorization_endpoint"),
        token_endpoint=urls.get("token_endpoint"),
        revocation_endpoint=urls.get("revocation_endpoint"),
        end_session_endpoint=urls.get("end_session_endpoint"),
    )


def random_bytes(count: int) -> bytes:
    """``count`` bytes from ``crypto.getRandomValues`` (as base64 text across the FFI)."""
    return unb64(str(H.randomBase64(count)))


class BrowserClock:
    """Browser time (which ``page.clock`` can fake) and non-blocking sleep."""

    def now(self) -> float:
        """Local epoch seconds."""
        return now()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the browser's event loop (a ``setTimeout``)."""
        await asyncio.sleep(seconds)


class SyncBrowserClock(BrowserClock):
    """Browser time for the synchronous (urllib) session; its sleep blocks."""

    def sleep(self, seconds: float) -> None:  # type: ignore[override]
        """Block for ``seconds`` (only between refresh retries of a sync call)."""
        time.sleep(seconds)


class AuthFetch:
    """fetch with silent refresh-and-replay for a page; see :func:`authfetch.web.setup`.

    ``AuthFetch(api_base=None, **options)``: the options are :data:`OPTIONS` and
    the hooks :data:`HOOKS` (see docs/getting-started.md). :meth:`start` listens to the
    browser; :meth:`close` lets go of every listener, timer and proxy.
    """

    def __init__(self, api_base: "str | None" = None, **options: "Any") -> None:
        """Build the client; call :meth:`start` next."""
        settings = check_options(options, api_base)
        page = str(js.location.href)
        self.login_url = settings["login_url"]
        self._hooks = {name: settings[name] for name in HOOKS}
        self.store = make_store(settings["storage"], settings["storage_key"])
        self.clock = BrowserClock()
        #: The standard provider's client, or ``None`` (the JSON dialect).
        self.oauth = oauth_client(settings, page)
        #: Where this tab keeps its started sign-ins (``sessionStorage``: this tab only).
        self.pending_key = settings["storage_key"] + ".signin"
        #: The error (``LoginError``, ``DPoPError``) of the sign-in the page came back from.
        self.sign_in_error: AuthFetchError | None = None
        self.config = AuthConfig(
            api_base or page,
            base_url=page,
            refresh_endpoint=settings["refresh_endpoint"],
            login_endpoint=settings["login_endpoint"],
            logout_endpoint=settings["logout_endpoint"],
            allowed_origins=settings["allowed_origins"],
            leeway=settings["leeway"],
            refresh_attempts=settings["refresh_attempts"],
            refresh_timeout=settings["refresh_timeout"] or None,
            on_event=self._core_event,
            request_events=settings["on_event"] is not None,
            oauth=self.oauth,
            dpop=DPoP(random_bytes) if settings["dpop"] else None,
        )
        self.transport = FetchTransport()
        self.session = AuthSession(
            self.config,
            self.transport,
            store=self.store,
            lock=self._cross_tab_lock(settings["storage_key"], float(settings["lock_timeout"])),
            clock=self.clock,
            keys=BrowserKeys(settings["storage_key"]) if settings["dpop"] else None,
        )
        self.settler = SETTLER
        self._timer = Timer(self._check_soon)
        self._unlisten: list = []
        self._proxies: list = []
        self._watchers: list = []
        self._closers: list = []
        self.closed = False

    def _cross_tab_lock(self, storage_key: str, timeout: float) -> "Any":
        """The cross-tab lock for a store shared by tabs; ``None`` where none is needed.

        Web Locks where the page has them (``navigator.locks`` exists only in
        secure contexts: https, localhost), and always the store's lease, which
        is the lock itself without them and what the sync path checks
        (:mod:`authfetch.web.lease`). No path relies on the server's reuse grace.
        """
        return page_lock(self.store, storage_key, timeout, self.clock)

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> "AuthFetch":
        """Listen to other tabs, visibility and network events; schedule the refresh timer."""
        self._listen(js.window, "storage", self._storage_changed)
        self._listen(js.document, "visibilitychange", self._visibility_changed)
        self._listen(js.window, "online", lambda _unused: self._check_soon())
        self._schedule()
        self._changed()
        return self

    def close(self) -> None:
        """Stop: remove every listener, the timer and the proxies (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._timer.close()
        for unlisten in self._unlisten:
            unlisten()
        for js_function in self._proxies:
            release(js_function)
        for closer in self._closers:
            closer()
        self._unlisten, self._proxies, self._watchers, self._closers = [], [], [], []

    def _listen(self, target: "Any", event_type: str, callback: "Callable[..., None]") -> None:
        """Add a browser event listener that :meth:`close` removes."""
        js_function = proxy(callback)
        self._proxies.append(js_function)
        self._unlisten.append(H.listen(target, event_type, js_function))

    def watch(self, callback: "Callable[[AuthFetch], None]") -> None:
        """Call ``callback(client)`` whenever :meth:`snapshot` may have changed."""
        self._watchers.append(callback)

    def on_close(self, callback: "Callable[[], None]") -> None:
        """Call ``callback()`` when the client closes (the bridge lets go of its name)."""
        self._closers.append(callback)

    async def prepare(self) -> None:
        """At a provider: read its discovery document (``ConfigurationError``), then finish the
        sign-in the page came back from, if it did (see :meth:`finish_sign_in`)."""
        if self.oauth is None:
            return
        await self.session.discover()
        await self.finish_sign_in()

    async def finish_sign_in(self) -> "TokenSet | None":
        """Finish the sign-in whose answer is in the address bar; ``None`` if there is none.

        The answer leaves the address bar first (``history.replaceState``), so a
        reload never exchanges the code again; the started sign-in is taken out
        of ``sessionStorage`` (used once). A failure is kept in
        :attr:`sign_in_error` and told as an ``error`` event (``name``,
        ``message``, ``error``, ``error_description``); nothing is stored then.
        Success goes back to the page the sign-in started from.
        """
        href = str(js.location.href)
        params = callback_params(href)
        if self.oauth is None or params is None:
            return None
        H.replaceUrl(without_callback(href))
        now = self.clock.now()
        pending, rest = take_pending(
            js.sessionStorage.getItem(self.pending_key), params["state"], now
        )
        js.sessionStorage.setItem(self.pending_key, rest)
        try:
            tokens = await self.session.finish_sign_in(params, pending)
        except (LoginError, DPoPError) as exc:
            self.sign_in_error = exc
            self.emit("error", error_detail(exc))
            self._changed()
            return None
        self._return_to(str((pending or {}).get("return_to") or ""))
        return tokens

    def _return_to(self, url: str) -> None:
        """Show the page the sign-in started from: the same page gets its query and fragment
        back in the address bar; another page of this origin is loaded."""
        here = str(js.location.href)
        if not url or not same_origin(url, here) or url == here:
            return
        if page_without_query(url) == page_without_query(here):
            H.replaceUrl(url)
        else:
            js.location.replace(url)

    # -- public API ------------------------------------------------------------------

    async def login(self, username: "str | None" = None, password: "str | None" = None) -> "Any":
        """Sign in. With a provider: no arguments; the browser goes to the provider's sign-in
        page (code + PKCE) and the sign-in finishes when it comes back (:meth:`prepare`).
        The JSON dialect: ``login(username, password)``; ``LoginError`` when refused."""
        if self.oauth is None or username is not None:
            if username is None or password is None:
                raise LoginError("login(username, password): both are needed")
            return await self.session.login(username, password)
        if self.oauth.authorization_endpoint is None:
            await self.session.discover()
        now = self.clock.now()
        url, pending = begin_sign_in(self.oauth, random_bytes, str(js.location.href), now)
        stored = H.tabItem(self.pending_key)
        js.sessionStorage.setItem(self.pending_key, remember_pending(stored, pending, now))
        js.location.assign(url)
        return None

    async def logout(self) -> None:
        """Revoke on the server (best effort), clear storage; every tab logs out. With a
        provider and a ``post_logout_redirect_uri``: then end the provider's session too."""
        tokens = self.session.tokens
        await self.session.logout()
        if self.oauth is not None:
            url = end_session_url(self.oauth, tokens.id_token if tokens is not None else None)
            if url is not None and not self.closed:
                js.location.assign(url)

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: "dict[str, str] | None" = None,
        body: "Any" = None,
        json: "Any" = None,
        retry: bool = True,
    ) -> Response:
        """``fetch`` from Python: the bearer attached, refresh-and-replay once if needed.

        ``json`` sends a JSON body; ``body`` may be ``str``, ``bytes`` or a
        dict/list. ``retry=False`` opts this request out of refresh-and-replay.
        The URL is read by the browser's own parser (what is judged is what is sent).
        """
        href = H.resolveUrl(url)
        if href is None:
            raise TypeError("invalid URL: " + repr(url))
        payload = json if json is not None else body
        request = ReplayableRequest(str(href), method, headers, payload, retry=retry)
        return await self.session.fetch(request)

    def fetch_js(self, description: str, call_id: int) -> None:
        """``fetch(resource, init)`` for JavaScript: settles the bridge's call ``call_id``.

        ``description`` is the JS side's reading of the arguments (JSON text, the
        URL resolved by the browser); the arguments themselves stay in JavaScript
        with the call's promise, and are read from there only when needed. A URL and
        no body (the common case) is driven by chaining promises
        (:mod:`authfetch.web.chain`), the call's init found by its id when each send
        is made; a body is read into bytes first, on the asyncio path; a URL the
        browser cannot parse is handed to ``fetch`` untouched, which rejects with its
        own ``TypeError``.
        """
        call = JsCall(int(call_id))
        described = json.loads(description)
        if described.get("simple") and described.get("url") is None:
            resource, init = H.callInput(call.ident), H.callInit(call.ident)
            self.settler.fetch(resource, init, 0, _settle_with(call))
            return
        request = simple_request(described, call.ident)
        if request is None:
            spawn(self._fetch_with_body(call, described["retry"]))
            return
        run_flow(self.session.request_flow(request), self.session, self.transport, call)

    async def _fetch_with_body(self, call: JsCall, retry: bool) -> None:
        """Read the body of a JS request once, then send it through the session."""
        try:
            resource, init = H.callInput(call.ident), H.callInit(call.ident)
            request = await request_from_js(resource, init, retry)
            response = await self.session.fetch(request)
        except Exception as exc:
            call.reject(exc)
            return
        call.resolve(response.js)

    def urllib_opener(self) -> "AuthOpener":
        """An ``urllib.request`` opener with the same session (Pyodide only: needs
        pyodide-http patched; MicroPython has no ``urllib``).

        ``opener.open("/api/me")`` blocks (a synchronous request), attaches the
        bearer, refreshes and replays once, exactly like :meth:`fetch`; a
        refresh it makes is seen at once by the async side and other tabs.
        """
        from authfetch.core import SyncAuthSession
        from authfetch.urllib_opener import AuthOpener, UrllibTransport

        sync_session = SyncAuthSession(
            self.config, UrllibTransport(), self.store, SyncBrowserClock(), self.session.machine
        )
        return AuthOpener(sync_session)

    @property
    def logged_in(self) -> bool:
        """Whether a session is held."""
        return self.session.tokens is not None

    def snapshot(self) -> dict:
        """The core's ``{state, signed_in, expires_at (local epoch s), refreshes}``."""
        return self.session.snapshot()

    def emit(self, name: str, detail: "dict | None" = None) -> None:
        """Tell ``on_event`` what happened (a failing listener never breaks a request)."""
        on_event = self._hooks["on_event"]
        if on_event is None or self.closed:
            return
        try:
            on_event(name, detail or {})
        except Exception as exc:
            print("authfetch: on_event failed:", repr(exc))

    # -- the core's events ------------------------------------------------------------

    def _core_event(self, event: Event) -> None:
        """One place for everything the core reports: the edge's own bookkeeping first
        (timer, watchers, redirect), then the page's hooks and ``on_event``."""
        name, detail = event.name, event.detail
        if name == "tokens":
            self._schedule()
            self._changed()
            self._call_hook("on_tokens", detail["tokens"])
        elif name == "refresh-error":
            self._call_hook("on_refresh_error", detail["error"])
        elif name == "logout":
            self._timer.cancel()
            self._changed()
            self._call_hook("on_logout", detail["reason"])
        self.emit(name, self._page_detail(event))
        if name == "logout" and self.login_url and not self.closed:
            js.location.assign(self.login_url)

    def _page_detail(self, event: Event) -> dict:
        """The event's detail as plain data for the page (no tokens, no Python objects)."""
        detail = event.detail
        if event.name in REQUEST_EVENTS:
            request = detail["request"]
            page = {
                "method": request.method,
                "url": request.url,
                "replay": request.replay,
                "role": request.role,
            }
            if "status" in detail:
                page["status"] = detail["status"]
            if "error" in detail:
                page["error"] = str(detail["error"])
            return page
        if event.name in ("tokens", "adopted"):
            expires = detail["tokens"].local_expires_at()
            return {"expiresAt": None if expires is None else int(expires * 1000)}
        if event.name == "refresh-error":
            error = detail["error"]
            return {"error": type(error).__name__, "message": str(error)}
        return dict(detail)

    def _changed(self) -> None:
        """Tell the watchers (the bridge's ``state()``) that the session changed."""
        for callback in self._watchers:
            callback(self)

    def _call_hook(self, name: str, arg: "Any") -> None:
        """Run the page's hook ``name`` with ``arg`` (a failing hook never breaks the session)."""
        hook = self._hooks[name]
        if hook is None or self.closed:
            return
        try:
            hook(arg)
        except Exception as exc:
            print("authfetch: " + name + " failed:", repr(exc))

    # -- browser events and the timer --------------------------------------------------

    def _storage_changed(self, change: str) -> None:
        """Another tab wrote or removed the session (or cleared ``localStorage``);
        ``change`` is ``[key, newValue]`` as JSON text."""
        key, new_value = json.loads(change)
        if not getattr(self.store, "shared", False):
            return
        if key is None:  # localStorage.clear() in another tab: the session is gone
            self.session.adopt(None)
            self.store.save_consistent_soon(None)
            return
        if key != self.store.key:
            return
        current = self.store.load()
        if current is None and new_value and self.store.backend.getItem(self.store.key):
            return  # unreadable value: keep ours rather than drop the session
        # What the store holds now is the last write (the event may be older than ours).
        self.session.adopt(current)

    def _visibility_changed(self, visibility: str) -> None:
        """Back to a visible tab: timers may have stalled (sleep), check now."""
        if visibility == "visible":
            self._check_soon()

    def _check_soon(self) -> None:
        """Run the proactive check as a task."""
        if not self.closed:
            spawn(self._check())

    async def _check(self) -> None:
        """Refresh if due; if the server was unreachable, look again a little later."""
        await self.session.ensure_fresh()
        if self.config.needs_refresh(self.session.tokens, self.clock.now()):
            self._schedule(RETRY_AFTER_UNAVAILABLE_S)

    def _schedule(self, delay: "float | None" = None) -> None:
        """(Re)arm the single proactive-refresh timer."""
        self._timer.cancel()
        due = self.session.refresh_due_at()
        if due is None or self.closed:
            return
        self._timer.arm(max(0.0, due - self.clock.now()) if delay is None else delay)


def error_detail(exc: Exception) -> dict:
    """An error as plain data for the page: ``name``, ``message`` and the provider's words."""
    return {
        "name": type(exc).__name__,
        "message": str(exc),
        "error": getattr(exc, "error", None),
        "error_description": getattr(exc, "error_description", None),
    }


def _settle_with(call: JsCall) -> "Callable[..., None]":
    """A :class:`Settler` callback passing a JS promise's outcome to the bridge's ``call``."""

    def settled(ok: bool, value: "Any", _status: int = 0) -> None:
        if ok:
            call.resolve(value)
        else:
            call.reject_value(value)

    return settled
