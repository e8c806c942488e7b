"""TokenSet and the expiry decisions (leeway, skew, HTTP dates)."""

import pytest
from authfetch_fakes import START

from authfetch.core import (
    AuthConfig,
    Headers,
    TokenSet,
    default_leeway,
    estimate_skew,
    needs_refresh,
    parse_http_date,
)

RESPONSE = {"access_token": "a1", "refresh_token": "r1", "expires_in": 300, "token_type": "Bearer"}


def test_json_round_trip_keeps_every_field():
    """to_json/from_json round-trips both tokens, the expiry and the metadata in one string."""
    tokens = TokenSet("a", "r", 123.5, issued_at=100.0, skew=-2.0, refresh_expires_at=999.0)
    text = tokens.to_json()
    assert isinstance(text, str) and TokenSet.from_json(text) == tokens


@pytest.mark.parametrize(
    "text", ["not json", "[]", '{"refresh_token": "r"}', '{"access_token": ""}']
)
def test_from_json_rejects_malformed_values(text):
    """Malformed stored values raise ValueError instead of yielding a half session."""
    with pytest.raises(ValueError):
        TokenSet.from_json(text)


def test_repr_hides_the_tokens():
    """repr() never shows token values."""
    assert "secret" not in repr(TokenSet("secret-a", "secret-r", 1.0))


def test_from_token_response_uses_expires_in():
    """expires_in is counted from the local receive time (no skew known)."""
    tokens = TokenSet.from_token_response(RESPONSE, START)
    assert (tokens.access_token, tokens.refresh_token) == ("a1", "r1")
    assert tokens.expires_at == START + 300 and tokens.lifetime == 300


def test_from_token_response_prefers_the_jwt_exp():
    """The JWT exp passed by the edge wins over expires_in."""
    tokens = TokenSet.from_token_response(RESPONSE, START, access_exp=START + 90, issued_at=START)
    assert tokens.expires_at == START + 90 and tokens.lifetime == 90


def test_from_token_response_keeps_the_previous_refresh_token():
    """A response without refresh_token keeps the previous one (no rotation)."""
    previous = TokenSet("a0", "r0", START, refresh_expires_at=START + 3600)
    payload = {"access_token": "a1", "expires_in": 60}
    tokens = TokenSet.from_token_response(payload, START, previous=previous)
    assert tokens.refresh_token == "r0" and tokens.refresh_expires_at == START + 3600


def test_from_token_response_requires_an_access_token():
    """A body without access_token is refused."""
    with pytest.raises(ValueError):
        TokenSet.from_token_response({"error": "x"}, START)


@pytest.mark.parametrize(
    ("lifetime", "leeway"),
    [(None, 30.0), (0, 30.0), (15, 5.0), (60, 20.0), (90, 30.0), (600, 30.0)],
)
def test_default_leeway_is_min_of_30s_and_a_third_of_lifetime(lifetime, leeway):
    """Default leeway = min(30 s, lifetime / 3); unknown lifetime gives 30 s."""
    assert default_leeway(lifetime) == leeway


def test_configured_leeway_overrides_the_default():
    """AuthConfig(leeway=...) replaces the default in the refresh decision."""
    tokens = TokenSet.from_token_response(RESPONSE, START)
    assert not AuthConfig("https://a.example").needs_refresh(tokens, START + 300 - 31)
    assert AuthConfig("https://a.example", leeway=60).needs_refresh(tokens, START + 300 - 59)


def test_needs_refresh_boundaries_and_unknown_expiry():
    """Refresh is due from expires_at - leeway on; an unknown expiry never triggers it."""
    assert not needs_refresh(100.0, 89.9, leeway=10)
    assert needs_refresh(100.0, 90.0, leeway=10)
    assert not needs_refresh(None, 1e12, leeway=10)


def test_tokens_without_refresh_token_never_need_refresh():
    """Without a refresh token there is nothing to refresh proactively."""
    assert not TokenSet("a", None, START).needs_refresh(START + 100)


def test_skew_from_iat_moves_the_decision():
    """A server clock 100 s ahead (iat) makes a token due 100 s earlier on the local clock."""
    payload = {"access_token": "a", "refresh_token": "r"}
    tokens = TokenSet.from_token_response(
        payload, START, access_exp=START + 100 + 60, issued_at=START + 100
    )
    assert tokens.skew == 100
    assert tokens.local_expires_at() == START + 60
    assert not tokens.needs_refresh(START + 39)  # leeway 20 s for a 60 s token
    assert tokens.needs_refresh(START + 40)


def test_skew_from_date_header_via_config():
    """The refresh answer's Date header gives the skew when no iat is known."""
    headers = Headers({"Date": "Tue, 14 Nov 2023 22:13:50 GMT"})  # START + 30
    tokens = AuthConfig("https://a.example").token_set(RESPONSE, headers, START)
    assert tokens.skew == 30 and tokens.expires_at == START + 30 + 300
    assert tokens.local_expires_at() == START + 300


def test_claims_decoder_supplies_exp_and_iat():
    """decode_claims (the JWT reader by default) supplies exp/iat; a failing decoder is ignored."""
    claims = {"exp": START + 50, "iat": START - 10}
    config = AuthConfig("https://a.example", decode_claims=lambda token: claims)
    tokens = config.token_set(RESPONSE, Headers(), START)
    assert (tokens.expires_at, tokens.skew) == (START + 50, -10)

    def broken(token):
        raise ValueError("not a JWT")

    fallback = AuthConfig("https://a.example", decode_claims=broken).token_set(
        RESPONSE, None, START
    )
    assert fallback.expires_at == START + 300


def test_estimate_skew_prefers_iat():
    """iat wins over Date; neither gives None."""
    assert estimate_skew(100.0, issued_at=105, server_date=90) == 5
    assert estimate_skew(100.0, server_date=90) == -10
    assert estimate_skew(100.0) is None


@pytest.mark.parametrize(
    ("value", "epoch"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", 784111777.0),
        ("Tue, 14 Nov 2023 22:13:20 GMT", START),
        ("Thu, 29 Feb 2024 00:00:00 GMT", 1709164800.0),
        ("garbage", None),
        ("Sun, 06 Foo 1994 08:49:37 GMT", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_http_date(value, epoch):
    """IMF-fixdate parses to epoch seconds; bad input gives None."""
    assert parse_http_date(value) == epoch
