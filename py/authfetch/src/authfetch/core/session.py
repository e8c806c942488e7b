"""The session: one coordinator for requests, refreshes, sign-in and other tabs.

:class:`SessionCore` holds the decisions every driver shares — above all
:meth:`SessionCore.refresh_decision`, the refresh read top to bottom — around
the one owner of the state, a :class:`~.machine.SessionMachine`.
:class:`AuthSession` drives them with ``await`` (single flight, cross-tab
lock); :class:`~.sync.SyncAuthSession` drives the same flows synchronously and
shares the machine, so a tab has one session whatever calls it.
"""

import asyncio
import random

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
from .dpop import thumbprint
from .errors import (
    AuthFetchError,
    DPoPError,
    LoginError,
    RefreshUnavailableError,
    SessionExpiredError,
    TransportError,
    TransportTimeoutError,
)
from .events import LOGOUT, REFRESH_ERROR, TOKENS, answer_event, send_event
from .flow import login_flow, logout_flow, refresh_call, request_flow
from .gate import RefreshGate, run_detached
from .lease import tab_lock
from .machine import EXTERNAL, LOGGED_OUT, SessionMachine
from .oauth import discovery_flow, exchange_flow
from .ports import MemoryStore, SystemClock, no_lock


def new_login_id() -> str:
    """A fresh id for a sign-in (64 random bits as hex; only has to differ between sign-ins)."""
    return f"{random.getrandbits(32):08x}{random.getrandbits(32):08x}"


