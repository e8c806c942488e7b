"""Token material: the signing secret, access tokens (JWT) and opaque refresh tokens.

Access tokens are HS256 JWTs with header ``typ: at+jwt`` (RFC 9068) and the claims
``iss aud sub iat exp jti fam`` (``fam`` = the refresh-token family, i.e. the login),
plus ``cnf: {"jkt"}`` when the token is bound to a DPoP key (RFC 9449 §6.1).
Validation pins the algorithm, requires every claim, compares ``iss``/``aud``
exactly, checks ``typ``, and checks ``exp``/``iat``/``nbf`` against the *server
clock* (which tests move) with a small leeway, not against PyJWT's real time.

Refresh tokens are 256 random bits (``secrets.token_urlsafe(32)``) with no
structure; the database stores only their SHA-256.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from .config import ConfigError
from .files import check_private_file, write_private_file_once

ALGORITHM = "HS256"
TOKEN_TYPE = "at+jwt"
ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})
REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp", "jti", "fam")
SECRET_ENV = "AUTHFETCH_SECRET"
MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class AccessPolicy:
    """How access tokens are minted and checked."""

    secret: bytes
    issuer: str
    audience: str
    ttl: int
    leeway: float


def load_secret(secret_file: str | Path) -> bytes:
    """The signing secret: ``$AUTHFETCH_SECRET``, else the file, created once if missing.

    An existing file is used only if it is this user's and private (mode 0600 or
    stricter): a planted or readable secret would let others forge tokens.
    """
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        secret = from_env.encode()
        if len(secret) < MIN_SECRET_BYTES:
            raise ConfigError(f"{SECRET_ENV} must be at least {MIN_SECRET_BYTES} bytes")
        return secret
    path = Path(secret_file)
    if not path.exists():
        _create_secret_file(path)
    check_private_file(path)
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise ConfigError(f"{path} does not hold a hex secret") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(f"{path} holds fewer than {MIN_SECRET_BYTES} bytes")
    return secret


def _create_secret_file(path: Path) -> None:
    """Write 32 random bytes (hex, mode 0600) to ``path`` unless another process won."""
    write_private_file_once(path, (secrets.token_hex(MIN_SECRET_BYTES) + "\n").encode())


def new_id() -> str:
    """A random identifier (families, ``jti``): 128 bits, URL-safe."""
    return secrets.token_urlsafe(16)


def new_refresh_token() -> str:
    """A fresh opaque refresh token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """The SHA-256 (hex) under which a refresh token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_access_token(
    policy: AccessPolicy, subject: str, family: str, now: float, jkt: str | None = None
) -> str:
    """Sign an access token for ``subject`` in login ``family``, valid ``policy.ttl`` s;
    bound to the DPoP key of thumbprint ``jkt`` (claim ``cnf``) when given."""
    issued_at = int(now)
    claims: dict[str, Any] = {
        "iss": policy.issuer,
        "aud": policy.audience,
        "sub": subject,
        "iat": issued_at,
        "exp": issued_at + policy.ttl,
        "jti": new_id(),
        "fam": family,
    }
    if jkt is not None:
        claims["cnf"] = {"jkt": jkt}
    return jwt.encode(claims, policy.secret, algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE})


def verify_access_token(policy: AccessPolicy, token: str, now: float) -> dict[str, Any]:
    """Check signature, type and claims of ``token`` at server time ``now``.

    Returns the claims; raises a :class:`jwt.PyJWTError` for anything wrong. This
    does not look at the database: the caller checks that the family still lives.
    """
    decoded = jwt.decode_complete(
        token,
        policy.secret,
        algorithms=[ALGORITHM],
        audience=policy.audience,
        issuer=policy.issuer,
        options={
            "require": list(REQUIRED_CLAIMS),
            "strict_aud": True,
            # PyJWT compares these with real time; the server clock is checked below.
            "verify_exp": False,
            "verify_iat": False,
            "verify_nbf": False,
        },
    )
    typ = decoded["header"].get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPES:
        raise jwt.InvalidTokenError("not an access token (typ)")
    claims: dict[str, Any] = decoded["payload"]
    times = {name: _seconds_claim(claims, name) for name in ("iat", "exp", "nbf") if name in claims}
    if times["exp"] <= now - policy.leeway:
        raise jwt.ExpiredSignatureError("token expired")
    if times["iat"] > now + policy.leeway:
        raise jwt.ImmatureSignatureError("token issued in the future (iat)")
    if "nbf" in times and times["nbf"] > now + policy.leeway:
        raise jwt.ImmatureSignatureError("token not yet valid (nbf)")
    if not isinstance(claims["fam"], str):
        raise jwt.InvalidTokenError("claim fam must be a string")
    bound_jkt(claims)  # a cnf claim, if any, must be well-formed
    return claims


def bound_jkt(claims: dict[str, Any]) -> str | None:
    """The DPoP key thumbprint the token is bound to (``cnf.jkt``), or None if unbound."""
    if "cnf" not in claims:
        return None
    cnf = claims["cnf"]
    if not isinstance(cnf, dict) or not isinstance(cnf.get("jkt"), str) or not cnf["jkt"]:
        raise jwt.InvalidTokenError('claim cnf must be {"jkt": thumbprint}')
    jkt: str = cnf["jkt"]
    return jkt


def _seconds_claim(claims: dict[str, Any], name: str) -> float:
    """Claim ``name`` as a finite float; an integer too large for a float is invalid too."""
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise jwt.InvalidTokenError(f"claim {name} must be a number")
    try:
        seconds = float(value)
    except OverflowError:  # 10**400 is a valid JSON number
        raise jwt.InvalidTokenError(f"claim {name} is out of range") from None
    if not math.isfinite(seconds):
        raise jwt.InvalidTokenError(f"claim {name} must be finite")
    return seconds
