"""The browser client: the core session wired to fetch, storage, Web Locks, events and timers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import js

from authfetch.core import (
    STORAGE_KEY,
    AuthConfig,
    AuthSession,
    ReplayableRequest,
    SyncAuthSession,
    TokenSet,
    parse_session,
    unverified_claims,
)
from authfetch.urllib_opener import AuthOpener, UrllibTransport
from authfetch.web.chain import flow_promise
from authfetch.web.ffi import keep, spawn, to_promise
from authfetch.web.locks import web_lock_factory
from authfetch.web.storage import make_store
from authfetch.web.transport import (
    FetchTransport,
    Response,
    bodyless_request,
    request_from_js,
)

#: After a proactive refresh that could not reach the server, look again this much later.
RETRY_AFTER_UNAVAILABLE_S = 5.0

Hook = Callable[..., Any] | None


def _js_response(response: Response) -> Any:
    """The JS ``Response`` inside a Python one."""
    return response.js


class BrowserClock:
    """Browser time (``Date.now()``, which ``page.clock`` can fake) and non-blocking sleep."""

    def now(self) -> float:
        """Local epoch seconds."""
        return js.Date.now() / 1000.0

    async def sleep(self, seconds: float) -> None:
        """Sleep on the browser's event loop (a ``setTimeout``)."""
        await asyncio.sleep(seconds)


class SyncBrowserClock(BrowserClock):
    """Browser time for the synchronous (urllib) session; its sleep blocks."""

    def sleep(self, seconds: float) -> None:  # type: ignore[override]
        """Block for ``seconds`` (only between refresh retries of a sync call)."""
        time.sleep(seconds)


class ObservedTransport(FetchTransport):
    """``fetch`` that reports each request and response to ``on_event`` (for UIs and logs)."""

    def __init__(self, on_event: Callable[[str, dict], None], refresh_url: str) -> None:
        """Report to ``on_event(name, detail)``; calls to ``refresh_url`` are "refresh" events."""
        self.on_event = on_event
        self.refresh_url = refresh_url

    def announce(self, request: ReplayableRequest) -> tuple[bool, dict]:
        """Report ``request`` (or ``refresh``) before it is sent."""
        is_refresh = request.url.split("?")[0] == self.refresh_url
        detail = {"method": request.method, "url": request.url, "replay": request.replay}
        self.on_event("refresh" if is_refresh else "request", detail)
        return is_refresh, detail

    def settled(self, note: Any, status: int | None = None, error: Any = None) -> None:
        """Report ``response`` (or ``refreshed``) with its status, or ``network-error``."""
        is_refresh, detail = note
        if status is None:
            self.on_event("network-error", {**detail, "error": str(error)})
        else:
            self.on_event("refreshed" if is_refresh else "response", {**detail, "status": status})


