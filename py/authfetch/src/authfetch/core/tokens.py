"""The token set: access token, refresh token, expiry and refresh metadata."""

import json

from .expiry import default_leeway, estimate_skew, needs_refresh
from .order import server_order

_FIELDS = (
    "access_token",
    "refresh_token",
    "expires_at",
    "token_type",
    "issued_at",
    "skew",
    "refresh_expires_at",
    "login",
    "version",
    "id_token",
    "dpop_jwk",
)

#: The proactive leeway never exceeds this share of the token's lifetime, so a leeway
#: longer than the lifetime cannot make every request (and the timer) refresh at once.
MAX_LEEWAY_SHARE = 0.5


class TokenSet:
    """One session's tokens, stored as one JSON value (one key, one atomic write).

    ``expires_at`` and ``issued_at`` are epoch seconds on the server's clock;
    ``skew`` is the estimated ``server_clock - local_clock`` at issue time.
    ``refresh_expires_at`` is the refresh token's expiry when the server tells.

    ``id_token`` is the OpenID Connect ID token of the sign-in (kept for the
    provider's logout, ``id_token_hint``), when there is one.

    ``dpop_jwk`` is the public JWK of the DPoP key the tokens are bound to (RFC 9449;
    ``token_type`` is then ``DPoP``): every tab signs its proofs with that key.

    ``login`` names the sign-in these tokens belong to (minted by the client at
    login, kept by every refresh) and ``version`` counts the refreshes since
    that sign-in: together they are the session's identity, which decides
    whether a result that arrives late still belongs to the current session.
    """

    def __init__(
        self,
        access_token: str,
        refresh_token: "str | None" = None,
        expires_at: "float | None" = None,
        token_type: str = "Bearer",
        issued_at: "float | None" = None,
        skew: float = 0.0,
        refresh_expires_at: "float | None" = None,
        login: str = "",
        version: int = 0,
        id_token: "str | None" = None,
        dpop_jwk: "dict | None" = None,
    ) -> None:
        if not isinstance(access_token, str) or not access_token:
            raise ValueError("access_token must be a non-empty string")
        self.access_token = access_token
        self.refresh_token = refresh_token or None
        self.expires_at = None if expires_at is None else float(expires_at)
        self.token_type = token_type or "Bearer"
        self.issued_at = None if issued_at is None else float(issued_at)
        self.skew = float(skew or 0.0)
        self.refresh_expires_at = None if refresh_expires_at is None else float(refresh_expires_at)
        if not isinstance(login, str) or not isinstance(version, int):
            raise ValueError("login must be a string and version an integer")
        self.login = login
        self.version = version
        if id_token is not None and not isinstance(id_token, str):
            raise ValueError("id_token must be a string")
        self.id_token = id_token or None
        if dpop_jwk is not None and not isinstance(dpop_jwk, dict):
            raise ValueError("dpop_jwk must be a JSON object")
        self.dpop_jwk = dpop_jwk or None
        if self.token_type.lower() == "dpop" and self.dpop_jwk is None:
            raise ValueError("a DPoP token set needs its key (dpop_jwk)")
        #: ``(leeway asked, leeway in force)``, remembered by :meth:`needs_refresh`.
        self._due: tuple | None = None

    @property
    def bound(self) -> bool:
        """Tell whether the tokens are bound to a DPoP key (never sent as a bearer)."""
        return self.dpop_jwk is not None

    @property
    def lifetime(self) -> "float | None":
        """Seconds between issue and expiry of the access token, if both are known."""
        if self.expires_at is None or self.issued_at is None:
            return None
        return self.expires_at - self.issued_at

    def leeway(self, leeway: "float | None" = None) -> float:
        """The proactive leeway: ``leeway`` if given, else the default for this lifetime.

        Clamped to half the lifetime when the lifetime is known (see
        :data:`MAX_LEEWAY_SHARE`): a leeway of a day on a 30 s token still
        leaves 15 s between refreshes.
        """
        lifetime = self.lifetime
        chosen = default_leeway(lifetime) if leeway is None else float(leeway)
        if lifetime is not None and lifetime > 0:
            return max(0.0, min(chosen, lifetime * MAX_LEEWAY_SHARE))
        return max(0.0, chosen)

    def needs_refresh(self, now: float, leeway: "float | None" = None) -> bool:
        """Tell whether a refresh is due at local time ``now`` (refreshable tokens only).

        The leeway in force is worked out once per ``leeway`` asked (every request asks).
        """
        if self.refresh_token is None or self.expires_at is None:
            return False
        due = self._due
        if due is None or due[0] != leeway:
            due = self._due = (leeway, self.leeway(leeway))
        return now + self.skew >= self.expires_at - due[1]  # as expiry.needs_refresh

    def is_expired(self, now: float) -> bool:
        """Tell whether the access token is past its expiry at local time ``now``."""
        return needs_refresh(self.expires_at, now, 0.0, self.skew)

    def local_expires_at(self) -> "float | None":
        """Return the expiry on the local clock (for display and timers)."""
        return None if self.expires_at is None else self.expires_at - self.skew

    def to_dict(self) -> dict:
        """Return the fields as a plain dict (JSON-ready)."""
        return {name: getattr(self, name) for name in _FIELDS}

    def to_json(self) -> str:
        """Serialise to the one JSON string stored under ``authfetch.session``."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict) -> "TokenSet":
        """Build from a dict made by :meth:`to_dict`; raises ``ValueError`` if malformed."""
        if not isinstance(data, dict):
            raise ValueError("token set must be a JSON object")
        access = data.get("access_token")
        if not isinstance(access, str):
            raise ValueError("token set has no access_token")
        rest = {name: data[name] for name in _FIELDS[1:] if name in data}
        return cls(access, **rest)

    @classmethod
    def from_json(cls, text: str) -> "TokenSet":
        """Parse the stored JSON string; raises ``ValueError`` if malformed."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_token_response(
        cls,
        payload: dict,
        now: float,
        previous: "TokenSet | None" = None,
        access_exp: "float | None" = None,
        issued_at: "float | None" = None,
        server_date: "float | None" = None,
        login: str = "",
        dpop_jwk: "dict | None" = None,
    ) -> "TokenSet":
        """Build from a login/refresh response body received at local time ``now``.

        ``access_exp``/``issued_at`` are the JWT ``exp``/``iat`` claims if the edge
        decoded them (unverified, only to schedule); otherwise ``expires_in`` is
        used. ``server_date`` is the parsed ``Date`` header. The refresh token of
        ``previous`` is kept when the response carries none (no rotation), and
        so is its clock skew when none can be measured. A refresh answer
        (``previous`` given) keeps ``previous``'s login and counts one version
        up; a login answer takes the new ``login`` id.

        ``dpop_jwk`` is the DPoP key a sign-in's proof was made with (a refresh keeps
        ``previous``'s): the answer's ``token_type`` must then be ``DPoP``, and
        ``DPoP`` without a key is refused too — a downgrade, or a binding this client
        cannot use.
        """
        if not isinstance(payload, dict) or not payload.get("access_token"):
            raise ValueError("token response has no access_token")
        key = dpop_jwk if previous is None else previous.dpop_jwk
        token_type = _token_type(payload.get("token_type") or "Bearer", key is not None)
        id_token = payload.get("id_token") or (previous.id_token if previous else None)
        skew = estimate_skew(now, issued_at, server_date)
        if skew is None:
            skew = previous.skew if previous is not None else 0.0
        server_now = now + skew
        refresh = payload.get("refresh_token") or (previous and previous.refresh_token)
        return cls(
            access_token=payload["access_token"],
            refresh_token=refresh or None,
            expires_at=_expiry(payload.get("expires_in"), access_exp, server_now),
            token_type=token_type,
            issued_at=server_now if issued_at is None else issued_at,
            skew=skew,
            refresh_expires_at=_refresh_expiry(payload, server_now, previous),
            login=previous.login if previous is not None else login,
            version=previous.version + 1 if previous is not None else 0,
            id_token=id_token,
            dpop_jwk=key,
        )

    def same_login(self, other: "TokenSet | None") -> bool:
        """Tell whether ``other`` comes from the same sign-in as these tokens."""
        return other is not None and other.login == self.login

    def is_newer_than(self, other: "TokenSet | None") -> bool:
        """Tell whether these tokens replace ``other``: another sign-in, or a later refresh of it.

        Within a sign-in, the one the server issued last (:func:`.order.server_order`,
        falling back to the refresh count for opaque tokens). A different sign-in
        counts as newer: it was written after ours (sign-ins
        and refreshes are written under the cross-tab lock, storage events arrive
        in write order), and the last one written is the one every tab keeps.
        """
        if other is None:
            return True
        if not self.same_login(other):
            return True
        order = server_order(self, other)  # what the server says first (``iat``), see .order
        if order:
            return order > 0
        return self.version > other.version

    def __eq__(self, other: object) -> bool:
        """Compare all fields."""
        return isinstance(other, TokenSet) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        """Describe the token set without revealing the tokens."""
        refreshable = self.refresh_token is not None
        return f"<TokenSet expires_at={self.expires_at!r} refreshable={refreshable}>"


