"""Headers, ReplayableRequest and the URL helpers."""

import pytest

from authfetch.core import Headers, ReplayableRequest, origin, resolve, same_endpoint, split_url


def test_headers_are_case_insensitive_and_keep_first_spelling():
    """Header lookup ignores case; the first spelling is kept for sending."""
    headers = Headers([("Content-Type", "a")])
    headers["content-type"] = "b"
    assert headers["CONTENT-TYPE"] == "b" and headers.items() == [("Content-Type", "b")]
    assert "content-TYPE" in headers and headers.get("missing") is None


@pytest.mark.parametrize(
    ("body", "expected", "content_type"),
    [
        ("héllo", "héllo".encode(), "text/plain;charset=UTF-8"),
        (b"raw", b"raw", None),
        (bytearray(b"ba"), b"ba", None),
        ({"a": 1}, b'{"a": 1}', "application/json"),
        (None, None, None),
    ],
)
def test_body_is_copied_to_bytes(body, expected, content_type):
    """str, bytes, bytearray and dict bodies become bytes with fetch's default Content-Type."""
    request = ReplayableRequest("https://a.example/x", "post", body=body)
    assert request.body == expected and request.method == "POST"
    assert request.headers.get("content-type") == content_type


def test_explicit_content_type_is_kept():
    """A caller's Content-Type is not overwritten by the body conversion."""
    request = ReplayableRequest("/x", "POST", {"content-type": "application/x"}, {"a": 1})
    assert request.headers["Content-Type"] == "application/x"


def test_uncopyable_body_needs_stream_flag():
    """A body that cannot be copied is refused unless marked as a stream."""
    with pytest.raises(TypeError):
        ReplayableRequest("/x", "POST", body=object())
    assert ReplayableRequest("/x", "POST", body=(stream := object()), stream=True).body is stream


def test_derive_sets_bearer_without_touching_the_original():
    """derive() gives a copy with Authorization set; the original keeps no bearer."""
    request = ReplayableRequest("/x", headers={"X-A": "1"})
    sent = request.derive("https://a.example/x", "tok")
    assert sent.headers["authorization"] == "Bearer tok" and sent.token == "tok"
    assert "authorization" not in request.headers and request.token is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://API.Example:443/p", "https://api.example"),
        ("http://a.example:80", "http://a.example"),
        ("http://a.example:8080/x?y#z", "http://a.example:8080"),
        ("https://user:pw@a.example/x", "https://a.example"),
        ("http://[::1]:8000/x", "http://[::1]:8000"),
    ],
)
def test_origin_is_normalised(url, expected):
    """Origins are lower-cased, drop user info and the scheme's default port."""
    assert origin(url) == expected


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("/api/items", "https://a.example/api/items"),
        ("items?x=1", "https://a.example/app/items?x=1"),
        ("../auth/refresh", "https://a.example/auth/refresh"),
        ("//cdn.example/x", "https://cdn.example/x"),
        ("?q", "https://a.example/app/page?q"),
        ("http://b.example/", "http://b.example/"),
    ],
)
def test_resolve_against_base(ref, expected):
    """Relative references resolve against the base URL like a browser does."""
    assert resolve(ref, "https://a.example/app/page?old#frag") == expected


def test_split_url_rejects_relative_urls():
    """split_url needs an absolute URL."""
    with pytest.raises(ValueError):
        split_url("/relative")


def test_same_endpoint_ignores_query_and_default_port():
    """Endpoints compare by origin and path only."""
    assert same_endpoint("https://a.example:443/auth/refresh?x", "https://a.example/auth/refresh")
    assert not same_endpoint("https://a.example/auth/refresh2", "https://a.example/auth/refresh")
