"""Option values checked at start-up: type and range, the message naming the option."""

import pytest

from authfetch.core import ConfigurationError
from authfetch.core.options import check_values, under_base


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"leeway": "ten"}, "option leeway must be a number of seconds >= 0 or null, not 'ten'"),
        ({"leeway": -1}, "option leeway must be a number of seconds >= 0 or null, not -1"),
        ({"leeway": True}, "option leeway must be a number of seconds >= 0 or null, not true"),
        ({"refresh_attempts": 0}, "option refresh_attempts must be a whole number from 1"),
        ({"refresh_attempts": 2.5}, "option refresh_attempts must be a whole number from 1"),
        ({"lock_timeout": 0}, "option lock_timeout must be a number of seconds > 0, not 0"),
        ({"refresh_timeout": "5"}, "option refresh_timeout must be a number of seconds"),
        ({"storage": "cookie"}, 'option storage must be one of "local", "session", "memory"'),
        ({"storage_key": ""}, "option storage_key must be a non-empty string, not ''"),
        ({"allowed_origins": "https://a"}, "option allowed_origins must be a list of origins"),
        ({"allowed_origins": [1]}, "option allowed_origins must be a list of origins"),
        ({"api_base": 8000}, "option api_base must be a URL (string) or null, not 8000"),
        ({"client_id": ["a"]}, "option client_id must be a non-empty string or null"),
        ({"authorization_params": {"a": 1}}, "option authorization_params must be an object"),
        ({"refresh_endpoint": None}, "option refresh_endpoint must be a URL"),
    ],
)
def test_a_bad_value_is_refused_with_the_option_named(settings, message):
    """Each bad value raises ConfigurationError naming the option, the rule and the value."""
    with pytest.raises(ConfigurationError) as caught:
        check_values(settings)
    assert str(caught.value).startswith(message)


def test_good_values_and_nulls_pass():
    """Numbers, nulls where allowed, lists of origins and string maps are accepted."""
    check_values(
        {
            "api_base": "https://api.example.com/v1",
            "leeway": 0,
            "refresh_attempts": 3,
            "refresh_timeout": None,
            "lock_timeout": 2.5,
            "storage": "memory",
            "allowed_origins": ["https://a.example"],
            "authorization_params": {"audience": "api"},
            "logout_endpoint": None,
            "issuer": None,
        }
    )


def test_default_endpoints_go_under_the_api_base_path():
    """api_base with a path keeps it for the default endpoints; an origin alone is its root."""
    assert under_base("https://api.example.com/v1", "/auth/login") == (
        "https://api.example.com/v1/auth/login"
    )
    assert under_base("https://api.example.com/v1/", "/auth/refresh") == (
        "https://api.example.com/v1/auth/refresh"
    )
    assert under_base("https://api.example.com", "/auth/login") == (
        "https://api.example.com/auth/login"
    )


def test_api_base_with_a_query_is_refused():
    """A query or fragment in api_base cannot take a path under it: refused, named."""
    with pytest.raises(ConfigurationError) as caught:
        under_base("https://api.example.com/v1?x=1", "/auth/login")
    assert "option api_base must be a URL without query or fragment" in str(caught.value)
