"""pytest-authfetch: run authfetch's mock token server in your tests and drive its test controls."""

from importlib.metadata import PackageNotFoundError, version

from pytest_authfetch.server import (
    AuthfetchServer,
    Reply,
    ServerError,
    ServerOptions,
    Stats,
)

try:
    #: The plugin's version: the library's, set when it is built (setup.py).
    __version__ = version("pytest-authfetch")
except PackageNotFoundError:  # pragma: no cover - run from a source tree, not installed
    __version__ = "0+unknown"

__all__ = ["AuthfetchServer", "Reply", "ServerError", "ServerOptions", "Stats", "__version__"]
