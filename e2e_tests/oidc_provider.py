"""node-oidc-provider, run for the tests: the process, its test controls, and browser helpers.

:class:`OidcProvider` starts ``tests/oidc_provider/provider.mjs`` (npm ``oidc-provider``,
pinned in the root ``package.json``) on 127.0.0.1 with the public client ``authfetch-test``
and a protected API at ``{issuer}/api``; see ``tests/oidc_provider/README.md`` for every
setting. Its test routes move the provider's clock (``advance``, ``now``), read its counters
(``stats``), empty it (``reset``) and steer the API's DPoP checks (``api_dpop``).

For Playwright: :func:`sign_in_at_provider` fills the provider's development login page and
its consent page; :func:`block_internet` keeps the login page's web font from leaving the
machine.

Pytest fixtures are defined here (import them into a ``conftest.py`` to use them):
``oidc_provider_factory`` (session scope) starts providers and stops them at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "oidc_provider" / "provider.mjs"
PACKAGE = ROOT / "node_modules" / "oidc-provider" / "package.json"
#: The one client the provider knows (public, PKCE S256, refresh tokens rotated).
CLIENT_ID = "authfetch-test"
#: The scope the API's resource grants (the token answer's ``scope``).
API_SCOPE = "api:read"
#: Node starts the provider in well under a second; a loaded 2-core machine takes longer.
START_TIMEOUT_S = 30.0
#: Bound on one call to the provider's test routes.
CONTROL_TIMEOUT_S = 10.0
#: Bound on each wait of :func:`sign_in_at_provider`.
SIGN_IN_TIMEOUT_MS = 15_000


class OidcProviderError(RuntimeError):
    """The provider could not be started or did not answer; the message says why."""


class OidcProvider:
    """One node-oidc-provider process on 127.0.0.1 (see the module's docstring).

    Use :meth:`start` (or the ``oidc_provider_factory`` fixture), then ``issuer``, ``api``,
    :meth:`advance`, :meth:`now`, :meth:`stats`, :meth:`reset`, :meth:`api_dpop`, and
    :meth:`stop` (also as a context manager).
    """

    client_id = CLIENT_ID

    def __init__(self) -> None:
        """Not started yet."""
        self.process: subprocess.Popen[str] | None = None
        self.issuer = ""
        self.port = 0
        self.access_ttl = 0
        self.dpop = False
        self.dpop_require_nonce = False
        self.redirect_uris: list[str] = []
        self.post_logout_redirect_uris: list[str] = []
        self.cors_origins: list[str] = []
        self._log: IO[str] | None = None

    @property
    def api(self) -> str:
        """The protected API's base URL (also the access tokens' resource / audience)."""
        return self.issuer + "/api"

    @property
    def origin(self) -> str:
        """The provider's origin (the issuer has no path)."""
        return self.issuer

    def start(
        self,
        redirect_uris: Iterable[str],
        post_logout_redirect_uris: Iterable[str] = (),
        cors_origins: Iterable[str] = (),
        access_ttl: int = 60,
        dpop: bool = False,
        dpop_require_nonce: bool = False,
    ) -> OidcProvider:
        """Start the provider; return once it listens (``issuer`` set).

        ``redirect_uris`` and ``post_logout_redirect_uris`` are registered for the client;
        ``cors_origins`` (and the redirect URIs' origins) may call the token, revocation
        and API endpoints from a page; ``access_ttl`` is the access tokens' life in seconds.

        ``dpop`` turns on DPoP (RFC 9449): a proof at the token endpoint gets a key-bound
        access token (``token_type`` ``DPoP``) and refresh token, and the API then requires
        ``Authorization: DPoP`` with a proof; nonces are used when a proof carries one.
        ``dpop_require_nonce`` (implies ``dpop``) makes the token endpoint and the API
        require a nonce in every proof, each issuing its own. Raises
        :class:`OidcProviderError`.
        """
        if self.process is not None:
            raise OidcProviderError("this OidcProvider is already started")
        self.redirect_uris = list(redirect_uris)
        self.post_logout_redirect_uris = list(post_logout_redirect_uris)
        self.cors_origins = list(cors_origins)
        self.access_ttl = int(access_ttl)
        self.dpop = bool(dpop or dpop_require_nonce)
        self.dpop_require_nonce = bool(dpop_require_nonce)
        node = shutil.which("node")
        if node is None:
            raise OidcProviderError("node not found on PATH (install Node 20+)")
        if not PACKAGE.exists():
            raise OidcProviderError(
                f"{PACKAGE.parent.relative_to(ROOT)} is missing: run 'make setup' (npm ci)"
            )
        command = [node, str(SCRIPT), "--port", "0", "--access-ttl", str(self.access_ttl)]
        for uri in self.redirect_uris:
            command += ["--redirect-uri", uri]
        for uri in self.post_logout_redirect_uris:
            command += ["--post-logout-redirect-uri", uri]
        for origin in self.cors_origins:
            command += ["--cors-origin", origin]
        if self.dpop:
            command.append("--dpop")
        if self.dpop_require_nonce:
            command.append("--dpop-require-nonce")
        # Closed by stop(): it outlives this call.
        self._log = tempfile.TemporaryFile("w+", prefix="oidc-provider-", suffix=".log")  # noqa: SIM115
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,  # its own process group: stop() ends all of it
        )
        try:
            announced = self._read_announcement(self.process, START_TIMEOUT_S)
        except OidcProviderError:
            self.stop()
            raise
        self.issuer = str(announced["issuer"])
        self.port = int(announced["port"])
        return self

    def _read_announcement(self, process: subprocess.Popen[str], timeout: float) -> dict:
        """The JSON line the script prints once listening (bounded by ``timeout``)."""
        lines: queue.Queue[str | None] = queue.Queue()
        stdout = process.stdout
        assert stdout is not None

        def pump() -> None:
            for line in stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True, name="oidc-provider-stdout").start()
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise OidcProviderError(
                f"oidc provider did not start within {timeout:.0f} s: {self.log_tail()}"
            ) from None
        if line is None:
            code = process.wait(timeout=5)
            raise OidcProviderError(f"oidc provider exited with {code}: {self.log_tail()}")
        try:
            announced = json.loads(line)
        except json.JSONDecodeError:
            raise OidcProviderError(f"oidc provider printed {line.strip()!r}, not JSON") from None
        if not isinstance(announced, dict) or "issuer" not in announced:
            raise OidcProviderError(f"oidc provider printed {line.strip()!r}, no issuer")
        return announced

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the provider's stderr (its warnings and errors)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        text = self._log.read()
        self._log.seek(0, os.SEEK_END)
        return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"

    def _control(self, method: str, path: str, body: dict | None = None) -> dict:
        """Call one of the provider's test routes; its JSON answer."""
        if not self.issuer:
            raise OidcProviderError("the oidc provider is not started")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.issuer + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=CONTROL_TIMEOUT_S) as response:
                answer: dict = json.load(response)
        except urllib.error.HTTPError as error:
            raise OidcProviderError(
                f"{method} {path}: {error.code} {error.read().decode(errors='replace')}"
            ) from None
        except OSError as error:
            raise OidcProviderError(f"{method} {path}: {error}; {self.log_tail(5)}") from None
        return answer

    def advance(self, seconds: float) -> dict:
        """Move the provider's clock forward; ``{"offset", "now"}`` (seconds) afterwards."""
        return self._control("POST", "/__test__/clock", {"advance": seconds})

    def now(self) -> float:
        """The provider's clock, in seconds since the epoch (real time + the offset): what
        a DPoP proof's ``iat`` is checked against."""
        return float(self.advance(0)["now"])

    def stats(self) -> dict[str, int]:
        """The counters: ``code_exchanged``, ``refresh_ok``, ``invalid_grant``,
        ``reuse_detected``, ``grant_revoked``, ``revoked``, ``revocation_calls``,
        ``api_ok``, ``api_401``; DPoP: ``dpop_bound_tokens``,
        ``token_dpop_nonce_challenges``, ``token_dpop_refused``, ``refresh_key_mismatch``,
        ``api_dpop_ok``, ``api_dpop_refused``, ``api_dpop_nonce_challenges``,
        ``api_dpop_as_bearer`` (see ``tests/oidc_provider/README.md``)."""
        return {key: int(value) for key, value in self._control("GET", "/__test__/stats").items()}

    def reset(self) -> None:
        """Zero the counters and forget every session, grant and token (not the clock);
        the API gets a new DPoP nonce, forgets the proofs it saw and its :meth:`api_dpop`
        settings."""
        self._control("POST", "/__test__/reset", {})

    def api_dpop(
        self, refuse_proofs: bool | None = None, rotate_nonce: bool | None = None
    ) -> dict[str, Any]:
        """Steer the API's DPoP checks until the next :meth:`reset`; the settings after.

        ``refuse_proofs``: every proof is refused (401 ``invalid_dpop_proof``).
        ``rotate_nonce``: every answer to a DPoP request carries a new ``DPoP-Nonce`` (the
        one before stays good). ``None`` leaves a setting as it is. The answer also has
        ``require_nonce``, ``api_nonce`` (the API's current nonce), ``iat_window`` and
        ``nonce_period`` (seconds).
        """
        body = {
            name: value
            for name, value in (("refuse_proofs", refuse_proofs), ("rotate_nonce", rotate_nonce))
            if value is not None
        }
        return self._control("POST", "/__test__/dpop", body)

    def discovery(self) -> dict[str, Any]:
        """The provider's OpenID Connect discovery document."""
        return self._control("GET", "/.well-known/openid-configuration")

    def stop(self) -> None:
        """End the provider's process group (SIGTERM, then SIGKILL after 5 s)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> OidcProvider:
        """Use as ``with OidcProvider().start(...) as provider:``."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the provider."""
        self.stop()


