"""JOSE's base64url, and a JWT's claims read WITHOUT verifying it: only to schedule refreshes,
never to decide access.

MicroPython has no ``base64.urlsafe_b64decode`` (it raises ``NotImplementedError``),
so the payload segment is decoded with ``binascii.a2b_base64`` after swapping the
URL-safe alphabet back and restoring the padding. PyJWT stays the server's verifier.
"""

import binascii
import json


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2; RFC 7636 appendix A)."""
    text = binascii.b2a_base64(data).decode().strip()
    return text.replace("+", "-").replace("/", "_").replace("=", "")


def unverified_claims(token: str) -> dict:
    """The claims of the JWT ``token`` (signature NOT checked); ``ValueError`` if malformed."""
    if not isinstance(token, str):
        raise ValueError("a JWT must be a string")
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        raise ValueError("a JWT has three dot-separated segments")
    segment = parts[1].replace("-", "+").replace("_", "/")
    segment += "=" * (-len(segment) % 4)
    try:
        claims = json.loads(binascii.a2b_base64(segment.encode()))
    except (binascii.Error, UnicodeError, TypeError) as exc:
        # No "from exc": MicroPython prints a warning for every chained raise.
        raise ValueError("the JWT payload is not base64url JSON: " + str(exc))  # noqa: B904
    if not isinstance(claims, dict):
        raise ValueError("the JWT payload is not a JSON object")
    return claims