class SessionCore:
    """What every driver of a tab shares: the config, the store, the clock and the machine.

    ``machine`` may be another session's :class:`SessionMachine` (the sync
    session shares the async one's); by default a new one starts from the store.
    """

    clock: "Clock | SyncClock"

    def __init__(
        self,
        config: "AuthConfig",
        store: "Store | None",
        clock: "Clock | SyncClock",
        machine: "SessionMachine | None" = None,
    ) -> None:
        self.config = config
        self.store: Store = store if store is not None else MemoryStore()
        self.clock = clock
        self.machine = machine if machine is not None else SessionMachine(self.store.load())

    # -- reading ---------------------------------------------------------------

    @property
    def tokens(self) -> "TokenSet | None":
        """The current TokenSet, or ``None`` when signed out."""
        return self.machine.tokens

    @property
    def refreshes(self) -> int:
        """How many refreshes this tab has committed."""
        return self.machine.refreshes

    def snapshot(self) -> dict:
        """``{state, signed_in, expires_at (local epoch s or None), refreshes}`` for UIs."""
        tokens = self.machine.tokens
        return {
            "state": self.machine.state,
            "signed_in": tokens is not None,
            "expires_at": tokens.local_expires_at() if tokens is not None else None,
            "refreshes": self.machine.refreshes,
        }

    def refresh_due_at(self) -> "float | None":
        """Local epoch seconds at which a proactive refresh is due (for the edge's timer)."""
        tokens = self.machine.tokens
        if tokens is None or tokens.refresh_token is None:
            return None
        expires = tokens.local_expires_at()
        return None if expires is None else expires - tokens.leeway(self.config.leeway)

    # -- events ------------------------------------------------------------------

    def emit(self, event: "Event") -> None:
        """Tell ``on_event`` and the matching hook; a failing listener never breaks the session."""
        config = self.config
        detail = event.detail
        calls: list[tuple[Callable[[Any], object] | None, Any]] = [(config.on_event, event)]
        if event.name == TOKENS:
            calls.append((config.on_tokens, detail["tokens"]))
        elif event.name == REFRESH_ERROR:
            calls.append((config.on_refresh_error, detail["error"]))
        elif event.name == LOGOUT:
            calls.append((config.on_logout, detail["reason"]))
        for hook, arg in calls:
            if hook is None:
                continue
            try:
                hook(arg)
            except Exception as exc:
                print("authfetch: listener failed:", repr(exc))

    def _emit_all(self, events: "list[Event]") -> bool:
        """Emit ``events`` in order; tell whether there were any (the transition was taken)."""
        for event in events:
            self.emit(event)
        return bool(events)

    # -- transitions with their storage --------------------------------------------

    def adopt(self, tokens: "TokenSet | None") -> None:
        """Another tab stored ``tokens`` (``None``: it signed out): take them if newer.

        On a ``storage`` event pass what the store holds *now* (``store.load()``),
        not the event's value: events can arrive after this tab's own later
        write, and the store's current value is the last write. If the store
        still holds a sign-in this tab knows has ended (a slower tab wrote it
        after the sign-out), it is removed, so a reload starts signed out.
        """
        self._emit_all(self.machine.adopt(tokens))
        if self.machine.is_dead(self.store.load()):
            self._clear_dead()

    def _clear_dead(self) -> None:
        """Remove a sign-in this tab knows has ended from the store (the sync driver: now)."""
        self.store.clear()

    def _clear_if_dead(self, _tokens: "TokenSet | None" = None) -> bool:
        """Clear the store if it (still) holds a sign-in this tab knows has ended."""
        if not self.machine.is_dead(self.store.load()):
            return False
        self.store.clear()
        return True

    def on_external_logout(self) -> None:
        """Another tab cleared the session: forget it, ``on_logout("external")`` once."""
        self.adopt(None)

    def _commit_login(self, tokens: "TokenSet", begun_at: "int | None" = None) -> bool:
        """Make a fresh sign-in current and store it; ``False`` if a logout in this tab
        since it began (``begun_at``) dropped it."""
        if not self._emit_all(self.machine.login(tokens, begun_at)):
            return False
        self.store.save(tokens)
        return True

    def _sign_out_here(self) -> "TokenSet | None":
        """Log out of this tab's machine at once: every late result is dropped from now on.

        Returns the tokens to revoke. The store is cleared by :meth:`_clear_store`,
        under the cross-tab lock where there is one.
        """
        tokens = self.machine.tokens or self.store.load()
        self._emit_all(self.machine.sign_out(LOGGED_OUT))
        return tokens

    def _clear_store(self, tokens: "TokenSet | None") -> "TokenSet | None":
        """Clear the store after a logout; the newest tokens of that sign-in, to revoke.

        Another tab may have refreshed the same sign-in meanwhile: its tokens
        are revoked then (a whole family goes, but the newest is the sure one).
        """
        stored = self.store.load()
        self.store.clear()
        if tokens is None or (stored is not None and stored.same_login(tokens)):
            return stored or tokens
        return tokens

    def kept_keys(self) -> "list[str]":
        """The DPoP keys in use (thumbprints): the stored session's and this tab's."""
        keep = []
        for tokens in (self.store.load(), self.machine.tokens):
            if tokens is not None and tokens.dpop_jwk is not None:
                keep.append(thumbprint(tokens.dpop_jwk))
        return keep

    # -- flows -----------------------------------------------------------------

    def request_flow(self, request: "ReplayableRequest") -> "Flow":
        """The per-request flow bound to this session (for drivers of the edge)."""
        return request_flow(request, self.config, self.machine, self.clock.now)

    def refresh_decision(self, stale: str) -> "Flow":
        """The refresh of the access token ``stale``, top to bottom; its driver holds the
        cross-tab lock around it.

        1. re-read the session consistently (another tab may have moved on);
        2. signed out meanwhile, or ended elsewhere → ``SessionExpiredError``;
        3. ``stale`` already replaced — by another tab's refresh or sign-in, read
           now or adopted from a ``storage`` event while waiting for the lock —
           → use that, no call;
        4. start this tab's one refresh of the current tokens;
        5. call the refresh endpoint, classify the answer;
        6. re-read again, then commit the new tokens — or end the session —
           only if the machine still refreshes those same tokens: a login, a
           logout or another tab's newer session in between wins.
        """
        machine = self.machine
        stored = yield Load()
        if machine.tokens is None:
            raise SessionExpiredError("signed out while waiting for the refresh")
        if stored is None:
            self._emit_all(machine.sign_out(EXTERNAL))
            raise SessionExpiredError("the session ended in another tab")
        self._emit_all(machine.adopt(stored))
        current = machine.tokens
        if current is None or current.access_token != stale or current.refresh_token is None:
            return
        flight = machine.start_refresh()
        try:
            yield from self._fly(flight)
        finally:
            self._emit_all(machine.refresh_kept(flight))  # any other exit: kept, never stuck

    def _fly(self, flight: "TokenSet") -> "Flow":
        """Steps 5 and 6 of :meth:`refresh_decision` for the tokens ``flight``."""
        machine = self.machine
        try:
            fresh = yield from refresh_call(self.config, flight, self.clock.now)
        except SessionExpiredError as refused:
            latest = yield Load()
            self._emit_all(machine.overtaken(flight, latest))
            if self._emit_all(machine.refresh_refused(flight, refused)):
                self.store.clear()
                yield Persist(None)
                if self.config.dpop is not None:  # the key of an ended session goes with it
                    try:  # noqa: SIM105 - MicroPython has no contextlib
                        yield PruneProofKeys(self.kept_keys(), young=True)
                    except DPoPError:  # left behind: the next sign-in or logout deletes it
                        pass
                raise
            yield from self._drop_spent(flight, latest)
            return
        except (RefreshUnavailableError, DPoPError) as unavailable:
            self._emit_all(machine.refresh_kept(flight, unavailable))
            raise
        latest = yield Load()
        self._emit_all(machine.overtaken(flight, latest))
        if self._emit_all(machine.refresh_done(flight, fresh)):
            self.store.save(fresh)
            yield Persist(fresh)
        else:
            yield from self._drop_spent(flight, latest)

    def _drop_spent(self, flight: "TokenSet", latest: "TokenSet | None") -> "Flow":
        """The answer for ``flight`` was dropped because this tab ended its sign-in while
        the refresh flew (a logout): if the store still offers ``flight``'s sign-in,
        clear it now, under the lock this flight holds — the server has spent that
        refresh token, and another tab waiting for the lock must not present it again.
        (The logout clears the store too; this only does it before the lock moves on.)
        The page store is read again first: if it already holds another sign-in (another
        tab's, written after the consistent copy was read), that one is left alone.
        """
        if (
            self.machine.is_dead(flight)
            and flight.same_login(latest)
            and _page_store_allows(self.store, flight)
        ):
            self.store.clear()
            yield Persist(None)

    def _after_refresh(self, stale: "str | None") -> "TokenSet | None":
        """The tokens to use for ``stale`` now: ``None`` if it still needs a refresh."""
        tokens = self.machine.tokens
        if tokens is None:
            raise SessionExpiredError("not signed in")
        if stale is not None and tokens.access_token != stale:
            return tokens
        return None


