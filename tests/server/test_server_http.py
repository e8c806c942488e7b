"""HTTP hardening: JSON errors, body limits, headers, CORS, login and the items API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from serverkit import DEMO, bearer, login

import server.auth
from server import PAGE_CSP
from server.state import get_state

JSON_ROUTES = ["/auth/login", "/auth/refresh", "/auth/logout", "/api/items"]


def _post(client: FlaskClient, path: str, token: str, **kwargs: Any) -> Any:
    """POST to ``path``, with a bearer token for the API."""
    headers = bearer(token) if path.startswith("/api/") else {}
    return client.post(path, headers=headers, **kwargs)


def assert_json_error(response: Any, status: int, error: str) -> None:
    """``response`` is a JSON error with this status and code."""
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str)
    assert "Traceback" not in response.get_data(as_text=True)


BAD_JSON = [
    ("truncated", b'{"username": "demo"'),
    ("empty", b""),
    ("array", b"[]"),
    ("null", b"null"),
    ("string", b'"demo"'),
    ("not-utf8", b'{"title": "\xff\xfe"}'),
    ("lone-surrogate", b'{"title": "\\ud800", "username": "\\udfff", "refresh_token": "\\ud800"}'),
    ("nested-too-deep", b"[" * 5000),
    ("huge-integer", b'{"n": ' + b"9" * 5000 + b"}"),
    ("trailing-garbage", b'{"title": "x"} {}'),
]


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize("body", [b for _, b in BAD_JSON], ids=[i for i, _ in BAD_JSON])
def test_bad_json_is_400(client: FlaskClient, path: str, body: bytes) -> None:
    """Malformed or non-object JSON is a JSON 400 on every JSON route."""
    token = login(client)["access_token"]
    response = _post(client, path, token, data=body, content_type="application/json")
    assert_json_error(response, 400, "invalid_request")


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
    ids=["none", "text", "form", "multipart"],
)
def test_wrong_content_type_is_415(client: FlaskClient, path: str, content_type: str) -> None:
    """A JSON route refuses a body not declared as application/json."""
    token = login(client)["access_token"]
    kwargs: dict[str, Any] = {"data": b'{"title": "x"}'}
    if content_type:
        kwargs["content_type"] = content_type
    assert_json_error(_post(client, path, token, **kwargs), 415, "unsupported_media_type")


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_oversized_body_is_413(client: FlaskClient, path: str) -> None:
    """A body over MAX_CONTENT_LENGTH (16 KiB) is a JSON 413."""
    token = login(client)["access_token"]
    body = b'{"title": "' + b"x" * (16 * 1024) + b'"}'
    response = _post(client, path, token, data=body, content_type="application/json")
    assert_json_error(response, 413, "request_too_large")


def test_charset_parameter_is_fine(client: FlaskClient) -> None:
    """application/json with a charset parameter is JSON."""
    response = client.post(
        "/auth/login",
        data=b'{"username": "demo", "password": "demo-pass"}',
        content_type="application/json; charset=utf-8",
    )
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/nope", "/api/nope", "/auth/nope", "/api/items/", "/__test"])
def test_unknown_route_is_404_json(client: FlaskClient, path: str) -> None:
    """An unknown URL is a JSON 404, also under the API prefixes."""
    assert_json_error(client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/auth/login", {"POST"}),
        ("PUT", "/auth/refresh", {"POST"}),
        ("GET", "/auth/logout", {"POST"}),
        ("POST", "/api/me", {"GET"}),
        ("DELETE", "/api/items", {"GET", "POST"}),
        ("POST", "/", {"GET"}),
    ],
)
def test_wrong_method_is_405_with_allow(
    client: FlaskClient, method: str, path: str, allowed: set[str]
) -> None:
    """A known URL with the wrong method is a JSON 405 listing the allowed methods."""
    response = client.open(path, method=method)
    assert_json_error(response, 405, "method_not_allowed")
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_unexpected_exception_is_json_500_without_traceback(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, no_server_errors: Any
) -> None:
    """A bug in a view is answered with a bare JSON 500, no traceback, no details."""

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(server.auth.sessions, "start", broken)
    response = client.post("/auth/login", json=DEMO)
    assert len(no_server_errors.take()) == 1  # the one 500 this test provokes
    assert_json_error(response, 500, "server_error")
    assert "secret internals" not in response.get_data(as_text=True)


# ---------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("GET", "/api/me"), ("POST", "/auth/login"), ("GET", "/__test__/stats")],
)
def test_nosniff_everywhere(client: FlaskClient, method: str, path: str) -> None:
    """Every response, errors included, says X-Content-Type-Options: nosniff."""
    response = client.open(path, method=method, json=DEMO if method == "POST" else None)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_token_responses_are_not_stored(client: FlaskClient) -> None:
    """Token answers (and their errors) and API answers carry Cache-Control: no-store."""
    tokens = login(client)
    refreshed = client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    failed = client.post("/auth/refresh", json={"refresh_token": "nope"})
    login_response = client.post("/auth/login", json=DEMO)
    api_response = client.get("/api/me", headers=bearer(tokens["access_token"]))
    for response in (refreshed, failed, login_response, api_response):
        assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture
def page_root(tmp_path: Path) -> Path:
    """A project root with a minimal index.html."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>t</title>")
    return root


