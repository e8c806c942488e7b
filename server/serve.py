"""waitress for ``python -m server``, with its own error answers in the app's JSON shape.

waitress answers some requests itself, before the app sees them: an invalid
``Content-Length``, a bad chunk size, headers over its 256 KiB
``max_request_header_size``, a malformed request line, an unknown
``Transfer-Encoding``. Its stock answers are ``text/plain``; this module swaps
in an error task (waitress's ``HTTPChannel.error_task_class`` hook) that
writes ``{"error", "error_description"}`` instead, with the same status.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from waitress.channel import HTTPChannel  # type: ignore[import-untyped]  # waitress has no types
from waitress.server import create_server  # type: ignore[import-untyped]
from waitress.task import ErrorTask  # type: ignore[import-untyped]

from .errors import ERROR_CODES

THREADS = 8
IDENT = "authfetch"


class JsonErrorTask(ErrorTask):
    """waitress's own error answer (parse errors, oversized headers) as a JSON body."""

    def execute(self) -> None:
        """Write the status of waitress's error with a JSON body, then close."""
        error = self.request.error
        body = json.dumps(
            {
                "error": ERROR_CODES.get(error.code, "invalid_request"),
                "error_description": str(error.body),
            }
        ).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend(
            [("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff")]
        )
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    """A waitress connection whose error answers are JSON."""

    error_task_class = JsonErrorTask


def make_server(app: Flask, host: str, port: int) -> Any:
    """A waitress server for ``app`` on ``host:port`` (0 = any free port), not yet running."""
    server = create_server(app, host=host, port=port, threads=THREADS, ident=IDENT)
    server.channel_class = JsonErrorChannel
    return server