def _page_store_allows(store: "Store", flight: "TokenSet") -> bool:
    """Tell whether the page store holds ``flight``'s sign-in or nothing (so clearing it
    wipes no other sign-in)."""
    stored = store.load()
    return stored is None or flight.same_login(stored)


class AuthSession(SessionCore):
    """The async session the browser edge drives.

    Ports (see :mod:`.ports`): ``transport.send(request)`` (async; raises
    ``TransportError`` on a network failure); ``store``; ``lock()`` a factory of
    async context managers for the cross-tab lock (default none); ``clock`` with
    ``now()`` and async ``sleep(s)``; ``keys`` the DPoP key store (``create()``,
    ``sign(jkt, data)``, ``prune(keep, young)``, all async) when ``config.dpop`` is set.
    """

    def __init__(
        self,
        config: "AuthConfig",
        transport: "Transport",
        store: "Store | None" = None,
        lock: "LockFactory | None" = None,
        clock: "Clock | None" = None,
        machine: "SessionMachine | None" = None,
        keys: "ProofKeys | None" = None,
    ) -> None:
        super().__init__(config, store, clock or SystemClock(), machine)
        self.transport = transport
        #: Where the DPoP keys live (the edge: WebCrypto + IndexedDB); ``None`` without DPoP.
        self.keys = keys
        self.lock: LockFactory = lock or tab_lock(self.store, self.clock) or no_lock
        self.gate = RefreshGate()
        self._cleanup: asyncio.Task | None = None

    clock: "Clock"

    def _clear_dead(self) -> None:
        """Remove an ended sign-in from the store under the cross-tab lock, like every
        other write: a refresh holding the lock re-reads and commits before this runs,
        so nothing clears the store in the middle of it (found by the property soak)."""
        try:  # a storage event's handler runs outside any task: the tab's loop
            loop = asyncio.get_event_loop()
        except RuntimeError:
            loop = None
        if loop is None or getattr(loop, "is_closed", lambda: False)():
            self._clear_if_dead()  # no loop to wait for the lock on (a test): at once
            return
        self._cleanup = loop.create_task(self._under_lock(self._clear_if_dead, None))

    async def login(self, username: str, password: str) -> "TokenSet":
        """Sign in and store the tokens (under the cross-tab lock); ``LoginError`` if refused,
        or if this tab logged out before the sign-in landed (the newer logout wins)."""
        begun_at = self.machine.logouts
        flow = login_flow(self.config, username, password, self.clock.now, new_login_id())
        try:
            return await self._land(await self.run(flow), begun_at)
        finally:
            await self._prune_keys(young=True)

    async def discover(self) -> None:
        """Read the provider's discovery document (OAuth 2.0 / OpenID Connect) and take its
        endpoints; ``ConfigurationError`` naming the URL and the problem."""
        if self.config.oauth is None:
            return
        await self.run(discovery_flow(self.config.oauth))
        self.config.use_provider_endpoints()

    async def finish_sign_in(self, params: dict, pending: "dict | None") -> "TokenSet":
        """The provider sent the browser back with ``params`` for the started sign-in
        ``pending``: check the answer, exchange the code, check the ID token, then store
        the tokens like :meth:`login` (under the cross-tab lock; every tab adopts them).
        ``LoginError`` for anything refused; nothing is stored then."""
        begun_at = self.machine.logouts
        flow = exchange_flow(self.config, params, pending, self.clock.now, new_login_id())
        try:
            return await self._land(await self.run(flow), begun_at)
        finally:
            await self._prune_keys(young=True)

    async def _prune_keys(self, young: bool) -> None:
        """Delete the DPoP keys no session uses (``young``: spare those made lately, which
        another tab's sign-in may be using); a failure is only printed: nothing is lost."""
        if self.config.dpop is None or self.keys is None:
            return
        try:
            await self.keys.prune(self.kept_keys(), young)
        except Exception as exc:
            print("authfetch: could not delete unused DPoP keys:", repr(exc))

    async def _land(self, tokens: "TokenSet", begun_at: int) -> "TokenSet":
        """Store a fresh sign-in under the lock, unless this tab logged out since it began
        (then revoke it and raise ``LoginError``)."""
        if not await self._under_lock(lambda fresh: self._commit_login(fresh, begun_at), tokens):
            await self.run(logout_flow(self.config, tokens))  # revoke what nobody will use
            raise LoginError("logged out in this tab before the sign-in landed: dropped")
        return tokens

    async def fetch(self, request: "ReplayableRequest") -> "Any":
        """Send a ``ReplayableRequest`` with the bearer; refresh and replay once if needed.

        Returns the transport's response (a second 401 included). Raises
        ``SessionExpiredError``, ``RefreshUnavailableError`` (when the token is
        expired and the refresh server unreachable), ``NotReplayableError``, or
        the transport's own error for a network failure of the request itself.
        """
        return await self.run(self.request_flow(request))

    async def logout(self) -> None:
        """Sign out here at once; clear the store and its cross-tab copy under the lock (so
        no other tab's refresh lands after the clear); revoke on the server (best effort).

        A caller that stops waiting (cancelled) does not stop the logout.
        """
        await run_detached(self._finish_logout(self._sign_out_here()))

    async def _finish_logout(self, signed_in: "TokenSet | None") -> None:
        """The rest of :meth:`logout`, after this tab signed out: the store, the server."""
        revoke: list[TokenSet | None] = [signed_in]

        def clear(_tokens: "TokenSet | None") -> bool:
            revoke[0] = self._clear_store(signed_in)
            # A session this tab adopted while the logout waited for the lock ends too.
            self._emit_all(self.machine.sign_out(LOGGED_OUT))
            return True

        await self._under_lock(clear, None)
        await self._prune_keys(young=False)
        await self.run(logout_flow(self.config, revoke[0]))

    async def ensure_fresh(self) -> "TokenSet | None":
        """Refresh if the token is within leeway; return the current tokens.

        For the edge's timer, ``visibilitychange`` and ``online`` handlers: never
        raises an ``AuthFetchError`` (failures went to the events already).
        """
        tokens = self.machine.tokens
        if tokens is None or not self.config.needs_refresh(tokens, self.clock.now()):
            return tokens
        try:
            return await self.refresh(tokens.access_token)
        except AuthFetchError:
            return self.machine.tokens

    async def refresh(self, stale: "str | None" = None) -> "TokenSet":
        """Replace the access token ``stale`` (default: the current one) via the single flight.

        Returns the current TokenSet at once when ``stale`` was already replaced.
        """
        if stale is None and self.machine.tokens is not None:
            stale = self.machine.tokens.access_token
        for _ in range(2):  # a flight of an older session may end first: then lead our own
            current = self._after_refresh(stale)
            if current is not None:
                return current
            await self.gate.run(lambda: self._lead(stale))
        current = self._after_refresh(stale)
        if current is None:
            raise RefreshUnavailableError("the refresh did not replace the token")
        return current

    async def _lead(self, stale: "str | None") -> None:
        """The flight: take the cross-tab lock, run the refresh decision for ``stale``."""
        async with self.lock():
            await self.run(self.refresh_decision(stale or ""))

    async def _under_lock(self, apply: "Callable[[Any], bool]", tokens: "TokenSet | None") -> bool:
        """``apply(tokens)`` and, if it took effect (``True``), write ``tokens`` to the
        cross-tab copy, holding the cross-tab lock; tell whether it took effect.

        A sign-in or sign-out then never lands in the middle of another tab's
        refresh. If the lock is not granted in time, apply anyway: the page's
        own store is still right, and the copy is written without the lock.
        """
        lock: Lock | None = self.lock()
        try:
            await lock.__aenter__()  # type: ignore[union-attr]
        except RefreshUnavailableError:
            lock = None
        try:
            applied = apply(tokens)
            if applied:
                await self.store.save_consistent(tokens)
            return applied
        finally:
            if lock is not None:
                await lock.__aexit__(None, None, None)

    # -- the driver ------------------------------------------------------------

    async def run(self, flow: "Flow") -> "Any":
        """Drive ``flow`` with this session's ports; return its outcome.

        An exception of a port is thrown into the flow. If the driver itself is
        cancelled, the flow is closed, so its ``finally`` blocks run.
        """
        value: object = None
        error: BaseException | None = None
        while True:
            try:
                command = flow.send(value) if error is None else flow.throw(error)
            except StopIteration as stop:
                return stop.value
            try:
                value, error = await self.execute(command), None
            except Exception as exc:
                value, error = None, exc
            except BaseException:
                flow.close()
                raise

    async def execute(self, command: object) -> "Any":
        """Run one command with this session's ports (the one dispatch of the async driver)."""
        if isinstance(command, Send):
            return await self._send(command)
        if isinstance(command, ReadJson):
            return await command.response.json()
        if isinstance(command, Refresh):
            return await self.refresh(command.stale)
        if isinstance(command, Sleep):
            await self.clock.sleep(command.seconds)
            return None
        if isinstance(command, Load):
            return await self.store.load_consistent()
        if isinstance(command, Persist):
            await self.store.save_consistent(command.tokens)
            return None
        if isinstance(command, SignProof):
            return await self._key_store().sign(command.jkt, command.data)
        if isinstance(command, NewProofKey):
            return await self._key_store().create()
        if isinstance(command, PruneProofKeys):
            await self._key_store().prune(command.keep, command.young)
            return None
        raise TypeError("unknown flow command " + repr(command))

    def _key_store(self) -> "ProofKeys":
        """The DPoP key store; ``DPoPError`` when this session has none."""
        if self.keys is None:
            raise DPoPError("dpop is on but this session has no key store (keys=...)")
        return self.keys

    async def _send(self, command: Send) -> "Any":
        """Send with the request's events; a timeout becomes a ``TransportError``."""
        request = command.request
        told = self.config.request_events
        if told:
            self.emit(send_event(request))
        try:
            if command.timeout is None:
                response = await self.transport.send(request)
            else:  # the transport aborts at the timeout; wait_for bounds one that does not
                sending = self.transport.send(request, command.timeout)
                response = await asyncio.wait_for(sending, command.timeout)
        except asyncio.TimeoutError:  # noqa: UP041 - MicroPython's is not the builtin one
            error = TransportTimeoutError("no answer in " + str(command.timeout) + " s")
            if told:
                self.emit(answer_event(request, None, error))
            raise error  # noqa: B904 - MicroPython prints a warning for chained raises
        except TransportError as exc:
            if told:
                self.emit(answer_event(request, None, exc))
            raise
        if told:
            self.emit(answer_event(request, response.status))
        return response


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .events import Event
    from .flow import Flow
    from .policy import AuthConfig
    from .ports import Clock, Lock, LockFactory, ProofKeys, Store, SyncClock, Transport
    from .request import ReplayableRequest
    from .tokens import TokenSet
