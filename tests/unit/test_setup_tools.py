"""The set-up scripts stop with one clear line when a prerequisite is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def fake_node_modules(root: Path, **versions: str) -> Path:
    """A node_modules folder holding only the runtimes' package.json, at ``versions``."""
    sys.path.insert(0, str(ROOT / "tools"))
    import vendor

    pins = json.loads((ROOT / "package.json").read_text())["dependencies"]
    for name, npm_name in vendor.RUNTIMES.items():
        folder = root / npm_name
        folder.mkdir(parents=True)
        version = versions.get(name, pins[npm_name])
        (folder / "package.json").write_text(json.dumps({"version": version}))
    return root


def test_vendor_refuses_an_installed_runtime_that_is_not_the_pinned_one(tmp_path):
    """An installed runtime whose version differs from package.json's pin (a stale
    node_modules) stops the set-up with one line saying to run npm ci."""
    modules = fake_node_modules(tmp_path / "node_modules", micropython="0.0.1")
    script = (
        "import sys, tools.vendor as v; from pathlib import Path;"
        f"v.NODE_MODULES = Path({str(modules)!r}); v.VENDOR = Path({str(tmp_path)!r}) / 'v';"
        "sys.exit(v.main())"
    )
    result = run([sys.executable, "-c", script])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "@micropython/micropython-webassembly-pyscript 0.0.1 is installed" in result.stderr
    assert "run 'npm ci'" in result.stderr


def test_vendor_lays_out_every_runtime_by_its_pinned_version():
    """After the set-up each runtime sits in vendor/<name>/<pinned version>/, and
    vendor/runtimes.json says so (what the pages are filled from)."""
    pins = json.loads((ROOT / "package.json").read_text())["dependencies"]
    recorded = json.loads((ROOT / "vendor" / "runtimes.json").read_text())
    entry_points = {
        "pyscript": ("@pyscript/core", "core.js"),
        "pyodide": ("pyodide", "pyodide.mjs"),
        "micropython": ("@micropython/micropython-webassembly-pyscript", "micropython.wasm"),
    }
    for name, (npm_name, entry) in entry_points.items():
        assert recorded[name] == pins[npm_name]
        assert (ROOT / "vendor" / name / pins[npm_name] / entry).is_file()


def make_question(*what_if: str, target: str = "build/authfetch.tar.gz") -> int:
    """``make -q <target>`` (0: up to date), pretending ``what_if`` changed."""
    flags = [f"--what-if={path}" for path in what_if]
    return run(["make", "-q", *flags, target]).returncode


@pytest.mark.parametrize("target", ["build/authfetch.tar.gz", "build/authfetch-mpy.tar.gz"])
def test_archive_is_rebuilt_when_a_library_file_or_folder_changes(target: str):
    """Each archive is up to date after the set-up, and make rebuilds it when a module
    changes or a folder's listing does (a module added or removed)."""
    assert make_question(target=target) == 0
    assert make_question("py/authfetch/src/authfetch/core/tokens.py", target=target) == 1
    assert make_question("py/authfetch/src/authfetch/web", target=target) == 1
    assert make_question("tools/libarchive.py", target=target) == 1
    assert make_question("README.md", target=target) == 0


def test_second_setup_does_nothing():
    """A second ``make setup`` finds every step up to date (idempotent and fast)."""
    result = run(["make", "-q", "setup"])
    assert result.returncode == 0, result.stdout + result.stderr
