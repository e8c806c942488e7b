"""The web-server settings of docs/embed.md work: the exported example, served by
``python3 -m http.server`` as the page says and by nginx with the page's own server block
(Debian's stock ``mime.types``), starts on MicroPython, signs in and calls the API in Chromium."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from e2e_tests.conftest import READY_TIMEOUT_MS
from e2e_tests.conftest import browser_type_launch_args as browser_type_launch_args
from e2e_tests.serverproc import ROOT

EMBED = ROOT / "docs" / "embed.md"
SERVE = ROOT / "examples" / "static-site" / "serve.py"


def fenced(language: str) -> str:
    """The first ``language`` code block of docs/embed.md's web-server section."""
    section = EMBED.read_text().split("## 8. Web server settings that work", 1)[1]
    found = re.search(rf"^```{language}\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert found, f"docs/embed.md has no {language} block in its web-server section"
    return found.group(1)


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 15) -> None:
    """Wait until ``url`` answers (or fail with the process's output)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the web server exited: {process.communicate()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            # Not listening yet: wait for the server to exit, 0.1 s at most, then ask again.
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.1)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def export_site(folder: Path, api: str) -> None:
    """``serve.py --export`` as the page shows it, with the test's API origin."""
    command = [sys.executable, str(SERVE), "--export", str(folder), "--api", api]
    subprocess.run(command, check=True, capture_output=True)


def nginx_conf(folder: Path, port: int, nginx: Path) -> Path:
    """A whole nginx.conf around the page's server block: its port and root set, the stock
    ``mime.types`` of this nginx, and ``gzip on`` as Debian's nginx.conf has it."""
    mime = nginx.parent.parent.parent / "etc" / "nginx" / "mime.types"
    if not mime.exists():
        mime = Path("/etc/nginx/mime.types")
    block = fenced("nginx")
    for written, here in (
        ("listen 8080;", f"listen 127.0.0.1:{port};"),
        ("root /srv/notes;", f"root {folder / 'site'};"),
        ("include /etc/nginx/mime.types;", f"include {mime};"),
    ):
        assert written in block, f"docs/embed.md's server block has no {written!r}"
        block = block.replace(written, here)
    temp = folder / "nginx-temp"
    temp.mkdir()
    conf = folder / "nginx.conf"
    conf.write_text(
        f"daemon off; worker_processes 1; user root; pid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'};\nevents {{}}\n"
        f"http {{\n access_log off; gzip on; default_type application/octet-stream;\n"
        + "".join(
            f" {kind}_temp_path {temp / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + block
        + "}\n"
    )
    return conf


@pytest.fixture
def running(tmp_path: Path) -> Iterator[list[subprocess.Popen]]:
    """Processes a test starts; each is stopped at the end."""
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def sign_in_on(page: Page, url: str) -> None:
    """Open the example at ``url``, wait for authfetch, sign in, see the notes."""
    page.goto(url)
    expect(page.locator("html")).to_have_attribute(
        "data-authfetch", "ready", timeout=READY_TIMEOUT_MS
    )
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo-pass")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Hello, demo")).to_be_visible()


def test_http_server_settings_work(page: Page, tmp_path: Path, authfetch_server_factory, running):
    """``python3 -m http.server`` serves the exported site as it is, and the page signs in."""
    command = fenced("sh").splitlines()[1]
    assert command.startswith("python3 -m http.server 8080 --bind 127.0.0.1 --directory ")
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    api = authfetch_server_factory(allow_origins=[site])
    export_site(tmp_path / "site", api.url)
    server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    server += ["--directory", str(tmp_path / "site")]
    running.append(subprocess.Popen(server, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    wait_for(site + "/", running[-1])
    sign_in_on(page, site + "/")
    assert api.stats()["login"] == 1


def test_nginx_settings_work(page: Page, tmp_path: Path, authfetch_server_factory, running):
    """nginx with the page's server block serves .mjs and the archive right; the page signs in."""
    found = subprocess.run(
        [str(ROOT / "tools" / "find-nginx.sh")], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        pytest.skip(found.stderr.strip())
    nginx = Path(found.stdout.strip())
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    api = authfetch_server_factory(allow_origins=[site])
    export_site(tmp_path / "site", api.url)
    conf = nginx_conf(tmp_path, port, nginx)
    running.append(
        subprocess.Popen(
            [str(nginx), "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    )
    wait_for(site + "/", running[-1])
    versions_file = tmp_path / "site" / "vendor" / "micropython"
    (runtime,) = versions_file.iterdir()
    with urllib.request.urlopen(f"{site}/vendor/micropython/{runtime.name}/micropython.mjs") as r:
        assert r.headers["Content-Type"] == "text/javascript"
        assert "immutable" in r.headers["Cache-Control"]
    request = urllib.request.Request(
        site + "/authfetch-mpy.tar.gz", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.headers["Content-Type"] == "application/gzip"
        assert answer.headers["Content-Encoding"] is None
        assert answer.headers["Cache-Control"] == "no-cache"
    sign_in_on(page, site + "/")
    assert api.stats()["login"] == 1
