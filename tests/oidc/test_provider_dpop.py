"""The test provider's DPoP (RFC 9449), proved over plain HTTP with a key of the test's own.

Two providers: ``--dpop`` (nonces offered, not required) and ``--dpop-require-nonce``. Every
proof's ``iat`` is taken from the provider's test clock (``OidcProvider.now``), since other
tests of the module move that clock. The code flow is scripted by ``provider_flow.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from provider_flow import (
    CLIENT_ORIGIN,
    POST_LOGOUT_URI,
    REDIRECT_URI,
    Answer,
    Browserish,
    api,
    code_form,
    exchange,
    refresh,
    sign_in,
    token_request,
)

from e2e_tests.dpop_client import DPoPKey, access_token_hash
from e2e_tests.oidc_provider import CLIENT_ID, OidcProvider, ProviderFactory

#: Long enough for the tests that move the clock by minutes (nonce rotation, iat).
ACCESS_TTL = 900
#: The API's iat window and nonce period (tests/oidc_provider/provider.mjs).
IAT_WINDOW_S = 60
NONCE_PERIOD_S = 120


@pytest.fixture(scope="module")
def dpop_provider(oidc_provider_factory: ProviderFactory) -> OidcProvider:
    """``--dpop``: nonces offered, not required."""
    return oidc_provider_factory(
        [REDIRECT_URI], [POST_LOGOUT_URI], [CLIENT_ORIGIN], access_ttl=ACCESS_TTL, dpop=True
    )


@pytest.fixture(scope="module")
def nonce_provider(oidc_provider_factory: ProviderFactory) -> OidcProvider:
    """``--dpop-require-nonce``."""
    return oidc_provider_factory(
        [REDIRECT_URI],
        [POST_LOGOUT_URI],
        [CLIENT_ORIGIN],
        access_ttl=ACCESS_TTL,
        dpop_require_nonce=True,
    )


@pytest.fixture
def op(dpop_provider: OidcProvider) -> Iterator[OidcProvider]:
    """The ``--dpop`` provider, reset."""
    dpop_provider.reset()
    yield dpop_provider


@pytest.fixture
def nop(nonce_provider: OidcProvider) -> Iterator[OidcProvider]:
    """The ``--dpop-require-nonce`` provider, reset."""
    nonce_provider.reset()
    yield nonce_provider


@dataclass
class Client:
    """A DPoP client of one provider: its key, its nonce per endpoint, proofs on the
    provider's clock."""

    op: OidcProvider
    key: DPoPKey = field(default_factory=DPoPKey)
    nonces: dict[str, str] = field(default_factory=dict)

    @property
    def token_url(self) -> str:
        """The token endpoint."""
        return self.op.issuer + "/token"

    def proof(self, method: str, url: str, access_token: str | None = None, **extra: Any) -> str:
        """A proof with ``iat`` on the provider's clock (``extra`` overrides any claim)."""
        extra.setdefault("iat", self.op.now())
        return self.key.proof(method, url, access_token, **extra)

    def headers(
        self, method: str, url: str, access_token: str | None = None, **extra: Any
    ) -> dict[str, str]:
        """``{"DPoP": proof}`` with the nonce last seen from ``url`` (unless given)."""
        extra.setdefault("nonce", self.nonces.get(url))
        return {"DPoP": self.proof(method, url, access_token, **extra)}

    def keep_nonce(self, url: str, answer: Answer) -> str | None:
        """Remember the ``DPoP-Nonce`` an answer from ``url`` carries; that nonce."""
        nonce = answer.header("DPoP-Nonce")
        if nonce:
            self.nonces[url] = nonce
        return nonce

    def token(self, form: dict[str, str]) -> Answer:
        """A token request with a proof, retried once on ``use_dpop_nonce``."""
        answer = token_request(self.op, form, CLIENT_ORIGIN, self.headers("POST", self.token_url))
        self.keep_nonce(self.token_url, answer)
        if answer.status == 400 and answer.json().get("error") == "use_dpop_nonce":
            answer = token_request(
                self.op, form, CLIENT_ORIGIN, self.headers("POST", self.token_url)
            )
            self.keep_nonce(self.token_url, answer)
        return answer

    def sign_in(self) -> dict:
        """Sign in and exchange the code with a proof; the token answer."""
        answer = self.token(code_form(sign_in(self.op)))
        assert answer.status == 200, answer.body
        return answer.json()

    def refresh(self, refresh_token: str) -> Answer:
        """A refresh with a proof."""
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def get(self, path: str, access_token: str, **extra: Any) -> Answer:
        """GET the API with ``Authorization: DPoP`` and a proof, retried once on
        ``use_dpop_nonce``."""
        url = self.op.api + path
        answer = api(self.op, path, access_token, "DPoP", self.headers("GET", url, access_token))
        self.keep_nonce(url, answer)
        if answer.status == 401 and 'error="use_dpop_nonce"' in answer.header("WWW-Authenticate"):
            answer = api(
                self.op, path, access_token, "DPoP", self.headers("GET", url, access_token)
            )
            self.keep_nonce(url, answer)
        return answer


