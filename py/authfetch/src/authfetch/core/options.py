"""Option values checked before anything starts: type and range, one message naming the option.

Pure decisions, the same on both interpreters: :func:`check_values` raises
:class:`~.errors.ConfigurationError` naming the first bad option, what it must be and
what it was (``option leeway must be a number of seconds >= 0, not 'ten'``), so a
mistake stops start-up instead of failing every request later. :func:`under_base`
places a default endpoint under ``api_base``'s path (``https://api.example.com/v1`` →
``https://api.example.com/v1/auth/login``).
"""

from .errors import ConfigurationError

#: The storage backends, by their option value.
STORAGES = ("local", "session", "memory")


def _is_number(value: "Any") -> bool:
    """An int or float, not a bool (JSON's true is not a number of seconds)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: "Any") -> bool:
    return isinstance(value, str) and value.strip() != ""


def _text_or_none(value: "Any") -> bool:
    return value is None or _text(value)


def _seconds(value: "Any") -> bool:
    return _is_number(value) and value >= 0


def _seconds_or_none(value: "Any") -> bool:
    return value is None or _seconds(value)


def _positive_seconds(value: "Any") -> bool:
    return _is_number(value) and value > 0


def _attempts(value: "Any") -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100


def _origins(value: "Any") -> bool:
    return value is None or (isinstance(value, list) and all(_text(each) for each in value))


def _storage(value: "Any") -> bool:
    return value in STORAGES


def _params(value: "Any") -> bool:
    if value is None:
        return True
    if not isinstance(value, dict):
        return False
    return all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _flag(value: "Any") -> bool:
    return isinstance(value, bool)


_TEXT = (_text_or_none, "a non-empty string or null")
#: option name -> (check, what it must be). Options not named here are not checked.
RULES = {
    "api_base": (_text_or_none, "a URL (string) or null"),
    "bridge": (_text_or_none, "a name (string) or null"),
    "storage": (_storage, "one of " + ", ".join('"' + s + '"' for s in STORAGES)),
    "storage_key": (_text, "a non-empty string"),
    "login_endpoint": _TEXT,
    "refresh_endpoint": (_text, "a URL (non-empty string)"),
    "logout_endpoint": _TEXT,
    "allowed_origins": (_origins, "a list of origins (strings) or null"),
    "leeway": (_seconds_or_none, "a number of seconds >= 0 or null"),
    "refresh_attempts": (_attempts, "a whole number from 1 to 100"),
    "refresh_timeout": (_seconds_or_none, "a number of seconds >= 0 (0 or null: none)"),
    "lock_timeout": (_positive_seconds, "a number of seconds > 0"),
    "login_url": _TEXT,
    "issuer": _TEXT,
    "client_id": _TEXT,
    "scope": _TEXT,
    "refresh_scope": _TEXT,
    "redirect_uri": _TEXT,
    "post_logout_redirect_uri": _TEXT,
    "authorization_params": (_params, "an object of strings or null"),
    "authorization_endpoint": _TEXT,
    "token_endpoint": _TEXT,
    "revocation_endpoint": _TEXT,
    "end_session_endpoint": _TEXT,
    "dpop": (_flag, "true or false"),
}


def _shown(value: "Any") -> str:
    """``value`` as the page wrote it, roughly (JSON's words for None and booleans)."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    return repr(value)


def check_values(settings: dict) -> None:
    """Raise ``ConfigurationError`` for the first option (in :data:`RULES` order) whose
    value has the wrong type or range; the message names it, the rule and the value."""
    for name in RULES:
        if name not in settings:
            continue
        check, rule = RULES[name]
        value = settings[name]
        if not check(value):
            shown = _shown(value)
            raise ConfigurationError("option " + name + " must be " + rule + ", not " + shown)


def under_base(api_base: str, path: str) -> str:
    """The default endpoint ``path`` (``/auth/login``) under ``api_base``'s own path.

    ``https://api.example.com/v1`` (or ``.../v1/``) gives
    ``https://api.example.com/v1/auth/login``; an origin alone gives the origin's
    ``/auth/login``. An ``api_base`` with a query or fragment is refused
    (``ConfigurationError``): there is no one way to put a path under it.
    """
    if "?" in api_base or "#" in api_base:
        raise ConfigurationError(
            "option api_base must be a URL without query or fragment, not " + repr(api_base)
        )
    return api_base.rstrip("/") + "/" + path.lstrip("/")


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
