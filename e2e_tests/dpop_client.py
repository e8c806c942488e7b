"""A DPoP (RFC 9449) proof maker for tests: a key of the test's own, outside any page.

Used by the server tests, the provider tests and the thief test (a token copied out of
the page, presented with a proof made by another key). PyJWT signs with the
``cryptography`` backend; nothing here is shared with the library's own proofs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm


def b64url(data: bytes) -> str:
    """Base64url without padding (JOSE's encoding)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_token_hash(access_token: str) -> str:
    """The ``ath`` claim: base64url SHA-256 of the access token."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint of a P-256 public JWK (the token's ``cnf.jkt``)."""
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def htu(url: str) -> str:
    """The ``htu`` claim of ``url``: no query, no fragment."""
    return url.split("#", 1)[0].split("?", 1)[0]


class DPoPKey:
    """An ECDSA P-256 key pair that signs DPoP proofs (``ES256``)."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private_key.public_key()))
        self.jwk.pop("key_ops", None)
        self.jkt = jwk_thumbprint(self.jwk)

    def proof(
        self,
        method: str,
        url: str,
        access_token: str | None = None,
        nonce: str | None = None,
        iat: float | None = None,
        jti: str | None = None,
        **extra: Any,
    ) -> str:
        """A proof for ``method`` ``url`` (``ath`` when ``access_token``; ``nonce`` if given).

        ``iat`` defaults to now, ``jti`` to a random value; ``extra`` claims override any.
        """
        claims: dict[str, Any] = {
            "jti": jti or secrets.token_urlsafe(16),
            "htm": method.upper(),
            "htu": htu(url),
            "iat": int(time.time() if iat is None else iat),
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(extra)
        headers = {"typ": "dpop+jwt", "jwk": self.jwk}
        return jwt.encode(claims, self.private_key, algorithm="ES256", headers=headers)
