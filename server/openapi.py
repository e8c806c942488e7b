"""The OpenAPI 3.1 description of the server, served at ``GET /openapi.json``.

The document is static and lives here only: :data:`DESCRIPTION` holds every
route, and :data:`TESTING_PATHS` the ``/__test__/`` controls, which
:func:`describe` adds only when they are registered (``--testing``).
``tests/server/test_server_openapi.py`` keeps it true to the app and to the
route tables of the README and ``docs/server.md``; ``test_server_fuzz.py``
runs schemathesis against a live server with it.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from .page import LIBRARY_ARCHIVE, MPY_ARCHIVE
from .state import STAT_NAMES

bp = Blueprint("openapi", __name__)

JSON = "application/json"
Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    """A reference to ``#/components/schemas/<name>``."""
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: Schema) -> Schema:
    """A required JSON request body."""
    return {"required": True, "content": {JSON: {"schema": schema}}}


def _ok(description: str, schema: Schema | None = None, links: Schema | None = None) -> Schema:
    """A success answer, JSON when ``schema`` is given."""
    answer: Schema = {"description": description}
    if schema is not None:
        answer["content"] = {JSON: {"schema": schema}}
    if links:
        answer["links"] = links
    return answer


def _error(description: str, *codes: str, headers: Schema | None = None) -> Schema:
    """An error answer: ``{"error", "error_description"}`` with ``error`` one of ``codes``."""
    schema = {
        "allOf": [_ref("Error"), {"properties": {"error": {"enum": list(codes)}}}],
    }
    answer: Schema = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _header(description: str) -> Schema:
    """A required string response header."""
    return {"description": description, "required": True, "schema": {"type": "string"}}


FORM = "application/x-www-form-urlencoded"
HTML = "text/html"


def _form_body(schema: Schema) -> Schema:
    """A required form-encoded request body."""
    return {"required": True, "content": {FORM: {"schema": schema}}}


def _html(description: str) -> Schema:
    """An HTML answer."""
    return {"description": description, "content": {HTML: {"schema": {"type": "string"}}}}


