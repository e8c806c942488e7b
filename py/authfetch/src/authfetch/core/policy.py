"""Configuration and the pure decisions built on it.

Which URLs get the bearer, which responses mean "token expired", how a refresh
answer is classified, how long to back off. No I/O in here.
"""

import random as _random

from .claims import unverified_claims
from .expiry import parse_http_date
from .tokens import TokenSet
from .urls import endpoint_key, origin, resolve

REFRESH_OK = "ok"
REFRESH_SESSION_OVER = "session_over"
REFRESH_UNAVAILABLE = "unavailable"

#: 4xx answers that say "try later", not "your grant is dead".
TRANSIENT_4XX = (408, 425, 429)

#: Default bound of one refresh call, in seconds. A timed-out refresh is retried at once,
#: so timeout + retry (about 5 s) fit well inside a 10 s reuse grace (README: "reuse grace").
DEFAULT_REFRESH_TIMEOUT = 5.0


def classify_refresh_status(status: int) -> str:
    """Classify the refresh endpoint's HTTP status.

    2xx → ``REFRESH_OK``; any other 4xx (400 ``invalid_grant``, 401, 403...) →
    ``REFRESH_SESSION_OVER``; 5xx, 408/425/429 and anything else →
    ``REFRESH_UNAVAILABLE`` (keep the session, back off, retry).
    """
    if 200 <= status < 300:
        return REFRESH_OK
    if 400 <= status < 500 and status not in TRANSIENT_4XX:
        return REFRESH_SESSION_OVER
    return REFRESH_UNAVAILABLE


def backoff_delay(attempt: int, base: float, cap: float, rand: float) -> float:
    """Delay before retry number ``attempt + 1`` ("equal jitter").

    The ceiling is ``min(cap, base * 2**attempt)``; the delay is uniformly
    spread over ``[ceiling / 2, ceiling]`` by ``rand`` in ``[0, 1)``, so
    concurrent tabs do not retry in lock step and no delay exceeds ``cap``.
    """
    ceiling = min(cap, base * (2**attempt))
    return ceiling / 2.0 + rand * ceiling / 2.0


def default_token_expired(request: "ReplayableRequest", response: "Response") -> bool:
    """Default test for "the access token expired": a 401 a refresh can fix.

    A 401 whose ``WWW-Authenticate`` challenge names an ``error`` other than
    ``invalid_token`` (``insufficient_scope``, ``invalid_request``...) is
    returned as is: a new token would not change the answer. A 401 with no
    challenge, or one without an ``error``, still refreshes.
    """
    if getattr(response, "status", None) != 401:
        return False
    headers = getattr(response, "headers", None)
    challenge = headers.get("www-authenticate") if headers is not None else None
    error = challenge_error(challenge)
    return error is None or error == "invalid_token"


def challenge_error(challenge: "str | None") -> "str | None":
    """The ``error`` auth-param of a ``WWW-Authenticate`` challenge (RFC 6750), if any."""
    if not challenge:
        return None
    text = str(challenge)
    lowered = text.lower()
    start = 0
    while True:
        at = lowered.find("error", start)
        if at < 0:
            return None
        start = at + 5
        if at > 0 and lowered[at - 1] not in " ,\t":
            continue
        rest = text[start:].lstrip()
        if not rest.startswith("="):
            continue
        value = rest[1:].lstrip()
        if value.startswith('"'):
            end = value.find('"', 1)
            return value[1:end] if end > 0 else value[1:]
        cut = len(value)
        for mark in ", \t":
            pos = value.find(mark)
            if 0 <= pos < cut:
                cut = pos
        return value[:cut]


def _call_claims(decode_claims: "Callable[[str], Any] | None", access_token: "Any") -> dict:
    """Run the edge's claims decoder; any failure or non-dict gives ``{}``."""
    if decode_claims is None:
        return {}
    try:
        claims = decode_claims(access_token)
    except Exception:
        return {}
    return claims if isinstance(claims, dict) else {}


#: How many request URLs :meth:`AuthConfig.target` remembers before it starts again.
TARGETS_KEPT = 64


