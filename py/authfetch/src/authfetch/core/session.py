"""The session orchestrator: one coordinator for 401s, the timer and other tabs.

:class:`SessionBase` holds the state and every decision, written as sans-IO
flows (see :mod:`.flow`); :class:`AuthSession` drives them with ``await`` and
:class:`~.sync.SyncAuthSession` drives the very same flows synchronously.
"""

from .errors import AuthFetchError, RefreshUnavailableError, SessionExpiredError
from .flow import (
    LOAD,
    PERSIST,
    READ_JSON,
    REFRESH,
    SEND,
    SLEEP,
    login_flow,
    logout_flow,
    refresh_flow,
    request_flow,
    run_async,
)
from .gate import RefreshGate
from .ports import MemoryStore, SystemClock, no_lock


class SessionState:
    """What a session knows: its tokens, its refresh count and a generation number.

    The generation changes at every login and logout, so a refresh that ran
    across one drops its result. One state can be shared by the async and the
    sync session of a page, so both drivers see the same session at once.
    """

    def __init__(self, tokens: object = None) -> None:
        self.tokens = tokens
        self.refreshes = 0
        self.generation = 0


class SessionBase:
    """State and decisions shared by the async and the sync session.

    ``store`` has ``load()``, ``save(tokens)``, ``clear()`` and may add async
    ``load_consistent()`` / ``save_consistent(tokens_or_None)`` (the edge's
    IndexedDB copy, read and written under the cross-tab lock). ``state``
    shares a :class:`SessionState` with another session (default: a new one
    loaded from the store).
    """

    def __init__(
        self,
        config: object,
        transport: object,
        store: object,
        clock: object,
        state: "SessionState | None" = None,
    ) -> None:
        self.config = config
        self.transport = transport
        self.store = store if store is not None else MemoryStore()
        self.clock = clock
        self.shared = state if state is not None else SessionState(self.store.load())

    @property
    def _tokens(self) -> object:
        """The current tokens (kept in the shared state)."""
        return self.shared.tokens

    @_tokens.setter
    def _tokens(self, tokens: object) -> None:
        self.shared.tokens = tokens

    @property
    def _generation(self) -> int:
        """Login/logout counter (kept in the shared state)."""
        return self.shared.generation

    @_generation.setter
    def _generation(self, value: int) -> None:
        self.shared.generation = value

    @property
    def refreshes(self) -> int:
        """How many refreshes this session has made (kept in the shared state)."""
        return self.shared.refreshes

    @refreshes.setter
    def refreshes(self, value: int) -> None:
        self.shared.refreshes = value

    @property
    def tokens(self) -> object:
        """The current TokenSet, or ``None`` when logged out."""
        return self._tokens

    def state(self) -> dict:
        """Return ``{loggedIn, expiresAt (ms epoch, local clock, or None), refreshes}``."""
        tokens = self._tokens
        expires = tokens.local_expires_at() if tokens is not None else None
        return {
            "loggedIn": tokens is not None,
            "expiresAt": None if expires is None else int(expires * 1000),
            "refreshes": self.refreshes,
        }

    def refresh_due_at(self) -> "float | None":
        """Local epoch seconds at which a proactive refresh is due (for the edge's timer)."""
        tokens = self._tokens
        if tokens is None or tokens.refresh_token is None or tokens.expires_at is None:
            return None
        return tokens.local_expires_at() - tokens.leeway(self.config.leeway)

    def adopt(self, tokens: object) -> None:
        """Take tokens another tab stored, without refreshing (``None``: it logged out)."""
        if tokens is None:
            self.on_external_logout()
        elif tokens != self._tokens:
            self._tokens = tokens
            self._fire(self.config.on_tokens, tokens)

    def on_external_logout(self) -> None:
        """Another tab cleared the session: forget it and fire ``on_logout`` once."""
        self._drop("external")

    # -- decisions -------------------------------------------------------------

    def _current(self) -> object:
        """Return the current tokens (the flows' view of the session)."""
        return self._tokens

    def _fire(self, hook: object, arg: object) -> None:
        """Call a hook; a failing hook is reported, never allowed to break the session."""
        if hook is None:
            return
        try:
            hook(arg)
        except Exception as exc:
            print("authfetch: hook failed:", repr(exc))

    def _install(self, tokens: object) -> None:
        """Make ``tokens`` current, save them and fire ``on_tokens``."""
        self._tokens = tokens
        self.store.save(tokens)
        self._fire(self.config.on_tokens, tokens)

    def _drop(self, reason: str) -> None:
        """Forget the session; fire ``on_logout(reason)`` only if there was one."""
        if self._tokens is None:
            return
        self._tokens = None
        self._generation += 1
        self._fire(self.config.on_logout, reason)

    def _plan(self, stored: object, stale: str) -> tuple:
        """Decide under the lock: ``(call_server, tokens)``; tokens to refresh with or to use.

        ``stored`` is the consistent re-read. Another tab already replaced
        ``stale`` → adopt its tokens, no server call. The store is empty → the
        session ended elsewhere. A stored copy older than ours (a lagging
        consistent copy) is ignored: refresh with our own tokens.
        """
        if stored is None:
            self._drop("external")
            raise SessionExpiredError("the session ended in another tab")
        mine = self._tokens
        if stored.access_token != stale and _is_older(stored, mine):
            stored = mine
        if stored.access_token != stale:
            self.adopt(stored)
            return False, stored
        return stored.refresh_token is not None, stored

    def _session_over(self, used: object, stored: object) -> object:
        """Refresh of ``used`` refused: clear once, unless a newer session is stored (adopt it).

        A late failure must never wipe a newer session, so the store is
        cleared only if it still holds ``used``'s refresh token (or an older set).
        """
        newer = stored is not None and stored.refresh_token != used.refresh_token
        if newer and not _is_older(stored, used):
            self.adopt(stored)
            return stored
        if stored is not None:
            self.store.clear()
        self._drop("expired")
        return None

    # -- flows -----------------------------------------------------------------

    def request_flow(self, request: object):
        """The per-request flow bound to this session (for drivers of the edge)."""
        return request_flow(request, self.config, self._current, self.clock.now)

    def _leader_flow(self, stale: str):
        """Run by the gate leader under the lock: re-read, adopt or refresh, classify."""
        generation = self._generation
        call_server, stored = self._plan((yield (LOAD, None)), stale)
        if not call_server:
            return stored
        try:
            tokens = yield from refresh_flow(self.config, stored, self.clock.now)
        except SessionExpiredError as exc:
            self._fire(self.config.on_refresh_error, exc)
            newer = self._session_over(stored, (yield (LOAD, None)))
            if newer is not None:
                return newer
            yield (PERSIST, None)
            raise exc
        except RefreshUnavailableError as exc:
            self._fire(self.config.on_refresh_error, exc)
            raise exc
        if generation != self._generation:
            return self._superseded()
        self.refreshes += 1
        self._install(tokens)
        yield (PERSIST, tokens)
        return tokens

    def _superseded(self) -> object:
        """A login or logout happened during the refresh: its result is dropped."""
        if self._tokens is None:
            raise SessionExpiredError("the session ended during the refresh")
        return self._tokens

    def _login_flow(self, username: str, password: str):
        """Log in, install and persist the tokens."""
        tokens = yield from login_flow(self.config, username, password, self.clock.now)
        self._generation += 1
        self._install(tokens)
        yield (PERSIST, tokens)
        return tokens

    def _logout_flow(self):
        """Revoke on the server (best effort), clear the store, fire ``on_logout`` once."""
        tokens = self._tokens or self.store.load()
        self._generation += 1  # first: a refresh answer landing from here on is dropped
        yield from logout_flow(self.config, tokens)
        self.store.clear()
        yield (PERSIST, None)
        self._drop("logout")

    def _check_stale(self, stale: str) -> object:
        """Before the gate: the token to use if ``stale`` is already replaced, else ``None``."""
        current = self._tokens
        if current is None:
            raise SessionExpiredError("not logged in")
        return current if current.access_token != stale else None


