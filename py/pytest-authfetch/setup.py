"""The plugin's version is the library's: ``__version__`` in py/authfetch/src/authfetch/__init__.py.

pyproject.toml declares ``version`` dynamic; this reads it from the library beside the
plugin in a checkout, or from PKG-INFO in a source distribution. A copy of the plugin
with neither (the install test copies only the plugin and ``server/``) is 0+unknown.
"""

import re
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
LIBRARY_INIT = HERE.parent / "authfetch" / "src" / "authfetch" / "__init__.py"


def version() -> str:
    """The library's ``__version__``, else the sdist's ``Version:``, else ``0+unknown``."""
    if LIBRARY_INIT.exists():
        found = re.search(r'^__version__ = "([^"]+)"$', LIBRARY_INIT.read_text(), re.MULTILINE)
        if found:
            return found.group(1)
    pkg_info = HERE / "PKG-INFO"
    if pkg_info.exists():
        found = re.search(r"^Version: (\S+)$", pkg_info.read_text(), re.MULTILINE)
        if found:
            return found.group(1)
    return "0+unknown"


setup(version=version())
