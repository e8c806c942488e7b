"""DPoP (RFC 9449): tokens bound to a key that no script of the page can read.

With DPoP on, every sign-in makes a new ECDSA P-256 key pair (the edge makes it
with WebCrypto as non-extractable and keeps it in IndexedDB, shared by every tab
of the origin); the token endpoint binds the tokens it issues to that key, and
every use of them needs a fresh *proof*: a small JWT signed with the key, naming
the method and URL of the request (and, on resource requests, the hash of the
access token). A token copied out of ``localStorage`` is useless without the key.

This module decides and builds, sans-IO (CPython and MicroPython alike): the
proof's header and claims, the nonces each server asked for, when a request is
retried with a new nonce (once), and what counts as a refusal. The edge only
signs (:class:`~.commands.SignProof`) and keeps the keys
(:class:`~.commands.NewProofKey`, :class:`~.commands.PruneProofKeys`).

Nonces (RFC 9449 sections 8 and 9) are kept per server that issued them: the
token endpoint's (the authorization server) apart from each API origin's, as a
provider may give the two different nonces. A ``use_dpop_nonce`` answer is
retried once with the new nonce; that retry is neither a refresh nor a replay.
A second refusal ends in :class:`~.errors.DPoPError`: bounded, named, nothing
stored or wiped.
"""

import hashlib
import json
import random

from .b64 import b64url
from .commands import NewProofKey, ReadJson, Send, SignProof
from .errors import DPoPError
from .events import ROLE_API, ROLE_LOGIN, ROLE_REFRESH
from .policy import challenge_error
from .urls import origin

#: The token type of DPoP-bound tokens (RFC 9449 section 5).
DPOP = "DPoP"
#: The proof's JOSE header type and signature algorithm (ECDSA P-256, SHA-256).
PROOF_TYPE = "dpop+jwt"
PROOF_ALG = "ES256"
#: The errors that say "your proof", not "your grant": never the end of a session.
PROOF_ERRORS = ("use_dpop_nonce", "invalid_dpop_proof")
#: Bytes of randomness in a proof's ``jti``.
JTI_BYTES = 16
#: Characters of an ES256 signature (64 bytes) in base64url.
SIGNATURE_CHARS = 86
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: Roles of the requests sent to the token endpoint (proof without ``ath``).
TOKEN_ROLES = (ROLE_LOGIN, ROLE_REFRESH)


def _pseudo_random_bytes(count: int) -> bytes:
    """Random bytes from ``random`` (the edge passes the browser's ``crypto`` instead)."""
    return bytes(random.getrandbits(8) for _ in range(count))


def htu(url: str) -> str:
    """The ``htu`` claim of ``url``: the URL without its query and fragment."""
    for mark in "#?":
        cut = url.find(mark)
        if cut >= 0:
            url = url[:cut]
    return url


def access_token_hash(access_token: str) -> str:
    """The ``ath`` claim: base64url(SHA-256(access token))."""
    return b64url(hashlib.sha256(access_token.encode()).digest())


def thumbprint(jwk: dict) -> str:
    """The RFC 7638 thumbprint of an EC public key (``crv``, ``kty``, ``x``, ``y``)."""
    try:
        members = [(name, jwk[name]) for name in ("crv", "kty", "x", "y")]
    except (KeyError, TypeError):
        raise DPoPError("the DPoP key is not an EC public key (crv, kty, x, y)")  # noqa: B904
    text = "{" + ",".join(json.dumps(n) + ":" + json.dumps(v) for n, v in members) + "}"
    return b64url(hashlib.sha256(text.encode()).digest())


def _segment(value: dict) -> str:
    """One base64url JSON segment of a compact JWS."""
    return b64url(json.dumps(value, separators=(",", ":")).encode())


class DPoP:
    """DPoP for one session: the randomness of ``jti`` and the nonces servers gave.

    ``random_bytes(n)`` draws ``n`` random bytes (the edge: ``crypto.getRandomValues``).
    """

    def __init__(self, random_bytes: "Callable[[int], bytes] | None" = None) -> None:
        self.random_bytes = random_bytes or _pseudo_random_bytes
        #: The last nonce each server gave, by :meth:`server`.
        self.nonces: dict = {}
        #: Per key (its ``x``): the proof header's segment and the key's thumbprint, made once.
        self._keys: dict = {}
        #: The last access token and its ``ath`` (one hash per token, not per request).
        self._ath: tuple = ("", "")

    def key_parts(self, jwk: dict) -> "tuple[str, str]":
        """The proof header's base64url segment for ``jwk`` and the key's thumbprint."""
        known = self._keys.get(jwk.get("x"))
        if known is None or known[0] != jwk:
            header = {"typ": PROOF_TYPE, "alg": PROOF_ALG, "jwk": jwk}
            known = (jwk, _segment(header), thumbprint(jwk))
            self._keys = {jwk.get("x"): known}  # one key in use at a time
        return known[1], known[2]

    @staticmethod
    def server(request: "ReplayableRequest") -> str:
        """Who issues ``request``'s nonces: the token endpoint, or the API at its origin."""
        kind = "token " if request.role in TOKEN_ROLES else "api "
        try:
            return kind + origin(request.url)
        except ValueError:
            return kind + request.url

    def remember(self, request: "ReplayableRequest", response: "Response") -> "str | None":
        """Keep the ``DPoP-Nonce`` of ``response`` (any status); the nonce, or ``None``."""
        headers = getattr(response, "headers", None)
        nonce = headers.get("dpop-nonce") if headers is not None else None
        if nonce:
            self.nonces[self.server(request)] = str(nonce)
        return nonce or None

    def claims(self, request: "ReplayableRequest", server_now: float) -> dict:
        """The proof's claims for one send of ``request`` at server time ``server_now``."""
        claims = {
            "jti": b64url(self.random_bytes(JTI_BYTES)),
            "htm": request.method,
            "htu": htu(request.url),
            "iat": int(server_now),
        }
        if request.token is not None:
            if self._ath[0] != request.token:
                self._ath = (request.token, access_token_hash(request.token))
            claims["ath"] = self._ath[1]
        nonce = self.nonces.get(self.server(request))
        if nonce is not None:
            claims["nonce"] = nonce
        return claims