def _is_older(tokens: object, other: object) -> bool:
    """Tell whether ``tokens`` were issued before ``other`` (both issue times known)."""
    if other is None or tokens.issued_at is None or other.issued_at is None:
        return False
    return tokens.issued_at < other.issued_at


class AuthSession(SessionBase):
    """The async session the browser edge drives.

    Ports: ``transport.send(request)`` (async, returns a response with
    ``.status``, ``.headers.get()`` and async ``.json()``, raises on network
    error); ``store`` (see :class:`SessionBase`, default :class:`MemoryStore`);
    ``lock()`` an async context-manager factory for the cross-tab lock (default
    none); ``clock`` with ``now()`` and async ``sleep(s)`` (default system).
    """

    def __init__(
        self,
        config: object,
        transport: object,
        store: object = None,
        lock: object = None,
        clock: object = None,
        state: "SessionState | None" = None,
    ) -> None:
        super().__init__(config, transport, store, clock or SystemClock(), state)
        self.lock = lock or no_lock
        self.gate = RefreshGate()

    async def login(self, username: str, password: str) -> object:
        """Log in and store the tokens; raises ``LoginError`` for a refusal."""
        return await self._run(self._login_flow(username, password))

    async def fetch(self, request: object) -> object:
        """Send a ``ReplayableRequest`` with the bearer; refresh and replay once if needed.

        Returns the transport's response (a second 401 included). Raises
        ``SessionExpiredError``, ``RefreshUnavailableError`` (when the token is
        expired and the refresh server unreachable), ``NotReplayableError``, or
        the transport's own error for a network failure of the request itself.
        """
        return await self._run(self.request_flow(request))

    async def logout(self) -> None:
        """POST the refresh token to the logout URL (best effort), clear, fire ``on_logout``."""
        await self._run(self._logout_flow())

    async def ensure_fresh(self) -> object:
        """Refresh through the gate if the token is within leeway; return the current tokens.

        For the edge's timer, ``visibilitychange`` and ``online`` handlers: never
        raises an ``AuthFetchError`` (failures went to the hooks already).
        """
        tokens = self._tokens
        if not self.config.needs_refresh(tokens, self.clock.now()):
            return tokens
        try:
            return await self.refresh(tokens.access_token)
        except AuthFetchError:
            return self._tokens

    async def refresh(self, stale: "str | None" = None) -> object:
        """Replace the access token ``stale`` (default: the current one) via the gate.

        Returns the current TokenSet at once when ``stale`` was already replaced.
        """
        if stale is None and self._tokens is not None:
            stale = self._tokens.access_token
        current = self._check_stale(stale)
        if current is not None:
            return current
        return await self.gate.run(lambda: self._lead(stale))

    async def _lead(self, stale: str) -> object:
        """Gate leader: take the cross-tab lock and run the leader flow."""
        async with self.lock():
            return await self._run(self._leader_flow(stale))

    async def _run(self, flow: object) -> object:
        """Drive a flow with this session's ports."""
        return await run_async(flow, self._execute)

    async def _execute(self, command: tuple) -> object:
        """Run one flow command."""
        kind, arg = command
        if kind == SEND:
            return await self.transport.send(arg)
        if kind == READ_JSON:
            return await arg.json()
        if kind == REFRESH:
            return await self.refresh(arg)
        if kind == SLEEP:
            return await self.clock.sleep(arg)
        if kind == LOAD:
            load = getattr(self.store, "load_consistent", None)
            return await load() if load is not None else self.store.load()
        if kind == PERSIST:
            save = getattr(self.store, "save_consistent", None)
            return await save(arg) if save is not None else None
        raise ValueError("unknown flow command " + repr(kind))
