"""The session's state machine: the one owner of a tab's session state. No I/O in here.

In the spirit of h11's ``_state.py``: named states, every transition in one
table (:data:`TRANSITIONS`), and methods that only move the state and say
what happened (a list of :class:`~.events.Event`). The drivers
(:mod:`.session`, :mod:`.sync`) do the I/O and emit the events.

The rule that makes late results harmless: a result is applied only if the
session it belongs to is still the current one. A refresh commits only while
the machine is still ``REFRESHING`` the very tokens it started from — a
login, a logout, another tab's session or a refused refresh in between moves
the machine on, and the late answer finds no transition to take. Another
tab's session is adopted only if it is newer (:meth:`.TokenSet.is_newer_than`).

======================  =================================================
state                   meaning
======================  =================================================
``SIGNED_OUT``          no session (never signed in, logged out, or
                        ended in another tab)
``SIGNED_IN``           tokens held, no refresh of them in flight
``REFRESHING``          tokens held, this tab's one refresh of them runs
``ENDED``               the refresh token was refused: signed out until
                        the next login
======================  =================================================
"""

from .events import ADOPTED, LOGOUT, REFRESH_ERROR, TOKENS, Event

SIGNED_OUT = "signed-out"
SIGNED_IN = "signed-in"
REFRESHING = "refreshing"
ENDED = "ended"

# Triggers: what can happen to a session.
LOGIN = "login"
ADOPT = "adopt"
REFRESH_START = "refresh-start"
REFRESH_DONE = "refresh-done"
REFRESH_KEPT = "refresh-kept"
REFRESH_REFUSED = "refresh-refused"
SIGN_OUT = "sign-out"

_ANY = (SIGNED_OUT, SIGNED_IN, REFRESHING, ENDED)

#: ``TRANSITIONS[trigger][state]`` is the next state; a missing entry means the
#: trigger does not apply in that state (a late result: dropped).
TRANSITIONS = {
    LOGIN: {state: SIGNED_IN for state in _ANY},
    ADOPT: {state: SIGNED_IN for state in _ANY},
    REFRESH_START: {SIGNED_IN: REFRESHING},
    REFRESH_DONE: {REFRESHING: SIGNED_IN},
    REFRESH_KEPT: {REFRESHING: SIGNED_IN},
    REFRESH_REFUSED: {REFRESHING: ENDED},
    SIGN_OUT: {state: SIGNED_OUT for state in _ANY},
}

#: Reasons a session ends (``on_logout(reason)``).
EXPIRED = "expired"
LOGGED_OUT = "logout"
EXTERNAL = "external"


