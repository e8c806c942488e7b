"""DPoP (RFC 9449) in the core: proofs, key binding, nonces, refusals, key lifetime.

A fake key store signs with a keyed hash (the browser's WebCrypto does ES256 at the
edge; ``tests/unit/test_dpop_real_keys.py`` checks real ES256 proofs on CPython) and
a fake server checks every proof it gets. Runs on CPython and MicroPython alike.
"""

import asyncio
import hashlib
import json

import pytest
from authfetch_fakes import (
    START,
    CountingStore,
    FakeClock,
    FakeServer,
    FakeTransport,
    SyncFakeClock,
    SyncFakeTransport,
    path_of,
)

from authfetch.core import (
    AuthConfig,
    AuthSession,
    DPoP,
    DPoPError,
    LoginError,
    ReplayableRequest,
    SessionExpiredError,
    SyncAuthSession,
    TokenSet,
    thumbprint,
    unverified_claims,
)
from authfetch.core.claims import b64url
from authfetch.core.dpop import access_token_hash, htu

BASE = "https://api.example"
#: An EC public key and its RFC 7638 thumbprint (computed independently, with sorted keys).
JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "QMF0HoLhSeg1fCD2SdoQo5Ec7F1CZQQbUlNyXnabkbs",
    "y": "Y2BZRQx8KvvAt4LheJ3tuXdgJ7qzKu59QjDsuqOXjlo",
}
JKT = "FKEUTxwIwWXxfBRWCj-gyKHo8mmWWaEwfyU9B68_3GM"


def run(coro):
    """Run a coroutine to the end."""
    return asyncio.run(coro)


def fake_signature(jkt: str, data: bytes) -> bytes:
    """What the fake key ``jkt`` signs ``data`` as: 64 bytes only that key makes."""
    first = hashlib.sha256(jkt.encode() + b"|" + data).digest()
    return first + hashlib.sha256(first).digest()


def header_of(jws: str) -> dict:
    """The decoded JOSE header of a compact JWS."""
    segment = jws.split(".")[0]
    return unverified_claims("x." + segment + ".x")


class FakeKeys:
    """The edge's key store: numbered keys, a keyed-hash "signature", prunes recorded."""

    def __init__(self) -> None:
        self.made = 0
        self.kept: dict = {}
        self.signed = 0
        self.prunes: list = []
        self.broken = False

    async def create(self) -> dict:
        """A new key's public JWK."""
        if self.broken:
            raise DPoPError("IndexedDB is not available: the DPoP key cannot be kept")
        self.made += 1
        digest = hashlib.sha256(str(self.made).encode()).digest()
        other = hashlib.sha256(digest).digest()
        jwk = {"kty": "EC", "crv": "P-256", "x": b64url(digest), "y": b64url(other)}
        self.kept[thumbprint(jwk)] = jwk
        return jwk

    async def sign(self, jkt: str, data: str) -> str:
        """The fake signature of the kept key ``jkt``, base64url (as the edge answers)."""
        if jkt not in self.kept:
            raise DPoPError("the DPoP key of this session is gone")
        self.signed += 1
        return b64url(fake_signature(jkt, data.encode()))

    async def prune(self, keep: list, young: bool) -> None:
        """Forget every key but ``keep`` (``young`` is recorded only)."""
        self.prunes.append((list(keep), young))
        self.kept = {jkt: jwk for jkt, jwk in self.kept.items() if jkt in keep}