def dpop_error(answer: Answer) -> str:
    """The ``error`` of a 401 answer's ``DPoP`` challenge (asserting its shape)."""
    assert answer.status == 401, (answer.status, answer.body)
    challenge = answer.header("WWW-Authenticate") or ""
    assert challenge.startswith("DPoP error="), challenge
    assert 'algs="ES256' in challenge
    error = challenge.split('"')[1]
    assert answer.json()["error"] == error
    return error


# -- tokens from the token endpoint ---------------------------------------------------------


def test_code_exchange_with_a_proof_answers_dpop_bound_tokens(op: OidcProvider) -> None:
    """A proof at the code exchange: token_type DPoP, a nonce offered, readable cross-origin."""
    client = Client(op)
    answer = token_request(
        op, code_form(sign_in(op)), CLIENT_ORIGIN, {"DPoP": client.proof("POST", client.token_url)}
    )
    assert answer.status == 200, answer.body
    assert answer.json()["token_type"] == "DPoP"
    assert answer.json()["refresh_token"]
    assert answer.header("DPoP-Nonce")  # offered, though not required
    assert answer.header("Access-Control-Allow-Origin") == CLIENT_ORIGIN
    exposed = answer.header("Access-Control-Expose-Headers") or ""
    assert {"dpop-nonce", "www-authenticate"} <= {h.strip().lower() for h in exposed.split(",")}
    counters = op.stats()
    assert counters["dpop_bound_tokens"] == 1 and counters["code_exchanged"] == 1


def test_without_a_proof_tokens_stay_bearer_and_work_as_before(op: OidcProvider) -> None:
    """No proof at the exchange: a Bearer token the API takes as Bearer, not as DPoP."""
    answer = exchange(op, sign_in(op))
    assert answer["token_type"] == "Bearer"
    assert api(op, "/me", answer["access_token"]).status == 200
    client = Client(op)
    url = op.api + "/me"
    as_dpop = api(
        op,
        "/me",
        answer["access_token"],
        "DPoP",
        client.headers("GET", url, answer["access_token"]),
    )
    assert dpop_error(as_dpop) == "invalid_token"
    none = Browserish().request(url, headers={"Origin": CLIENT_ORIGIN})
    assert none.status == 401 and none.header(
        "WWW-Authenticate",
    ).startswith("Bearer, DPoP algs=")
    assert op.stats()["dpop_bound_tokens"] == 0


# -- the API ---------------------------------------------------------------------------------


def test_api_accepts_a_good_proof(op: OidcProvider) -> None:
    """A bound token with Authorization: DPoP and a good proof: 200, CORS headers set."""
    client = Client(op)
    access = client.sign_in()["access_token"]
    me = client.get("/me", access)
    assert me.status == 200 and me.json()["sub"] == "alice"
    assert me.header("Access-Control-Allow-Origin") == CLIENT_ORIGIN
    assert me.header("DPoP-Nonce") is None  # nonces not in play here
    assert client.get("/items", access).status == 200
    counters = op.stats()
    assert (counters["api_dpop_ok"], counters["api_ok"], counters["api_401"]) == (2, 2, 0)


