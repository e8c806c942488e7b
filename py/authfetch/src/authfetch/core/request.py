"""The request record that can be replayed: method, URL, headers, body bytes."""

import json

from .events import ROLE_API


class Headers:
    """A small case-insensitive header mapping that keeps the first spelling of each name."""

    def __init__(self, items: "Any" = None) -> None:
        self._items: dict = {}
        if items is None:
            return
        pairs = items.items() if hasattr(items, "items") else items
        for name, value in pairs:
            self[name] = value

    def __setitem__(self, name: str, value: str) -> None:
        """Set ``name`` (any case) to ``value``, replacing any earlier value."""
        key = name.lower()
        old = self._items.get(key)
        self._items[key] = (old[0] if old else name, str(value))

    def __getitem__(self, name: str) -> str:
        """Return the value of ``name``; raises ``KeyError`` when absent."""
        return self._items[name.lower()][1]

    def __delitem__(self, name: str) -> None:
        """Remove ``name``; raises ``KeyError`` when absent."""
        del self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        """Tell whether ``name`` is present (any case)."""
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> "Iterator[str]":
        """Iterate over the header names as first spelled."""
        return iter([pair[0] for pair in self._items.values()])

    def __len__(self) -> int:
        """Return the number of headers."""
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        """Compare names case-insensitively and values exactly."""
        return isinstance(other, Headers) and self.lower_items() == other.lower_items()

    def __repr__(self) -> str:
        """Show header names only (values may hold secrets)."""
        return "Headers(" + repr(list(self)) + ")"

    def get(self, name: str, default: "str | None" = None) -> "str | None":
        """Return the value of ``name`` (any case) or ``default``."""
        pair = self._items.get(name.lower())
        return pair[1] if pair else default

    def pop(self, name: str, default: "str | None" = None) -> "str | None":
        """Remove ``name`` and return its value, or ``default``."""
        pair = self._items.pop(name.lower(), None)
        return pair[1] if pair else default

    def setdefault(self, name: str, value: str) -> str:
        """Set ``name`` only if absent; return the value in place."""
        if name not in self:
            self[name] = value
        return self[name]

    def items(self) -> "list[tuple[str, str]]":
        """Return ``(name, value)`` pairs, names as first spelled."""
        return list(self._items.values())

    def lower_items(self) -> dict:
        """Return a plain dict with lower-case names."""
        return {key: pair[1] for key, pair in self._items.items()}

    def copy(self) -> "Headers":
        """Return an independent copy."""
        clone = Headers()
        clone._items = dict(self._items)
        return clone


def body_bytes(body: "Any", headers: Headers) -> "bytes | None":
    """Copy a body to ``bytes`` before the first send, so it can be replayed.

    ``str`` is UTF-8 encoded, ``bytes``/``bytearray``/``memoryview`` are copied,
    ``dict``/``list`` are sent as JSON. A ``Content-Type`` is set when absent,
    as ``fetch`` would. Anything else raises ``TypeError`` (pass it with
    ``stream=True`` to send it once, unreplayable).
    """
    if body is None:
        return None
    if isinstance(body, str):
        headers.setdefault("Content-Type", "text/plain;charset=UTF-8")
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, (dict, list)):
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(body).encode("utf-8")
    raise TypeError("cannot copy a body of type " + type(body).__name__ + "; use stream=True")


class ReplayableRequest:
    """A request whose body is copied up front so it can be sent twice.

    ``stream=True`` marks a body that cannot be copied (a stream): it is passed
    through untouched, sent once, and never replayed. ``retry=False`` opts this
    request out of the refresh-and-replay. ``options`` is opaque to the core
    (the edge keeps fetch's ``mode``, ``credentials``, ``signal``... there).
    ``token`` is the access token the request was sent with (set by the flow,
    ``None`` when no bearer was attached); ``replay`` is true on the one resend
    after a refresh (observers use it to report "request replayed"). ``role``
    says what the request is for (``events.ROLE_API``, ``ROLE_REFRESH``,
    ``ROLE_LOGIN``, ``ROLE_LOGOUT``), stamped by the flow that makes it.
    """

    def __init__(
        self,
        url: str,
        method: str = "GET",
        headers: "Any" = None,
        body: "Any" = None,
        stream: bool = False,
        retry: bool = True,
        options: "dict | None" = None,
        role: str = ROLE_API,
    ) -> None:
        self.url = url
        self.role = role
        self.method = method.upper()
        self.headers = headers.copy() if isinstance(headers, Headers) else Headers(headers)
        self.stream = bool(stream)
        self.body = body if self.stream or body is None else body_bytes(body, self.headers)
        self.retry = bool(retry)
        self.options = options
        self.token: str | None = None
        self.replay = False

    def derive(
        self, url: "str | None" = None, token: "str | None" = None, scheme: str = "Bearer"
    ) -> "ReplayableRequest":
        """Return a copy for one send: new URL if given, ``Authorization: <scheme> <token>``
        set for ``token`` (``scheme``: ``Bearer``, or ``DPoP`` for a key-bound token).

        The original is never mutated; the body bytes are shared (immutable).
        """
        clone = ReplayableRequest(self.url if url is None else url, self.method, self.headers)
        clone.body, clone.stream = self.body, self.stream
        clone.retry, clone.options, clone.token = self.retry, self.options, token
        clone.role = self.role
        if token is not None:
            clone.headers["Authorization"] = scheme + " " + token
        return clone

    def json(self) -> "Any":
        """Decode the body as JSON (handy for transports and tests)."""
        return None if self.body is None else json.loads(self.body)

    def __repr__(self) -> str:
        """Describe the request without headers or body."""
        return "<ReplayableRequest " + self.method + " " + self.url + ">"


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any
