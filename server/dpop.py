"""DPoP (RFC 9449): the proof check, nonces, replay memory and the Flask glue.

A *proof* is a JWT in the ``DPoP`` request header, signed by the client's key,
whose public half travels in the header (``jwk``). :func:`check_proof` accepts
one only if:

* header ``typ`` is ``dpop+jwt``; ``alg`` is asymmetric (:data:`ALGORITHMS`:
  never ``none``, never ``HS*``) and fits the key (``ES256`` ↔ ``P-256``, …);
  ``jwk`` is a public key (no ``d`` nor any other private member; RSA of at
  least 2048 bits) and verifies the signature;
* claims: ``jti`` a string; ``htm`` the request's method; ``htu`` the request's
  URL as addressed, without query and fragment (scheme and host compared
  case-insensitively, a default port ignored); ``ath`` =
  base64url(SHA-256(access token)) when an access token comes with it;
  ``nonce``, when present (required when nonces are), one this endpoint issued;
  ``iat`` a number, and for a proof *without* a nonce within ± the window of
  the *server clock* (the test clock the tokens use) — beyond it the answer is
  ``use_dpop_nonce`` with a nonce, as node-oidc-provider answers: a nonce bounds
  the proof's age whatever the client's clock says (RFC 9449 section 11.1);
* its ``jti`` was not seen before (kept while the proof could be taken again).

The key's RFC 7638 thumbprint (``jkt``) is what tokens are bound to
(``cnf.jkt`` in the access token; the refresh-token family in the database).

Nonces (RFC 9449 §8, §9) come from two sources, one for the token endpoints and
one for the API, so they differ; each derives the nonce of the current period
(:data:`NONCE_PERIOD`, on the server clock) from a per-instance secret and
accepts the current and the previous one.

Refusals raise :class:`DPoPError`; the app's handler (:func:`init_app`) turns
it into the token endpoints' 400 or the API's 401 with a ``DPoP`` challenge,
adds ``DPoP-Nonce`` to a ``use_dpop_nonce`` answer, and counts it
(``dpop_refused``, ``dpop_nonce_challenges``; accepted proofs count
``dpop_accepted``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from flask import Flask, Response, current_app, g, request

from .errors import json_error
from .state import get_state

#: Proof algorithms accepted (asymmetric only), and the key each needs.
ALGORITHMS: dict[str, tuple[str, str | None]] = {
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "EdDSA": ("OKP", "Ed25519"),
}
PROOF_TYPE = "dpop+jwt"
#: JWK members that only a private (or symmetric) key has.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: RFC 7638: the required members of each key type, the thumbprint's input.
THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
MIN_RSA_BITS = 2048
MAX_PROOF_CHARS = 8192
MAX_JTI_CHARS = 512
MAX_HTU_CHARS = 2048
MAX_REMEMBERED_JTIS = 100_000
DEFAULT_IAT_WINDOW = 60.0  # seconds either side of the server clock
NONCE_PERIOD = 300.0  # a nonce lives this long, then the previous one is accepted as long again

TOKEN = "token"  # the token endpoints' nonce source: /oauth/token, /auth/login, /auth/refresh
API = "api"  # the API's (/api/*)
TOKEN_ENDPOINTS = frozenset({"oidc.token", "auth.login", "auth.refresh"})
INVALID_PROOF = "invalid_dpop_proof"
USE_NONCE = "use_dpop_nonce"
INVALID_TOKEN = "invalid_token"
EXTENSION_KEY = "authfetch.dpop"
UNSAFE_IN_QUOTES = re.compile(r'[^\x20-\x7e]|["\\]')  # keep a quoted-string valid


class DPoPError(Exception):
    """A DPoP refusal: ``error`` is ``invalid_dpop_proof``, ``use_dpop_nonce`` or
    ``invalid_token`` (API only); ``group`` says whose answer (:data:`TOKEN`, :data:`API`)."""

    def __init__(self, error: str, description: str, group: str) -> None:
        """Keep the error code, the text and which kind of endpoint refused."""
        super().__init__(description)
        self.error, self.description, self.group = error, description, group


class ProofError(ValueError):
    """:func:`check_proof` refuses the proof (``nonce``: because of its nonce)."""

    def __init__(self, description: str, *, nonce: bool = False) -> None:
        """The reason, and whether a fresh nonce would fix it."""
        super().__init__(description)
        self.description, self.nonce = description, nonce


@dataclass(frozen=True)
class Proof:
    """An accepted proof: its key's thumbprint and its ``jti``."""

    jkt: str
    jti: str


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_token_hash(access_token: str) -> str:
    """The ``ath`` of ``access_token``: base64url(SHA-256(its ASCII bytes))."""
    return b64url(hashlib.sha256(access_token.encode("utf-8", "surrogatepass")).digest())


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK (EC, RSA or OKP); ``ValueError`` else."""
    kty = jwk.get("kty")
    members = THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise ValueError(f"unsupported key type {jwk.get('kty')!r}")
    required = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"jwk member {name} must be a non-empty string")
        required[name] = value
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True, ensure_ascii=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def normalize_url(url: str) -> str | None:
    """``scheme://host[:port]/path`` of an http(s) URL (no query, fragment or userinfo; a
    default port dropped; scheme and host lower case), or None if it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, {"http": 80, "https": 443}[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


# -- replay memory and nonces ------------------------------------------------------------------


class ReplayCache:
    """The ``jti`` of every accepted proof, kept until the proof's ``iat`` leaves the window."""

    def __init__(self, limit: int = MAX_REMEMBERED_JTIS) -> None:
        """Empty; remember at most ``limit`` values (then refuse new proofs, fail closed)."""
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}
        self._limit = limit
        self._pruned_at = -math.inf

    def add(self, jti: str, until: float, now: float) -> str | None:
        """Remember ``jti`` until ``until``; None, or why it cannot be accepted."""
        with self._lock:
            if now - self._pruned_at >= 1 or now < self._pruned_at:  # at most once a second
                self._until = {seen: end for seen, end in self._until.items() if end >= now}
                self._pruned_at = now
            if self._until.get(jti, -math.inf) >= now:
                return "jti already used (a replayed proof)"
            if jti in self._until:
                return "jti already used (a replayed proof)"
            if len(self._until) >= self._limit:
                return "too many recent proofs; try again later"
            self._until[jti] = until
            return None

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._until.clear()
            self._pruned_at = -math.inf


