"""Sans-IO flows: the per-request decisions and the calls to the token endpoints.

Each flow is a generator that yields typed commands (:mod:`.commands`) and
receives their results; an error of a port is thrown back in. The same flows
run under the async driver (:class:`~.session.AuthSession`), the sync driver
(:class:`~.sync.SyncAuthSession`) and the edge's promise chain. Every request a
flow makes is stamped with its role (:mod:`.events`).
"""

from .commands import ReadJson, Refresh, Send, Sleep
from .dpop import new_proof_key, send_flow
from .errors import (
    DPoPError,
    LoginError,
    NotReplayableError,
    RefreshUnavailableError,
    SessionExpiredError,
    TransportError,
    TransportTimeoutError,
)
from .events import ROLE_LOGIN, ROLE_LOGOUT, ROLE_REFRESH
from .fresh import just_refreshed
from .oauth import read_error, refusal_message, revocation_request
from .oauth import refresh_request as oauth_refresh_request
from .policy import REFRESH_OK, REFRESH_SESSION_OVER, classify_refresh_status
from .request import ReplayableRequest

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
#: What a token answer that cannot be read raises (bad JSON, missing or odd fields).
_BAD_ANSWER = (ValueError, TypeError, KeyError)


def request_flow(
    request: ReplayableRequest, config: "AuthConfig", machine: "SessionMachine", now: "Now"
) -> "Flow":
    """Send ``request`` with the bearer, refresh proactively or on 401, replay at most once.

    A request to a non-allow-listed origin, to the refresh/login endpoint, or
    with its own ``Authorization`` header is sent untouched and never retried.
    A 401 for a token that has been replaced meanwhile is replayed with the
    current token without any refresh. A second 401 is returned as is, and so
    is a 401 naming no reason for a token a refresh issued moments ago
    (:func:`.fresh.just_refreshed`: at most one refresh per token, however many
    requests meet a 401 with it). A
    streaming body raises ``NotReplayableError`` instead of a replay (after the
    refresh, so a rebuilt request will succeed).
    """
    url, bearer = config.target(request.url)
    if not bearer or "authorization" in request.headers:
        return (yield Send(request.derive(url)))
    tokens = machine.tokens
    if tokens is not None and config.needs_refresh(tokens, now()):
        tokens = yield from _proactive_refresh(tokens, machine, now)
    sent = request.derive(url, tokens.access_token if tokens is not None else None)
    response = yield from send_with(config, sent, tokens, now)
    if sent.token is None or not config.should_retry(sent, response):
        return response
    if just_refreshed(machine.tokens, sent.token, now(), response):
        return response  # the server issued this token moments ago: a refresh will not help
    fresh = yield from _token_for_retry(sent.token, machine)
    if fresh is None:
        return response
    if request.stream:
        raise NotReplayableError("a streaming body cannot be replayed", response=response)
    replay = request.derive(url, fresh.access_token)
    replay.replay = True
    return (yield from send_with(config, replay, fresh, now))


def send_with(
    config: "AuthConfig",
    request: ReplayableRequest,
    tokens: "TokenSet | None",
    now: "Now",
    timeout: "float | None" = None,
) -> "Flow":
    """Send ``request`` made with ``tokens``: with a DPoP proof of their key when they are
    bound to one (:func:`.dpop.send_flow`). A bound token is never sent as a bearer: with
    the ``dpop`` option off, such a session raises ``DPoPError``."""
    if tokens is None or not tokens.bound:
        return (yield Send(request, timeout))
    if config.dpop is None:
        raise DPoPError("this session's tokens are bound to a DPoP key, but dpop is off")
    return (yield from send_flow(config, request, tokens.dpop_jwk, now, tokens.skew, timeout))


def _proactive_refresh(tokens: "TokenSet", machine: "SessionMachine", now: "Now") -> "Flow":
    """Refresh before sending; if the server is unreachable, go on while the token is valid."""
    try:
        return (yield Refresh(tokens.access_token))
    except RefreshUnavailableError:
        if tokens.is_expired(now()):
            raise
        return machine.tokens or tokens


def _token_for_retry(sent_token: str, machine: "SessionMachine") -> "Flow":
    """Return the token to replay with after a 401, or ``None`` to return the 401.

    A replaced token is used at once (stale 401, no refresh); the token that
    was sent is refreshed through the single flight; without a refresh token
    there is nothing to do. If the session this request was sent in has ended
    while it was in flight (a refresh was refused, a logout), the request fails
    with ``SessionExpiredError`` like those that waited on the refresh: one
    error type, whichever side of the refresh its 401 arrived on.
    """
    tokens = machine.tokens
    if tokens is None:
        raise SessionExpiredError("the session ended while this request was in flight")
    if tokens.access_token != sent_token:
        return tokens
    if tokens.refresh_token is None:
        return None
    tokens = yield Refresh(sent_token)
    if tokens is None or tokens.access_token == sent_token:
        return None
    return tokens


