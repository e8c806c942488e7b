"""The demo page's PyScript config ships the whole authfetch package."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "py" / "authfetch" / "src"


def test_pyscript_toml_lists_every_library_module():
    """Every .py file of authfetch is copied into the page, each to its package path."""
    config = tomllib.loads((ROOT / "pyscript.toml").read_text())
    sources = {f"./{path.relative_to(ROOT)}" for path in PACKAGE.rglob("*.py")}
    assert set(config["files"]) == sources
    for source, target in config["files"].items():
        assert target == "./" + source.split("/src/", 1)[1]


def test_pyscript_toml_uses_only_vendored_runtime():
    """The interpreter is the self-hosted Pyodide, and the packages are the pinned wheels."""
    config = tomllib.loads((ROOT / "pyscript.toml").read_text())
    assert config["interpreter"].startswith("./vendor/pyodide/")
    wheels = (ROOT / "browser-wheels.txt").read_text()
    for package in config["packages"]:
        assert f"\n{package}==" in wheels