def test_page_has_the_csp(make_app: Callable[..., Flask], page_root: Path) -> None:
    """The page is served under the default Content-Security-Policy."""
    response = make_app(PROJECT_ROOT=str(page_root)).test_client().get("/")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert csp == PAGE_CSP
    for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'"):
        assert directive in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_page_csp_is_configurable(make_app: Callable[..., Flask], page_root: Path) -> None:
    """PAGE_CSP replaces the policy."""
    app = make_app(PROJECT_ROOT=str(page_root), PAGE_CSP="default-src 'none'")
    assert app.test_client().get("/").headers["Content-Security-Policy"] == "default-src 'none'"


# ---------------------------------------------------------------- CORS

ORIGIN = "http://app.example:3000"


@pytest.mark.parametrize("path", ["/api/me", "/auth/login"])
def test_cors_only_for_listed_origins(make_app: Callable[..., Flask], path: str) -> None:
    """A listed origin gets CORS headers on a preflight; another origin does not."""
    client = make_app(ALLOW_ORIGINS=[ORIGIN]).test_client()
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    allowed = client.options(path, headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    allow_headers = allowed.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allow_headers and "content-type" in allow_headers
    other = client.options(path, headers={"Origin": "http://evil.example", **preflight})
    assert "Access-Control-Allow-Origin" not in other.headers
    lookalike = client.options(path, headers={"Origin": ORIGIN + ".evil.example", **preflight})
    assert "Access-Control-Allow-Origin" not in lookalike.headers


def test_cors_exposes_the_challenge(make_app: Callable[..., Flask]) -> None:
    """A listed origin can read WWW-Authenticate of a cross-origin 401."""
    client = make_app(ALLOW_ORIGINS=[ORIGIN]).test_client()
    response = client.get("/api/me", headers={"Origin": ORIGIN})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "www-authenticate" in response.headers["Access-Control-Expose-Headers"].lower()


def test_no_cors_by_default(client: FlaskClient) -> None:
    """Without --allow-origin no origin gets CORS headers."""
    response = client.options(
        "/api/me", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("origin", ["*", "http://a.example/path", "app.example", "http://a.*"])
def test_bad_allow_origin_is_refused(make_app: Callable[..., Flask], origin: str) -> None:
    """ALLOW_ORIGINS takes exact origins only (no wildcard, no path, no regex)."""
    with pytest.raises(ValueError, match="origin"):
        make_app(ALLOW_ORIGINS=[origin])


# ---------------------------------------------------------------- login


def test_login_shape(client: FlaskClient) -> None:
    """Login answers the token JSON and counts in the stats."""
    tokens = login(client)
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 30
    assert client.get("/__test__/stats").get_json()["login"] == 1


def test_unknown_user_and_wrong_password_look_the_same(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same status and body, and one scrypt check each (a dummy hash for the unknown user)."""
    checked: list[str] = []
    real_check = server.auth.check_password_hash

    def spy(pwhash: str, password: str) -> bool:
        checked.append(pwhash)
        return real_check(pwhash, password)

    monkeypatch.setattr(server.auth, "check_password_hash", spy)
    wrong = client.post("/auth/login", json={"username": "demo", "password": "nope"})
    unknown = client.post("/auth/login", json={"username": "nobody", "password": "nope"})
    for response in (wrong, unknown):
        assert_json_error(response, 401, "invalid_credentials")
    assert wrong.get_json() == unknown.get_json()
    assert len(checked) == 2
    assert checked[1] == get_state(app).dummy_hash
    assert checked[0].split("$")[0] == checked[1].split("$")[0]  # same scrypt parameters


def test_passwords_are_scrypt_hashes(app: Flask) -> None:
    """The demo user's password is stored as a werkzeug scrypt hash."""
    from serverkit import db

    conn = db(app)
    try:
        stored = conn.execute("SELECT password_hash FROM users").fetchone()[0]
    finally:
        conn.close()
    assert stored.startswith("scrypt:")
    assert "demo-pass" not in stored


@pytest.mark.parametrize(
    "body",
    [{}, {"username": "demo"}, {"password": "x"}, {"username": 1, "password": "x"},
     {"username": "demo", "password": None}, {"username": "", "password": "demo-pass"},
     {"username": "demo", "password": "x" * 2000}],
    ids=["empty", "no-password", "no-username", "number", "null", "blank", "too-long"],
)  # fmt: skip
def test_login_needs_two_strings(client: FlaskClient, body: dict[str, Any]) -> None:
    """Login without a username and password string is a JSON 400."""
    assert_json_error(client.post("/auth/login", json=body), 400, "invalid_request")


def test_login_flood_is_429(make_app: Callable[..., Flask]) -> None:
    """More than LOGIN_RATE_LIMIT logins from one address get a JSON 429 with Retry-After."""
    client = make_app(LOGIN_RATE_LIMIT="3 per minute").test_client()
    statuses = [
        client.post("/auth/login", json={"username": "demo", "password": "x"}).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 401]
    flooded = client.post("/auth/login", json=DEMO)
    assert_json_error(flooded, 429, "too_many_requests")
    assert int(flooded.headers["Retry-After"]) > 0
    other_address = client.post("/auth/login", json=DEMO, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other_address.status_code == 200
    assert client.get("/api/me").status_code == 401  # only login is limited


@pytest.mark.parametrize(
    ("testing", "limit"), [(False, "10 per minute"), (True, "1000 per minute")]
)
def test_login_rate_limit_defaults(
    make_app: Callable[..., Flask], testing: bool, limit: str
) -> None:
    """10 logins a minute per address; 1000 with the test routes on (e2e logs in a lot)."""
    assert make_app(TESTING_ROUTES=testing).config["LOGIN_RATE_LIMIT"] == limit


def test_reset_forgets_login_hits(make_app: Callable[..., Flask]) -> None:
    """POST /__test__/reset also clears the login rate-limit counts."""
    client = make_app(LOGIN_RATE_LIMIT="1 per minute").test_client()
    login(client)
    assert client.post("/auth/login", json=DEMO).status_code == 429
    client.post("/__test__/reset")
    assert client.post("/auth/login", json=DEMO).status_code == 200


# ---------------------------------------------------------------- items API


def test_items_roundtrip(client: FlaskClient) -> None:
    """POST creates an item (201), GET lists the user's items in order."""
    headers = bearer(login(client)["access_token"])
    assert client.get("/api/items", headers=headers).get_json() == []
    created = client.post("/api/items", headers=headers, json={"title": "  milk  "})
    assert created.status_code == 201
    item = created.get_json()
    assert item["title"] == "milk" and isinstance(item["id"], int)
    client.post("/api/items", headers=headers, json={"title": "x" * 200})
    listed = client.get("/api/items", headers=headers).get_json()
    assert [i["title"] for i in listed] == ["milk", "x" * 200]
    assert listed[0] == item


@pytest.mark.parametrize(
    "body",
    [{}, {"title": None}, {"title": 5}, {"title": ["x"]}, {"title": ""}, {"title": "   "},
     {"title": "x" * 201}],
    ids=["missing", "null", "number", "list", "empty", "blank", "too-long"],
)  # fmt: skip
def test_bad_item_title_is_400(client: FlaskClient, body: dict[str, Any]) -> None:
    """A title must be a string of 1 to 200 characters."""
    headers = bearer(login(client)["access_token"])
    response = client.post("/api/items", headers=headers, json=body)
    assert_json_error(response, 400, "invalid_request")
    assert client.get("/api/items", headers=headers).get_json() == []


def test_items_need_a_token(client: FlaskClient) -> None:
    """Both item routes answer 401 without a bearer token."""
    assert client.get("/api/items").status_code == 401
    assert client.post("/api/items", json={"title": "x"}).status_code == 401