class NonceSource:
    """The nonces of one kind of endpoint: one per period of the server clock.

    A nonce is an HMAC of the period's number under a per-instance secret and
    this source's name, so two sources never issue the same nonce. Under
    :meth:`rotate_every_answer` each answer carries a new random nonce instead,
    and only a nonce no client has seen yet would be accepted: none is.
    """

    def __init__(self, name: str, period: float = NONCE_PERIOD) -> None:
        """A source named ``name`` (part of every nonce's input)."""
        self._name, self._period = name, period
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._latest: str | None = None  # rotate-every-answer: the newest nonce handed out

    def _nonce(self, index: int) -> str:
        """The nonce of period ``index``."""
        message = f"{self._name}:{index}".encode()
        return b64url(hmac.new(self._secret, message, hashlib.sha256).digest())

    def _index(self, now: float) -> int:
        """The period ``now`` falls in."""
        return math.floor(now / self._period)

    def current(self, now: float) -> str:
        """The nonce to hand out now."""
        with self._lock:
            if self._latest is not None:
                return self._latest
        return self._nonce(self._index(now))

    def accepts(self, nonce: str, now: float) -> bool:
        """Whether ``nonce`` is the current or the previous period's (never, while rotating)."""
        with self._lock:
            if self._latest is not None:
                return False
        index = self._index(now)
        candidates = (self._nonce(index), self._nonce(index - 1))
        return any(hmac.compare_digest(nonce, good) for good in candidates)

    def rotate_every_answer(self, on: bool) -> None:
        """Start (a first random nonce) or stop handing out a new nonce with every answer."""
        with self._lock:
            self._latest = secrets.token_urlsafe(32) if on else None

    def renew(self) -> None:
        """While rotating: a new random nonce, the only one handed out from now on."""
        with self._lock:
            if self._latest is not None:
                self._latest = secrets.token_urlsafe(32)

    @property
    def rotating(self) -> bool:
        """Whether every answer gets a new nonce."""
        with self._lock:
            return self._latest is not None


