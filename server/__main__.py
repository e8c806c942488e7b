"""``python -m server``: run the authfetch demo page and token server under waitress."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType
from typing import Any

from . import DEFAULT_CONFIG, ORIGIN_RE, ConfigError, create_app
from .config import redirect_uri_problem

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def _seconds(minimum: float, kind: type[int] | type[float] = int) -> Any:
    """An argparse type: a number of seconds (``kind``) of at least ``minimum``."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not value >= minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return parse


def _origin(text: str) -> str:
    """An argparse type: ``scheme://host[:port]`` (no path, no wildcard)."""
    if not ORIGIN_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not an origin like http://host:port: {text!r}")
    return text


def _redirect_uri(text: str) -> str:
    """An argparse type: ``/path`` (on the server's own origin) or an absolute http(s) URI."""
    problem = redirect_uri_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (the contract in shared/ARCHITECTURE.md).

    The lifetimes' defaults are read from :data:`server.DEFAULT_CONFIG`.
    """
    defaults = DEFAULT_CONFIG
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    add = parser.add_argument
    add("--host", default=DEFAULT_HOST, help="address to bind (default %(default)s)")
    add(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port, 0 = any free one (default %(default)s)",
    )
    add(
        "--access-ttl",
        type=_seconds(1),
        default=defaults["ACCESS_TTL"],
        metavar="S",
        help="access token lifetime in seconds (default %(default)s)",
    )
    add(
        "--refresh-ttl",
        type=_seconds(1),
        default=defaults["REFRESH_TTL"],
        metavar="S",
        help="absolute session lifetime from login, never extended (default %(default)s)",
    )
    add(
        "--idle-ttl",
        type=_seconds(1),
        default=defaults["IDLE_TTL"],
        metavar="S",
        help="session ends after this long without a refresh (default %(default)s)",
    )
    add(
        "--reuse-grace",
        type=_seconds(0, float),
        default=defaults["REUSE_GRACE"],
        metavar="S",
        help="a used refresh token may be presented again this long after its first use "
        "without revoking the session (default %(default)s)",
    )
    add(
        "--db",
        metavar="PATH",
        help="SQLite database (default instance/authfetch.sqlite3); the signing "
        "secret lives beside it in PATH.secret unless $AUTHFETCH_SECRET is set",
    )
    add(
        "--allow-origin",
        action="extend",
        nargs="+",
        type=_origin,
        default=[],
        metavar="ORIGIN",
        help="allow CORS from this origin for /auth and /api (repeatable; default: none)",
    )
    add(
        "--redirect-uri",
        action="append",
        type=_redirect_uri,
        default=[],
        metavar="URI",
        help="register one more redirect URI for the OAuth client "
        f"{defaults['OIDC_CLIENT_ID']} (repeatable; /path = on this server's origin; "
        "always registered: " + ", ".join(defaults["REDIRECT_URIS"]) + ")",
    )
    add(
        "--post-logout-redirect-uri",
        action="append",
        type=_redirect_uri,
        default=[],
        metavar="URI",
        help="register one more post-logout redirect URI (repeatable, same rule; the redirect "
        "URIs are always allowed too)",
    )
    add(
        "--dpop-nonce",
        action="store_true",
        help="require a server-issued nonce (DPoP-Nonce) in every DPoP proof",
    )
    add(
        "--dpop-iat-window",
        type=_seconds(1, float),
        default=defaults["DPOP_IAT_WINDOW"],
        metavar="S",
        help="a DPoP proof's iat may differ from the server clock by this much "
        "(default %(default)s)",
    )
    add(
        "--testing",
        action="store_true",
        help="register the /__test__/ routes (stats, reset, clock, faults, dpop)",
    )
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The ``create_app`` config the command line asks for."""
    config: dict[str, Any] = {
        "ACCESS_TTL": args.access_ttl,
        "REFRESH_TTL": args.refresh_ttl,
        "IDLE_TTL": args.idle_ttl,
        "REUSE_GRACE": args.reuse_grace,
        "ALLOW_ORIGINS": args.allow_origin,
        "TESTING_ROUTES": args.testing,
    }
    if args.db:
        config["DATABASE"] = args.db
    if args.dpop_nonce:
        config["DPOP_NONCE"] = True
    if args.dpop_iat_window != DEFAULT_CONFIG["DPOP_IAT_WINDOW"]:
        config["DPOP_IAT_WINDOW"] = args.dpop_iat_window
    if args.redirect_uri:
        config["REDIRECT_URIS"] = [*DEFAULT_CONFIG["REDIRECT_URIS"], *args.redirect_uri]
    if args.post_logout_redirect_uri:
        config["POST_LOGOUT_REDIRECT_URIS"] = [
            *DEFAULT_CONFIG["POST_LOGOUT_REDIRECT_URIS"],
            *args.post_logout_redirect_uri,
        ]
    return config


def _stop(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM ends the server like Ctrl-C does."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Start the server and block until interrupted (Ctrl-C or SIGTERM); 2 if it cannot start."""
    from .serve import make_server

    args = parse_args(argv)
    logging.basicConfig()  # waitress's warnings and errors go to stderr, as with serve()
    try:
        app = create_app(config_from_args(args))
    except ConfigError as refused:
        print(f"python -m server: error: {refused}", file=sys.stderr)
        return 2
    server = make_server(app, args.host, args.port)
    port = getattr(server, "effective_port", args.port)
    signal.signal(signal.SIGTERM, _stop)
    print(f"authfetch server on http://{args.host}:{port}", flush=True)
    server.run()  # returns after closing its sockets on KeyboardInterrupt
    return 0


if __name__ == "__main__":
    sys.exit(main())
