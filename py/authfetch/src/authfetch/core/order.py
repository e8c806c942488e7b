"""Which of two sessions of one sign-in the server issued last, from what the server says.

When two tabs' sessions of one sign-in meet (a ``storage`` event, the re-read
under the lock), the one the server issued last is the live one: the server
retires a token it has replaced. A tab's own count of refreshes cannot tell
that when two tabs refreshed the same token. So the access tokens' ``iat``
claims (read unverified, like ``exp``: only to order, never to decide access)
decide when both have one and they differ. Opaque access tokens (no JWT
claims), or two tokens issued in the same second, fall back to the count of
refreshes since the sign-in (``TokenSet.version``): that order is the server's
too as long as every refresh of a sign-in is single-flight across tabs, which
the cross-tab lock (Web Locks, else the lease of :mod:`.lease`) provides.
"""

from .claims import unverified_claims


def issued_at_claim(access_token: str) -> "float | None":
    """The ``iat`` claim of a JWT access token; ``None`` for an opaque token or none."""
    try:
        iat = unverified_claims(access_token).get("iat")
    except ValueError:
        return None
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        return None
    return float(iat)


def server_order(first: "TokenSet", second: "TokenSet") -> int:
    """``1`` if the server issued ``first``'s access token after ``second``'s, ``-1`` if
    before, ``0`` when it cannot tell (an opaque token, or the same ``iat``)."""
    one = issued_at_claim(first.access_token)
    other = issued_at_claim(second.access_token)
    if one is None or other is None or one == other:
        return 0
    return 1 if one > other else -1


TYPE_CHECKING = False
if TYPE_CHECKING:
    from .tokens import TokenSet