def _query(name: str, description: str, required: bool = False) -> Schema:
    """A string query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string", "maxLength": 2048},
    }


REDIRECT_302 = {
    "description": "back to the client's redirect URI",
    "headers": {"Location": _header("the redirect URI with the answer in its query")},
}
AUTHORIZE_PARAMETERS = [
    _query("response_type", "`code`", required=True),
    _query("client_id", "`authfetch-demo`", required=True),
    _query("redirect_uri", "a registered redirect URI, exactly", required=True),
    _query("code_challenge", "PKCE: BASE64URL(SHA256(code_verifier)), 43 characters", True),
    _query("code_challenge_method", "`S256` (`plain` is refused)", required=True),
    _query("scope", "space-separated; `openid` for an ID token"),
    _query("state", "passed back unchanged"),
    _query("nonce", "put into the ID token"),
    _query("prompt", "`none` is answered `login_required`"),
    _query("response_mode", "`query` only"),
]
BAD_JSON = _error("not a JSON object, or fields missing or of the wrong type", "invalid_request")
DPOP_CODES = ("invalid_dpop_proof", "use_dpop_nonce")
NONCE_HEADER = {
    "DPoP-Nonce": {
        "description": "DPoP (RFC 9449 §8, §9): the nonce to put in the next proof's `nonce` "
        "claim; always with `use_dpop_nonce`, and on other answers to DPoP requests while "
        "nonces are required. The token endpoints and the API issue different nonces",
        "required": False,
        "schema": {"type": "string"},
    }
}
DPOP_PARAMETER = {
    "name": "DPoP",
    "in": "header",
    "required": False,
    "description": "A DPoP proof (RFC 9449): a JWT with header `typ: dpop+jwt`, an asymmetric "
    "`alg` and the public `jwk`; claims `jti`, `htm`, `htu`, `iat` (± 60 s of the server "
    "clock), `ath` at the API, `nonce` when required. At a token endpoint a valid proof "
    "binds the tokens to its key (`token_type: DPoP`); a bad one is `invalid_dpop_proof`",
    "schema": {"type": "string", "maxLength": 8192},
}
API_DPOP = (
    "A DPoP-bound access token (claim `cnf.jkt`, from a token request with a DPoP proof) goes "
    "as `Authorization: DPoP <token>` with a `DPoP` header: a proof (RFC 9449) of the same key "
    "for this request (`htm`, `htu`, `ath`, and `nonce` when required). An unbound token goes "
    "as `Bearer`; a `DPoP` header beside it is ignored. (The DPoP scheme is not listed under "
    "`security`: OpenAPI has no DPoP scheme.)"
)
TOKEN_ENDPOINT_DPOP = (
    "; a bad DPoP proof, or a bound refresh token without a proof of its key "
    "(`invalid_dpop_proof`); a proof without the current nonce (`use_dpop_nonce`, "
    "with `DPoP-Nonce`)"
)
TOO_LARGE = _error("body over 16 KiB", "request_too_large")
NOT_JSON = _error("body not declared application/json", "unsupported_media_type")
CHALLENGE = {
    "WWW-Authenticate": _header(
        'Bearer realm="authfetch", with error="invalid_token" when a token was sent; '
        'DPoP error="invalid_token" | "invalid_dpop_proof" | "use_dpop_nonce", '
        "error_description and algs for a DPoP-bound token or the DPoP scheme"
    ),
    **NONCE_HEADER,
}
BEARER_401 = _error(
    "no Bearer credentials (`unauthorized`), or a malformed, forged, expired or revoked token "
    "or a login that ended (`invalid_token`); a DPoP-bound token sent as Bearer or without a "
    "proof (`invalid_token`); a bad DPoP proof or one of another key (`invalid_dpop_proof`); "
    "a proof without the API's current nonce (`use_dpop_nonce`, with `DPoP-Nonce`)",
    "unauthorized",
    "invalid_token",
    *DPOP_CODES,
    headers=CHALLENGE,
)
FILE_404 = _error("no such file", "not_found")

# Links: login and refresh hand their tokens on (stateful testing follows them).
BEARER_FROM_BODY = "Bearer {$response.body#/access_token}"
NEXT_REFRESH_TOKEN = {"refresh_token": "$response.body#/refresh_token"}
TOKEN_LINKS: Schema = {
    "Refresh": {"operationId": "refresh", "requestBody": NEXT_REFRESH_TOKEN},
    "Logout": {"operationId": "logout", "requestBody": NEXT_REFRESH_TOKEN},
    "Me": {"operationId": "getMe", "parameters": {"header.Authorization": BEARER_FROM_BODY}},
    "ListItems": {
        "operationId": "listItems",
        "parameters": {"header.Authorization": BEARER_FROM_BODY},
    },
    "CreateItem": {
        "operationId": "createItem",
        "parameters": {"header.Authorization": BEARER_FROM_BODY},
    },
}
REPLAY_LINK: Schema = {  # the token just presented, again: grace re-issue or reuse detection
    "RefreshAgain": {
        "operationId": "refresh",
        "requestBody": {"refresh_token": "$request.body#/refresh_token"},
    }
}
SAME_BEARER = {"header.Authorization": "$request.header.Authorization"}

TOKENS_200 = (
    "tokens: `token_type` is `Bearer`, or `DPoP` when a valid DPoP proof came with the request "
    "(the access token then carries `cnf.jkt`); `expires_in` the access lifetime"
)


def _tokens_ok(links: Schema, schema: str = "Tokens", text: str = TOKENS_200) -> Schema:
    """A token answer (which may carry ``DPoP-Nonce``)."""
    answer = _ok(text, _ref(schema), links)
    answer["headers"] = copy.deepcopy(NONCE_HEADER)
    return answer


DESCRIPTION: Schema = {
    "openapi": "3.1.0",
    "info": {
        "title": "authfetch demo server",
        "version": "1.0.0",
        "description": "The token issuer (login, rotating refresh tokens, logout) and a small "
        "Bearer-protected API of the authfetch demo. Every error is "
        '`{"error", "error_description"}`. DPoP (RFC 9449): a `DPoP` proof header at a token '
        "endpoint binds the tokens to the proof's key; a bound access token goes to the API as "
        "`Authorization: DPoP <token>` with a proof. See docs/server.md.",
    },
    "paths": {
        "/auth/login": {
            "post": {
                "operationId": "login",
                "summary": "Open a session (a new token family) for a user",
                "parameters": [DPOP_PARAMETER],
                "requestBody": _json_body(_ref("Credentials")),
                "responses": {
                    "200": _tokens_ok(TOKEN_LINKS),
                    "400": _error(
                        "not a JSON object, or fields missing or of the wrong type "
                        f"(`invalid_request`){TOKEN_ENDPOINT_DPOP}",
                        "invalid_request",
                        *DPOP_CODES,
                        headers=NONCE_HEADER,
                    ),
                    "401": _error("unknown user or wrong password", "invalid_credentials"),
                    "413": TOO_LARGE,
                    "415": NOT_JSON,
                    "429": _error(
                        "too many login attempts from this address (LOGIN_RATE_LIMIT)",
                        "too_many_requests",
                        headers={"Retry-After": _header("seconds until the next attempt")},
                    ),
                },
            }
        },
        "/auth/refresh": {
            "post": {
                "operationId": "refresh",
                "summary": "Exchange a refresh token for new tokens (always a new refresh token)",
                "parameters": [DPOP_PARAMETER],
                "requestBody": _json_body(_ref("RefreshRequest")),
                "responses": {
                    "200": _tokens_ok({**TOKEN_LINKS, **REPLAY_LINK}),
                    "400": _error(
                        "no refresh_token string (`invalid_request`); unknown, expired, revoked "
                        f"or reused token (`invalid_grant`){TOKEN_ENDPOINT_DPOP}",
                        "invalid_request",
                        "invalid_grant",
                        *DPOP_CODES,
                        headers=NONCE_HEADER,
                    ),
                    "413": TOO_LARGE,
                    "415": NOT_JSON,
                },
            }
        },
        "/auth/logout": {
            "post": {
                "operationId": "logout",
                "summary": "Revoke the token family (login) of a refresh token",
                "requestBody": _json_body(_ref("RefreshRequest")),
                "responses": {
                    "204": {
                        "description": "revoked; also for an unknown or already revoked token",
                        "links": REPLAY_LINK,
                    },
                    "400": BAD_JSON,
                    "413": TOO_LARGE,
                    "415": NOT_JSON,
                },
            }
        },
        "/api/me": {
            "get": {
                "operationId": "getMe",
                "summary": "Who the access token speaks for, and when its session ends",
                "security": [{"bearer": []}],
                "description": API_DPOP,
                "responses": {"200": _ok("the principal", _ref("Me")), "401": BEARER_401},
            }
        },
        "/api/items": {
            "get": {
                "operationId": "listItems",
                "summary": "The user's items, oldest first",
                "security": [{"bearer": []}],
                "description": API_DPOP,
                "responses": {
                    "200": _ok("the items", {"type": "array", "items": _ref("Item")}),
                    "401": BEARER_401,
                },
            },
            "post": {
                "operationId": "createItem",
                "summary": "Create an item",
                "security": [{"bearer": []}],
                "description": API_DPOP,
                "requestBody": _json_body(_ref("NewItem")),
                "responses": {
                    "201": _ok(
                        "the new item",
                        _ref("Item"),
                        {"ListItems": {"operationId": "listItems", "parameters": SAME_BEARER}},
                    ),
                    "400": _error("no title of 1-200 characters", "invalid_request"),
                    "401": BEARER_401,
                    "413": TOO_LARGE,
                    "415": NOT_JSON,
                },
            },
        },
        "/.well-known/openid-configuration": {
            "get": {
                "operationId": "oidcDiscovery",
                "summary": "OpenID Connect Discovery 1.0: the provider's metadata",
                "responses": {"200": _ok("the metadata", _ref("ProviderMetadata"))},
            }
        },
        "/.well-known/oauth-authorization-server": {
            "get": {
                "operationId": "oauthDiscovery",
                "summary": "RFC 8414: the same metadata",
                "responses": {"200": _ok("the metadata", _ref("ProviderMetadata"))},
            }
        },
        "/oauth/authorize": {
            "get": {
                "operationId": "authorize",
                "summary": "Authorization request (code + PKCE S256): the sign-in page",
                "parameters": AUTHORIZE_PARAMETERS,
                "responses": {
                    "200": _html("the sign-in page (username, password, Sign in, Cancel)"),
                    "302": REDIRECT_302,
                    "400": _html("unknown client_id or unregistered redirect_uri: an error page"),
                },
            },
            "post": {
                "operationId": "signIn",
                "summary": "The sign-in form: sign in, or cancel (`cancel`)",
                "requestBody": _form_body(_ref("SignInForm")),
                "responses": {
                    "302": REDIRECT_302,
                    "400": _html("unknown client_id or unregistered redirect_uri: an error page"),
                    "401": _html("wrong username or password: the sign-in page again"),
                    "413": TOO_LARGE,
                    "429": _error(
                        "too many login attempts from this address (LOGIN_RATE_LIMIT)",
                        "too_many_requests",
                        headers={"Retry-After": _header("seconds until the next attempt")},
                    ),
                },
            },
        },
        "/oauth/token": {
            "post": {
                "operationId": "oauthToken",
                "summary": "Token endpoint: `authorization_code` (PKCE) and `refresh_token` grants",
                "parameters": [DPOP_PARAMETER],
                "requestBody": _form_body(_ref("TokenRequest")),
                "responses": {
                    "200": _tokens_ok(
                        {},
                        "OAuthTokens",
                        "tokens (`Cache-Control: no-store`); `token_type` `DPoP` with a valid "
                        "DPoP proof",
                    ),
                    "400": _error(
                        "not form-encoded, missing or repeated parameters (`invalid_request`); "
                        "a bad, used, expired code, PKCE mismatch, a dead refresh token "
                        "(`invalid_grant`); another grant type (`unsupported_grant_type`)"
                        f"{TOKEN_ENDPOINT_DPOP}",
                        "invalid_request",
                        "invalid_grant",
                        "unsupported_grant_type",
                        *DPOP_CODES,
                        headers=NONCE_HEADER,
                    ),
                    "401": _error("unknown client_id", "invalid_client"),
                    "413": TOO_LARGE,
                },
            }
        },
        "/oauth/revoke": {
            "post": {
                "operationId": "oauthRevoke",
                "summary": "RFC 7009: revoke a refresh token's sign-in (token family)",
                "requestBody": _form_body(_ref("RevokeRequest")),
                "responses": {
                    "200": {"description": "revoked, or an unknown token: nothing to do"},
                    "400": _error("not form-encoded, or no token", "invalid_request"),
                    "401": _error("unknown client_id", "invalid_client"),
                    "413": TOO_LARGE,
                },
            }
        },
        "/oauth/jwks": {
            "get": {
                "operationId": "oauthJwks",
                "summary": "The public key of the ID tokens (JWK Set)",
                "responses": {"200": _ok("the JWK Set", _ref("JwkSet"))},
            }
        },
        "/oauth/end-session": {
            "get": {
                "operationId": "endSession",
                "summary": "RP-Initiated Logout 1.0",
                "parameters": [
                    _query("id_token_hint", "an ID token of this provider (may be expired)"),
                    _query("client_id", "`authfetch-demo`"),
                    _query("post_logout_redirect_uri", "a registered post-logout redirect URI"),
                    _query("state", "passed back"),
                ],
                "responses": {
                    "200": _html("You are signed out"),
                    "302": {
                        "description": "to post_logout_redirect_uri (with state)",
                        "headers": {"Location": _header("the post-logout redirect URI")},
                    },
                    "400": _html("a bad id_token_hint, client_id or post_logout_redirect_uri"),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This description",
                "responses": {"200": _ok("the OpenAPI 3.1 document", {"type": "object"})},
            }
        },
        "/": {
            "get": {
                "operationId": "getPage",
                "summary": "The demo page (Pyodide; `?interpreter=mpy` for MicroPython)",
                "responses": {"200": {"description": "HTML, under the page's CSP"}},
            }
        },
        "/{stem}.toml": {
            "get": {
                "operationId": "getPyscriptConfig",
                "summary": "A PyScript configuration of the demo page "
                "(`pyscript` for Pyodide, `pyscript-mpy` for MicroPython)",
                "parameters": [
                    {"name": "stem", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "TOML"}, "404": FILE_404},
            }
        },
        f"/{LIBRARY_ARCHIVE}": {
            "get": {
                "operationId": "getLibraryArchive",
                "summary": "The authfetch package as one gzipped tar (built by the set-up)",
                "responses": {"200": {"description": "application/gzip"}, "404": FILE_404},
            }
        },
        f"/{MPY_ARCHIVE}": {
            "get": {
                "operationId": "getMicroPythonArchive",
                "summary": "The same package compiled for MicroPython (.mpy), one gzipped tar",
                "responses": {"200": {"description": "application/gzip"}, "404": FILE_404},
            }
        },
        "/authfetch-start.js": {
            "get": {
                "operationId": "getStartWatch",
                "summary": "The library's start-up watch: a page that cannot start says why",
                "responses": {"200": {"description": "text/javascript"}, "404": FILE_404},
            }
        },
        **{
            f"/{folder}/{{name}}": {
                "get": {
                    "operationId": operation_id,
                    "summary": summary,
                    "parameters": [
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": {"description": "the file"}, "404": FILE_404},
                }
            }
            for folder, operation_id, summary in (
                ("py", "getPagePython", "The page's Python and the library's sources"),
                ("static", "getStatic", "The page's CSS, JavaScript and images"),
                ("vendor", "getVendored", "Pinned PyScript, Pyodide, MicroPython and wheels"),
            )
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "error_description"],
                "additionalProperties": False,
                "properties": {
                    "error": {"type": "string"},
                    "error_description": {"type": "string"},
                },
            },
            "Credentials": {
                "type": "object",
                "required": ["username", "password"],
                "properties": {
                    "username": {"type": "string", "minLength": 1, "maxLength": 1024},
                    "password": {"type": "string", "minLength": 1, "maxLength": 1024},
                },
                "examples": [{"username": "demo", "password": "demo-pass"}],
            },
            "RefreshRequest": {
                "type": "object",
                "required": ["refresh_token"],
                "properties": {
                    "refresh_token": {"type": "string", "minLength": 1, "maxLength": 1024}
                },
            },
            "Tokens": {
                "type": "object",
                "required": ["access_token", "refresh_token", "token_type", "expires_in"],
                "additionalProperties": False,
                "properties": {
                    "access_token": {"type": "string"},
                    "refresh_token": {"type": "string"},
                    "token_type": {"enum": ["Bearer", "DPoP"]},
                    "expires_in": {"type": "integer", "minimum": 1},
                },
            },
            "ProviderMetadata": {
                "type": "object",
                "required": [
                    "issuer",
                    "authorization_endpoint",
                    "token_endpoint",
                    "revocation_endpoint",
                    "end_session_endpoint",
                    "jwks_uri",
                    "response_types_supported",
                    "grant_types_supported",
                    "code_challenge_methods_supported",
                    "token_endpoint_auth_methods_supported",
                    "scopes_supported",
                    "id_token_signing_alg_values_supported",
                    "subject_types_supported",
                ],
                "properties": {
                    "issuer": {"type": "string"},
                    "authorization_endpoint": {"type": "string"},
                    "token_endpoint": {"type": "string"},
                    "revocation_endpoint": {"type": "string"},
                    "end_session_endpoint": {"type": "string"},
                    "jwks_uri": {"type": "string"},
                    "response_types_supported": {"const": ["code"]},
                    "grant_types_supported": {"type": "array", "items": {"type": "string"}},
                    "code_challenge_methods_supported": {"const": ["S256"]},
                    "token_endpoint_auth_methods_supported": {"const": ["none"]},
                    "scopes_supported": {"type": "array", "items": {"type": "string"}},
                    "id_token_signing_alg_values_supported": {"const": ["RS256"]},
                    "subject_types_supported": {"const": ["public"]},
                    "dpop_signing_alg_values_supported": {
                        "type": "array",
                        "items": {"type": "string"},
                    },
                },
            },
            "SignInForm": {
                "type": "object",
                "required": ["client_id", "redirect_uri"],
                "properties": {
                    "response_type": {"type": "string"},
                    "client_id": {"type": "string"},
                    "redirect_uri": {"type": "string"},
                    "scope": {"type": "string"},
                    "state": {"type": "string"},
                    "nonce": {"type": "string"},
                    "code_challenge": {"type": "string"},
                    "code_challenge_method": {"type": "string"},
                    "username": {"type": "string"},
                    "password": {"type": "string"},
                    "cancel": {"type": "string"},
                },
            },
            "TokenRequest": {
                "type": "object",
                "required": ["grant_type", "client_id"],
                "properties": {
                    "grant_type": {"enum": ["authorization_code", "refresh_token"]},
                    "client_id": {"type": "string", "maxLength": 2048},
                    "code": {"type": "string", "maxLength": 2048},
                    "redirect_uri": {"type": "string", "maxLength": 2048},
                    "code_verifier": {"type": "string", "maxLength": 2048},
                    "refresh_token": {"type": "string", "maxLength": 2048},
                },
            },
            "RevokeRequest": {
                "type": "object",
                "required": ["token", "client_id"],
                "properties": {
                    "token": {"type": "string", "minLength": 1, "maxLength": 2048},
                    "token_type_hint": {"type": "string", "maxLength": 2048},
                    "client_id": {"type": "string", "maxLength": 2048},
                },
            },
            "OAuthTokens": {
                "type": "object",
                "required": ["access_token", "refresh_token", "token_type", "expires_in"],
                "additionalProperties": False,
                "properties": {
                    "access_token": {"type": "string"},
                    "refresh_token": {"type": "string"},
                    "token_type": {"enum": ["Bearer", "DPoP"]},
                    "expires_in": {"type": "integer", "minimum": 1},
                    "scope": {"type": "string"},
                    "id_token": {"type": "string"},
                },
            },
            "JwkSet": {
                "type": "object",
                "required": ["keys"],
                "properties": {
                    "keys": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["kty", "kid", "n", "e"],
                            "properties": {
                                "kty": {"const": "RSA"},
                                "kid": {"type": "string"},
                                "n": {"type": "string"},
                                "e": {"type": "string"},
                                "use": {"const": "sig"},
                                "alg": {"const": "RS256"},
                            },
                        },
                    }
                },
            },
            "Me": {
                "type": "object",
                "required": [
                    "username",
                    "family",
                    "expires_at",
                    "session_expires_at",
                    "idle_timeout",
                ],
                "additionalProperties": False,
                "properties": {
                    "username": {"type": "string"},
                    "family": {"type": "string"},
                    "expires_at": {"type": "number"},
                    "session_expires_at": {"type": "number"},
                    "idle_timeout": {"type": "number"},
                },
            },
            "NewItem": {
                "type": "object",
                "required": ["title"],
                "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 200}},
            },
            "Item": {
                "type": "object",
                "required": ["id", "title", "created_at"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "integer"},
                    "title": {"type": "string"},
                    "created_at": {"type": "number"},
                },
            },
        },
        # Errors any route may answer, and those waitress answers before the app runs.
        "responses": {
            "NotFound": _error("no such route", "not_found"),
            "MethodNotAllowed": _error(
                "the route exists, the method does not",
                "method_not_allowed",
                headers={"Allow": _header("the route's methods")},
            ),
            "ServerError": _error("a bug; logged, no details in the answer", "server_error"),
            "WaitressBadRequest": _error(
                "(waitress) invalid Content-Length, chunk framing, request or header line",
                "invalid_request",
            ),
            "WaitressHeadersTooLarge": _error(
                "(waitress) request line and headers of 256 KiB or more",
                "request_header_fields_too_large",
            ),
            "WaitressNotImplemented": _error(
                "(waitress) a Transfer-Encoding other than chunked", "not_implemented"
            ),
        },
    },
}

INJECTED = _error(
    "(--testing) an armed fault's status, nothing rotated", "injected_fault"
)  # any 400-599
FAULT_RANGES = {"4XX": INJECTED, "5XX": INJECTED}

TESTING_PATHS: Schema = {
    "/__test__/stats": {
        "get": {
            "operationId": "testStats",
            "summary": "The counters",
            "responses": {"200": _ok("counters", _ref("Stats"))},
        }
    },
    "/__test__/reset": {
        "post": {
            "operationId": "testReset",
            "summary": "Zero the counters, drop every session and item, disarm faults, "
            "real time, forget login rate-limit hits, DPoP switches back to the command line's",
            "responses": {
                "200": _ok(
                    "done",
                    {"type": "object", "properties": {"reset": {"const": True}}},
                )
            },
        }
    },
    "/__test__/clock": {
        "get": {
            "operationId": "testReadClock",
            "summary": "The server clock's offset and time",
            "responses": {"200": _ok("the clock", _ref("Clock"))},
        },
        "post": {
            "operationId": "testAdvanceClock",
            "summary": "Move the server clock forward",
            "requestBody": _json_body(
                {
                    "type": "object",
                    "required": ["advance"],
                    "properties": {"advance": {"type": "number", "minimum": 0}},
                }
            ),
            "responses": {
                "200": _ok("the clock", _ref("Clock")),
                "400": BAD_JSON,
                "413": TOO_LARGE,
                "415": NOT_JSON,
            },
        },
    },
    "/__test__/dpop": {
        "get": {
            "operationId": "testReadDpop",
            "summary": "DPoP's switches",
            "responses": {"200": _ok("the switches", _ref("DpopSwitches"))},
        },
        "post": {
            "operationId": "testSetDpop",
            "summary": "Flip DPoP's switches: require nonces, a new nonce with every answer "
            "(none ever accepted), refuse every proof",
            "requestBody": _json_body(
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "require_nonce": {"type": "boolean"},
                        "rotate_every_answer": {"type": "boolean"},
                        "refuse_proofs": {"type": "boolean"},
                    },
                }
            ),
            "responses": {
                "200": _ok("the switches now", _ref("DpopSwitches")),
                "400": BAD_JSON,
                "413": TOO_LARGE,
                "415": NOT_JSON,
            },
        },
    },
    "/__test__/faults": {
        "get": {
            "operationId": "testReadFaults",
            "summary": "The armed fault",
            "responses": {"200": _ok("the armed fault", _ref("Fault"))},
        },
        "post": {
            "operationId": "testArmFaults",
            "summary": "Make the next `count` refresh calls fail, wait or lose their answer; "
            "or give the next `count` code exchanges' ID tokens another nonce",
            "requestBody": _json_body(
                {"oneOf": [_ref("ArmFault"), _ref("ArmNonce")]},
            ),
            "responses": {
                "200": _ok(
                    "the armed fault (or nonce)",
                    {"oneOf": [_ref("Fault"), _ref("ArmedNonce")]},
                ),
                "400": BAD_JSON,
                "413": TOO_LARGE,
                "415": NOT_JSON,
            },
        },
    },
}

TESTING_SCHEMAS: Schema = {
    "Stats": {
        "type": "object",
        "additionalProperties": False,
        "required": list(STAT_NAMES),
        "properties": {name: {"type": "integer", "minimum": 0} for name in STAT_NAMES},
    },
    "DpopSwitches": {
        "type": "object",
        "additionalProperties": False,
        "required": ["require_nonce", "rotate_every_answer", "refuse_proofs"],
        "properties": {
            "require_nonce": {"type": "boolean"},
            "rotate_every_answer": {"type": "boolean"},
            "refuse_proofs": {"type": "boolean"},
        },
    },
    "Clock": {
        "type": "object",
        "required": ["offset", "now"],
        "properties": {"offset": {"type": "number"}, "now": {"type": "number"}},
    },
    "ArmFault": {
        "type": "object",
        "not": {"required": ["id_token_nonce"]},
        "required": ["count"],
        "properties": {
            "count": {"type": "integer", "minimum": 0},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "delay_ms": {"type": "integer", "minimum": 0, "maximum": 60000},
            "drop_after_commit": {"type": "boolean"},
        },
    },
    "ArmNonce": {
        "type": "object",
        "required": ["id_token_nonce", "count"],
        "additionalProperties": False,
        "properties": {
            "id_token_nonce": {"type": "string", "minLength": 1, "maxLength": 2048},
            "count": {"type": "integer", "minimum": 0},
        },
    },
    "ArmedNonce": {
        "type": "object",
        "required": ["id_token_nonce", "count"],
        "additionalProperties": False,
        "properties": {
            "id_token_nonce": {"type": ["string", "null"]},
            "count": {"type": "integer", "minimum": 0},
        },
    },
    "Fault": {
        "type": "object",
        "additionalProperties": False,
        "required": ["count", "status", "delay_ms", "drop_after_commit"],
        "properties": {
            "count": {"type": "integer", "minimum": 0},
            "status": {"type": ["integer", "null"]},
            "delay_ms": {"type": "integer"},
            "drop_after_commit": {"type": "boolean"},
        },
    },
}


def describe(testing: bool) -> Schema:
    """The description; the ``/__test__/`` routes (and refresh's injected faults) if ``testing``."""
    document = copy.deepcopy(DESCRIPTION)
    if testing:
        document["paths"].update(copy.deepcopy(TESTING_PATHS))
        document["components"]["schemas"].update(copy.deepcopy(TESTING_SCHEMAS))
        for path in ("/auth/refresh", "/oauth/token"):  # the refresh calls faults apply to
            refresh_answers = document["paths"][path]["post"]["responses"]
            for status, answer in refresh_answers.items():
                if status >= "400":  # an armed fault may answer any 400-599, these included
                    schema = answer["content"][JSON]["schema"]
                    schema["allOf"][1]["properties"]["error"]["enum"].append("injected_fault")
            refresh_answers.update(copy.deepcopy(FAULT_RANGES))
    return document


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """This server's OpenAPI 3.1 description."""
    return jsonify(describe(bool(current_app.config["TESTING_ROUTES"])))