def refresh_request(config: "AuthConfig", refresh_token: str) -> ReplayableRequest:
    """Build the refresh call: POST ``{"refresh_token"}`` as JSON to the refresh endpoint only
    (at a standard provider: the form-encoded ``refresh_token`` grant, :mod:`.oauth`)."""
    if config.oauth is not None:
        return oauth_refresh_request(config.oauth, refresh_token)
    body = {"refresh_token": refresh_token}
    return ReplayableRequest(
        config.refresh_endpoint, "POST", _JSON_HEADERS, body, retry=False, role=ROLE_REFRESH
    )


def refresh_call(config: "AuthConfig", tokens: "TokenSet", now: "Now") -> "Flow":
    """Call the refresh endpoint with bounded, jittered retries; return the new TokenSet.

    Any 4xx but 408/425/429 raises ``SessionExpiredError`` at once. A network
    error, a timeout (``config.refresh_timeout``) and 5xx are retried
    ``config.refresh_attempts`` times in all, with ``Sleep`` commands in
    between — none after a timeout: the server may have rotated already, and the
    retry of the same refresh token must land inside its reuse grace — then
    raise ``RefreshUnavailableError``. A response without a
    refresh token keeps the old one. Only the transport's own error
    (``TransportError``) counts as a network failure: a bug elsewhere surfaces.
    """
    request = refresh_request(config, tokens.refresh_token or "")
    status = None
    timed_out = False
    for attempt in range(config.refresh_attempts):
        if attempt and not timed_out:
            yield Sleep(config.backoff(attempt - 1))
        try:
            response = yield from send_with(config, request, tokens, now, config.refresh_timeout)
        except TransportError as exc:
            status = None
            timed_out = isinstance(exc, TransportTimeoutError)
            continue
        status = response.status
        verdict = classify_refresh_status(status)
        if verdict == REFRESH_SESSION_OVER:
            error, description = yield from read_error(response)
            raise SessionExpiredError(refusal_message(status, error, description), status)
        if verdict == REFRESH_OK:
            return (yield from _read_tokens(config, response, now, tokens, attempt + 1))
    message = "refresh failed after " + str(config.refresh_attempts) + " attempts"
    raise RefreshUnavailableError(message, config.refresh_attempts, status)


def _read_tokens(
    config: "AuthConfig", response: "Response", now: "Now", previous: "TokenSet", attempts: int
) -> "Flow":
    """Decode a 2xx refresh answer; a broken body counts as "unavailable" (not retried).

    Not retried because the server has already rotated the refresh token.
    """
    try:
        payload = yield ReadJson(response)
        return config.token_set(payload, response.headers, now(), previous)
    except _BAD_ANSWER as exc:
        message = "bad refresh answer: " + repr(exc)
        raise RefreshUnavailableError(message, attempts, response.status)  # noqa: B904


def login_flow(
    config: "AuthConfig", username: str, password: str, now: "Now", login: str
) -> "Flow":
    """POST the credentials to the login endpoint: the TokenSet of sign-in ``login``.

    A refusal, an unreadable answer or an unreachable server raise ``LoginError``.
    """
    if config.oauth is not None:
        raise LoginError("this client signs in at its provider: call login() with no arguments")
    if config.login_endpoint is None:
        raise LoginError("no login endpoint configured")
    body = {"username": username, "password": password}
    request = ReplayableRequest(
        config.login_endpoint, "POST", _JSON_HEADERS, body, retry=False, role=ROLE_LOGIN
    )
    jwk = yield from new_proof_key(config)
    try:
        response = yield from send_flow(config, request, jwk, now)
    except TransportError as exc:
        raise LoginError("login failed: the server could not be reached (" + str(exc) + ")")  # noqa: B904
    if not 200 <= response.status < 300:
        raise LoginError("login refused (HTTP " + str(response.status) + ")", response.status)
    try:
        payload = yield ReadJson(response)
        return config.token_set(payload, response.headers, now(), login=login, dpop_jwk=jwk)
    except _BAD_ANSWER as exc:
        raise LoginError("bad login answer: " + repr(exc), response.status)  # noqa: B904


def logout_flow(config: "AuthConfig", tokens: "TokenSet | None") -> "Flow":
    """Best effort: POST the refresh token to the logout endpoint (a network error is ignored).

    At a standard provider: revoke it at the discovered revocation endpoint (RFC 7009).
    """
    if tokens is None or tokens.refresh_token is None or config.logout_endpoint is None:
        return
    if config.oauth is not None:
        request = revocation_request(config.oauth, tokens.refresh_token)
    elif config.is_allowed_origin(config.logout_endpoint):
        body = {"refresh_token": tokens.refresh_token}
        request = ReplayableRequest(
            config.logout_endpoint, "POST", _JSON_HEADERS, body, retry=False, role=ROLE_LOGOUT
        )
    else:
        return
    if request is None:
        return
    try:
        yield Send(request)
    except TransportError:
        return


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from typing import Any

    from .machine import SessionMachine
    from .policy import AuthConfig
    from .ports import Response
    from .tokens import TokenSet

    Flow = Generator[Any, Any, Any]
    Now = Callable[[], float]
