"""Start ``python -m server`` as a real process on a free port, and find the Chromium.

Shared by the end-to-end tests and the benchmarks.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30
#: Flags for Debian's Chromium on a machine with no network but the registries.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_executable() -> str:
    """The Chromium to drive: ``$AUTHFETCH_CHROMIUM``, else what find-chromium.sh finds.

    Raises ``RuntimeError`` with find-chromium.sh's one-line reason if none.
    """
    configured = os.environ.get("AUTHFETCH_CHROMIUM")
    if configured:
        return configured
    found = subprocess.run(
        [str(ROOT / "tools" / "find-chromium.sh")], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        raise RuntimeError(found.stderr.strip() or "no Chromium found")
    return found.stdout.strip()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A running demo server; ``url`` is its origin, ``stop()`` ends it."""

    def __init__(self, db_path: Path, *flags: str) -> None:
        """Start the server with a database at ``db_path`` and extra CLI ``flags``."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "server", "--port", str(self.port)]
        command += ["--db", str(db_path), *flags]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        """Block until the server prints its ready line (or fail with its output)."""
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT_S
        seen = []
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                break
            line = self.process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "authfetch server on" in line:
                selector.close()
                return
        selector.close()
        self.stop()
        raise RuntimeError("server did not start:\n" + "".join(seen))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send a JSON request to the server (test controls, API) and decode the answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
