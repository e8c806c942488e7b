"""Build the authfetch package into one archive, ``build/authfetch.zip``.

A page's PyScript config names it in one line, the same on Pyodide and on
MicroPython (PyScript unpacks it into the interpreter's working folder)::

    [files]
    "./authfetch.zip" = "./*"

The archive holds every ``.py`` file of ``py/authfetch/src/authfetch`` under
``authfetch/``; nothing else and no hand-kept list. It is byte-for-byte
reproducible (sorted entries, fixed timestamps), and rewritten only when its
content changes, so its ETag stays put between set-ups. Run by ``make``.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "py" / "authfetch" / "src" / "authfetch"
ARCHIVE = ROOT / "build" / "authfetch.zip"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def library_files(package: Path = PACKAGE) -> list[Path]:
    """The package's Python modules, in a stable order."""
    return sorted(path for path in package.rglob("*.py") if "__pycache__" not in path.parts)


def build(package: Path = PACKAGE) -> bytes:
    """The archive's bytes: ``<package name>/<module path>`` for every module.

    Each folder gets its own entry before its files (PyScript's MicroPython
    unpacker creates only one missing folder level per file).
    """
    files = library_files(package)
    folders = sorted({path.parent for path in files}, key=lambda folder: folder.parts)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder in folders:
            name = f"{package.name}/{folder.relative_to(package).as_posix()}/".replace("/./", "/")
            entry = zipfile.ZipInfo(name, FIXED_TIME)
            entry.external_attr = 0o40755 << 16
            archive.writestr(entry, b"")
        for path in files:
            name = f"{package.name}/{path.relative_to(package).as_posix()}"
            entry = zipfile.ZipInfo(name, FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, path.read_bytes())
    return buffer.getvalue()


def write(target: Path = ARCHIVE, package: Path = PACKAGE) -> bool:
    """Write the archive to ``target`` unless it already holds these bytes; True if written."""
    content = build(package)
    if target.exists() and target.read_bytes() == content:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return True


def main() -> int:
    """Command line: (re)build ``build/authfetch.zip`` and say what happened."""
    written = write()
    shown = ARCHIVE.relative_to(ROOT)
    count = len(library_files())
    print(f"{shown}: {count} modules" + ("" if written else " (unchanged)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
