"""OAuth 2.0 / OpenID Connect: the decisions of a browser client at a standard provider.

Sans-IO like the rest of the core (runs on MicroPython): discovery (OpenID
Connect Discovery 1.0, RFC 8414), sign-in with the authorization code and PKCE
S256 (RFC 6749 section 4.1, RFC 7636), the checks of the ID token's claims
(OpenID Connect Core 3.1.3.7), refresh and revocation bodies (RFC 6749
section 6, RFC 7009), error answers (RFC 6749 section 5.2) and the
RP-initiated logout URL. The edge does the I/O: it draws the random bytes
(``crypto.getRandomValues``), keeps the pending sign-in in ``sessionStorage``,
navigates and rewrites the address bar.

The ID token's signature is not checked: the token comes straight from the
token endpoint over TLS in answer to this client's own request, which OpenID
Connect Core 3.1.3.7 (item 6) allows in place of a signature check. Its
claims are checked (``iss``, ``aud``, ``azp``, ``exp``, ``nonce``), so an
answer meant for another client or another sign-in is refused.
"""

import hashlib
import json

from .claims import b64url, unverified_claims
from .commands import ReadJson, Send
from .dpop import new_proof_key, send_flow
from .errors import ConfigurationError, LoginError, TransportError
from .events import ROLE_DISCOVERY, ROLE_LOGIN, ROLE_LOGOUT, ROLE_REFRESH
from .request import ReplayableRequest
from .urls import origin, split_url

#: The scope asked for when the page names none: an ID token and a refresh token.
DEFAULT_SCOPE = "openid offline_access"
#: How long a started sign-in may take to come back (seconds) before it is forgotten.
PENDING_TTL = 600.0
#: Started sign-ins kept per tab (the newest ones): one per click on "Sign in".
PENDING_KEEP = 3
#: Seconds of clock difference tolerated on the ID token's ``exp``.
ID_TOKEN_LEEWAY = 300.0
#: Query parameters of the provider's answer, removed from the address bar afterwards.
CALLBACK_PARAMS = (
    "code",
    "state",
    "iss",
    "session_state",
    "error",
    "error_description",
    "error_uri",
)
#: What the token answers carry that the client must understand (RFC 6749 section 5.2).
CLIENT_ERRORS = ("invalid_client", "unauthorized_client")

_FORM_HEADERS = {
    "Content-Type": "application/x-www-form-urlencoded",
    "Accept": "application/json",
}
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "end_session_endpoint",
)


