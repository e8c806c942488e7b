"""Build the authfetch package into one archive, ``build/authfetch.tar.gz``.

A page's PyScript config names it in one line, the same on Pyodide and on
MicroPython (PyScript unpacks it into the interpreter's working folder)::

    [files]
    "./authfetch.tar.gz" = "./*"

The archive holds every ``.py`` file of ``py/authfetch/src/authfetch`` under
``authfetch/``; nothing else and no hand-kept list. It is byte-for-byte
reproducible (sorted entries, fixed times and owners), and rewritten only when
its content changes, so its ETag stays put between set-ups. Run by ``make``.

Why gzipped tar and not zip: the pinned PyScript unpacks a zip on MicroPython with
zip.js, which took about 200 ms for the library's files on the development
machine, against about 60 ms for a ``.tar.gz`` (which MicroPython unpacks
itself) or for a list of single files; Pyodide unpacks both natively.
"""

from __future__ import annotations

import gzip
import io
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "py" / "authfetch" / "src" / "authfetch"
ARCHIVE = ROOT / "build" / "authfetch.tar.gz"


def library_files(package: Path = PACKAGE) -> list[Path]:
    """The package's Python modules, in a stable order."""
    return sorted(path for path in package.rglob("*.py") if "__pycache__" not in path.parts)


def _entry(name: str, kind: bytes, size: int = 0) -> tarfile.TarInfo:
    """A tar entry with fixed time, owner and mode."""
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mtime = kind, size, 0
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build(package: Path = PACKAGE) -> bytes:
    """The archive's bytes: ``<package name>/<module path>`` for every module.

    Each folder gets its own entry before its files (PyScript's MicroPython
    unpacker creates only one missing folder level per file).
    """
    files = library_files(package)
    folders = sorted({path.parent for path in files}, key=lambda folder: folder.parts)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for folder in folders:
            relative = folder.relative_to(package).as_posix()
            name = package.name if relative == "." else f"{package.name}/{relative}"
            archive.addfile(_entry(name, tarfile.DIRTYPE))
        for path in files:
            content = path.read_bytes()
            name = f"{package.name}/{path.relative_to(package).as_posix()}"
            archive.addfile(_entry(name, tarfile.REGTYPE, len(content)), io.BytesIO(content))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def names(content: bytes) -> list[str]:
    """The entry names of an archive's bytes, in order (folders end with ``/``)."""
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
        return [member.name + ("/" if member.isdir() else "") for member in archive]


def write(target: Path = ARCHIVE, package: Path = PACKAGE) -> bool:
    """Write the archive to ``target`` unless it already holds these bytes; True if written."""
    content = build(package)
    if target.exists() and target.read_bytes() == content:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return True


def main() -> int:
    """Command line: (re)build ``build/authfetch.tar.gz`` and say what happened."""
    written = write()
    shown = ARCHIVE.relative_to(ROOT)
    count = len(library_files())
    print(f"{shown}: {count} modules" + ("" if written else " (unchanged)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
