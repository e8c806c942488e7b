"""What authfetch tells the page: one event vocabulary, emitted by the core.

Every event is an :class:`Event` with a ``name`` (below) and a ``detail``
dict. The core's session emits them through ``AuthConfig.on_event`` and maps
the three that have hooks of their own (``on_tokens``, ``on_refresh_error``,
``on_logout``); the browser edge turns them into ``window.authfetch`` callbacks
and ``authfetch:<name>`` DOM events. Requests carry a *role*, so "is this the
refresh call?" is never answered by comparing URLs again.

==================  ========================================================
name                detail
==================  ========================================================
``request``         ``request`` (a ``ReplayableRequest``: method, url, replay)
``response``        ``request``, ``status``
``refresh``         ``request`` (the refresh call, role ``refresh``)
``refreshed``       ``request``, ``status`` (any answer of the refresh call)
``network-error``   ``request``, ``error``
``tokens``          ``tokens``, ``source`` (``login``, ``refresh``, ``tab``)
``adopted``         ``tokens`` (another tab's session taken over)
``refresh-error``   ``error`` (``SessionExpiredError`` or ``RefreshUnavailableError``)
``logout``          ``reason`` (``expired``, ``logout``, ``external``)
==================  ========================================================
"""

REQUEST = "request"
RESPONSE = "response"
REFRESH = "refresh"
REFRESHED = "refreshed"
NETWORK_ERROR = "network-error"
TOKENS = "tokens"
ADOPTED = "adopted"
REFRESH_ERROR = "refresh-error"
LOGOUT = "logout"

#: Request roles (``ReplayableRequest.role``).
ROLE_API = "api"
ROLE_REFRESH = "refresh"
ROLE_LOGIN = "login"
ROLE_LOGOUT = "logout"
#: The provider's discovery document (OAuth 2.0 / OpenID Connect).
ROLE_DISCOVERY = "discovery"


class Event:
    """One thing that happened: ``name`` (see the module table) and its ``detail``."""

    def __init__(self, name: str, detail: "dict | None" = None) -> None:
        self.name = name
        self.detail = detail if detail is not None else {}

    def __eq__(self, other: object) -> bool:
        """Compare name and detail."""
        return isinstance(other, Event) and (self.name, self.detail) == (other.name, other.detail)

    def __repr__(self) -> str:
        """Show the name and the detail's keys (details may hold tokens)."""
        return "Event(" + self.name + ", " + repr(sorted(self.detail)) + ")"


def send_event(request: "ReplayableRequest") -> Event:
    """The event announcing that ``request`` is being sent (``refresh`` for the refresh call)."""
    return Event(REFRESH if request.role == ROLE_REFRESH else REQUEST, {"request": request})


def answer_event(
    request: "ReplayableRequest", status: "int | None", error: "BaseException | None" = None
) -> Event:
    """The event for ``request``'s outcome: its ``status``, or ``network-error`` with ``error``."""
    if status is None:
        return Event(NETWORK_ERROR, {"request": request, "error": error})
    name = REFRESHED if request.role == ROLE_REFRESH else RESPONSE
    return Event(name, {"request": request, "status": status})


TYPE_CHECKING = False
if TYPE_CHECKING:
    from .request import ReplayableRequest