class AuthConfig:
    """Settings of an authfetch session plus the decisions that depend only on them.

    ``api_base`` is the API's absolute base URL. ``base_url`` (default
    ``api_base``) resolves relative request URLs; the edge passes the page
    location. ``refresh_endpoint``, ``login_endpoint`` and ``logout_endpoint``
    are the token server's URLs, resolved against ``api_base``
    (``logout_endpoint=None``: no server call on logout). ``refresh_timeout``
    bounds each refresh call (seconds; a timeout counts as a network error).
    ``allowed_origins`` lists the origins that get ``Authorization: Bearer``
    (default: the origin of ``api_base``). ``leeway`` is seconds before expiry
    to refresh proactively (``None``: ``min(30, lifetime / 3)`` per token).
    ``is_token_expired(request, response)`` replaces the 401 test.
    Refresh network errors / 5xx are retried ``refresh_attempts`` times in all,
    sleeping ``backoff_delay`` between tries (``backoff_base``, ``backoff_cap``,
    ``random`` a ``() -> float`` source). ``decode_claims(access_token)`` returns
    the unverified JWT claims (default: :func:`.claims.unverified_claims`) to read
    ``exp``/``iat``. ``on_event(event)`` receives every :class:`~.events.Event`;
    the hooks ``on_tokens(tokens)``, ``on_refresh_error(exc)`` and
    ``on_logout(reason)`` (``"expired"``, ``"logout"`` or ``"external"``) are
    the same events, for callers that want only those. ``oauth`` (an
    :class:`~.oauth.OAuthClient`) speaks OAuth 2.0 / OpenID Connect to a standard
    provider instead of the JSON dialect: its token endpoint refreshes (form
    encoded), its revocation endpoint takes the refresh token at logout, and
    sign-in is the authorization code flow (:mod:`.oauth`). ``dpop`` (a
    :class:`~.dpop.DPoP`) binds the tokens to a key: every sign-in, refresh and
    request to an allow-listed origin carries a proof (RFC 9449, :mod:`.dpop`).
    ``request_events=False``: the drivers do not make the events of each send
    (``request``, ``response``, ``refresh``, ``refreshed``, ``network-error``), for a
    caller with nobody listening to them (the browser edge without ``on_event``);
    the session's own events (tokens, logout...) are made either way.
    """

    def __init__(
        self,
        api_base: str,
        *,
        base_url: "str | None" = None,
        refresh_endpoint: str = "/auth/refresh",
        login_endpoint: "str | None" = "/auth/login",
        logout_endpoint: "str | None" = "/auth/logout",
        allowed_origins: "list | tuple | None" = None,
        leeway: "float | None" = None,
        is_token_expired: "Callable[[ReplayableRequest, Response], bool] | None" = None,
        refresh_attempts: int = 3,
        refresh_timeout: "float | None" = DEFAULT_REFRESH_TIMEOUT,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        random: "Callable[[], float] | None" = None,
        decode_claims: "Callable[[str], Any] | None" = None,
        on_tokens: "Callable[[TokenSet], object] | None" = None,
        on_refresh_error: "Callable[[Exception], object] | None" = None,
        on_logout: "Callable[[str], object] | None" = None,
        on_event: "Callable[[Event], object] | None" = None,
        oauth: "OAuthClient | None" = None,
        dpop: "DPoP | None" = None,
        request_events: bool = True,
    ) -> None:
        self.api_base = api_base
        self.base_url = base_url or api_base
        #: The standard provider's client (``None``: the JSON dialect of a custom backend).
        self.oauth = oauth
        #: DPoP's nonces and randomness (``None``: bearer tokens).
        self.dpop = dpop
        self.refresh_endpoint = resolve(refresh_endpoint, api_base)
        self.login_endpoint = resolve(login_endpoint, api_base) if login_endpoint else None
        self.logout_endpoint = resolve(logout_endpoint, api_base) if logout_endpoint else None
        origins = allowed_origins if allowed_origins is not None else [api_base]
        self.allowed_origins = {origin(resolve(o, self.base_url)) for o in origins}
        self._auth_endpoints: list = []
        #: request URL -> (resolved URL, may carry the bearer): see :meth:`target`.
        self._targets: dict = {}
        self.use_provider_endpoints()
        self.leeway = leeway
        self.is_token_expired = is_token_expired or default_token_expired
        self.refresh_attempts = max(1, int(refresh_attempts))
        self.refresh_timeout = refresh_timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.random = random or _random.random
        self.decode_claims = decode_claims or unverified_claims
        self.on_tokens = on_tokens
        self.on_refresh_error = on_refresh_error
        self.on_logout = on_logout
        self.on_event = on_event
        #: Whether the drivers make the per-request events (see the class docstring).
        self.request_events = request_events

    def use_provider_endpoints(self) -> None:
        """Take the endpoints of :attr:`oauth` (after discovery): the token endpoint refreshes,
        the revocation endpoint ends the sign-in, no password login; then note which
        endpoints never get the bearer (the token calls)."""
        client = self.oauth
        if client is not None:
            self.refresh_endpoint = client.token_endpoint or ""
            self.login_endpoint = None
            self.logout_endpoint = client.revocation_endpoint
        #: (origin, path) of the refresh and login endpoints, parsed once.
        self._auth_endpoints = [
            _endpoint_key(e) for e in (self.refresh_endpoint, self.login_endpoint) if e
        ]
        self._targets = {}

    def resolve(self, url: str) -> str:
        """Resolve a request URL against ``base_url``."""
        return resolve(url, self.base_url)

    def is_auth_endpoint(self, url: str) -> bool:
        """Tell whether ``url`` is the refresh or login endpoint (never intercepted)."""
        key = _endpoint_key(url)
        return key is not None and key in self._auth_endpoints

    def is_allowed_origin(self, url: str) -> bool:
        """Tell whether ``url``'s origin is in the allow-list."""
        key = _endpoint_key(url)
        return key is not None and key[0] in self.allowed_origins

    def bearer_allowed(self, url: str) -> bool:
        """Tell whether a request to absolute ``url`` may carry the access token: its
        origin is allow-listed and it is not the refresh or login endpoint."""
        key = _endpoint_key(url)
        return (
            key is not None and key[0] in self.allowed_origins and key not in self._auth_endpoints
        )

    def target(self, url: str) -> "tuple[str, bool]":
        """``(resolve(url), bearer_allowed(resolved))``, the two facts every request needs,
        remembered per URL (a page asks for the same few URLs again and again; parsing them
        is most of the Python a request runs, on MicroPython). The memory is cleared when
        the endpoints change, and when it holds :data:`TARGETS_KEPT` URLs."""
        known = self._targets.get(url)
        if known is not None:
            return known
        resolved = self.resolve(url)
        known = (resolved, self.bearer_allowed(resolved))
        if len(self._targets) >= TARGETS_KEPT:
            self._targets = {}
        self._targets[url] = known
        return known

    def should_retry(self, request: "ReplayableRequest", response: "Response") -> bool:
        """Tell whether ``response`` to a sent ``request`` calls for refresh-and-replay.

        Only for requests that carried our bearer, did not opt out, and are not
        the refresh or login call; then the configured predicate decides.
        """
        if not getattr(request, "retry", False) or getattr(request, "token", None) is None:
            return False
        if not self.is_token_expired(request, response):
            return False
        return not self.is_auth_endpoint(request.url)

    def needs_refresh(self, tokens: "TokenSet | None", now: float) -> bool:
        """Tell whether ``tokens`` should be refreshed proactively at local time ``now``."""
        return tokens is not None and tokens.needs_refresh(now, self.leeway)

    def backoff(self, attempt: int) -> float:
        """Jittered delay before refresh retry ``attempt + 1`` (see :func:`backoff_delay`)."""
        return backoff_delay(attempt, self.backoff_base, self.backoff_cap, self.random())

    def token_set(
        self,
        payload: dict,
        headers: "Any",
        now: float,
        previous: "TokenSet | None" = None,
        login: str = "",
        dpop_jwk: "dict | None" = None,
    ) -> TokenSet:
        """Build the TokenSet of a login (``login`` id, DPoP key ``dpop_jwk``) or refresh
        (``previous``) answer."""
        claims = _call_claims(self.decode_claims, (payload or {}).get("access_token"))
        date = headers.get("date") if headers is not None else None
        return TokenSet.from_token_response(
            payload,
            now,
            previous=previous,
            access_exp=claims.get("exp"),
            issued_at=claims.get("iat"),
            server_date=parse_http_date(date),
            login=login,
            dpop_jwk=dpop_jwk,
        )


def _endpoint_key(url: str) -> "tuple[str, str] | None":
    """:func:`.urls.endpoint_key`, ``None`` for a URL that cannot be parsed."""
    try:
        return endpoint_key(url)
    except ValueError:
        return None


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .dpop import DPoP
    from .events import Event
    from .oauth import OAuthClient
    from .ports import Response
    from .request import ReplayableRequest
