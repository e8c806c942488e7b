"""``python -m server`` as a real process on a free port, and raw HTTP to reach waitress itself."""

from __future__ import annotations

import json
import selectors
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from server import PROJECT_ROOT

START_TIMEOUT_S = 30


class Server:
    """``python -m server --port 0 --testing`` on a temporary db, spoken to with urllib."""

    def __init__(self, tmp_path: Path, *extra_args: str) -> None:
        """Start it (with ``extra_args``) and wait for its "authfetch server on" line."""
        self.stderr_path = tmp_path / "server.stderr"
        self.stderr = self.stderr_path.open("w")
        command = [sys.executable, "-m", "server", "--port", "0", "--testing",
                   "--db", str(tmp_path / "db" / "authfetch.sqlite3"), *extra_args]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=self.stderr, text=True
        )
        self.url = self._wait_for_url()
        self.port = int(self.url.rsplit(":", 1)[1])

    def _wait_for_url(self) -> str:
        """The URL from the ready line (fails with the server's stderr if it never comes)."""
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if selector.select(timeout=START_TIMEOUT_S):
                line = self.process.stdout.readline()
                if line.startswith("authfetch server on http://127.0.0.1:"):
                    return line.split(" on ", 1)[1].strip()
        self.stop()
        raise AssertionError("server did not start: " + self.stderr_path.read_text())

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        """Send a request (with a bearer ``token``); return (status, JSON or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        return status, json.loads(payload) if payload else None

    def raw(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send ``request`` bytes as they are; return the status, headers and body of the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as conn:
            conn.sendall(request)
            received = b""
            while chunk := conn.recv(65536):
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), headers, body

    def stop(self) -> int:
        """SIGTERM, wait, and return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()
        return self.process.returncode
