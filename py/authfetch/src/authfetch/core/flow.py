"""Sans-IO flows and the two drivers that run them (httpx ``auth_flow`` style).

A flow is a generator that yields *commands* ``(kind, arg)`` and receives
their results (``result = yield (SEND, request)``); an exception raised while
running a command is thrown back into the flow. The flow's ``return`` value
is the outcome. The same flows run under :func:`run_async` (the browser's
``fetch``) and :func:`run_sync` (``urllib.request`` through pyodide-http).

Commands:

=============  ==========================  =====================================
kind           arg                         result
=============  ==========================  =====================================
``SEND``       ``ReplayableRequest``       response (``.status``, ``.headers``)
``READ_JSON``  response                    decoded JSON body
``SLEEP``      seconds                     ``None``
``REFRESH``    access token to replace     the current ``TokenSet`` (or raises)
``LOAD``       ``None``                    ``TokenSet | None`` (consistent read)
``PERSIST``    ``TokenSet | None``         ``None`` (consistent write, optional)
=============  ==========================  =====================================
"""

from .errors import LoginError, NotReplayableError, RefreshUnavailableError, SessionExpiredError
from .policy import REFRESH_OK, REFRESH_SESSION_OVER, classify_refresh_status
from .request import ReplayableRequest

SEND = "send"
READ_JSON = "read_json"
SLEEP = "sleep"
REFRESH = "refresh"
LOAD = "load"
PERSIST = "persist"

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def request_flow(request: ReplayableRequest, config: object, current: object, now: object):
    """Send ``request`` with the bearer, refresh proactively or on 401, replay at most once.

    ``current()`` returns the session's TokenSet (or ``None``); ``now()`` the
    local time. A request to a non-allow-listed origin, to the refresh/login
    endpoint, or with its own ``Authorization`` header is sent untouched and
    never retried. A 401 for a token that has been replaced meanwhile is
    replayed with the current token without any refresh. A second 401 is
    returned as is. A streaming body raises ``NotReplayableError`` instead of
    a replay (after the refresh, so a rebuilt request will succeed).
    """
    url = config.resolve(request.url)
    if not config.bearer_allowed(url) or "authorization" in request.headers:
        return (yield (SEND, request.derive(url)))
    tokens = current()
    if config.needs_refresh(tokens, now()):
        tokens = yield from _proactive_refresh(tokens, current, now)
    sent = request.derive(url, tokens.access_token if tokens is not None else None)
    response = yield (SEND, sent)
    if not config.should_retry(sent, response):
        return response
    fresh = yield from _token_for_retry(sent.token, current)
    if fresh is None:
        return response
    if request.stream:
        raise NotReplayableError("a streaming body cannot be replayed", response=response)
    replay = request.derive(url, fresh.access_token)
    replay.replay = True
    return (yield (SEND, replay))


def _proactive_refresh(tokens: object, current: object, now: object):
    """Refresh before sending; if the server is unreachable, go on while the token is valid."""
    try:
        return (yield (REFRESH, tokens.access_token))
    except RefreshUnavailableError:
        if tokens.is_expired(now()):
            raise
        return current() or tokens


def _token_for_retry(sent_token: str, current: object):
    """Return the token to replay with after a 401, or ``None`` to return the 401.

    A replaced token is used at once (stale 401, no refresh); the token that
    was sent is refreshed through the gate; without a refresh token there is
    nothing to do. If the session this request was sent in has ended while it
    was in flight (a refresh was refused, or a logout), the request fails with
    ``SessionExpiredError`` like those that waited on the refresh: one error
    type, whichever side of the refresh its 401 arrived on.
    """
    tokens = current()
    if tokens is None:
        raise SessionExpiredError("the session ended while this request was in flight")
    if tokens.access_token != sent_token:
        return tokens
    if tokens.refresh_token is None:
        return None
    tokens = yield (REFRESH, sent_token)
    if tokens is None or tokens.access_token == sent_token:
        return None
    return tokens


