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
``NewProofKey`` the DPoP keys: make a new key pair          its public JWK (``dict``)
``SignProof``   the DPoP keys: sign with the key ``jkt``    the ES256 signature, base64url
``PruneProofKeys`` the DPoP keys: delete all but ``keep``   ``None``
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


class NewProofKey:
    """Make a new DPoP key pair (non-extractable) and keep it for every tab; its public JWK."""


class SignProof:
    """Sign the text ``data`` (a JWS signing input, ASCII) with the kept DPoP key whose
    RFC 7638 thumbprint is ``jkt``; the result is the signature as base64url text (text both
    ways: no bytes cross the FFI)."""

    def __init__(self, jkt: str, data: str) -> None:
        self.jkt = jkt
        self.data = data


class PruneProofKeys:
    """Delete the kept DPoP keys but those in ``keep``; ``young`` keeps those made lately
    too (a sign-in of another tab may be using one that has not landed yet)."""

    def __init__(self, keep: "list[str]", young: bool = True) -> None:
        self.keep = keep
        self.young = young


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .request import ReplayableRequest
    from .tokens import TokenSet