class DPoPServer(FakeServer):
    """The fake server, checking proofs: binds tokens to the proof's key, nonces on demand."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.bound: dict = {}  # token -> jkt
        self.jtis: set = set()
        self.proofs: list = []
        self.nonce = {"token": None, "api": None}  # required nonce per server, None: none
        self.rotate = False
        self.refuse = False
        self.issue_bearer = False
        self.challenges = 0

    def check(self, request, kind: str, token: "str | None") -> "tuple | str":
        """The proof's jkt, or the error to answer."""
        proof = request.headers.get("dpop")
        if proof is None:
            return "invalid_dpop_proof"
        header, claims = header_of(proof), unverified_claims(proof)
        self.proofs.append((header, claims, request))
        signing_input = proof.rsplit(".", 1)[0].encode()
        jkt = thumbprint(header["jwk"])
        assert proof.rsplit(".", 1)[1] == b64url(fake_signature(jkt, signing_input))
        assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
        assert claims["htm"] == request.method and claims["htu"] == htu(request.url)
        assert claims["jti"] not in self.jtis
        self.jtis.add(claims["jti"])
        assert claims.get("ath") == (access_token_hash(token) if token else None)
        if self.refuse:
            return "invalid_dpop_proof"
        wanted = self.nonce[kind]
        if wanted is not None and (self.rotate or claims.get("nonce") != wanted):
            self.challenges += 1
            if self.rotate:
                self.nonce[kind] = wanted + "+"
            return "use_dpop_nonce"
        return (jkt,)

    def refuse_proof(self, kind: str, error: str) -> tuple:
        """The answer of a token endpoint (400) or API (401) refusing a proof."""
        headers = {}
        if self.nonce[kind] is not None:
            headers["DPoP-Nonce"] = self.nonce[kind]
        if kind == "api":
            headers["WWW-Authenticate"] = 'DPoP error="' + error + '"'
            return 401, {"error": error}, headers
        return 400, {"error": error}, headers

    def bind(self, payload: dict, jkt: str) -> dict:
        """Bind a fresh pair to ``jkt``."""
        self.bound[payload["access_token"]] = jkt
        self.bound[payload["refresh_token"]] = jkt
        payload["token_type"] = "Bearer" if self.issue_bearer else "DPoP"
        return payload

    def handle(self, request) -> tuple:
        """Route like the fake server, checking proofs first."""
        path = path_of(request.url)
        if path in ("/auth/login", "/auth/refresh"):
            token = (request.json() or {}).get("refresh_token")
            verdict = self.check(request, "token", None)
            if isinstance(verdict, str):
                return self.refuse_proof("token", verdict)
            if token is not None and self.bound.get(token) != verdict[0]:
                return 400, {"error": "invalid_dpop_proof"}, {}
            status, payload, headers = super().handle(request)
            if status == 200:
                payload = self.bind(payload, verdict[0])
            return status, payload, headers
        if path == "/auth/logout":
            return super().handle(request)
        auth = request.headers.get("authorization") or ""
        if not auth.startswith("DPoP "):
            return 401, {"error": "invalid_token"}, {"WWW-Authenticate": "DPoP"}
        token = auth[5:]
        verdict = self.check(request, "api", token)
        if isinstance(verdict, str):
            return self.refuse_proof("api", verdict)
        if self.bound.get(token) != verdict[0]:
            return 401, {"error": "invalid_token"}, {"WWW-Authenticate": "DPoP"}
        return self._api(request.derive(token=token), path)  # the base API reads a bearer


class Rig:
    """A DPoP session over the checking server, signed in (unless ``signed_in=False``)."""

    def __init__(self, signed_in: bool = True, dpop: bool = True) -> None:
        self.clock = FakeClock()
        self.server = DPoPServer(self.clock)
        self.keys = FakeKeys()
        self.store = CountingStore()
        self.config = AuthConfig(BASE, dpop=DPoP() if dpop else None)
        self.session = AuthSession(
            self.config, FakeTransport(self.server), self.store, clock=self.clock, keys=self.keys
        )
        if signed_in:
            run(self.session.login("demo", "demo-pass"))

    def get(self, path: str = "/api/data"):
        """GET ``path`` through the session."""
        return run(self.session.fetch(ReplayableRequest(BASE + path)))

    def expire_access(self) -> None:
        """The server no longer takes the current access token."""
        assert self.session.tokens is not None
        self.server.expire(self.session.tokens.access_token)


def test_thumbprint_is_rfc7638():
    """The key thumbprint is RFC 7638's: SHA-256 of the canonical JSON of crv, kty, x, y."""
    assert thumbprint(JWK) == JKT
    assert thumbprint(dict(JWK, d="private", kid="ignored")) == JKT


def test_htu_drops_query_and_fragment():
    """``htu`` is the URL without its query and fragment."""
    assert htu("https://a.example/p/q?x=1#f") == "https://a.example/p/q"
    assert htu("https://a.example/p#f?x") == "https://a.example/p"


def test_sign_in_binds_the_tokens_to_a_new_key():
    """A sign-in makes a key, proves it at the token endpoint, and stores DPoP tokens with it."""
    rig = Rig()
    tokens = rig.session.tokens
    assert tokens is not None and tokens.token_type == "DPoP" and tokens.bound
    assert rig.keys.made == 1 and thumbprint(tokens.dpop_jwk) in rig.keys.kept
    header, claims, _ = rig.server.proofs[0]
    assert header["jwk"] == tokens.dpop_jwk and "ath" not in claims
    assert claims["htm"] == "POST" and claims["htu"] == BASE + "/auth/login"
    assert claims["iat"] == int(START)
    assert TokenSet.from_json(rig.store.load().to_json()) == tokens