def test_a_bound_token_sent_as_bearer_is_refused(op: OidcProvider) -> None:
    """The bound token as Bearer: 401 with a DPoP invalid_token challenge."""
    access = Client(op).sign_in()["access_token"]
    answer = api(op, "/me", access)
    assert dpop_error(answer) == "invalid_token"
    assert op.stats()["api_dpop_as_bearer"] == 1


def test_a_proof_by_another_key_is_refused(op: OidcProvider) -> None:
    """A thief's proof (its own key, right ath/htu/htm) for a stolen token: 401."""
    access = Client(op).sign_in()["access_token"]
    stolen = Client(op).get("/me", access)
    assert dpop_error(stolen) == "invalid_dpop_proof"
    assert "not the key the access token is bound to" in stolen.json()["error_description"]
    assert op.stats()["api_dpop_refused"] == 1


def test_a_replayed_proof_is_refused(op: OidcProvider) -> None:
    """The same proof twice, or a new proof with a used jti: the second is refused."""
    client = Client(op)
    access = client.sign_in()["access_token"]
    url = op.api + "/me"
    headers = client.headers("GET", url, access, jti="once")
    assert api(op, "/me", access, "DPoP", headers).status == 200
    replayed = api(op, "/me", access, "DPoP", headers)
    assert dpop_error(replayed) == "invalid_dpop_proof"
    assert "replayed" in replayed.json()["error_description"]
    again = client.headers("GET", url, access, jti="once")
    assert dpop_error(api(op, "/me", access, "DPoP", again)) == "invalid_dpop_proof"
    assert api(op, "/me", access, "DPoP", client.headers("GET", url, access)).status == 200


def _hand_made(
    client: Client,
    access: str,
    drop: str | None = None,
    typ: str = "dpop+jwt",
    key: Any = None,
    alg: str = "ES256",
) -> str:
    """A proof for GET /api/me signed here (not by DPoPKey.proof): claim ``drop`` left out,
    another ``typ``, or another key and ``alg``."""
    claims = {
        "jti": "hand-made",
        "htm": "GET",
        "htu": client.op.api + "/me",
        "iat": int(client.op.now()),
        "ath": access_token_hash(access),
    }
    claims.pop(drop or "", None)
    headers = {"typ": typ, "jwk": client.key.jwk}
    return jwt.encode(claims, key or client.key.private_key, alg, headers=headers)


#: A bad proof for GET /api/me -> what the API's error_description says.
BAD_PROOFS: dict[str, tuple[Callable[[Client, str], str], str]] = {
    "ath of another token": (
        lambda c, a: c.proof("GET", c.op.api + "/me", a + "x"),
        "ath mismatch",
    ),
    "no ath": (lambda c, a: c.proof("GET", c.op.api + "/me"), "ath mismatch"),
    "htu of another path": (
        lambda c, a: c.proof("GET", c.op.api + "/items", a),
        "htu mismatch",
    ),
    "htu of another origin": (
        lambda c, a: c.proof("GET", "http://127.0.0.1:9/api/me", a),
        "htu mismatch",
    ),
    "htm POST for a GET": (lambda c, a: c.proof("POST", c.op.api + "/me", a), "htm mismatch"),
    "typ JWT": (lambda c, a: _hand_made(c, a, typ="JWT"), "'typ'"),
    "alg HS256": (
        lambda c, a: _hand_made(c, a, key="a shared secret of 32 bytes or more", alg="HS256"),
        "'alg'",
    ),
    "no jti": (lambda c, a: _hand_made(c, a, drop="jti"), "no jti"),
    "no iat": (lambda c, a: _hand_made(c, a, drop="iat"), "no iat"),
    "signed by another key": (
        lambda c, a: _hand_made(c, a, key=DPoPKey().private_key),
        "signature verification failed",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PROOFS))