class SessionMachine:
    """A tab's session: its state, its tokens and the refresh in flight, moved only by triggers.

    Shared by every driver of a tab (the async session, the sync session, the
    promise-chained bridge), so all of them see one session at once.
    """

    def __init__(self, tokens: "TokenSet | None" = None) -> None:
        self.tokens = tokens
        self.state = SIGNED_IN if tokens is not None else SIGNED_OUT
        self.flight: TokenSet | None = None
        self.refreshes = 0
        self.ended: set = set()
        #: Logouts asked for in this tab: a sign-in begun before one never lands.
        self.logouts = 0

    # -- reading ---------------------------------------------------------------

    @property
    def signed_in(self) -> bool:
        """Tell whether the tab holds a session."""
        return self.tokens is not None

    def owns(self, tokens: "TokenSet") -> bool:
        """Tell whether ``tokens`` are exactly the current session's tokens (identity)."""
        return self.tokens is tokens

    # -- transitions -------------------------------------------------------------

    def _go(self, trigger: str) -> bool:
        """Take ``trigger``'s transition from the current state; ``False`` if it has none."""
        following = TRANSITIONS[trigger].get(self.state)
        if following is None:
            return False
        self.state = following
        return True

    def login(self, tokens: "TokenSet", begun_at: "int | None" = None) -> "list[Event]":
        """A sign-in in this tab: the newest session — unless this tab logged out after the
        sign-in began (``begun_at``: :attr:`logouts` then): that later logout wins, and
        the sign-in has no transition (dropped, never stored)."""
        if begun_at is not None and begun_at != self.logouts:
            return []
        self._go(LOGIN)
        self.tokens, self.flight = tokens, None
        return [Event(TOKENS, {"tokens": tokens, "source": "login"})]

    def is_dead(self, tokens: "TokenSet | None") -> bool:
        """Tell whether ``tokens`` belong to a sign-in this tab saw end (never taken back)."""
        return tokens is not None and tokens.login in self.ended

    def adopt(self, tokens: "TokenSet | None") -> "list[Event]":
        """Another tab's session (``None``: it signed out): taken only if newer than ours.

        A sign-in this tab saw end (logged out, refused, or removed by another
        tab) is never taken back: a late write of it by a slower tab is dead.
        """
        if tokens is None:
            return self.sign_out(EXTERNAL)
        if self.is_dead(tokens):
            return []
        if self.tokens is not None and not tokens.is_newer_than(self.tokens):
            return []
        self._go(ADOPT)
        self.tokens, self.flight = tokens, None
        return [
            Event(ADOPTED, {"tokens": tokens}),
            Event(TOKENS, {"tokens": tokens, "source": "tab"}),
        ]

    def start_refresh(self) -> "TokenSet":
        """Begin this tab's one refresh of the current tokens; returns them (the flight)."""
        tokens = self.tokens
        if tokens is None or not self._go(REFRESH_START):
            raise ValueError("no session to refresh in state " + self.state)
        self.flight = tokens
        return tokens

    def _lands(self, flight: "TokenSet") -> bool:
        """Tell whether a result of the refresh of ``flight`` still belongs to this session."""
        return self.state == REFRESHING and self.flight is flight

    def overtaken(self, flight: "TokenSet", latest: "TokenSet | None") -> "list[Event]":
        """Re-read after the refresh call: another tab's newer session, or its sign-out, wins.

        Only while this tab still refreshes ``flight``; otherwise the re-read is
        as late as the answer and changes nothing.
        """
        if not self._lands(flight):
            return []
        if latest is None:
            return self.sign_out(EXTERNAL)
        return self.adopt(latest) if latest.is_newer_than(flight) else []

    def refresh_done(self, flight: "TokenSet", fresh: "TokenSet") -> "list[Event]":
        """The refresh of ``flight`` answered ``fresh``: commit it, unless it came too late."""
        if not self._lands(flight):
            return []
        self._go(REFRESH_DONE)
        self.tokens, self.flight = fresh, None
        self.refreshes += 1
        return [Event(TOKENS, {"tokens": fresh, "source": "refresh"})]

    def refresh_kept(self, flight: "TokenSet", error: "Exception | None" = None) -> "list[Event]":
        """The refresh of ``flight`` ended without new tokens; the session is kept."""
        if not self._lands(flight):
            return []
        self._go(REFRESH_KEPT)
        self.flight = None
        return [] if error is None else [Event(REFRESH_ERROR, {"error": error})]

    def refresh_refused(self, flight: "TokenSet", error: Exception) -> "list[Event]":
        """The refresh token of ``flight`` was refused: the session is over (once)."""
        if not self._lands(flight):
            return []
        self._go(REFRESH_REFUSED)
        self.ended.add(flight.login)
        self.tokens, self.flight = None, None
        return [Event(REFRESH_ERROR, {"error": error}), Event(LOGOUT, {"reason": EXPIRED})]

    def sign_out(self, reason: str) -> "list[Event]":
        """Forget the session (``reason``: logout or external); an event only if there was one."""
        had = self.tokens is not None
        if reason == LOGGED_OUT:
            self.logouts += 1
        if self.tokens is not None:
            self.ended.add(self.tokens.login)
        self._go(SIGN_OUT)
        self.tokens, self.flight = None, None
        return [Event(LOGOUT, {"reason": reason})] if had else []


TYPE_CHECKING = False
if TYPE_CHECKING:
    from .tokens import TokenSet