def refresh_request(config: object, refresh_token: str) -> ReplayableRequest:
    """Build the refresh call: POST ``{"refresh_token"}`` as JSON to the refresh URL only."""
    body = {"refresh_token": refresh_token}
    return ReplayableRequest(config.refresh_url, "POST", _JSON_HEADERS, body, retry=False)


def refresh_flow(config: object, tokens: object, now: object):
    """Call the refresh endpoint with bounded, jittered retries; return the new TokenSet.

    Any 4xx but 408/425/429 raises ``SessionExpiredError`` at once. Network
    errors and 5xx are retried ``config.refresh_attempts`` times in all, with
    ``SLEEP`` commands in between, then raise ``RefreshUnavailableError``. A
    response without a refresh token keeps the old one.
    """
    request = refresh_request(config, tokens.refresh_token)
    status = None
    for attempt in range(config.refresh_attempts):
        if attempt:
            yield (SLEEP, config.backoff(attempt - 1))
        try:
            response = yield (SEND, request)
        except Exception:
            status = None
            continue
        status = response.status
        verdict = classify_refresh_status(status)
        if verdict == REFRESH_SESSION_OVER:
            raise SessionExpiredError("refresh refused (HTTP " + str(status) + ")", status)
        if verdict == REFRESH_OK:
            return (yield from _read_tokens(config, response, now, tokens, attempt + 1))
    message = "refresh failed after " + str(config.refresh_attempts) + " attempts"
    raise RefreshUnavailableError(message, config.refresh_attempts, status)


def _read_tokens(config: object, response: object, now: object, previous: object, attempts: int):
    """Decode a 2xx refresh answer; a broken body counts as "unavailable" (not retried).

    Not retried because the server has already rotated the refresh token.
    """
    try:
        payload = yield (READ_JSON, response)
        return config.token_set(payload, response.headers, now(), previous)
    except Exception as exc:
        message = "bad refresh answer: " + repr(exc)
        raise RefreshUnavailableError(message, attempts, response.status) from exc


def login_flow(config: object, username: str, password: str, now: object):
    """POST the credentials to the login URL; return the TokenSet or raise ``LoginError``."""
    if config.login_url is None:
        raise LoginError("no login_url configured")
    body = {"username": username, "password": password}
    request = ReplayableRequest(config.login_url, "POST", _JSON_HEADERS, body, retry=False)
    response = yield (SEND, request)
    if not 200 <= response.status < 300:
        raise LoginError("login refused (HTTP " + str(response.status) + ")", response.status)
    try:
        payload = yield (READ_JSON, response)
        return config.token_set(payload, response.headers, now())
    except Exception as exc:
        raise LoginError("bad login answer: " + repr(exc), response.status) from exc


def logout_flow(config: object, tokens: object):
    """Best effort: POST the refresh token to the logout URL (errors ignored)."""
    if tokens is None or tokens.refresh_token is None or config.logout_url is None:
        return
    if not config.is_allowed_origin(config.logout_url):
        return
    body = {"refresh_token": tokens.refresh_token}
    request = ReplayableRequest(config.logout_url, "POST", _JSON_HEADERS, body, retry=False)
    try:
        yield (SEND, request)
    except Exception:
        return


def run_sync(flow: object, execute: object) -> object:
    """Drive ``flow`` with the synchronous ``execute(command) -> result``; return its outcome."""
    value, error = None, None
    while True:
        try:
            command = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            return stop.value
        try:
            value, error = execute(command), None
        except Exception as exc:
            value, error = None, exc


async def run_async(flow: object, execute: object) -> object:
    """Drive ``flow`` with the async ``execute(command) -> result``; return its outcome."""
    value, error = None, None
    while True:
        try:
            command = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            return stop.value
        try:
            value, error = await execute(command), None
        except Exception as exc:
            value, error = None, exc
