"""pytest-authfetch: run authfetch's mock token server in your tests and drive its test controls."""

from pytest_authfetch.server import (
    AuthfetchServer,
    Reply,
    ServerError,
    ServerOptions,
    Stats,
)

__all__ = ["AuthfetchServer", "Reply", "ServerError", "ServerOptions", "Stats"]
