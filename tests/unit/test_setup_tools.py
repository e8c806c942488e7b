"""The set-up scripts stop with one clear line when a prerequisite is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(command: list[str], **env: str) -> subprocess.CompletedProcess:
    """Run a set-up command from the project root with extra environment variables."""
    return subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )


def test_missing_python_is_one_clear_line():
    """prereqs.sh names the missing interpreter and how to get it, in one line."""
    result = run(["bash", "tools/prereqs.sh", "python"], PYTHON="no-such-python3")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "no 'no-such-python3' found: install Python 3.11 or newer" in result.stderr


def test_missing_node_is_one_clear_line(tmp_path):
    """prereqs.sh says Node.js is missing when it is not on the PATH."""
    result = run(["/bin/bash", "tools/prereqs.sh", "node"], PATH=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "authfetch set-up: no 'node' found: install Node.js 20 or newer "
        "(Debian: apt-get install nodejs npm)"
    )


def test_bad_chromium_setting_is_one_clear_line():
    """find-chromium.sh refuses an AUTHFETCH_CHROMIUM that is not an executable."""
    result = run(["bash", "tools/find-chromium.sh"], AUTHFETCH_CHROMIUM="/nonexistent/chrome")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "authfetch set-up: AUTHFETCH_CHROMIUM=/nonexistent/chrome is not an executable file"
    )


def test_vendor_without_npm_packages_is_one_clear_line(tmp_path):
    """vendor.py says to run npm ci when the pinned npm packages are not installed."""
    script = (
        "import sys, tools.vendor as v; from pathlib import Path;"
        f"v.NODE_MODULES = Path({str(tmp_path)!r}); v.VENDOR = Path({str(tmp_path)!r}) / 'v';"
        "sys.exit(v.main())"
    )
    result = run([sys.executable, "-c", script])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "run 'npm ci' first" in result.stderr
