"""Error types of authfetch.

The class names are part of the contract: the JavaScript bridge reports them as
``Error.name``, so rename them only on purpose.
"""


class AuthFetchError(Exception):
    """Base class of every error authfetch raises on purpose."""


class SessionExpiredError(AuthFetchError):
    """The refresh endpoint refused the refresh token: the session is over.

    Raised to every request that was waiting on that refresh. ``status`` is the
    HTTP status of the refusal (``None`` when the session vanished elsewhere).
    """

    def __init__(self, message: str = "session expired", status: "int | None" = None) -> None:
        super().__init__(message)
        self.status = status


class RefreshUnavailableError(AuthFetchError):
    """The refresh endpoint could not be reached (network error or 5xx).

    Raised after the bounded retries; the session is kept and a later request
    tries again. ``attempts`` is how many refresh calls were made, ``status`` the
    last HTTP status (``None`` after a network error).
    """

    def __init__(
        self, message: str = "refresh unavailable", attempts: int = 0, status: "int | None" = None
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status


class NotReplayableError(AuthFetchError):
    """A request with a streaming body got a response that needs a replay.

    Streaming bodies are sent once and never replayed. The session has already
    been refreshed when this is raised, so the caller may rebuild the stream
    and send again. ``response`` is the response that would have been retried.
    """

    def __init__(
        self, message: str = "request body cannot be replayed", response: "Any" = None
    ) -> None:
        super().__init__(message)
        self.response = response


class LoginError(AuthFetchError):
    """A sign-in failed: the login endpoint refused the credentials, or the provider's
    answer was an error, unexpected (``state``), or refused (code, ID token).

    ``status`` is the HTTP status of the answer (``None`` when there was none);
    ``error`` and ``error_description`` are the provider's (RFC 6749 section 4.1.2.1
    and 5.2) or authfetch's own code (``invalid_state``, ``invalid_id_token``...).
    """

    def __init__(
        self,
        message: str = "login failed",
        status: "int | None" = None,
        error: "str | None" = None,
        error_description: "str | None" = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.error_description = error_description


class ConfigurationError(AuthFetchError):
    """authfetch cannot work as configured: a bad option, or a provider whose discovery
    document is unreachable or wrong. The message names the option or URL and the problem."""


class DPoPError(AuthFetchError):
    """A DPoP proof could not be made or was refused (RFC 9449): the key is unavailable
    (IndexedDB or WebCrypto missing, the key deleted), or a server refused the proof or
    asked for a new nonce again after the one retry. Nothing is stored or wiped: the
    session is kept. ``status`` is the HTTP status of the refusal (``None`` when no
    request was sent), ``error`` the server's code (``invalid_dpop_proof``,
    ``use_dpop_nonce``).
    """

    def __init__(
        self, message: str = "DPoP failed", status: "int | None" = None, error: "str | None" = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class TransportError(Exception):
    """A transport could not get any HTTP response (network error, abort).

    Transports may raise this or any other exception: the core treats every
    exception from ``transport.send`` as a network failure.
    """


class TransportTimeoutError(TransportError):
    """No answer came within the send's timeout (the request may have reached the server).

    A refresh that timed out is retried at once, with no backoff: the server may
    have rotated already, and the retry must land inside its reuse grace.
    """


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