def test_a_bad_proof_is_refused(op: OidcProvider, case: str) -> None:
    """Bad ath/htu/htm/typ/alg/signature, no jti/iat, no proof: 401 invalid_dpop_proof."""
    client = Client(op)
    access = client.sign_in()["access_token"]
    make, reason = BAD_PROOFS[case]
    refused = api(op, "/me", access, "DPoP", {"DPoP": make(client, access)})
    assert dpop_error(refused) == "invalid_dpop_proof"
    assert reason in refused.json()["error_description"]
    no_proof = api(op, "/me", access, "DPoP")
    assert dpop_error(no_proof) == "invalid_dpop_proof"
    assert "no DPoP proof" in no_proof.json()["error_description"]
    assert client.get("/me", access).status == 200  # the token itself is fine
    assert op.stats()["api_dpop_refused"] == 2


def test_a_query_in_the_request_is_not_part_of_htu(op: OidcProvider) -> None:
    """htu is the URL without query: a proof for /api/me fits GET /api/me?x=1."""
    client = Client(op)
    access = client.sign_in()["access_token"]
    headers = client.headers("GET", op.api + "/me", access)
    assert api(op, "/me?x=1", access, "DPoP", headers).status == 200


def test_the_api_iat_window_is_on_the_test_clock(op: OidcProvider) -> None:
    """Without a nonce the API takes iat within 60 s of the provider's clock, not of real
    time; beyond it, it asks for a nonce (use_dpop_nonce), as the token endpoint does."""
    client = Client(op)
    access = client.sign_in()["access_token"]
    op.advance(10 * IAT_WINDOW_S)
    now = op.now()
    url = op.api + "/me"

    def status(iat: float) -> int:
        proof = client.key.proof("GET", url, access, iat=iat)
        return api(op, "/me", access, "DPoP", {"DPoP": proof}).status

    assert status(time.time()) == 401  # real time is now 10 minutes behind the provider
    assert status(now - IAT_WINDOW_S + 5) == 200
    assert status(now + IAT_WINDOW_S - 5) == 200
    assert status(now - IAT_WINDOW_S - 5) == 401
    assert status(now + IAT_WINDOW_S + 5) == 401
    assert op.stats()["api_dpop_nonce_challenges"] == 3


def test_a_proof_with_a_valid_nonce_is_taken_whatever_its_iat(op: OidcProvider) -> None:
    """With a nonce the API gave, a proof dated by a clock 10 minutes behind is taken (the
    nonce bounds its age: RFC 9449 section 11.1), as the provider's token endpoint does."""
    client = Client(op)
    access = client.sign_in()["access_token"]
    op.advance(10 * IAT_WINDOW_S)
    url = op.api + "/me"
    stale = client.key.proof("GET", url, access, iat=time.time())
    challenge = api(op, "/me", access, "DPoP", {"DPoP": stale})
    assert challenge.status == 401
    nonce = challenge.header("DPoP-Nonce")
    proof = client.key.proof("GET", url, access, iat=time.time(), nonce=nonce)
    assert api(op, "/me", access, "DPoP", {"DPoP": proof}).status == 200


# -- nonces ------------------------------------------------------------------------------------