def test_api_request_carries_a_dpop_token_and_a_proof_never_a_bearer():
    """An API request sends ``Authorization: DPoP`` and a proof with ``ath``; no bearer."""
    rig = Rig()
    response = rig.get("/api/data?page=2#top")
    assert response.status == 200
    request = rig.server.received[-1]
    token = rig.session.tokens.access_token
    assert request.headers["authorization"] == "DPoP " + token
    _, claims, _ = rig.server.proofs[-1]
    assert claims["ath"] == access_token_hash(token)
    assert claims["htu"] == BASE + "/api/data" and claims["htm"] == "GET"
    assert not any(
        (r.headers.get("authorization") or "").startswith("Bearer") for r in rig.server.received
    )


def test_every_send_has_its_own_jti():
    """Each proof has a new ``jti`` (the server refuses a replayed one)."""
    rig = Rig()
    for _ in range(5):
        assert rig.get().status == 200
    jtis = [claims["jti"] for _, claims, _ in rig.server.proofs]
    assert len(jtis) == len(set(jtis)) == 6


def test_refresh_and_replay_use_the_same_key_with_new_proofs():
    """A 401 refreshes with a proof of the session's key; the replay gets a new proof and ath."""
    rig = Rig()
    old = rig.session.tokens
    rig.expire_access()
    assert rig.get().status == 200
    new = rig.session.tokens
    assert new.access_token != old.access_token and new.dpop_jwk == old.dpop_jwk
    assert rig.session.refreshes == 1 and rig.keys.made == 1
    kinds = [(path_of(r.url), claims.get("ath")) for _, claims, r in rig.server.proofs]
    assert kinds[-3:] == [
        ("/api/data", access_token_hash(old.access_token)),
        ("/auth/refresh", None),
        ("/api/data", access_token_hash(new.access_token)),
    ]


def test_token_endpoint_nonce_is_retried_once_and_is_no_refresh():
    """``use_dpop_nonce`` at the token endpoint is sent again with the nonce: one refresh."""
    rig = Rig()
    rig.server.nonce["token"] = "n-token"
    rig.expire_access()
    assert rig.get().status == 200
    assert rig.session.refreshes == 1 and rig.server.challenges == 1
    refreshes = [c for _, c, r in rig.server.proofs if path_of(r.url) == "/auth/refresh"]
    assert [c.get("nonce") for c in refreshes] == [None, "n-token"]


def test_api_nonce_is_retried_once_and_kept_apart_from_the_token_endpoints():
    """An API's ``use_dpop_nonce`` is retried once (no replay, no refresh); nonces per server."""
    rig = Rig()
    rig.server.nonce["api"] = "n-api"
    events: list = []
    rig.config.on_event = events.append
    assert rig.get().status == 200
    assert rig.get().status == 200  # the nonce is remembered: no second challenge
    assert rig.server.challenges == 1 and rig.session.refreshes == 0
    assert not [e for e in events if e.detail.get("replay")]
    rig.server.nonce["token"] = "n-token"
    rig.expire_access()
    assert rig.get().status == 200
    nonces = [(path_of(r.url), c.get("nonce")) for _, c, r in rig.server.proofs]
    assert ("/auth/refresh", "n-api") not in nonces and ("/auth/refresh", "n-token") in nonces


def test_a_nonce_that_changes_on_every_answer_is_bounded_and_keeps_the_session():
    """A server that never accepts a nonce gets two sends, then ``DPoPError``; nothing lost."""
    rig = Rig()
    stored = rig.store.load()
    rig.server.nonce["token"] = "n"
    rig.server.rotate = True
    rig.expire_access()
    with pytest.raises(DPoPError) as caught:
        rig.get()
    assert caught.value.error == "use_dpop_nonce" and caught.value.status == 400
    assert len(rig.server.calls("/auth/refresh")) == 2
    assert rig.session.tokens is not None and rig.store.load() == stored


def test_api_nonce_that_never_settles_is_bounded():
    """An API asking for a new nonce every time: two sends, then ``DPoPError``."""
    rig = Rig()
    rig.server.nonce["api"] = "n"
    rig.server.rotate = True
    with pytest.raises(DPoPError) as caught:
        rig.get()
    assert caught.value.status == 401 and len(rig.server.calls("/api/data")) == 2


def test_a_refused_proof_at_refresh_keeps_the_session():
    """``invalid_dpop_proof`` from the token endpoint is ``DPoPError``, not the session's end."""
    rig = Rig()
    rig.server.refuse = True
    rig.expire_access()
    with pytest.raises(DPoPError) as caught:
        rig.get()
    assert caught.value.error == "invalid_dpop_proof"
    assert rig.session.tokens is not None and rig.store.load() is not None
    assert rig.keys.prunes[-1:] != [([], False)]