# -- Playwright helpers ----------------------------------------------------------------------


#: The development login page: one form, a text input ``login``, a password input
#: ``password``, a hidden ``prompt=login`` and a "Sign-in" button.
LOGIN_INPUT = 'form input[name="login"]'
PASSWORD_INPUT = 'form input[name="password"]'
LOGIN_SUBMIT = 'form:has(input[name="prompt"][value="login"]) button[type="submit"]'
#: The consent page ("Authorize"): a hidden ``prompt=consent`` and a "Continue" button.
CONSENT_SUBMIT = 'form:has(input[name="prompt"][value="consent"]) button[type="submit"]'


def _interaction_prefix(page: Page) -> str:
    """``{issuer}/interaction/``: where the provider's pages live."""
    parts = urlsplit(page.url)
    return f"{parts.scheme}://{parts.netloc}/interaction/"


def sign_in_at_provider(
    page: Page, login: str = "alice", password: str = "any", timeout_ms: int = SIGN_IN_TIMEOUT_MS
) -> None:
    """Sign in on the provider's development login page (``page`` is on it), then click
    "Continue" on its consent page if it shows one; returns once the browser has left the
    provider's pages (back at the client's redirect URI). Waits on conditions only.

    The devInteractions login accepts any login (it becomes the ``sub``) and any password.
    """
    prefix = _interaction_prefix(page)
    login_input = page.locator(LOGIN_INPUT)
    consent = page.locator(CONSENT_SUBMIT)
    expect(login_input.or_(consent)).to_be_visible(timeout=timeout_ms)
    if login_input.is_visible():
        here = page.url
        login_input.fill(login)
        page.locator(PASSWORD_INPUT).fill(password)
        page.locator(LOGIN_SUBMIT).click()
        # The login's interaction ends; the next page is the consent page (a new
        # interaction) or, with consent already given, the client's redirect URI.
        page.wait_for_url(lambda url: url != here, timeout=timeout_ms)
    if page.url.startswith(prefix):
        expect(consent).to_be_visible(timeout=timeout_ms)
        consent.click()
    page.wait_for_url(lambda url: not url.startswith(prefix), timeout=timeout_ms)