def new_proof_key(config: "AuthConfig") -> "Flow":
    """A new DPoP key for a sign-in (its public JWK), or ``None`` with DPoP off."""
    if config.dpop is None:
        return None
    jwk = yield NewProofKey()
    if not isinstance(jwk, dict):
        raise DPoPError("the DPoP key store gave no public key")
    return jwk


def proof_flow(dpop: DPoP, request: "ReplayableRequest", jwk: dict, server_now: float) -> "Flow":
    """Build and sign the proof for one send of ``request`` with the key ``jwk``."""
    header, jkt = dpop.key_parts(jwk)
    signing_input = header + "." + _segment(dpop.claims(request, server_now))
    signature = yield SignProof(jkt, signing_input)
    if not _is_signature(signature):
        raise DPoPError("the DPoP key gave no ES256 signature (64 bytes, base64url)")
    return signing_input + "." + signature


def _is_signature(value: "Any") -> bool:
    """Whether ``value`` is 64 bytes in unpadded base64url."""
    if not isinstance(value, str) or len(value) != SIGNATURE_CHARS:
        return False
    return all(char in _B64URL for char in value)


def send_flow(
    config: "AuthConfig",
    request: "ReplayableRequest",
    jwk: "dict | None",
    now: "Now",
    skew: float = 0.0,
    timeout: "float | None" = None,
) -> "Flow":
    """Send ``request``; with DPoP on and a key ``jwk``, with a fresh proof each time.

    A ``use_dpop_nonce`` answer (400 from the token endpoint, 401 with a
    ``DPoP error="use_dpop_nonce"`` challenge from an API) is sent once more
    with the nonce it gave; a second proof refusal raises :class:`DPoPError`
    (``.status``, ``.error``). ``skew`` (server minus local clock) dates the proof
    on the server's clock. Without DPoP or a key: one plain ``Send``.
    """
    dpop = config.dpop
    if dpop is None or jwk is None:
        return (yield Send(request, timeout))
    nonce_tries = 2
    for attempt in range(nonce_tries):
        proof = yield from proof_flow(dpop, request, jwk, now() + skew)
        sent = request.derive(token=request.token, scheme=DPOP)
        sent.headers["DPoP"] = proof
        sent.replay = request.replay
        response = yield Send(sent, timeout)
        given = dpop.remember(request, response)
        error = yield from _proof_refusal(request, response)
        if error is None:
            return response
        if error == "use_dpop_nonce" and given and attempt + 1 < nonce_tries:
            continue
        raise DPoPError(_refusal_text(request, response.status, error), response.status, error)
    raise DPoPError("unreachable")  # the loop returns or raises  # pragma: no cover


def _proof_refusal(request: "ReplayableRequest", response: "Response") -> "Flow":
    """The DPoP error of ``response`` (``use_dpop_nonce``, ``invalid_dpop_proof``) or ``None``.

    An API says it in its ``WWW-Authenticate`` challenge (401); the token endpoint
    in its JSON error body (400), read only when the status is 400 (the body
    stays readable for the caller: the edge reads a clone).
    """
    status = getattr(response, "status", None)
    if request.role == ROLE_API:
        if status != 401:
            return None
        challenge = response.headers.get("www-authenticate")
        error = challenge_error(challenge) if challenge else None
        return error if error in PROOF_ERRORS else None
    if status != 400 or request.role not in TOKEN_ROLES:
        return None
    try:
        payload = yield ReadJson(response)
    except (ValueError, TypeError):
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if error in PROOF_ERRORS else None


def _refusal_text(request: "ReplayableRequest", status: int, error: str) -> str:
    """Words for a proof the server refused."""
    where = "the API" if request.role == ROLE_API else "the token endpoint"
    if error == "use_dpop_nonce":
        return (
            where + " asked for a new DPoP nonce again right after the retry with the one it"
            " gave (HTTP " + str(status) + "): given up, nothing stored or lost"
        )
    return where + " refused the DPoP proof (HTTP " + str(status) + ", " + error + ")"


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .flow import Flow, Now
    from .policy import AuthConfig
    from .ports import Response
    from .request import ReplayableRequest