class AuthFetch:
    """fetch with silent refresh-and-replay for a page; see :func:`authfetch.web.setup`."""

    def __init__(
        self,
        api_base: str | None = None,
        *,
        storage: str = "local",
        storage_key: str = STORAGE_KEY,
        login_endpoint: str | None = "/auth/login",
        refresh_endpoint: str = "/auth/refresh",
        logout_endpoint: str | None = "/auth/logout",
        allowed_origins: list[str] | None = None,
        leeway: float | None = None,
        refresh_attempts: int = 3,
        lock_timeout: float = 10.0,
        login_url: str | None = None,
        on_tokens: Hook = None,
        on_refresh_error: Hook = None,
        on_logout: Hook = None,
        on_event: Hook = None,
    ) -> None:
        """Build the client (see the README for every option); call :meth:`start` next."""
        page = str(js.location.href)
        self.login_url = login_url
        self._hooks = {"tokens": on_tokens, "refresh_error": on_refresh_error, "logout": on_logout}
        self._on_event = on_event
        self.store = make_store(storage, storage_key)
        self.clock = BrowserClock()
        self.config = AuthConfig(
            api_base or page,
            base_url=page,
            refresh_url=refresh_endpoint,
            login_url=login_endpoint,
            logout_url=logout_endpoint,
            allowed_origins=allowed_origins,
            leeway=leeway,
            refresh_attempts=refresh_attempts,
            decode_claims=unverified_claims,
            on_tokens=self._tokens_changed,
            on_refresh_error=self._refresh_failed,
            on_logout=self._logged_out,
        )
        self.session = AuthSession(
            self.config,
            ObservedTransport(self.emit, self.config.refresh_url),
            store=self.store,
            lock=self._cross_tab_lock(storage_key, lock_timeout),
            clock=self.clock,
        )
        self._timer: asyncio.TimerHandle | None = None

    def _cross_tab_lock(self, storage_key: str, timeout: float) -> Callable[[], Any] | None:
        """The Web Lock factory for a store shared by tabs; ``None`` where none is needed.

        ``navigator.locks`` exists only in secure contexts (https, localhost);
        without it the tab still has its single-flight gate, and the server's
        reuse grace covers a race with another tab.
        """
        if not getattr(self.store, "shared", False):
            return None
        if not getattr(js.navigator, "locks", None):
            print("authfetch: no navigator.locks (not a secure context?): no cross-tab lock")
            return None
        return web_lock_factory(f"authfetch:{storage_key}", timeout)

    # -- public API ------------------------------------------------------------

    def start(self) -> AuthFetch:
        """Listen to other tabs, visibility and network events; schedule the refresh timer."""
        js.window.addEventListener("storage", keep(self._storage_changed))
        js.document.addEventListener("visibilitychange", keep(self._visibility_changed))
        js.window.addEventListener("online", keep(lambda _event: self._check_soon()))
        self._schedule()
        return self

    async def login(self, username: str, password: str) -> TokenSet:
        """Log in; raises ``LoginError`` when refused."""
        return await self.session.login(username, password)

    async def logout(self) -> None:
        """Revoke on the server (best effort), clear storage; every tab logs out."""
        await self.session.logout()

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: Any = None,
        json: Any = None,
        retry: bool = True,
    ) -> Response:
        """``fetch`` from Python: the bearer attached, refresh-and-replay once if needed.

        ``json`` sends a JSON body; ``body`` may be ``str``, ``bytes`` or a
        dict/list. ``retry=False`` opts this request out of refresh-and-replay.
        """
        payload = json if json is not None else body
        request = ReplayableRequest(url, method, headers, payload, retry=retry)
        return await self.session.fetch(request)

    def fetch_js(self, resource: Any, init: Any = None) -> Any:
        """``fetch(resource, init)`` with JavaScript arguments: a JS Promise of a ``Response``.

        A request with no body (the common case) is driven by chaining the
        browser's promises (:mod:`authfetch.web.chain`); one with a body is
        read into bytes first, on the asyncio path.
        """
        request = bodyless_request(resource, init)
        if request is None:
            return to_promise(lambda: self._fetch_with_body(resource, init), _js_response)
        session = self.session
        return flow_promise(session.request_flow(request), session.transport, session.refresh)

    async def _fetch_with_body(self, resource: Any, init: Any) -> Response:
        """Read the body of a JS request once, then send it through the session."""
        return await self.session.fetch(await request_from_js(resource, init))

    def urllib_opener(self) -> AuthOpener:
        """An ``urllib.request`` opener with the same session (needs pyodide-http patched).

        ``opener.open("/api/me")`` blocks (a synchronous request), attaches the
        bearer, refreshes and replays once, exactly like :meth:`fetch`; a
        refresh it makes is seen at once by the async side and other tabs.
        """
        sync_session = SyncAuthSession(
            self.config, UrllibTransport(), self.store, SyncBrowserClock(), self.session.shared
        )
        return AuthOpener(sync_session)

    def state(self) -> dict:
        """``{loggedIn, expiresAt (ms epoch or None), refreshes}``."""
        return self.session.state()

    def emit(self, name: str, detail: dict | None = None) -> None:
        """Tell ``on_event`` what happened (a failing listener never breaks a request)."""
        if self._on_event is None:
            return
        try:
            self._on_event(name, detail or {})
        except Exception as exc:
            print("authfetch: on_event failed:", repr(exc))

    # -- hooks from the core ---------------------------------------------------

    def _call_hook(self, name: str, arg: Any) -> None:
        """Run the page's hook ``name`` with ``arg``."""
        hook = self._hooks[name]
        if hook is not None:
            hook(arg)

    def _tokens_changed(self, tokens: TokenSet) -> None:
        """New tokens (login, refresh, another tab): reschedule, then tell the page."""
        self._schedule()
        self.emit("tokens", {"expiresAt": self.state()["expiresAt"]})
        self._call_hook("tokens", tokens)

    def _refresh_failed(self, error: Exception) -> None:
        """A refresh failed (either class): tell the page."""
        self.emit("refresh-error", {"error": type(error).__name__, "message": str(error)})
        self._call_hook("refresh_error", error)

    def _logged_out(self, reason: str) -> None:
        """The session ended (once per session): stop the timer, tell the page, redirect."""
        self._cancel_timer()
        self.emit("logout", {"reason": reason})
        self._call_hook("logout", reason)
        if self.login_url:
            js.location.assign(self.login_url)

    # -- browser events and the timer -------------------------------------------

    def _storage_changed(self, event: Any) -> None:
        """Another tab wrote or removed the session: adopt its tokens or log out."""
        if event.key != self.store.key or event.storageArea != js.localStorage:
            return
        if not getattr(self.store, "shared", False):
            return
        tokens = parse_session(event.newValue)
        if tokens is None and event.newValue:
            return  # unreadable value: keep ours rather than drop the session
        if tokens is not None:
            self.emit("adopted", {"expiresAt": None})
        self.session.adopt(tokens)

    def _visibility_changed(self, _event: Any) -> None:
        """Back to a visible tab: timers may have stalled (sleep), check now."""
        if js.document.visibilityState == "visible":
            self._check_soon()

    def _check_soon(self) -> None:
        """Run the proactive check as a task."""
        spawn(self._check())

    async def _check(self) -> None:
        """Refresh if due; if the server was unreachable, look again a little later."""
        await self.session.ensure_fresh()
        if self.config.needs_refresh(self.session.tokens, self.clock.now()):
            self._schedule(RETRY_AFTER_UNAVAILABLE_S)

    def _schedule(self, delay: float | None = None) -> None:
        """(Re)arm the single proactive-refresh timer."""
        self._cancel_timer()
        due = self.session.refresh_due_at()
        if due is None:
            return
        wait = max(0.0, due - self.clock.now()) if delay is None else delay
        self._timer = asyncio.get_event_loop().call_later(wait, self._check_soon)

    def _cancel_timer(self) -> None:
        """Stop the proactive-refresh timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
