"""authfetch: fetch that refreshes an expired access token once and replays the request.

The package root exports the pure core (every public name of ``authfetch.core``);
the browser edge, ``authfetch.web``, is imported explicitly by pages that run in
a browser, and ``authfetch.urllib_opener`` by synchronous code.
"""

from .core import *  # noqa: F403 - the core's public names are the package's
from .core import __all__ as __all__

__version__ = "0.1.0"
