"""JSON errors for every status, JSON request parsing, and headers on every response.

Every error the app produces is ``{"error": <code>, "error_description": <text>}``
with the right status (and ``Allow`` on 405, ``Retry-After`` on 429 when known);
an unexpected exception is logged and answered with a bare JSON 500, never a
traceback.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest, HTTPException, UnsupportedMediaType
from werkzeug.wrappers import Response as WSGIResponse

# OAuth-style codes where one exists; otherwise the HTTP reason in snake case.
ERROR_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    431: "request_header_fields_too_large",
    500: "server_error",
    501: "not_implemented",
}


def json_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    """A JSON error response."""
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def json_object() -> dict[str, Any]:
    """The request body as a JSON object: 415 if not declared JSON, 400 if not an object."""
    if not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")
    try:
        data = request.get_json()
    except RecursionError:  # json's C parser: too deeply nested
        raise BadRequest("JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    try:  # lone surrogates ("\\ud800") parse, but cannot be stored or echoed as UTF-8
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise BadRequest("the body must be valid Unicode") from None
    return data


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    """Any HTTP error (404, 405, 413, 429, …) as JSON, keeping its headers."""
    if isinstance(exc.response, WSGIResponse):  # a view built its own error response
        return exc.response
    status = exc.code or 500
    response = exc.get_response()  # carries Allow (405), Retry-After, …
    body = jsonify(
        error=ERROR_CODES.get(status, (exc.name or "error").lower().replace(" ", "_")),
        error_description=exc.description or exc.name,
    )
    response.set_data(body.get_data())
    response.content_type = "application/json"
    return response


def _unexpected_error(exc: Exception) -> Response:
    """Log an unhandled exception and answer a JSON 500 without details."""
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return json_error(500, "server_error", "internal server error")


def _common_headers(response: Response) -> Response:
    """Headers every response carries."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def init_app(app: Flask) -> None:
    """Install the JSON error handlers and the common headers on ``app``."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.after_request(_common_headers)