# -- encodings -------------------------------------------------------------------------


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of ``verifier``: base64url(SHA-256(verifier))."""
    return b64url(hashlib.sha256(verifier.encode()).digest())


def _quote(text: str) -> str:
    """Percent-encode ``text`` for a form or query (UTF-8; space as ``+``)."""
    out = []
    for char in str(text):
        if char in _UNRESERVED:
            out.append(char)
        elif char == " ":
            out.append("+")
        else:
            for byte in char.encode("utf-8"):
                out.append("%" + "0123456789ABCDEF"[byte >> 4] + "0123456789ABCDEF"[byte & 15])
    return "".join(out)


def form_encode(pairs: "list") -> str:
    """``application/x-www-form-urlencoded`` text of ``(name, value)`` pairs (``None`` skipped)."""
    return "&".join(_quote(k) + "=" + _quote(v) for k, v in pairs if v is not None)


def _unquote(text: str) -> str:
    """Decode one form-encoded component (``+`` is a space, ``%XX`` a byte of UTF-8)."""
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    while i < len(text):
        char = text[i]
        if char == "%" and _is_hex(text[i + 1 : i + 3]):
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
            continue
        out.extend(char.encode("utf-8"))
        i += 1
    return bytes(out).decode("utf-8")


def _is_hex(pair: str) -> bool:
    """Tell whether ``pair`` is two hexadecimal digits."""
    return len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair)


def form_decode(query: str) -> "list[tuple[str, str]]":
    """The ``(name, value)`` pairs of a query string or form body (a leading ``?`` ignored)."""
    if query.startswith("?"):
        query = query[1:]
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((_unquote(name), _unquote(value)))
    return pairs


def _split_query(url: str) -> "tuple[str, str, str]":
    """``(before ?, query without ?, fragment with #)`` of ``url``."""
    hash_at = url.find("#")
    fragment = url[hash_at:] if hash_at >= 0 else ""
    url = url[:hash_at] if hash_at >= 0 else url
    base, _, query = url.partition("?")
    return base, query, fragment


def with_query(url: str, pairs: "list") -> str:
    """``url`` with ``pairs`` appended to its query (kept parameters come first)."""
    base, query, fragment = _split_query(url)
    extra = form_encode(pairs)
    joined = query + ("&" if query and extra else "") + extra
    return base + ("?" + joined if joined else "") + fragment


def page_without_query(url: str) -> str:
    """The page's URL without query and fragment: the default ``redirect_uri``."""
    return _split_query(url)[0]


# -- the client's settings and the provider's endpoints ------------------------------------


class OAuthClient:
    """A public client at a standard provider: its registration and the provider's endpoints.

    ``issuer`` is the provider's identifier; discovery fills the endpoints not
    given. ``scope`` is asked for at sign-in; ``refresh_scope`` (default none)
    is sent with each refresh only when set. ``authorization_params`` are extra
    parameters of the authorization request (``audience``, ``resource``,
    ``prompt``...). ``post_logout_redirect_uri`` with an
    ``end_session_endpoint``: logout ends the provider's session too.
    """

    def __init__(
        self,
        client_id: str,
        redirect_uri: str,
        *,
        issuer: "str | None" = None,
        scope: "str | None" = None,
        refresh_scope: "str | None" = None,
        authorization_params: "dict | None" = None,
        post_logout_redirect_uri: "str | None" = None,
        authorization_endpoint: "str | None" = None,
        token_endpoint: "str | None" = None,
        revocation_endpoint: "str | None" = None,
        end_session_endpoint: "str | None" = None,
    ) -> None:
        if not isinstance(client_id, str) or not client_id:
            raise ConfigurationError("client_id must be a non-empty string")
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.issuer = issuer
        self.scope = DEFAULT_SCOPE if scope is None else scope
        self.refresh_scope = refresh_scope
        self.authorization_params = dict(authorization_params or {})
        self.post_logout_redirect_uri = post_logout_redirect_uri
        self.authorization_endpoint = authorization_endpoint
        self.token_endpoint = token_endpoint
        self.revocation_endpoint = revocation_endpoint
        self.end_session_endpoint = end_session_endpoint

    def needs_discovery(self) -> bool:
        """Tell whether an endpoint the client needs is still unknown."""
        return self.authorization_endpoint is None or self.token_endpoint is None

    def use_document(self, document: "Any", url: str) -> None:
        """Take the endpoints of a discovery ``document`` read from ``url`` (given ones win).

        ``ConfigurationError`` names ``url`` and what is wrong: not an object, an
        ``issuer`` that differs from the configured one, a missing or
        non-http(s) endpoint.
        """
        where = "the discovery document " + url
        if not isinstance(document, dict):
            raise ConfigurationError(where + " is not a JSON object")
        if document.get("issuer") != self.issuer:
            found = repr(document.get("issuer"))
            raise ConfigurationError(
                where + " names issuer " + found + ", not " + repr(self.issuer) + " (the option)"
            )
        for name in _ENDPOINTS:
            if getattr(self, name) is not None:
                continue
            value = document.get(name)
            if value is None:
                continue
            if not isinstance(value, str) or not _is_http_url(value):
                raise ConfigurationError(where + ": " + name + " is not an http(s) URL")
            setattr(self, name, value)
        for name in ("authorization_endpoint", "token_endpoint"):
            if getattr(self, name) is None:
                raise ConfigurationError(where + " has no " + name)


def _is_http_url(url: str) -> bool:
    """Tell whether ``url`` is an absolute http(s) URL."""
    try:
        scheme = split_url(url)[0]
    except ValueError:
        return False
    return scheme in ("http", "https")


def discovery_urls(issuer: str) -> "list[str]":
    """Where the provider's metadata is: OpenID Connect's, then RFC 8414's location."""
    base = issuer[:-1] if issuer.endswith("/") else issuer
    scheme, _, rest = base.partition("://")
    host, slash, path = rest.partition("/")
    oauth = scheme + "://" + host + "/.well-known/oauth-authorization-server"
    return [base + "/.well-known/openid-configuration", oauth + (slash + path if path else "")]


def discovery_flow(client: OAuthClient) -> "Flow":
    """Read the provider's metadata into ``client`` (skipped when every endpoint is given).

    A 404 at the OpenID location tries RFC 8414's. ``ConfigurationError`` names
    the URL and what was wrong: unreachable, an HTTP error, not JSON, or a
    document :meth:`OAuthClient.use_document` refuses.
    """
    if not client.needs_discovery():
        return
    if not client.issuer:
        raise ConfigurationError("no issuer and no authorization_endpoint/token_endpoint given")
    urls = discovery_urls(client.issuer)
    for url in urls:
        request = ReplayableRequest(url, "GET", {"Accept": "application/json"}, role=ROLE_DISCOVERY)
        request.retry = False
        try:
            response = yield Send(request)
        except TransportError as exc:
            message = "the provider's discovery document " + url + " could not be fetched"
            raise ConfigurationError(message + " (" + str(exc) + ")")  # noqa: B904
        if response.status == 404 and url != urls[-1]:
            continue
        if not 200 <= response.status < 300:
            status = str(response.status)
            tried = " (and " + urls[0] + " answered HTTP 404)" if url != urls[0] else ""
            raise ConfigurationError(
                "the discovery document " + url + " answered HTTP " + status + tried
            )
        try:
            document = yield ReadJson(response)
        except ValueError:
            raise ConfigurationError("the discovery document " + url + " is not JSON")  # noqa: B904
        client.use_document(document, url)
        return


# -- sign-in ---------------------------------------------------------------------------------


def begin_sign_in(
    client: OAuthClient, random_bytes: "Callable[[int], bytes]", return_to: str, now: float
) -> "tuple[str, dict]":
    """Start a sign-in: the authorization URL to navigate to and the pending record to keep.

    The record (``state``, ``nonce``, ``verifier``, ``redirect_uri``,
    ``return_to``, ``created``) stays in the tab until the provider sends the
    browser back; ``verifier`` is 43 characters of 32 random bytes.
    """
    if client.authorization_endpoint is None:
        raise ConfigurationError("no authorization_endpoint (discovery has not run)")
    verifier = b64url(random_bytes(32))
    pending = {
        "state": b64url(random_bytes(16)),
        "nonce": b64url(random_bytes(16)),
        "verifier": verifier,
        "redirect_uri": client.redirect_uri,
        "return_to": return_to,
        "created": now,
    }
    pairs = [
        ("response_type", "code"),
        ("client_id", client.client_id),
        ("redirect_uri", client.redirect_uri),
        ("scope", client.scope),
        ("state", pending["state"]),
        ("nonce", pending["nonce"]),
        ("code_challenge", pkce_challenge(verifier)),
        ("code_challenge_method", "S256"),
    ]
    for name in sorted(client.authorization_params):
        pairs.append((name, client.authorization_params[name]))
    return with_query(client.authorization_endpoint, pairs), pending


def remember_pending(stored: "str | None", pending: dict, now: float) -> str:
    """The tab's started sign-ins as JSON with ``pending`` added (old and surplus ones dropped)."""
    entries = [p for p in _pending_list(stored) if now - p.get("created", 0) < PENDING_TTL]
    entries.append(pending)
    return json.dumps(entries[-PENDING_KEEP:])


def take_pending(
    stored: "str | None", state: "str | None", now: float
) -> "tuple[dict | None, str]":
    """The started sign-in whose ``state`` came back, and the JSON of the rest to keep.

    ``None`` when no sign-in of this tab has that state (forged, already used,
    or too old): the answer must not be used.
    """
    found = None
    rest = []
    for entry in _pending_list(stored):
        if now - entry.get("created", 0) >= PENDING_TTL:
            continue
        if state is not None and entry.get("state") == state and found is None:
            found = entry
        else:
            rest.append(entry)
    return found, json.dumps(rest)


def _pending_list(stored: "str | None") -> "list[dict]":
    """The stored started sign-ins (anything unreadable counts as none)."""
    if not stored:
        return []
    try:
        entries = json.loads(stored)
    except ValueError:
        return []
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("state"), str)]


