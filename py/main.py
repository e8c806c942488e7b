"""The demo page's Python: wiring only (the auth logic lives in authfetch)."""

import sys

import jwt
import pyodide_http
from pyscript import document


def show_ready() -> None:
    """Swap the loading indicator for the ready panel and set the ready marker."""
    document.getElementById("loading").hidden = True
    document.getElementById("runtime-info").textContent = (
        f"Python {sys.version.split()[0]} · PyJWT {jwt.__version__} · pyodide-http loaded: "
        f"{pyodide_http.__name__}"
    )
    document.getElementById("ready").hidden = False
    document.documentElement.dataset.authfetch = "ready"


show_ready()