def _token_type(token_type: "Any", bound: bool) -> str:
    """The answer's ``token_type``: ``DPoP`` for a proof-bound request, ``Bearer`` otherwise."""
    wanted = "DPoP" if bound else "Bearer"
    if isinstance(token_type, str) and token_type.lower() == wanted.lower():
        return wanted
    if bound:
        raise ValueError(
            "token_type " + repr(token_type) + " answered a DPoP request: refused (a downgrade:"
            " the tokens would not be bound to the key)"
        )
    raise ValueError(
        "token_type " + repr(token_type) + " is not supported (Bearer, or DPoP"
        " with the dpop option)"
    )


def _expiry(expires_in: "Any", access_exp: "float | None", server_now: float) -> "float | None":
    """Pick the access expiry: the JWT ``exp`` if known, else ``now + expires_in``."""
    if access_exp is not None:
        return float(access_exp)
    if expires_in is None:
        return None
    return server_now + float(expires_in)


def _refresh_expiry(
    payload: dict, server_now: float, previous: "TokenSet | None"
) -> "float | None":
    """Refresh-token expiry from ``refresh_expires_in``, else the previous one."""
    if payload.get("refresh_expires_in") is not None:
        return server_now + float(payload["refresh_expires_in"])
    if previous is not None and not payload.get("refresh_token"):
        return previous.refresh_expires_at
    return None


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
