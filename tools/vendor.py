"""Lay out the self-hosted browser runtime under ``vendor/``.

Inputs (all pinned): the npm packages named in :data:`RUNTIMES` (their versions
are written once, in package.json, and installed by ``npm ci`` from
package-lock.json) and the wheels listed in ``browser-wheels.txt`` (downloaded
from PyPI with ``--require-hashes``).

Output::

    vendor/pyscript/<version>/...            PyScript's dist files
    vendor/pyodide/<version>/...             Pyodide core + the wheels
    vendor/pyodide/<version>/pyodide-lock.json   our lock, naming only our wheels
    vendor/micropython/<version>/...         MicroPython's PyScript build (mjs + wasm)
    vendor/runtimes.json                     {"pyscript": version, ...}: what the
                                             server and serve.py fill into pages

The npm ``pyodide`` package holds the core only, and PyPI's wheels have other
sha256 values than the lock it ships, so we write our own lock for the wheels
we actually serve. Run by ``make``; safe to run again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "vendor"
WHEELS_FILE = ROOT / "browser-wheels.txt"
PYODIDE_PYTHON = "3.14"
PACKAGE_JSON = ROOT / "package.json"
#: Short name (the vendor/ folder and the page templates' ``{{name}}``) -> npm package.
RUNTIMES = {
    "pyscript": "@pyscript/core",
    "pyodide": "pyodide",
    "micropython": "@micropython/micropython-webassembly-pyscript",
}
RUNTIMES_FILE = "runtimes.json"


class SetupError(Exception):
    """A prerequisite is missing; the message is the one line shown to the user."""


def package_version(package_dir: Path) -> str:
    """Version of an installed npm package."""
    manifest = package_dir / "package.json"
    if not manifest.exists():
        shown = package_dir.relative_to(ROOT) if package_dir.is_relative_to(ROOT) else package_dir
        raise SetupError(f"{shown} is missing: run 'npm ci' first")
    return json.loads(manifest.read_text())["version"]


def pinned_versions() -> dict[str, str]:
    """The runtime versions package.json pins, by short name; installed ones must match."""
    pins = json.loads(PACKAGE_JSON.read_text())["dependencies"]
    versions = {}
    for name, npm_name in RUNTIMES.items():
        installed = package_version(NODE_MODULES / npm_name)
        if installed != pins[npm_name]:
            raise SetupError(
                f"{npm_name} {installed} is installed but package.json pins {pins[npm_name]}:"
                " run 'npm ci'"
            )
        versions[name] = installed
    return versions


def copy_tree(source: Path, target: Path, skip: tuple[str, ...] = ()) -> None:
    """Replace ``target`` with a copy of ``source``'s files (not its sub-folders' maps)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.is_file() and item.name not in skip and not item.name.endswith(".map"):
            shutil.copy2(item, target / item.name)


def download_wheels(target: Path) -> list[Path]:
    """Fetch the pinned browser wheels from PyPI, checking their hashes."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--only-binary=:all:", "--python-version", PYODIDE_PYTHON,
            "--require-hashes", "-r", str(WHEELS_FILE), "-d", tmp,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise SetupError(f"could not download the browser wheels from PyPI: {last}")
        wheels = []
        for wheel in sorted(Path(tmp).glob("*.whl")):
            wheels.append(Path(shutil.copy2(wheel, target / wheel.name)))
        return wheels


def wheel_imports(wheel: Path) -> list[str]:
    """Top-level importable names in a pure wheel."""
    names = set()
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            top = member.split("/", 1)[0]
            if top.endswith((".dist-info", ".data")):
                continue
            if "/" in member or top.endswith(".py"):
                names.add(top.removesuffix(".py"))
    return sorted(names)


def lock_entry(wheel: Path) -> tuple[str, dict]:
    """The pyodide-lock.json entry that lets ``loadPackage`` install ``wheel``."""
    distribution, version = wheel.name.split("-")[:2]
    name = distribution.lower().replace("_", "-")
    entry = {
        "name": name,
        "version": version,
        "file_name": wheel.name,
        "install_dir": "site",
        "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "package_type": "package",
        "imports": wheel_imports(wheel),
        "depends": [],
        "unvendored_tests": False,
        "tool": {},
    }
    return name, entry


def write_lock(pyodide_source: Path, target: Path, wheels: list[Path]) -> None:
    """Write our lock: Pyodide's own ``info`` block, and only the wheels we serve."""
    upstream = json.loads((pyodide_source / "pyodide-lock.json").read_text())
    packages = dict(lock_entry(wheel) for wheel in wheels)
    lock = {"info": upstream["info"], "packages": packages}
    (target / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True))


def main() -> int:
    """Build ``vendor/``; print one clear line and exit 1 on a missing prerequisite."""
    try:
        versions = pinned_versions()
        pyodide_source = NODE_MODULES / "pyodide"
        pyodide_target = VENDOR / "pyodide" / versions["pyodide"]
        copy_tree(
            NODE_MODULES / "@pyscript" / "core" / "dist", VENDOR / "pyscript" / versions["pyscript"]
        )
        copy_tree(pyodide_source, pyodide_target, skip=("pyodide-lock.json", "package.json"))
        copy_tree(
            NODE_MODULES / RUNTIMES["micropython"],
            VENDOR / "micropython" / versions["micropython"],
            skip=("package.json", "README.md"),
        )
        wheels = download_wheels(pyodide_target)
        write_lock(pyodide_source, pyodide_target, wheels)
        (VENDOR / RUNTIMES_FILE).write_text(json.dumps(versions, indent=1, sort_keys=True) + "\n")
    except SetupError as error:
        print(f"authfetch set-up: {error}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{name} {version}" for name, version in versions.items())
    print(f"vendor/: {summary}, {len(wheels)} wheels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