def callback_params(url: str) -> "dict | None":
    """The provider's answer in the page's URL (``code``/``error`` with ``state``), or ``None``."""
    query = _split_query(url)[1]
    if not query:
        return None
    params: dict = {}
    for name, value in form_decode(query):
        if name in CALLBACK_PARAMS and name not in params:
            params[name] = value
    if "code" not in params and "error" not in params:
        return None
    if "state" not in params:
        return None
    return params


def without_callback(url: str) -> str:
    """``url`` with the provider's answer removed from its query (for ``history.replaceState``)."""
    base, query, fragment = _split_query(url)
    kept = [
        p for p in query.split("&") if p and _unquote(p.partition("=")[0]) not in CALLBACK_PARAMS
    ]
    return base + ("?" + "&".join(kept) if kept else "") + fragment


def _param_name(part: str) -> str:
    """The decoded name of one ``name=value`` part of a query."""
    return _unquote(part.partition("=")[0])


def check_callback(client: OAuthClient, params: dict, pending: "dict | None") -> str:
    """The code of the provider's answer ``params`` for the started sign-in ``pending``.

    ``LoginError`` for an error answer (with the provider's ``error`` and
    ``error_description``), an answer no sign-in of this tab is waiting for (a
    forged or reused ``state``, a reloaded callback URL), or one from another
    issuer (RFC 9207 ``iss``).
    """
    if "error" in params:
        error = params["error"]
        description = params.get("error_description")
        text = "sign-in refused by the provider: " + error
        raise LoginError(
            text + (" (" + description + ")" if description else ""), None, error, description
        )
    if pending is None:
        raise LoginError(
            "this sign-in answer matches no sign-in started in this tab (state unknown:"
            " forged, already used, or expired): nothing stored",
            None,
            "invalid_state",
        )
    issuer = params.get("iss")
    if issuer is not None and client.issuer is not None and issuer != client.issuer:
        raise LoginError(
            "the sign-in answer comes from issuer " + repr(issuer), None, "invalid_issuer"
        )
    return params["code"]


