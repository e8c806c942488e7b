"""When a 401 costs no refresh: the token was issued by a refresh moments ago.

A refresh exists to replace an expired token. A 401 for a token the server
issued a few seconds ago cannot mean that (some backends say 401 where they
mean 403): refreshing again would rotate the refresh token for nothing, once
per request. So such a 401 is returned as is. The age is read on the server's
clock (``issued_at``: the JWT's ``iat``, or the answer's time corrected by the
estimated skew), and only tokens that came from a refresh count (``version``
above 0): a sign-in's first token still gets its one refresh. A 401 whose
challenge says ``error="invalid_token"`` is the server stating that this token
is invalid (expired, revoked): it is believed, and refreshes once per request
as before — the rule applies to the bare ``Bearer`` challenge (or none), which
names no reason.
"""

from .policy import challenge_error

#: A token a refresh issued less than this many seconds ago is "just issued".
FRESH_TOKEN_S = 5.0


def just_refreshed(
    tokens: "TokenSet | None", sent: "str | None", now: float, response: "Any" = None
) -> bool:
    """Tell whether the 401 ``response`` for ``sent`` names no reason while ``sent`` is the
    current token, issued by a refresh less than :data:`FRESH_TOKEN_S` s before ``now``."""
    headers = getattr(response, "headers", None)
    if challenge_error(headers.get("www-authenticate") if headers is not None else None):
        return False
    if tokens is None or sent is None or tokens.access_token != sent or tokens.version < 1:
        return False
    if tokens.issued_at is None:
        return False
    age = now + tokens.skew - tokens.issued_at
    return -FRESH_TOKEN_S < age < FRESH_TOKEN_S


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .tokens import TokenSet