def test_with_nonces_required_every_endpoint_challenges_first(nop: OidcProvider) -> None:
    """Nonce required: token endpoint and API each challenge with their own nonce."""
    client = Client(nop)
    signed_in = sign_in(nop)
    first = token_request(
        nop, code_form(signed_in), CLIENT_ORIGIN, client.headers("POST", client.token_url)
    )
    assert first.status == 400 and first.json()["error"] == "use_dpop_nonce"
    token_nonce = client.keep_nonce(client.token_url, first)
    assert token_nonce
    assert "dpop-nonce" in (first.header("Access-Control-Expose-Headers") or "").lower()
    answer = token_request(
        nop, code_form(signed_in), CLIENT_ORIGIN, client.headers("POST", client.token_url)
    )
    assert answer.status == 200 and answer.json()["token_type"] == "DPoP"
    access = answer.json()["access_token"]

    url = nop.api + "/me"
    bare = api(nop, "/me", access, "DPoP", client.headers("GET", url, access))
    assert dpop_error(bare) == "use_dpop_nonce"
    api_nonce = bare.header("DPoP-Nonce")
    assert api_nonce and api_nonce != token_nonce
    assert "dpop-nonce" in (bare.header("Access-Control-Expose-Headers") or "").lower()
    # The token endpoint's nonce is not the API's: a client keeping one per origin pays.
    wrong = api(nop, "/me", access, "DPoP", client.headers("GET", url, access, nonce=token_nonce))
    assert dpop_error(wrong) == "use_dpop_nonce" and wrong.header("DPoP-Nonce") == api_nonce
    good = api(nop, "/me", access, "DPoP", client.headers("GET", url, access, nonce=api_nonce))
    assert good.status == 200 and good.header("DPoP-Nonce") is None  # the nonce is current
    counters = nop.stats()
    assert counters["token_dpop_nonce_challenges"] == 1
    assert counters["api_dpop_nonce_challenges"] == 2 and counters["api_dpop_ok"] == 1


def test_a_refresh_without_the_nonce_is_challenged_and_the_grant_lives(nop: OidcProvider) -> None:
    """Nonce required: a refresh proof without a nonce is use_dpop_nonce, nothing revoked."""
    client = Client(nop)
    tokens = client.sign_in()
    bare = refresh(nop, tokens["refresh_token"], {"DPoP": client.proof("POST", client.token_url)})
    assert bare.status == 400 and bare.json()["error"] == "use_dpop_nonce"
    assert bare.header("DPoP-Nonce")
    again = client.refresh(tokens["refresh_token"])
    assert again.status == 200 and again.json()["token_type"] == "DPoP"
    assert client.get("/me", again.json()["access_token"]).status == 200
    assert nop.stats()["grant_revoked"] == 0


def test_the_api_takes_its_current_and_previous_nonce_on_the_test_clock(
    nop: OidcProvider,
) -> None:
    """API nonce: new every 120 s (test clock), the previous one good, older challenged."""
    client = Client(nop)
    access = client.sign_in()["access_token"]
    url = nop.api + "/me"
    assert client.get("/me", access).status == 200
    first = client.nonces[url]
    nop.advance(NONCE_PERIOD_S + 10)
    previous = api(nop, "/me", access, "DPoP", client.headers("GET", url, access, nonce=first))
    assert previous.status == 200
    second = previous.header("DPoP-Nonce")
    assert second and second != first
    nop.advance(NONCE_PERIOD_S + 10)
    stale = api(nop, "/me", access, "DPoP", client.headers("GET", url, access, nonce=first))
    assert dpop_error(stale) == "use_dpop_nonce"
    assert stale.header("DPoP-Nonce") not in (None, first, second)


def test_with_nonces_offered_a_stale_nonce_at_the_api_is_challenged(op: OidcProvider) -> None:
    """Nonces not required, but a proof that carries an unknown nonce gets use_dpop_nonce."""
    client = Client(op)
    access = client.sign_in()["access_token"]
    url = op.api + "/me"
    stale = api(op, "/me", access, "DPoP", client.headers("GET", url, access, nonce="made-up"))
    assert dpop_error(stale) == "use_dpop_nonce"
    nonce = stale.header("DPoP-Nonce")
    assert nonce
    good = api(op, "/me", access, "DPoP", client.headers("GET", url, access, nonce=nonce))
    assert good.status == 200


# -- test controls -----------------------------------------------------------------------------


