"""A small OAuth 2.0 / OpenID Connect provider beside the JSON dialect.

Routes (see docs/server.md, "The OAuth 2.0 / OpenID Connect provider"):

* ``GET /.well-known/openid-configuration`` and ``/.well-known/oauth-authorization-server``
  — discovery; the issuer is the origin the request came to;
* ``GET /oauth/authorize`` — checks the authorization request (code + PKCE S256,
  exact redirect URI) and shows the sign-in page; ``POST`` signs in (or cancels)
  and redirects back with ``code``, ``state`` and ``iss``;
* ``POST /oauth/token`` — ``authorization_code`` and ``refresh_token`` grants,
  form-encoded; the refresh is the JSON dialect's (:func:`auth.rotate_counted`);
* ``POST /oauth/revoke`` — RFC 7009; ``GET /oauth/jwks``; ``GET /oauth/end-session``.

One public client is registered (``OIDC_CLIENT_ID``); its redirect URIs are
``REDIRECT_URIS`` (and, after logout, those plus ``POST_LOGOUT_REDIRECT_URIS``),
each ``/path`` resolved against the issuer. Access tokens are the JSON dialect's
JWTs, so ``/api/*`` accepts them; refresh tokens are its rotating tokens.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.datastructures import MultiDict

from . import codes, dpop
from .auth import (
    check_credentials,
    refresh_policy,
    refresh_proof,
    revoke_counted,
    rotate_counted,
)
from .db import get_db
from .errors import json_error
from .idtokens import issue_id_token, jwks, verify_id_token_hint
from .ratelimit import LOGIN_LIMITED, LOGIN_SCOPE, limiter, login_limit
from .sessions import Grant, InvalidGrant
from .state import get_state
from .tokens import issue_access_token

bp = Blueprint("oidc", __name__)

FORM = "application/x-www-form-urlencoded"
SUPPORTED_SCOPES = ("openid", "offline_access")
MAX_PARAM_CHARS = 2048
CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256, no padding
VERIFIER_RE = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 §4.1
#: The authorization request's parameters that travel through the sign-in page.
CARRIED = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)
NO_STORE_ENDPOINTS = {"oidc.authorize", "oidc.sign_in", "oidc.token", "oidc.revoke"}
OPEN_CORS_ENDPOINTS = {"oidc.discovery", "oidc.jwks"}


class OAuthError(Exception):
    """A JSON error answer of the token or revocation endpoint (RFC 6749 §5.2)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        """Keep the status, the error code and the text."""
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


class PageError(Exception):
    """An authorization or logout request that cannot be sent back: an HTML 400 page."""


class RedirectError(Exception):
    """An authorization request refused back at its (registered) redirect URI."""

    def __init__(self, error: str, description: str, redirect_uri: str, state: str | None):
        """Where to send the error, and the state to pass back."""
        super().__init__(description)
        self.error, self.description = error, description
        self.redirect_uri, self.state = redirect_uri, state


@dataclass(frozen=True)
class AuthRequest:
    """A checked authorization request."""

    client_id: str
    redirect_uri: str
    state: str | None
    nonce: str | None
    scope: str
    code_challenge: str

    def carried(self) -> dict[str, str]:
        """The parameters the sign-in page posts back (hidden fields)."""
        fields = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
        }
        if self.state is not None:
            fields["state"] = self.state
        if self.nonce is not None:
            fields["nonce"] = self.nonce
        return fields


# -- the issuer, the client and its URIs -------------------------------------------------------


def issuer() -> str:
    """This provider's issuer: the origin the request came to (no trailing slash)."""
    return request.host_url.rstrip("/")


def _resolve(uri: str) -> str:
    """A registered URI as an absolute one: ``/path`` is on the issuer's origin."""
    return issuer() + uri if uri.startswith("/") else uri


def client_id() -> str:
    """The registered client's id."""
    registered: str = current_app.config["OIDC_CLIENT_ID"]
    return registered


def redirect_uris() -> list[str]:
    """The client's registered redirect URIs (exact strings)."""
    return [_resolve(uri) for uri in current_app.config["REDIRECT_URIS"]]


def post_logout_redirect_uris() -> list[str]:
    """Where end-session may send the browser: the redirect URIs and the post-logout ones."""
    extra = [_resolve(uri) for uri in current_app.config["POST_LOGOUT_REDIRECT_URIS"]]
    return [*redirect_uris(), *extra]


