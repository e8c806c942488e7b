"""authfetch: fetch that refreshes an expired access token once and replays the request.

The package root exports the pure core (every public name of ``authfetch.core``);
the browser edge, ``authfetch.web``, is imported explicitly by pages that run in
a browser, and ``authfetch.urllib_opener`` by synchronous code.
"""

import sys

if sys.implementation.name == "micropython":
    import hashlib
    import json
    import random

    # MicroPython looks for a file extending a built-in module at every `import json` not
    # answered by sys.modules: six failed file look-ups, each a thrown JS error (about
    # 40 µs in the browser), for each of the library's modules importing it.
    for _builtin in (hashlib, json, random):
        sys.modules[_builtin.__name__] = _builtin

from .core import *  # noqa: F403 - the core's public names are the package's
from .core import __all__ as __all__

__version__ = "0.1.0"
