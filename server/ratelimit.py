"""The login rate limit: one Flask-Limiter instance, bound to each app by ``create_app``.

Views take their limit with ``@limiter.limit(...)``; the limit of ``POST
/auth/login`` and ``POST /oauth/authorize`` (one shared budget) is the app's
``LOGIN_RATE_LIMIT``. Storage is Flask-Limiter's
in-memory store, created afresh by every ``init_app`` (so a new app starts
with no hits, like a restarted server).
"""

from __future__ import annotations

import time

from flask import Flask, Response, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)

LOGIN_LIMITED = "too many login attempts; try again later"
#: One budget for both ways to check a password: ``POST /auth/login`` and the
#: provider's sign-in page (``POST /oauth/authorize``).
LOGIN_SCOPE = "login"


def login_limit() -> str:
    """The current app's login limit (config ``LOGIN_RATE_LIMIT``)."""
    limit: str = current_app.config["LOGIN_RATE_LIMIT"]
    return limit


def init_app(app: Flask) -> None:
    """Bind the limiter to ``app`` and tell rate-limited clients when to come back."""
    limiter.init_app(app)
    app.after_request(_retry_after)


def _retry_after(response: Response) -> Response:
    """``Retry-After`` on a 429, from the limit that was hit."""
    limit = limiter.current_limit if response.status_code == 429 else None
    if limit is not None:
        response.headers["Retry-After"] = str(max(1, limit.reset_at - int(time.time())))
    return response
