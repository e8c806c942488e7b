"""Expiry decisions: leeway, server clock skew, HTTP dates. No I/O, ``now`` is an argument.

Times are epoch seconds. A token's ``expires_at`` is on the *server's* clock;
``skew`` is ``server_clock - local_clock``, so the server's "now" is
``now + skew``.
"""

MAX_DEFAULT_LEEWAY = 30.0
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def default_leeway(lifetime: "float | None") -> float:
    """Return the default leeway: ``min(30 s, lifetime / 3)``.

    Thirty seconds covers a slow refresh round trip; a third of the lifetime
    keeps very short-lived tokens (tests, demos) from being refreshed on every
    request. An unknown lifetime gives 30 s.
    """
    if lifetime is None or lifetime <= 0:
        return MAX_DEFAULT_LEEWAY
    return min(MAX_DEFAULT_LEEWAY, lifetime / 3.0)


def needs_refresh(
    expires_at: "float | None", now: float, leeway: float = 0.0, skew: float = 0.0
) -> bool:
    """Tell whether a token expiring at ``expires_at`` is within ``leeway`` of it.

    ``skew`` (server minus local clock) moves ``now`` to the server's clock.
    An unknown expiry never needs a proactive refresh (the 401 path covers it).
    """
    if expires_at is None:
        return False
    return now + skew >= expires_at - leeway


def estimate_skew(
    now: float, issued_at: "float | None" = None, server_date: "float | None" = None
) -> "float | None":
    """Estimate ``server_clock - local_clock`` when a token response arrives.

    Prefers the fresh token's ``iat`` (set by the server when it answered), then
    the response's ``Date`` header (already parsed to epoch seconds).
    Returns ``None`` when neither is known.
    """
    if issued_at is not None:
        return float(issued_at) - now
    if server_date is not None:
        return float(server_date) - now
    return None


def days_from_civil(year: int, month: int, day: int) -> int:
    """Return days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm)."""
    if month <= 2:
        year -= 1
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_http_date(value: "str | None") -> "float | None":
    """Parse an IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) to epoch seconds.

    Returns ``None`` for a missing or malformed value (never raises).
    """
    if not value:
        return None
    parts = value.replace(",", " ").split()
    if len(parts) < 5 or parts[0][:1].isdigit():
        return None
    try:
        day, month, year = int(parts[1]), _MONTHS.index(parts[2][:3].lower()) + 1, int(parts[3])
        hour, minute, second = (int(p) for p in parts[4].split(":"))
    except ValueError:
        return None
    return float(days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second)