def test_the_rotate_nonce_control_gives_a_new_nonce_on_every_answer(nop: OidcProvider) -> None:
    """rotate_nonce: a new nonce per answer, latest works, older challenged; reset ends it."""
    client = Client(nop)
    access = client.sign_in()["access_token"]
    url = nop.api + "/me"
    assert client.get("/me", access).status == 200
    settings = nop.api_dpop(rotate_nonce=True)
    assert settings["rotate_nonce"] is True and settings["require_nonce"] is True
    seen = [client.nonces[url]]
    for _ in range(3):
        answer = api(nop, "/me", access, "DPoP", client.headers("GET", url, access))
        assert answer.status == 200
        seen.append(client.keep_nonce(url, answer) or "")
    assert len(set(seen)) == 4
    old = api(nop, "/me", access, "DPoP", client.headers("GET", url, access, nonce=seen[-3]))
    assert dpop_error(old) == "use_dpop_nonce"
    nop.reset()
    assert nop.api_dpop() == {
        "refuse_proofs": False,
        "rotate_nonce": False,
        "require_nonce": True,
        "api_nonce": nop.api_dpop()["api_nonce"],
        "iat_window": IAT_WINDOW_S,
        "nonce_period": NONCE_PERIOD_S,
    }


def test_the_refuse_proofs_control_refuses_good_proofs(op: OidcProvider) -> None:
    """api_dpop(refuse_proofs=True): a good proof gets invalid_dpop_proof until turned off."""
    client = Client(op)
    access = client.sign_in()["access_token"]
    assert op.api_dpop(refuse_proofs=True)["refuse_proofs"] is True
    assert dpop_error(client.get("/me", access)) == "invalid_dpop_proof"
    assert op.api_dpop(refuse_proofs=False)["refuse_proofs"] is False
    assert client.get("/me", access).status == 200


# -- refresh tokens --------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["dpop", "nonce"])
def test_a_refresh_with_the_right_key_rotates_every_time(
    which: str, dpop_provider: OidcProvider, nonce_provider: OidcProvider
) -> None:
    """A bound refresh with the key rotates every time; a used one is reuse-detected."""
    provider = dpop_provider if which == "dpop" else nonce_provider
    provider.reset()
    client = Client(provider)
    tokens = client.sign_in()
    used = []
    for _ in range(3):
        answer = client.refresh(tokens["refresh_token"])
        assert answer.status == 200, answer.body
        new = answer.json()
        assert new["token_type"] == "DPoP"
        assert new["refresh_token"] != tokens["refresh_token"]
        assert client.get("/me", new["access_token"]).status == 200
        used.append(tokens["refresh_token"])
        tokens = new
    counters = provider.stats()
    assert counters["refresh_ok"] == 3 and counters["dpop_bound_tokens"] == 4
    reused = client.refresh(used[0])
    assert reused.status == 400 and reused.json()["error"] == "invalid_grant"
    assert provider.stats()["reuse_detected"] == 1 and provider.stats()["grant_revoked"] == 1
    assert client.refresh(tokens["refresh_token"]).status == 400  # the grant is gone


def test_a_refresh_with_another_key_or_no_proof_is_refused_and_keeps_the_grant(
    op: OidcProvider,
) -> None:
    """Another key or no proof: invalid_grant; grant, refresh and access tokens live on."""
    client = Client(op)
    tokens = client.sign_in()
    thief = Client(op)
    by_thief = thief.refresh(tokens["refresh_token"])
    assert by_thief.status == 400 and by_thief.json()["error"] == "invalid_grant"
    unproved = refresh(op, tokens["refresh_token"])
    assert unproved.status == 400 and unproved.json()["error"] == "invalid_grant"
    counters = op.stats()
    assert counters["refresh_key_mismatch"] == 2 and counters["invalid_grant"] == 2
    assert counters["grant_revoked"] == 0 and counters["reuse_detected"] == 0
    assert client.get("/me", tokens["access_token"]).status == 200
    assert client.refresh(tokens["refresh_token"]).status == 200


def test_a_used_refresh_token_replayed_by_another_key_does_not_revoke_the_grant(
    op: OidcProvider,
) -> None:
    """A used refresh token replayed with another key is refused without revoking."""
    client = Client(op)
    first = client.sign_in()
    second = client.refresh(first["refresh_token"]).json()
    stolen = Client(op).refresh(first["refresh_token"])
    assert stolen.status == 400 and stolen.json()["error"] == "invalid_grant"
    counters = op.stats()
    assert counters["refresh_key_mismatch"] == 1 and counters["reuse_detected"] == 0
    assert counters["grant_revoked"] == 0
    assert client.refresh(second["refresh_token"]).status == 200


