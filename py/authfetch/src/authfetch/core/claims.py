"""A JWT's claims read WITHOUT verifying it: only to schedule refreshes, never to decide access.

MicroPython has no ``base64.urlsafe_b64decode`` (it raises ``NotImplementedError``),
so the payload segment is decoded by :func:`.b64.unb64url`. PyJWT stays the
server's verifier.
"""

import json

from .b64 import b64url, unb64url

__all__ = ["b64url", "unverified_claims"]


def unverified_claims(token: str) -> dict:
    """The claims of the JWT ``token`` (signature NOT checked); ``ValueError`` if malformed."""
    if not isinstance(token, str):
        raise ValueError("a JWT must be a string")
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        raise ValueError("a JWT has three dot-separated segments")
    try:
        claims = json.loads(unb64url(parts[1]))
    except (UnicodeError, TypeError, ValueError) as exc:
        # No "from exc": MicroPython prints a warning for every chained raise.
        raise ValueError("the JWT payload is not base64url JSON: " + str(exc))  # noqa: B904
    if not isinstance(claims, dict):
        raise ValueError("the JWT payload is not a JSON object")
    return claims