def exchange_request(client: OAuthClient, code: str, pending: dict) -> ReplayableRequest:
    """The code exchange (RFC 6749 section 4.1.3 with PKCE): a form POST to the token endpoint."""
    body = form_encode(
        [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", pending.get("redirect_uri") or client.redirect_uri),
            ("client_id", client.client_id),
            ("code_verifier", pending["verifier"]),
        ]
    )
    return ReplayableRequest(
        client.token_endpoint or "", "POST", _FORM_HEADERS, body, retry=False, role=ROLE_LOGIN
    )


def exchange_flow(
    config: "AuthConfig", params: dict, pending: "dict | None", now: "Now", login: str
) -> "Flow":
    """Finish a sign-in: check the answer, exchange the code once, check the ID token.

    Returns the new TokenSet (sign-in ``login``); ``LoginError`` for anything
    refused, with the provider's ``error`` and ``error_description`` when it
    gave them. Nothing is stored here.
    """
    client = config.oauth
    if client is None:
        raise ConfigurationError("no OAuth client configured")
    code = check_callback(client, params, pending)
    request = exchange_request(client, code, pending or {})
    jwk = yield from new_proof_key(config)
    try:
        response = yield from send_flow(config, request, jwk, now)
    except TransportError as exc:
        raise LoginError("the token endpoint could not be reached (" + str(exc) + ")")  # noqa: B904
    if not 200 <= response.status < 300:
        error, description = yield from read_error(response)
        text = "the provider refused the code (HTTP " + str(response.status) + ")"
        if error:
            text += ": " + error + (" (" + description + ")" if description else "")
        raise LoginError(text, response.status, error, description)
    try:
        payload = yield ReadJson(response)
        tokens = config.token_set(payload, response.headers, now(), login=login, dpop_jwk=jwk)
    except (ValueError, TypeError, KeyError) as exc:
        raise LoginError("bad token answer: " + str(exc), response.status)  # noqa: B904
    if tokens.id_token is not None:
        check_id_token(client, tokens.id_token, (pending or {}).get("nonce"), now() + tokens.skew)
    elif "openid" in client.scope.split():
        raise LoginError("the provider sent no id_token for an openid sign-in", response.status)
    return tokens


