"""The provider's RS256 signing key, its JWKS, and OpenID Connect ID tokens.

The key is an RSA 2048 private key in PKCS#8 PEM, kept beside the database (and
its secret) in ``SIGNING_KEY_FILE`` with mode 0600. An existing file is checked
at start (this user's, private, an RSA key: otherwise the server refuses to
start); a missing one is generated on first use (the first ID token or JWKS
request) and then kept, so start-up stays fast for the many short-lived apps of
the tests. Concurrent first uses, in one process or several, end with one key:
the file is created with ``link`` (atomic "create if absent") and read back.

The public key is served at ``/oauth/jwks`` with ``kid`` = its RFC 7638
thumbprint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .config import ConfigError
from .files import check_private_file, write_private_file_once

ALGORITHM = "RS256"
KEY_BITS = 2048


@dataclass(frozen=True)
class LoadedKey:
    """A private key and what is published of it."""

    private: rsa.RSAPrivateKey
    kid: str
    jwk: dict[str, str]


class SigningKey:
    """The key in ``path``: checked now if the file exists, created on first :meth:`get`."""

    def __init__(self, path: str | Path) -> None:
        """Load and check ``path`` if it exists (:class:`ConfigError` if unusable)."""
        self.path = Path(path)
        self._lock = threading.Lock()
        self._loaded = _load(self.path) if self.path.exists() else None

    def get(self) -> LoadedKey:
        """The key, generated and stored the first time it is needed."""
        with self._lock:
            if self._loaded is None:
                if not self.path.exists():
                    _create_key_file(self.path)
                self._loaded = _load(self.path)
            return self._loaded


def _load(path: Path) -> LoadedKey:
    """Read and check the PEM private key at ``path``."""
    check_private_file(path)
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{path} does not hold an unencrypted PEM private key") from None
    if not isinstance(private, rsa.RSAPrivateKey) or private.key_size < KEY_BITS:
        raise ConfigError(f"{path} does not hold an RSA key of at least {KEY_BITS} bits")
    public_jwk: dict[str, str] = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    core = {name: public_jwk[name] for name in ("e", "kty", "n")}
    digest = hashlib.sha256(json.dumps(core, separators=(",", ":"), sort_keys=True).encode())
    kid = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    return LoadedKey(private, kid, {**core, "kid": kid, "use": "sig", "alg": ALGORITHM})


def _create_key_file(path: Path) -> None:
    """Write a new RSA key (PEM, mode 0600) to ``path`` unless another process won."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file_once(path, pem)


def jwks(key: SigningKey) -> dict[str, Any]:
    """The JWK Set of the public key."""
    return {"keys": [key.get().jwk]}


def issue_id_token(key: SigningKey, claims: dict[str, Any]) -> str:
    """Sign ``claims`` as an ID token (RS256, ``kid`` in the header)."""
    loaded = key.get()
    return jwt.encode(
        claims, loaded.private, algorithm=ALGORITHM, headers={"kid": loaded.kid, "typ": "JWT"}
    )


def verify_id_token_hint(key: SigningKey, token: str, issuer: str) -> dict[str, Any]:
    """The claims of an ID token this provider signed; expiry is not checked (a hint).

    Raises :class:`jwt.PyJWTError` for a bad signature, another issuer or a
    missing ``aud``/``sub``.
    """
    claims: dict[str, Any] = jwt.decode(
        token,
        key.get().private.public_key(),
        algorithms=[ALGORITHM],
        issuer=issuer,
        options={
            "require": ["iss", "aud", "sub"],
            "verify_aud": False,  # the caller compares aud with the client
            "verify_exp": False,
            "verify_iat": False,
            "verify_nbf": False,
        },
    )
    return claims