@dataclass
class Settings:
    """The switches a test may flip (``POST /__test__/dpop``)."""

    require_nonce: bool = False
    rotate_every_answer: bool = False
    refuse_proofs: bool = False

    def as_json(self) -> dict[str, bool]:
        """The settings as the test control's JSON."""
        return {
            "require_nonce": self.require_nonce,
            "rotate_every_answer": self.rotate_every_answer,
            "refuse_proofs": self.refuse_proofs,
        }


class DPoPState:
    """One app's DPoP state: the window, the switches, the jti memory, the two nonce sources."""

    def __init__(self, *, require_nonce: bool, window: float) -> None:
        """Nonces required from the start if ``require_nonce``; ``iat`` within ± ``window``."""
        self.window = window
        self._initial = Settings(require_nonce=require_nonce)
        self._lock = threading.Lock()
        self._settings = Settings(require_nonce=require_nonce)
        self.replay = ReplayCache()
        self.nonces = {TOKEN: NonceSource(TOKEN), API: NonceSource(API)}

    def settings(self) -> Settings:
        """A copy of the switches."""
        with self._lock:
            return Settings(**self._settings.as_json())

    def nonce_required(self) -> bool:
        """Whether proofs must carry a nonce (``require_nonce`` or ``rotate_every_answer``)."""
        settings = self.settings()
        return settings.require_nonce or settings.rotate_every_answer

    def update(self, **changes: bool) -> Settings:
        """Flip the switches named in ``changes``; return the new settings."""
        with self._lock:
            for name, value in changes.items():
                setattr(self._settings, name, value)
            rotating = self._settings.rotate_every_answer
        for source in self.nonces.values():
            if source.rotating != rotating:
                source.rotate_every_answer(rotating)
        return self.settings()

    def reset(self) -> None:
        """Back to the start: the switches of the command line, no jti remembered."""
        self.update(**self._initial.as_json())
        self.replay.clear()


def get_dpop(app: Flask | None = None) -> DPoPState:
    """The :class:`DPoPState` of ``app`` (default: the current app)."""
    target = app if app is not None else current_app
    state: DPoPState = target.extensions[EXTENSION_KEY]
    return state


# -- the proof check -------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What a proof must match: the request, the clock, and what the endpoint asks for."""

    method: str
    url: str
    now: float
    window: float
    access_token: str | None = None
    nonces: NonceSource | None = None  # the endpoint's nonces (a proof's nonce is checked)
    require_nonce: bool = False  # a proof without a nonce is answered use_dpop_nonce
    jkt: str | None = None  # the key the token is bound to, if any


def check_proof(proof: str, expected: Expected, replay: ReplayCache) -> Proof:
    """Check ``proof`` (see the module docstring); :class:`ProofError` says why not."""
    if len(proof) > MAX_PROOF_CHARS:
        raise ProofError(f"proof longer than {MAX_PROOF_CHARS} characters")
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError as bad:
        raise ProofError(f"not a JWT: {bad}") from None
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() != PROOF_TYPE:
        raise ProofError(f"typ must be {PROOF_TYPE}")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise ProofError(f"alg {alg!r} not accepted; use one of {' '.join(ALGORITHMS)}")
    jwk = header.get("jwk")
    key, jkt = _public_key(jwk, alg)
    try:
        claims = jwt.decode(
            proof,
            key,
            algorithms=[alg],
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,  # the server clock is checked below
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError) as bad:
        raise ProofError(f"signature or encoding invalid: {bad}") from None
    jti = _claims_ok(claims, expected)
    if expected.jkt is not None and not hmac.compare_digest(jkt, expected.jkt):
        raise ProofError("the proof's key is not the key the token is bound to (jkt mismatch)")
    # Kept while the proof could be taken again: its iat window, or (a proof with a nonce,
    # whatever its iat) as long as that nonce stays good.
    until = max(float(claims["iat"]), expected.now) + expected.window
    if "nonce" in claims:
        until = max(until, expected.now + 2 * NONCE_PERIOD)
    refused = replay.add(jti, until, expected.now)
    if refused:
        raise ProofError(refused)
    return Proof(jkt, jti)


