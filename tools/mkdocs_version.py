"""MkDocs hook: the project's one version (the library's ``__version__``) in the docs.

The site's name becomes ``authfetch <version>``, and ``{{ version }}`` in a page becomes the
version (e.g. the wheel's file name, ``authfetch-{{ version }}-py3-none-any.whl``).
Named in mkdocs.yml under ``hooks``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

_spec = importlib.util.spec_from_file_location(
    "authfetch_tools_wheel", Path(__file__).with_name("wheel.py")
)
assert _spec is not None and _spec.loader is not None
_wheel = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_wheel)
version = _wheel.version  # tools/wheel.py: the line in the library's __init__.py


def on_config(config: Any) -> Any:
    """Name the site with the version."""
    config["site_name"] = f"authfetch {version()}"
    return config


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Put the version where a page says ``{{ version }}``."""
    return markdown.replace("{{ version }}", version())
