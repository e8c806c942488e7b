"""Find Debian's Chromium, and the project root.

The server itself is run by the pytest plugin in ``py/pytest-authfetch``
(:class:`pytest_authfetch.AuthfetchServer`); tests use its fixtures.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Flags for Debian's Chromium on a machine with no network but the registries.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_executable() -> str:
    """The Chromium to drive: ``$AUTHFETCH_CHROMIUM``, else what find-chromium.sh finds.

    Raises ``RuntimeError`` with find-chromium.sh's one-line reason if none.
    """
    configured = os.environ.get("AUTHFETCH_CHROMIUM")
    if configured:
        return configured
    found = subprocess.run(
        [str(ROOT / "tools" / "find-chromium.sh")], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        raise RuntimeError(found.stderr.strip() or "no Chromium found")
    return found.stdout.strip()