#: The provider's RP-initiated logout asks "Do you want to sign-out from …?" on a form.
LOGOUT_CONFIRM = 'button[name="logout"][value="yes"]'


def confirm_sign_out_at_provider(page: Page, timeout_ms: int = SIGN_IN_TIMEOUT_MS) -> None:
    """On the provider's end-session page, click "Yes, sign me out" and wait until the
    browser has left that page (to the post-logout redirect URI or the provider's
    "Sign-out Success" page)."""
    here = page.url
    button = page.locator(LOGOUT_CONFIRM)
    expect(button).to_be_visible(timeout=timeout_ms)
    button.click()
    page.wait_for_url(lambda url: url != here, timeout=timeout_ms)


#: Any http(s)/ws(s) URL whose host is not 127.0.0.1.
NOT_LOOPBACK = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://(?!127\.0\.0\.1(?:[:/?#]|$))")


def block_internet(context: BrowserContext) -> None:
    """Abort every request of ``context`` to a host other than 127.0.0.1 (the provider's
    pages import a web font from the internet; tests must not leave the machine)."""
    context.route(NOT_LOOPBACK, lambda route: route.abort("blockedbyclient"))


# -- pytest fixtures ------------------------------------------------------------------------

ProviderFactory = Callable[..., OidcProvider]


@pytest.fixture(scope="session")
def oidc_provider_factory() -> Iterator[ProviderFactory]:
    """Start providers: ``oidc_provider_factory(redirect_uris, post_logout_redirect_uris=(),
    cors_origins=(), access_ttl=60, dpop=False, dpop_require_nonce=False)`` (the arguments
    of :meth:`OidcProvider.start`).

    One process per distinct set of arguments for the whole session: a second call with
    the same arguments returns the running provider after :meth:`OidcProvider.reset`
    (counters zeroed, no sessions or tokens; its clock stays where tests moved it). All
    are stopped at the end of the session.
    """
    running: dict[tuple, OidcProvider] = {}

    def make(
        redirect_uris: Iterable[str],
        post_logout_redirect_uris: Iterable[str] = (),
        cors_origins: Iterable[str] = (),
        access_ttl: int = 60,
        dpop: bool = False,
        dpop_require_nonce: bool = False,
    ) -> OidcProvider:
        key = (
            tuple(redirect_uris),
            tuple(post_logout_redirect_uris),
            tuple(cors_origins),
            int(access_ttl),
            bool(dpop or dpop_require_nonce),
            bool(dpop_require_nonce),
        )
        provider = running.get(key)
        if provider is not None and provider.process is not None:
            if provider.process.poll() is None:
                provider.reset()
                return provider
            provider.stop()
        provider = OidcProvider().start(*key)
        running[key] = provider
        return provider

    try:
        yield make
    finally:
        for provider in running.values():
            provider.stop()