def check_id_token(client: OAuthClient, id_token: str, nonce: "str | None", now: float) -> dict:
    """Check the ID token's claims (OpenID Connect Core 3.1.3.7); its claims, or ``LoginError``.

    ``iss`` equals the issuer; ``aud`` holds ``client_id``; ``azp``, when
    present or when there are several audiences, is ``client_id``; ``exp`` is
    not past (``ID_TOKEN_LEEWAY``); ``nonce`` equals the one sent.
    """
    claims = unverified_claims(id_token)
    problem = None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not claims:
        problem = "it cannot be read"
    elif client.issuer is not None and claims.get("iss") != client.issuer:
        problem = "iss is " + repr(claims.get("iss")) + ", not " + repr(client.issuer)
    elif client.client_id not in audiences:
        problem = "aud does not name client " + repr(client.client_id)
    elif ("azp" in claims or len(audiences) > 1) and claims.get("azp") != client.client_id:
        problem = "azp is " + repr(claims.get("azp")) + ", not " + repr(client.client_id)
    elif not isinstance(claims.get("exp"), (int, float)) or claims["exp"] + ID_TOKEN_LEEWAY < now:
        problem = "it has expired"
    elif nonce is not None and claims.get("nonce") != nonce:
        problem = "its nonce is not the one this sign-in sent"
    if problem is not None:
        raise LoginError(
            "the ID token was refused: " + problem + "; nothing stored", None, "invalid_id_token"
        )
    return claims


# -- refresh, errors, revocation, logout ------------------------------------------------------


def refresh_request(client: OAuthClient, refresh_token: str) -> ReplayableRequest:
    """The refresh (RFC 6749 section 6): a form POST to the token endpoint only."""
    body = form_encode(
        [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client.client_id),
            ("scope", client.refresh_scope),
        ]
    )
    return ReplayableRequest(
        client.token_endpoint or "", "POST", _FORM_HEADERS, body, retry=False, role=ROLE_REFRESH
    )


def read_error(response: "Response") -> "Flow":
    """``(error, error_description)`` of an error answer (RFC 6749 section 5.2); ``None``s when
    the body is not such JSON."""
    try:
        payload = yield ReadJson(response)
    except (ValueError, TypeError):
        return None, None
    if not isinstance(payload, dict) or not isinstance(payload.get("error"), str):
        return None, None
    description = payload.get("error_description")
    return payload["error"], description if isinstance(description, str) else None


def refusal_message(status: int, error: "str | None", description: "str | None") -> str:
    """Words for a refused refresh: a client error says the configuration is wrong."""
    text = "refresh refused (HTTP " + str(status) + ")"
    if error:
        text += ": " + error + (" (" + description + ")" if description else "")
    if error in CLIENT_ERRORS:
        text += "; the provider does not accept this client: check client_id and its registration"
    return text


def revocation_request(client: OAuthClient, refresh_token: str) -> "ReplayableRequest | None":
    """The revocation of the refresh token (RFC 7009), or ``None`` without an endpoint."""
    if client.revocation_endpoint is None:
        return None
    body = form_encode(
        [
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
            ("client_id", client.client_id),
        ]
    )
    return ReplayableRequest(
        client.revocation_endpoint, "POST", _FORM_HEADERS, body, retry=False, role=ROLE_LOGOUT
    )


def end_session_url(client: OAuthClient, id_token: "str | None") -> "str | None":
    """Where to send the browser to end the provider's session too (RP-Initiated Logout 1.0),
    or ``None`` without an ``end_session_endpoint`` or a ``post_logout_redirect_uri``."""
    if client.end_session_endpoint is None or client.post_logout_redirect_uri is None:
        return None
    pairs = [
        ("id_token_hint", id_token),
        ("client_id", client.client_id),
        ("post_logout_redirect_uri", client.post_logout_redirect_uri),
    ]
    return with_query(client.end_session_endpoint, pairs)


def same_origin(url: str, other: str) -> bool:
    """Tell whether two absolute URLs share an origin (``False`` if either cannot be read)."""
    try:
        return origin(url) == origin(other)
    except ValueError:
        return False


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from typing import Any

    from .policy import AuthConfig
    from .ports import Response

    Flow = Generator[Any, Any, Any]
    Now = Callable[[], float]
