"""The synchronous driver: the same flows for ``urllib.request`` (pyodide-http)."""

from .errors import AuthFetchError
from .flow import LOAD, PERSIST, READ_JSON, REFRESH, SEND, SLEEP, run_sync
from .ports import SyncClock
from .session import SessionBase


class SyncAuthSession(SessionBase):
    """Blocking twin of :class:`~.session.AuthSession` over the same flows and decisions.

    Ports: ``transport.send(request) -> response`` (sync; ``.status``,
    ``.headers.get()``, sync ``.json()``; raises on network error); ``store``
    with ``load/save/clear``; ``clock`` with ``now()`` and sync ``sleep(s)``.
    There is no gate and no lock: sync code runs one request at a time and
    cannot wait on the browser's Web Locks; the stale-token check still applies.
    ``state`` may be the async session's ``shared`` state, so both see one
    session. A store may offer ``save_consistent_soon(tokens_or_None)`` to have
    its cross-tab copy written without waiting.
    """

    def __init__(
        self,
        config: object,
        transport: object,
        store: object = None,
        clock: object = None,
        state: object = None,
    ) -> None:
        super().__init__(config, transport, store, clock or SyncClock(), state)

    def login(self, username: str, password: str) -> object:
        """Log in and store the tokens; raises ``LoginError`` for a refusal."""
        return self._run(self._login_flow(username, password))

    def fetch(self, request: object) -> object:
        """Send a ``ReplayableRequest``; refresh and replay once if needed (see AuthSession)."""
        return self._run(self.request_flow(request))

    def logout(self) -> None:
        """POST the refresh token to the logout URL (best effort), clear, fire ``on_logout``."""
        self._run(self._logout_flow())

    def ensure_fresh(self) -> object:
        """Refresh if the token is within leeway; return the current tokens (never raises)."""
        tokens = self._tokens
        if not self.config.needs_refresh(tokens, self.clock.now()):
            return tokens
        try:
            return self.refresh(tokens.access_token)
        except AuthFetchError:
            return self._tokens

    def refresh(self, stale: "str | None" = None) -> object:
        """Replace the access token ``stale`` (default: the current one)."""
        if stale is None and self._tokens is not None:
            stale = self._tokens.access_token
        current = self._check_stale(stale)
        if current is not None:
            return current
        return self._run(self._leader_flow(stale))

    def _run(self, flow: object) -> object:
        """Drive a flow with this session's ports."""
        return run_sync(flow, self._execute)

    def _execute(self, command: tuple) -> object:
        """Run one flow command."""
        kind, arg = command
        if kind == SEND:
            return self.transport.send(arg)
        if kind == READ_JSON:
            return arg.json()
        if kind == REFRESH:
            return self.refresh(arg)
        if kind == SLEEP:
            return self.clock.sleep(arg)
        if kind == LOAD:
            return self.store.load()
        if kind == PERSIST:
            persist = getattr(self.store, "save_consistent_soon", None)
            return persist(arg) if persist is not None else None
        raise ValueError("unknown flow command " + repr(kind))
