"""The commands a flow yields to its driver (httpx ``auth_flow`` style, typed).

A flow is a generator: ``result = yield Send(request)``. The driver (async,
sync, or the edge's promise chain) runs the command with its ports and sends
the result back in, or throws the port's error in. Each driver dispatches on
these classes in one place.

==============  ==========================================  =================================
command         runs                                        result
==============  ==========================================  =================================
``Send``        the transport, with the request's events    response (``.status``, ``.headers``)
``ReadJson``    the response's body as JSON                 the decoded value (``ValueError``)
``Sleep``       the clock                                   ``None``
``Refresh``     the session's single flight                 the current ``TokenSet`` (or raises)
``Load``        the store's consistent read (under lock)    ``TokenSet | None``
``Persist``     the store's consistent write                ``None``
==============  ==========================================  =================================
"""


class Send:
    """Send ``request`` once; give up after ``timeout`` seconds (``None``: no limit)."""

    def __init__(self, request: "ReplayableRequest", timeout: "float | None" = None) -> None:
        self.request = request
        self.timeout = timeout


class ReadJson:
    """Read ``response``'s body as JSON (a body that is not JSON raises ``ValueError``)."""

    def __init__(self, response: "Any") -> None:
        self.response = response


class Sleep:
    """Wait ``seconds`` (between refresh retries)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class Refresh:
    """Replace the access token ``stale`` through the tab's single flight."""

    def __init__(self, stale: str) -> None:
        self.stale = stale


class Load:
    """Read the session as every tab sees it now (run under the cross-tab lock)."""


class Persist:
    """Write ``tokens`` (``None``: signed out) to the store's cross-tab copy."""

    def __init__(self, tokens: "TokenSet | None") -> None:
        self.tokens = tokens


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .request import ReplayableRequest
    from .tokens import TokenSet