def _with_query(uri: str, params: Mapping[str, str | None]) -> str:
    """``uri`` with ``params`` (those not None) appended to its query."""
    query = urlencode({name: value for name, value in params.items() if value is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def _redirect(location: str) -> Response:
    """A 302 to ``location``."""
    return Response(status=302, headers={"Location": location})


def _single(params: MultiDict[str, str], name: str) -> str | None:
    """The one value of ``name`` (None if absent); a repeated or oversized one is refused."""
    values = params.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise ValueError(f"{name} given more than once")
    if len(values[0]) > MAX_PARAM_CHARS:
        raise ValueError(f"{name} longer than {MAX_PARAM_CHARS} characters")
    return values[0]


# -- discovery and keys --------------------------------------------------------------------------


@bp.after_request
def _headers(response: Response) -> Response:
    """No caching of codes, tokens and sign-in pages; discovery and keys open to every origin."""
    if request.endpoint in NO_STORE_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    if request.endpoint in OPEN_CORS_ENDPOINTS:
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/openid-configuration", endpoint="discovery")
@bp.get("/.well-known/oauth-authorization-server", endpoint="discovery")
def discovery() -> Response:
    """The provider's metadata (OpenID Connect Discovery 1.0, RFC 8414)."""
    base = issuer()
    return jsonify(
        issuer=base,
        authorization_endpoint=f"{base}/oauth/authorize",
        token_endpoint=f"{base}/oauth/token",
        revocation_endpoint=f"{base}/oauth/revoke",
        end_session_endpoint=f"{base}/oauth/end-session",
        jwks_uri=f"{base}/oauth/jwks",
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=["authorization_code", "refresh_token"],
        code_challenge_methods_supported=["S256"],
        token_endpoint_auth_methods_supported=["none"],
        revocation_endpoint_auth_methods_supported=["none"],
        scopes_supported=list(SUPPORTED_SCOPES),
        id_token_signing_alg_values_supported=["RS256"],
        subject_types_supported=["public"],
        claims_supported=["iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "sid"],
        authorization_response_iss_parameter_supported=True,
        dpop_signing_alg_values_supported=list(dpop.ALGORITHMS),
    )


@bp.get("/oauth/jwks", endpoint="jwks")
def jwks_view() -> Response:
    """The public key that signs ID tokens (JWK Set)."""
    return jsonify(jwks(get_state().signing_key))


# -- authorization endpoint ------------------------------------------------------------------


def check_authorization_request(params: MultiDict[str, str]) -> AuthRequest:
    """The checked request; :class:`PageError` or :class:`RedirectError` otherwise.

    Without a known ``client_id`` and a registered ``redirect_uri`` nothing may
    be sent back (RFC 6749 §4.1.2.1): those are a :class:`PageError`.
    """
    try:
        asked_client, redirect_uri = _single(params, "client_id"), _single(params, "redirect_uri")
    except ValueError as bad:
        raise PageError(str(bad)) from None
    if asked_client is None:
        raise PageError("client_id is missing")
    if asked_client != client_id():
        raise PageError(f"unknown client_id {asked_client!r}")
    if redirect_uri is None:
        raise PageError("redirect_uri is missing")
    if redirect_uri not in redirect_uris():
        raise PageError(f"redirect_uri {redirect_uri!r} is not registered for this client")
    try:
        state = _single(params, "state")
    except ValueError as bad:
        raise RedirectError("invalid_request", str(bad), redirect_uri, None) from None

    def refuse(error: str, description: str) -> RedirectError:
        return RedirectError(error, description, redirect_uri, state)

    try:
        values = {name: _single(params, name) for name in (*CARRIED, "prompt", "response_mode")}
    except ValueError as bad:
        raise refuse("invalid_request", str(bad)) from None
    response_type = values["response_type"]
    if response_type is None:
        raise refuse("invalid_request", "response_type is missing")
    if response_type != "code":
        raise refuse("unsupported_response_type", "only response_type=code is supported")
    if values["response_mode"] not in (None, "query"):
        raise refuse("invalid_request", "only response_mode=query is supported")
    method, challenge = values["code_challenge_method"], values["code_challenge"]
    if method is None or challenge is None:
        raise refuse("invalid_request", "PKCE required: code_challenge and code_challenge_method")
    if method != "S256":
        raise refuse("invalid_request", f"code_challenge_method must be S256, not {method!r}")
    if not CHALLENGE_RE.fullmatch(challenge):
        raise refuse("invalid_request", "code_challenge must be 43 base64url characters")
    if "none" in (values["prompt"] or "").split():
        raise refuse("login_required", "prompt=none: the user must sign in")
    requested = (values["scope"] or "").split()
    scope = " ".join(name for name in SUPPORTED_SCOPES if name in requested)
    return AuthRequest(asked_client, redirect_uri, state, values["nonce"], scope, challenge)


def _redirect_error(refused: RedirectError) -> Response:
    """Send the error back to the client (RFC 6749 §4.1.2.1, RFC 9207 ``iss``)."""
    params = {
        "error": refused.error,
        "error_description": refused.description,
        "state": refused.state,
        "iss": issuer(),
    }
    return _redirect(_with_query(refused.redirect_uri, params))


@bp.get("/oauth/authorize")
def authorize() -> Response:
    """Check the authorization request, then show the sign-in page."""
    try:
        checked = check_authorization_request(request.args)
    except PageError as refused:
        return _page("Sign-in request refused", _error_body(str(refused)), 400)
    except RedirectError as refused:
        return _redirect_error(refused)
    return _sign_in_page(checked, None, 200)


@bp.post("/oauth/authorize")
@limiter.shared_limit(login_limit, LOGIN_SCOPE, methods=["POST"], error_message=LOGIN_LIMITED)
def sign_in() -> Response:
    """The sign-in form: cancel, a wrong password (the page again, 401), or back with a code."""
    form = request.form if request.mimetype == FORM else MultiDict()
    try:
        checked = check_authorization_request(form)
    except PageError as refused:
        return _page("Sign-in request refused", _error_body(str(refused)), 400)
    except RedirectError as refused:
        return _redirect_error(refused)
    if "cancel" in form:
        denied = RedirectError(
            "access_denied", "the user cancelled the sign-in", checked.redirect_uri, checked.state
        )
        return _redirect_error(denied)
    username, password = form.get("username", ""), form.get("password", "")
    user_id = None
    if 0 < len(username) <= MAX_PARAM_CHARS and 0 < len(password) <= MAX_PARAM_CHARS:
        user_id = check_credentials(username, password)
    if user_id is None:
        return _sign_in_page(checked, "Wrong username or password.", 401, username)
    state = get_state()
    now = state.clock.now()
    bound = codes.CodeRequest(
        checked.client_id,
        checked.redirect_uri,
        checked.code_challenge,
        checked.nonce,
        checked.scope,
        user_id,
        now,
    )
    code = codes.issue(get_db(), bound, now, float(current_app.config["CODE_TTL"]))
    state.stats.incr("login")
    answer = {"code": code, "state": checked.state, "iss": issuer()}
    return _redirect(_with_query(checked.redirect_uri, answer))


# -- HTML ------------------------------------------------------------------------------------

STYLE = """
body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;margin:0;display:flex;
justify-content:center}main{background:#fff;margin:4rem 1rem;padding:2rem;border-radius:8px;
box-shadow:0 1px 4px #0002;max-width:22rem;width:100%}label{display:block;margin:.8rem 0 .2rem}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;
font:inherit}.buttons{display:flex;gap:.5rem;margin-top:1.2rem}button{padding:.5rem 1rem;
font:inherit}.error{color:#a40000;background:#fdecea;padding:.5rem;border-radius:4px}
.muted{color:#555;font-size:.9rem}
"""


def _page(title: str, body: str, status: int) -> Response:
    """A small HTML page under the server's page CSP."""
    document = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>\n"
    )
    response = Response(document, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = current_app.config["PAGE_CSP"]
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _error_body(message: str) -> str:
    """The body of an error page."""
    return f'<p class="error" role="alert">{html.escape(message)}</p>'


def _sign_in_page(
    checked: AuthRequest, error: str | None, status: int, username: str = ""
) -> Response:
    """The sign-in form, with the authorization request in hidden fields."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in checked.carried().items()
    )
    alert = _error_body(error) if error else ""
    body = (
        f'<p class="muted">to continue to <b>{html.escape(checked.client_id)}</b></p>{alert}'
        f'<form method="post" action="/oauth/authorize">{hidden}'
        '<label for="username">Username</label>'
        '<input type="text" id="username" name="username" autocomplete="username" required '
        f'autofocus value="{html.escape(username)}">'
        '<label for="password">Password</label>'
        '<input type="password" id="password" name="password" '
        'autocomplete="current-password" required>'
        '<div class="buttons"><button type="submit" name="sign_in" value="1">Sign in</button>'
        '<button type="submit" name="cancel" value="1" formnovalidate>Cancel</button></div>'
        "</form>"
    )
    return _page("Sign in", body, status)


# -- token endpoint --------------------------------------------------------------------------


@bp.errorhandler(OAuthError)
def _oauth_error(refused: OAuthError) -> Response:
    """An RFC 6749 §5.2 error: JSON ``{"error", "error_description"}``."""
    return json_error(refused.status, refused.error, refused.description)


def _form() -> MultiDict[str, str]:
    """The form-encoded body; anything else is ``invalid_request``."""
    if request.mimetype != FORM:
        raise OAuthError(400, "invalid_request", f"send the body as {FORM}")
    return request.form


def _param(params: MultiDict[str, str], name: str, required: bool = True) -> str | None:
    """A single form parameter; missing (when required), repeated or oversized: refused."""
    try:
        value = _single(params, name)
    except ValueError as bad:
        raise OAuthError(400, "invalid_request", str(bad)) from None
    if required and not value:
        raise OAuthError(400, "invalid_request", f"{name} is missing")
    return value


def _check_client(params: MultiDict[str, str]) -> str:
    """The request's ``client_id``: missing → ``invalid_request``, unknown → ``invalid_client``."""
    asked = _param(params, "client_id")
    assert asked is not None
    if asked != client_id():
        raise OAuthError(401, "invalid_client", f"unknown client_id {asked!r}")
    return asked


def _tokens(
    grant: Grant,
    scope: str | None,
    id_claims: dict[str, Any] | None,
    proof: dpop.Proof | None,
) -> Response:
    """The token answer: the JSON dialect's tokens, plus ``scope`` and ``id_token``;
    ``token_type`` ``DPoP`` and an access token bound to the proof's key with a proof."""
    state = get_state()
    policy = state.access
    jkt = None if proof is None else proof.jkt
    body: dict[str, Any] = {
        "access_token": issue_access_token(
            policy, str(grant.user_id), grant.family_id, grant.issued_at, jkt
        ),
        "token_type": "Bearer" if jkt is None else "DPoP",
        "expires_in": policy.ttl,
        "refresh_token": grant.refresh_token,
    }
    if scope is not None:
        body["scope"] = scope
    if id_claims is not None:
        body["id_token"] = issue_id_token(state.signing_key, id_claims)
    return jsonify(body)


def _id_claims(
    username: str, audience: str, family: str, auth_time: float, now: float, nonce: str | None
) -> dict[str, Any]:
    """The claims of an ID token (OIDC Core §2)."""
    issued = int(now)
    claims: dict[str, Any] = {
        "iss": issuer(),
        "sub": username,
        "aud": audience,
        "azp": audience,
        "iat": issued,
        "exp": issued + int(current_app.config["ID_TOKEN_TTL"]),
        "auth_time": int(auth_time),
        "sid": family,
    }
    if nonce is not None:
        claims["nonce"] = nonce
    return claims


@bp.post("/oauth/token")
def token() -> Response:
    """Exchange a code (with its PKCE verifier) or a refresh token for tokens."""
    params = _form()
    grant_type = _param(params, "grant_type")
    if grant_type == "authorization_code":
        return _code_grant(params)
    if grant_type == "refresh_token":
        try:
            return _refresh_grant(params)
        except OAuthError as refused:
            if refused.error != "invalid_grant":  # rotate_counted counted those
                get_state().stats.incr("refresh_failed")  # as /auth/refresh counts refusals
            raise
    raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")


def _code_grant(params: MultiDict[str, str]) -> Response:
    """``grant_type=authorization_code`` (RFC 6749 §4.1.3, RFC 7636 §4.5)."""
    code = _param(params, "code")
    redirect_uri = _param(params, "redirect_uri")
    verifier = _param(params, "code_verifier")
    asked_client = _check_client(params)
    assert code is not None and redirect_uri is not None and verifier is not None
    if not VERIFIER_RE.fullmatch(verifier):
        raise OAuthError(
            400, "invalid_request", "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]"
        )
    proof = dpop.check_request(dpop.TOKEN)  # before the code is spent
    state = get_state()
    try:
        done = codes.exchange(
            get_db(),
            code,
            client_id=asked_client,
            redirect_uri=redirect_uri,
            verifier=verifier,
            clock=state.clock.now,
            policy=refresh_policy(),
            jkt=None if proof is None else proof.jkt,
        )
    except InvalidGrant as refused:
        raise OAuthError(400, "invalid_grant", refused.description) from None
    state.stats.incr("code_exchanged")
    grant = done.grant
    id_claims = None
    if "openid" in done.scope.split():
        id_claims = _id_claims(done.username, done.client_id, grant.family_id, done.auth_time,
                               grant.issued_at, done.nonce)  # fmt: skip
    return _tokens(grant, done.scope, id_claims, proof)


def _refresh_grant(params: MultiDict[str, str]) -> Response:
    """``grant_type=refresh_token`` (RFC 6749 §6): the JSON dialect's rotation, same rules."""
    presented = _param(params, "refresh_token")
    asked_client = _check_client(params)
    assert presented is not None
    proof = refresh_proof(presented)  # a bound token: its key's proof, before any rotation
    conn = get_db()
    try:
        grant = rotate_counted(presented)
    except InvalidGrant as refused:
        raise OAuthError(400, "invalid_grant", refused.description) from None
    session = codes.oidc_session(conn, grant.family_id)
    if session is None:  # a JSON-dialect login: no scope, no ID token
        return _tokens(grant, None, None, proof)
    id_claims = None
    if "openid" in session.scope.split():
        id_claims = _id_claims(session.username, asked_client, grant.family_id,
                               session.auth_time, grant.issued_at, None)  # fmt: skip
    return _tokens(grant, session.scope, id_claims, proof)


# -- revocation and logout -------------------------------------------------------------------


@bp.post("/oauth/revoke")
def revoke() -> Response:
    """RFC 7009: revoke a refresh token's whole sign-in; 200 for unknown tokens too."""
    params = _form()
    presented = _param(params, "token")
    _param(params, "token_type_hint", required=False)
    _check_client(params)
    assert presented is not None
    revoke_counted(presented, "revoked at /oauth/revoke")
    return Response(status=200)


@bp.get("/oauth/end-session")
def end_session() -> Response:
    """RP-Initiated Logout 1.0: back to a registered post-logout URI, or a signed-out page.

    This provider keeps no browser session of its own (no cookie), so there is
    nothing more to end here: the client revokes its refresh token first.
    """
    try:
        target = _post_logout_target(request.args)
    except PageError as refused:
        return _page("Sign-out request refused", _error_body(str(refused)), 400)
    if target is not None:
        return _redirect(target)
    body = '<p role="status">You are signed out.</p>'
    return _page("You are signed out", body, 200)


def _post_logout_target(params: MultiDict[str, str]) -> str | None:
    """Where end-session sends the browser (None: the signed-out page), or :class:`PageError`."""
    try:
        values = {
            name: _single(params, name)
            for name in ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")
        }
    except ValueError as bad:
        raise PageError(str(bad)) from None
    asked_client, hint = values["client_id"], values["id_token_hint"]
    if asked_client is not None and asked_client != client_id():
        raise PageError(f"unknown client_id {asked_client!r}")
    if hint is not None:
        try:
            claims = verify_id_token_hint(get_state().signing_key, hint, issuer())
        except jwt.PyJWTError as bad:
            raise PageError(f"id_token_hint is not an ID token of this provider: {bad}") from None
        audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if client_id() not in audience or (asked_client and asked_client not in audience):
            raise PageError("id_token_hint was issued to another client")
    target = values["post_logout_redirect_uri"]
    if target is None:
        return None
    if asked_client is None and hint is None:
        raise PageError("post_logout_redirect_uri needs client_id or id_token_hint")
    if target not in post_logout_redirect_uris():
        raise PageError(f"post_logout_redirect_uri {target!r} is not registered")
    if values["state"] is None:
        return target
    return _with_query(target, {"state": values["state"]})
