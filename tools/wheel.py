"""Build the library's wheel, ``build/authfetch-<version>-py3-none-any.whl``.

A PyScript page may name it in ``packages`` instead of unpacking
``build/authfetch.tar.gz`` from ``[files]`` (docs: Getting started)::

    packages = ["./authfetch-<version>-py3-none-any.whl"]

The wheel is built by setuptools from ``py/authfetch/pyproject.toml`` (offline:
``pip wheel --no-index --no-build-isolation``), from a copy of the package in a
temporary folder so the build leaves nothing in ``py/authfetch``. Its time stamps
are fixed (``SOURCE_DATE_EPOCH``), so the same sources give the same bytes, and
the file is rewritten only when they change. The version is the library's
``__version__`` (:func:`version`), the project's one version number. Run by ``make``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "py" / "authfetch"
INIT = PROJECT / "src" / "authfetch" / "__init__.py"
BUILD = ROOT / "build"
#: 1980-01-01, the earliest time a zip entry can carry.
EPOCH = "315532800"
VERSION_LINE = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)


def version(init: Path = INIT) -> str:
    """The project's version: the ``__version__ = "…"`` line of the library's ``__init__``."""
    found = VERSION_LINE.search(init.read_text())
    if found is None:
        raise SystemExit(f'{init}: no line __version__ = "..."')
    return found.group(1)


def wheel_path(build: Path = BUILD) -> Path:
    """Where the wheel of this version goes."""
    return build / f"authfetch-{version()}-py3-none-any.whl"


def build_wheel(project: Path = PROJECT) -> bytes:
    """The wheel's bytes, built by setuptools from a copy of ``project``."""
    with tempfile.TemporaryDirectory(prefix="authfetch-wheel-") as folder:
        source = Path(folder) / "authfetch"
        skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
        shutil.copytree(project, source, ignore=skip)
        out = Path(folder) / "dist"
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index"]
        command += ["--no-build-isolation", "--quiet", "--wheel-dir", str(out), str(source)]
        env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"pip wheel failed:\n{done.stdout}{done.stderr}")
        (wheel,) = out.glob("authfetch-*.whl")
        return wheel.read_bytes()


def write(target: Path | None = None) -> bool:
    """Write the wheel unless ``target`` already holds these bytes; True if written.

    Wheels of other versions in the same folder are removed.
    """
    target = target or wheel_path()
    content = build_wheel()
    for old in target.parent.glob("authfetch-*-py3-none-any.whl"):
        if old != target:
            old.unlink()
    if target.exists() and target.read_bytes() == content:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return True


def main() -> int:
    """Command line: ``version`` prints the version; otherwise (re)build the wheel."""
    if sys.argv[1:] == ["version"]:
        print(version())
        return 0
    target = wheel_path()
    written = write(target)
    print(f"{target.relative_to(ROOT)}" + ("" if written else " (unchanged)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