def _public_key(jwk: object, alg: str) -> tuple[jwt.PyJWK, str]:
    """The verifying key of header ``jwk`` for ``alg``, and its thumbprint."""
    if not isinstance(jwk, dict):
        raise ProofError("header jwk (a public JWK object) required")
    if PRIVATE_MEMBERS & set(jwk):
        raise ProofError("jwk must be a public key (it holds private members)")
    kty, crv = ALGORITHMS[alg]
    if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
        raise ProofError(
            f"jwk does not fit alg {alg} (needs kty {kty}{f', crv {crv}' if crv else ''})"
        )
    try:
        jkt = thumbprint(jwk)
        key = jwt.PyJWK.from_dict(jwk, algorithm=alg)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as bad:
        raise ProofError(f"jwk is not a usable public key: {bad}") from None
    if kty == "RSA" and key.key.key_size < MIN_RSA_BITS:
        raise ProofError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
    return key, jkt


def _claims_ok(claims: dict[str, Any], expected: Expected) -> str:
    """Check ``jti htm htu iat ath nonce``; return the ``jti``."""
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS:
        raise ProofError(f"jti must be a string of 1-{MAX_JTI_CHARS} characters")
    if claims.get("htm") != expected.method:
        raise ProofError(f"htm must be the request's method, {expected.method}")
    htu = claims.get("htu")
    wanted = normalize_url(expected.url)
    if not isinstance(htu, str) or len(htu) > MAX_HTU_CHARS or normalize_url(htu) != wanted:
        raise ProofError(f"htu must be the request's URL without query and fragment, {wanted}")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise ProofError("iat must be a number")
    try:
        issued = float(iat)
    except OverflowError:
        raise ProofError("iat out of range") from None
    if not math.isfinite(issued):
        raise ProofError("iat must be finite")
    # A nonce this server gave bounds the proof's age whatever the client's clock says (RFC 9449
    # section 11.1), as node-oidc-provider does; without one, iat must be within the window,
    # else the answer is use_dpop_nonce with a nonce (a client whose clock is off recovers).
    nonced = _nonce_ok(claims, expected)
    if not nonced and abs(issued - expected.now) > expected.window:
        side = "too old" if issued < expected.now else "in the future"
        raise ProofError(
            f"iat {side} (more than {expected.window:g} s from the server time):"
            " use the DPoP-Nonce header's nonce",
            nonce=True,
        )
    if expected.access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str):
            raise ProofError("ath (the access token's hash) required")
        if not hmac.compare_digest(ath, access_token_hash(expected.access_token)):
            raise ProofError("ath does not match the access token")
    return jti


def _nonce_ok(claims: dict[str, Any], expected: Expected) -> bool:
    """Whether the proof carries a nonce the endpoint gave; refuses a stale or unknown one, and
    a missing one where nonces are required (``use_dpop_nonce``)."""
    nonce = claims.get("nonce")
    if nonce is None:
        if expected.require_nonce:
            raise ProofError("a DPoP nonce is required: use the DPoP-Nonce header's", nonce=True)
        return False
    if not isinstance(nonce, str) or expected.nonces is None:
        raise ProofError("DPoP nonce stale or unknown: use the DPoP-Nonce header's", nonce=True)
    if not expected.nonces.accepts(nonce, expected.now):
        raise ProofError("DPoP nonce stale or unknown: use the DPoP-Nonce header's", nonce=True)
    return True


# -- the Flask glue ----------------------------------------------------------------------------


def request_has_dpop() -> bool:
    """Whether the request takes part in DPoP (a ``DPoP`` header or ``Authorization: DPoP``)."""
    if "DPoP" in request.headers:
        return True
    authorization = request.headers.get("Authorization", "")
    return authorization[:5].lower() == "dpop "