def test_an_expired_bound_token_gets_a_dpop_invalid_token_and_a_refresh_fixes_it(
    op: OidcProvider,
) -> None:
    """An expired bound token gets DPoP invalid_token; a refresh with the key fixes it."""
    client = Client(op)
    tokens = client.sign_in()
    op.advance(ACCESS_TTL + 1)
    expired = client.get("/me", tokens["access_token"])
    assert dpop_error(expired) == "invalid_token"
    fresh = client.refresh(tokens["refresh_token"]).json()
    assert client.get("/me", fresh["access_token"]).status == 200


def test_revoking_a_bound_refresh_token_needs_no_proof(op: OidcProvider) -> None:
    """RFC 7009 revocation of a bound refresh token (no proof): 200, the grant is gone."""
    client = Client(op)
    tokens = client.sign_in()
    form = {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}
    form["client_id"] = CLIENT_ID
    revoked = Browserish().request(op.issuer + "/token/revocation", form, {"Origin": CLIENT_ORIGIN})
    assert revoked.status == 200
    assert client.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert dpop_error(client.get("/me", tokens["access_token"])) == "invalid_token"
    assert op.stats()["revoked"] == 1 and op.stats()["grant_revoked"] == 1


def test_the_token_endpoint_checks_iat_on_the_test_clock(op: OidcProvider) -> None:
    """Token endpoint: an iat 10 min behind its clock gets use_dpop_nonce; on-clock is taken."""
    client = Client(op)
    tokens = client.sign_in()
    op.advance(600)
    behind = client.key.proof("POST", client.token_url, iat=time.time())
    late = refresh(op, tokens["refresh_token"], {"DPoP": behind})
    assert late.status == 400 and late.json()["error"] == "use_dpop_nonce"
    assert late.header("DPoP-Nonce")
    on_time = refresh(op, tokens["refresh_token"], {"DPoP": client.proof("POST", client.token_url)})
    assert on_time.status == 200 and on_time.json()["token_type"] == "DPoP"
    assert op.stats()["token_dpop_nonce_challenges"] == 1


# -- CORS and the fixture ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/token", "/token/revocation", "/api/me"])
def test_cors_allows_the_dpop_header_and_exposes_dpop_nonce(op: OidcProvider, path: str) -> None:
    """Token, revocation, API: preflight allows DPoP; DPoP-Nonce, WWW-Authenticate exposed."""
    url = op.issuer + path
    method = "GET" if path.startswith("/api") else "POST"
    preflight = Browserish().request(
        url,
        headers={
            "Origin": CLIENT_ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type,dpop",
        },
        method="OPTIONS",
    )
    assert preflight.status == 204
    assert preflight.header("Access-Control-Allow-Origin") == CLIENT_ORIGIN
    assert "dpop" in (preflight.header("Access-Control-Allow-Headers") or "").lower()
    if method == "GET":
        answer = api(op, "/me", "unknown")
    else:
        form = {"client_id": CLIENT_ID, "token": "unknown", "grant_type": "refresh_token"}
        form["refresh_token"] = "unknown"
        answer = Browserish().request(url, form, {"Origin": CLIENT_ORIGIN})
    assert answer.header("Access-Control-Allow-Origin") == CLIENT_ORIGIN
    exposed = {
        h.strip().lower() for h in (answer.header("Access-Control-Expose-Headers") or "").split(",")
    }
    assert {"dpop-nonce", "www-authenticate"} <= exposed


def test_the_fixture_starts_nonce_required_with_dpop_on(nop: OidcProvider) -> None:
    """dpop_require_nonce implies dpop; the settings read back from the provider."""
    assert nop.dpop and nop.dpop_require_nonce
    settings = nop.api_dpop()
    assert settings["require_nonce"] is True and settings["iat_window"] == IAT_WINDOW_S
    assert "dpop_bound_tokens" in nop.stats()
