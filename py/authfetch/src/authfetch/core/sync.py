"""The synchronous driver: the same flows and the same machine for ``urllib.request``."""

from .commands import (
    Load,
    NewProofKey,
    Persist,
    PruneProofKeys,
    ReadJson,
    Refresh,
    Send,
    SignProof,
    Sleep,
)
from .errors import AuthFetchError, DPoPError, RefreshUnavailableError, TransportError
from .events import answer_event, send_event
from .flow import login_flow, logout_flow
from .lease import lease_for
from .machine import REFRESHING
from .ports import SystemSyncClock
from .session import SessionCore, new_login_id


class SyncAuthSession(SessionCore):
    """Blocking twin of :class:`~.session.AuthSession` over the same flows and decisions.

    Ports: ``transport.send(request, timeout)`` (sync; raises ``TransportError``
    on a network failure); ``store``; ``clock`` with ``now()`` and a blocking
    ``sleep(s)``. Pass the async session's ``machine`` so both drive one
    session: a refresh by either is the other's at once.

    Sync code cannot wait on a promise, so it takes neither the single flight
    nor the cross-tab Web Lock. Instead it never refreshes while the async side
    has a refresh in flight (that refresh already presented the refresh token;
    a second one would be reuse): it raises ``RefreshUnavailableError`` and the
    session is kept. Its own refresh blocks the page, so nothing else of the
    tab can start one meanwhile. Against other tabs it takes the store's lease
    (:mod:`.lease`, a store shared by tabs only) without waiting: first it
    adopts what another tab stored; if the lease is held elsewhere, it does not
    refresh (``RefreshUnavailableError``, session kept) — it never relies on
    the server's reuse grace.
    """

    def __init__(
        self,
        config: "AuthConfig",
        transport: "SyncTransport",
        store: "Store | None" = None,
        clock: "SyncClock | None" = None,
        machine: "SessionMachine | None" = None,
    ) -> None:
        super().__init__(config, store, clock or SystemSyncClock(), machine)
        self.transport = transport
        self.lease = lease_for(self.store, self.clock)

    clock: "SyncClock"

    def login(self, username: str, password: str) -> "TokenSet":
        """Sign in and store the tokens; raises ``LoginError`` for a refusal."""
        flow = login_flow(self.config, username, password, self.clock.now, new_login_id())
        tokens = self.run(flow)
        self._commit_login(tokens)
        self.store.save_consistent_soon(tokens)
        return tokens

    def fetch(self, request: "ReplayableRequest") -> "Any":
        """Send a ``ReplayableRequest``; refresh and replay once if needed (see AuthSession)."""
        return self.run(self.request_flow(request))

    def logout(self) -> None:
        """Sign out here at once, revoke on the server (best effort), clear the cross-tab copy."""
        tokens = self._clear_store(self._sign_out_here())
        self.store.save_consistent_soon(None)
        self.run(logout_flow(self.config, tokens))

    def ensure_fresh(self) -> "TokenSet | None":
        """Refresh if the token is within leeway; the current tokens (never raises)."""
        tokens = self.machine.tokens
        if tokens is None or not self.config.needs_refresh(tokens, self.clock.now()):
            return tokens
        try:
            return self.refresh(tokens.access_token)
        except AuthFetchError:
            return self.machine.tokens

    def refresh(self, stale: "str | None" = None) -> "TokenSet":
        """Replace the access token ``stale`` (default: the current one)."""
        if stale is None and self.machine.tokens is not None:
            stale = self.machine.tokens.access_token
        current = self._after_refresh(stale)
        if current is not None:
            return current
        if self.machine.state == REFRESHING:
            raise RefreshUnavailableError(
                "a refresh is in flight on the async side; synchronous code cannot wait for it"
            )
        self._refresh_under_lease(stale or "")
        current = self._after_refresh(stale)
        if current is None:
            raise RefreshUnavailableError("the refresh did not replace the token")
        return current

    def _refresh_under_lease(self, stale: str) -> None:
        """The refresh decision for ``stale``, holding the store's lease if it has one."""
        lease = self.lease
        if lease is None:
            self.run(self.refresh_decision(stale))
            return
        stored = self.store.load()
        if stored is not None:  # another tab may have refreshed: use what it stored
            self._emit_all(self.machine.adopt(stored))
            if self._after_refresh(stale) is not None:
                return
        if not lease.try_take():
            raise RefreshUnavailableError(
                "another tab is refreshing; synchronous code does not refresh meanwhile"
            )
        try:
            self.run(self.refresh_decision(stale))
        finally:
            lease.give_back()

    def run(self, flow: "Flow") -> "Any":
        """Drive ``flow`` with this session's ports; return its outcome."""
        value: object = None
        error: BaseException | None = None
        while True:
            try:
                command = flow.send(value) if error is None else flow.throw(error)
            except StopIteration as stop:
                return stop.value
            try:
                value, error = self.execute(command), None
            except Exception as exc:
                value, error = None, exc
            except BaseException:
                flow.close()
                raise

    def execute(self, command: object) -> "Any":
        """Run one command with this session's ports (the one dispatch of the sync driver)."""
        if isinstance(command, Send):
            return self._send(command)
        if isinstance(command, ReadJson):
            return command.response.json()
        if isinstance(command, Refresh):
            return self.refresh(command.stale)
        if isinstance(command, Sleep):
            self.clock.sleep(command.seconds)
            return None
        if isinstance(command, Load):
            return self.store.load()
        if isinstance(command, Persist):
            self.store.save_consistent_soon(command.tokens)
            return None
        if isinstance(command, (SignProof, NewProofKey, PruneProofKeys)):
            raise DPoPError(
                "synchronous code cannot sign DPoP proofs (WebCrypto signs asynchronously):"
                " use the async fetch for this request"
            )
        raise TypeError("unknown flow command " + repr(command))

    def _send(self, command: Send) -> "Any":
        """Send with the request's events and the command's timeout."""
        request = command.request
        told = self.config.request_events
        if told:
            self.emit(send_event(request))
        try:
            response = self.transport.send(request, command.timeout)
        except TransportError as exc:
            if told:
                self.emit(answer_event(request, None, exc))
            raise
        if told:
            self.emit(answer_event(request, response.status))
        return response


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .flow import Flow
    from .machine import SessionMachine
    from .policy import AuthConfig
    from .ports import Store, SyncClock, SyncTransport
    from .request import ReplayableRequest
    from .tokens import TokenSet