def check_request(
    group: str, *, access_token: str | None = None, jkt: str | None = None
) -> Proof | None:
    """The request's proof, checked for an endpoint of ``group``; None if it sent no
    ``DPoP`` header. Raises :class:`DPoPError` (and counts an accepted proof)."""
    proofs = request.headers.getlist("DPoP")
    if not proofs:
        return None
    dpop = get_dpop()
    if len(proofs) != 1 or "," in proofs[0]:  # a WSGI server joins repeated headers with ", "
        raise DPoPError(INVALID_PROOF, "exactly one DPoP header allowed", group)
    if dpop.settings().refuse_proofs:
        raise DPoPError(INVALID_PROOF, "proof refused (test control refuse_proofs)", group)
    state = get_state()
    source = dpop.nonces[group]
    source.renew()  # while rotating, this answer's nonce: new, never seen by the client
    g.dpop_nonce_renewed = True
    expected = Expected(
        method=request.method,
        url=request.base_url,
        now=state.clock.now(),
        window=dpop.window,
        access_token=access_token,
        nonces=source,
        require_nonce=dpop.nonce_required(),
        jkt=jkt,
    )
    try:
        proof = check_proof(proofs[0], expected, dpop.replay)
    except ProofError as refused:
        error = USE_NONCE if refused.nonce else INVALID_PROOF
        raise DPoPError(error, refused.description, group) from None
    state.stats.incr("dpop_accepted")
    return proof


def _quoted(text: str) -> str:
    """``text`` made safe for an auth-param quoted-string."""
    return UNSAFE_IN_QUOTES.sub("", text.replace('"', "'"))


def challenge(error: str, description: str) -> str:
    """The API's ``WWW-Authenticate: DPoP`` challenge (RFC 9449 §7.1)."""
    return (
        f'DPoP error="{error}", error_description="{_quoted(description)}", '
        f'algs="{" ".join(ALGORITHMS)}"'
    )


def error_response(refused: DPoPError) -> Response:
    """The answer to a refusal: 400 at a token endpoint, 401 with a challenge at the API;
    ``DPoP-Nonce`` with ``use_dpop_nonce``. Counted in the stats."""
    stats = get_state().stats
    if refused.error == INVALID_PROOF:
        stats.incr("dpop_refused")
    elif refused.error == USE_NONCE:
        stats.incr("dpop_nonce_challenges")
    headers: dict[str, str] = {}
    if refused.error == USE_NONCE:
        headers["DPoP-Nonce"] = get_dpop().nonces[refused.group].current(get_state().clock.now())
    if refused.group == API:
        headers["WWW-Authenticate"] = challenge(refused.error, refused.description)
        return json_error(401, refused.error, refused.description, headers)
    return json_error(400, refused.error, refused.description, headers)


def _group_of_request() -> str | None:
    """Which nonce source the request's endpoint uses, if any."""
    if request.blueprint == "api":
        return API
    if request.endpoint in TOKEN_ENDPOINTS:
        return TOKEN
    return None


def _nonce_header(response: Response) -> Response:
    """With nonces required, every answer to a DPoP request carries the current nonce."""
    if request.method == "OPTIONS" or "DPoP-Nonce" in response.headers:
        return response
    group = _group_of_request()
    if group is None or not request_has_dpop():
        return response
    dpop = get_dpop()
    if dpop.nonce_required():
        source = dpop.nonces[group]
        if not g.pop("dpop_nonce_renewed", False):  # refused before its proof was looked at
            source.renew()
        response.headers["DPoP-Nonce"] = source.current(get_state().clock.now())
    return response


def init_app(app: Flask, *, require_nonce: bool, window: float) -> None:
    """Give ``app`` its DPoP state, the refusal handler and the nonce header."""
    app.extensions[EXTENSION_KEY] = DPoPState(require_nonce=require_nonce, window=window)
    app.register_error_handler(DPoPError, error_response)
    app.after_request(_nonce_header)