def test_a_bearer_answer_to_a_dpop_sign_in_is_a_refused_downgrade():
    """A ``Bearer`` token answer while DPoP is on is refused: ``LoginError``, nothing stored."""
    rig = Rig(signed_in=False)
    rig.server.issue_bearer = True
    with pytest.raises(LoginError) as caught:
        run(rig.session.login("demo", "demo-pass"))
    assert "downgrade" in str(caught.value)
    assert rig.store.load() is None and rig.keys.kept == {}


def test_a_dpop_answer_without_dpop_is_refused():
    """``token_type: DPoP`` for a client that sent no proof is refused."""
    payload = {"access_token": "a", "refresh_token": "r", "token_type": "DPoP", "expires_in": 60}
    with pytest.raises(ValueError):
        TokenSet.from_token_response(payload, START)


def test_a_bound_session_is_never_sent_as_a_bearer_with_dpop_off():
    """A stored DPoP session and ``dpop`` off: ``DPoPError``, no request leaves."""
    rig = Rig()
    bearer = Rig(signed_in=False, dpop=False)
    bearer.store.save(rig.session.tokens)
    bearer.session.machine.adopt(rig.session.tokens)
    sent = len(bearer.server.received)
    with pytest.raises(DPoPError):
        bearer.get()
    assert len(bearer.server.received) == sent


def test_key_store_unavailable_is_a_named_sign_in_error():
    """No key store (IndexedDB unavailable): the sign-in fails with ``DPoPError``, nothing sent."""
    rig = Rig(signed_in=False)
    rig.keys.broken = True
    with pytest.raises(DPoPError):
        run(rig.session.login("demo", "demo-pass"))
    assert rig.server.received == [] and rig.store.load() is None


def test_logout_deletes_the_key():
    """Logout deletes every DPoP key, the session's included."""
    rig = Rig()
    run(rig.session.logout())
    assert rig.keys.kept == {} and rig.keys.prunes[-1] == ([], False)


def test_a_new_sign_in_makes_a_new_key_and_drops_the_old_one():
    """A second sign-in makes a new key; the first one is deleted."""
    rig = Rig()
    first = thumbprint(rig.session.tokens.dpop_jwk)
    run(rig.session.login("demo", "demo-pass"))
    second = thumbprint(rig.session.tokens.dpop_jwk)
    assert first != second and list(rig.keys.kept) == [second]


def test_a_refused_refresh_ends_the_session_and_deletes_its_key():
    """``invalid_grant`` ends the session as before, and its key goes with it."""
    rig = Rig()
    rig.expire_access()
    rig.server.live_refresh.clear()
    with pytest.raises(SessionExpiredError):
        rig.get()
    assert rig.session.tokens is None and rig.keys.kept == {}


def test_a_stolen_token_without_the_key_is_refused_by_the_checking_server():
    """The fake server itself refuses a copied token sent as a bearer (the tests' premise)."""
    rig = Rig()
    stolen = ReplayableRequest(BASE + "/api/data").derive(token=rig.session.tokens.access_token)
    status, _, _ = rig.server.handle(stolen)
    assert status == 401


def test_a_key_store_failing_at_session_end_still_reports_the_end():
    """``invalid_grant`` with a key store that cannot delete: still ``SessionExpiredError``."""
    rig = Rig()
    rig.expire_access()
    rig.server.live_refresh.clear()

    async def broken_prune(keep: list, young: bool) -> None:
        raise DPoPError("IndexedDB could not be opened")

    rig.keys.prune = broken_prune
    with pytest.raises(SessionExpiredError):
        rig.get()
    assert rig.session.tokens is None and rig.store.load() is None


def test_the_sync_driver_refuses_to_sign():
    """Synchronous code cannot sign (WebCrypto is async): ``DPoPError``, session kept."""
    rig = Rig()
    clock = SyncFakeClock()
    sync = SyncAuthSession(
        rig.config,
        SyncFakeTransport(rig.server),
        rig.store,
        clock=clock,
        machine=rig.session.machine,
    )
    with pytest.raises(DPoPError):
        sync.fetch(ReplayableRequest(BASE + "/api/data"))
    assert rig.session.tokens is not None


def test_proof_is_compact_json_with_the_public_key_only():
    """The proof header carries the public JWK as given; segments are unpadded base64url."""
    rig = Rig()
    proof = rig.server.received[-1].headers["dpop"]
    assert proof.count(".") == 2 and "=" not in proof
    header = header_of(proof)
    assert set(header) == {"typ", "alg", "jwk"} and "d" not in header["jwk"]
    assert json.loads(json.dumps(header["jwk"])) == rig.session.tokens.dpop_jwk
