"""A user's project outside this tree pip-installs the plugin and the server, and uses the fixture.

Offline and quick: a new venv sees this project's installed packages (pytest,
Flask, setuptools, ...) through a ``.pth`` file — minus this project's own
editable ``pytest-authfetch`` — and pip builds the plugin with
``--no-index --no-build-isolation`` from a copy of the repository's
``py/pytest-authfetch`` and ``server/`` (same layout, symbolic link kept). The
mock server is installed as ``pytest_authfetch.mockserver``: no top-level
``server`` package lands in the user's environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = Path("py") / "pytest-authfetch"
#: What a user writes: ten lines, a fixture and the handle, nothing of this repository.
USER_TEST = """\
def test_expired_token_then_a_failing_refresh(authfetch_server_factory):
    server = authfetch_server_factory(access_ttl=10)  # a server of this test's own
    tokens = server.login()  # the demo user
    server.advance(20)  # past the 10 s access token and the 5 s leeway
    assert server.request("GET", "/api/me", token=tokens["access_token"]).status == 401
    server.fail_next_refresh(status=503)
    refresh = {"refresh_token": tokens["refresh_token"]}
    assert server.request("POST", "/auth/refresh", refresh).status == 503
    server.restart()  # same port, database and clock
    assert server.request("POST", "/auth/refresh", refresh).status == 200
"""
#: Entries of this project's site-packages the user's venv must not see.
OWN_INSTALL = ("pytest_authfetch", "__editable__", "__pycache__")


def run(command: list[str | Path], cwd: Path, timeout: float = 120) -> str:
    """Run ``command``; its output, or a failure that shows it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def copy_of_the_repository(folder: Path) -> Path:
    """The plugin's folder and ``server/`` copied with the repository's layout."""
    skip = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    shutil.copytree(ROOT / PLUGIN, folder / PLUGIN, symlinks=True, ignore=skip)
    shutil.copytree(ROOT / "server", folder / "server", ignore=skip)
    return folder / PLUGIN


def venv_seeing_our_dependencies(folder: Path) -> Path:
    """A new venv whose ``.pth`` adds a view of this venv's packages; its Python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", folder], check=True)
    python = folder / "bin" / "python"
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], folder)
    view = folder / "project-packages"
    view.mkdir()
    for entry in Path(sysconfig.get_path("purelib")).iterdir():
        if not entry.name.startswith(OWN_INSTALL) and entry.suffix != ".pth":
            (view / entry.name).symlink_to(entry)
    Path(purelib.strip(), "project-packages.pth").write_text(f"{view}\n")
    return python


def test_a_user_project_installs_the_plugin_and_uses_the_fixture(tmp_path: Path) -> None:
    """pip install from the repository, then a ten-line test with the fixture passes there."""
    assert not tmp_path.is_relative_to(ROOT)
    source = copy_of_the_repository(tmp_path / "checkout")
    python = venv_seeing_our_dependencies(tmp_path / "venv")
    install = [python, "-m", "pip", "install", "--no-index", "--no-build-isolation", source]
    run(install, tmp_path)
    where = run(
        [python, "-c", "import pytest_authfetch.mockserver as m; print(m.__file__)"], tmp_path
    )
    assert where.startswith(str(tmp_path / "venv")), where
    assert "/pytest_authfetch/mockserver/" in where, where
    top_level = run(
        [python, "-c", "import importlib.util; print(importlib.util.find_spec('server'))"],
        tmp_path,
    )
    assert top_level.strip() == "None", top_level  # the name `server` stays the user's
    site = Path(where).parents[2]
    assert not (site / "server").exists()
    project = tmp_path / "my-project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_my_api.py").write_text(USER_TEST)
    assert len(USER_TEST.splitlines()) == 10
    out = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert "1 passed" in out, out


def test_the_user_test_fails_when_the_server_misbehaves(tmp_path: Path) -> None:
    """The ten-line test can fail: run here, against a server whose fault is not armed."""
    body = USER_TEST.replace("fail_next_refresh(status=503)", "clear_faults()")
    (tmp_path / "test_user.py").write_text(body)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "1 failed" in done.stdout, done.stdout
