"""Multi-tab refresh with rotation against node-oidc-provider (issue 14, item 7).

``python -m bench.oidc_rotation`` (from the repository root, after ``make setup``) runs it
for authfetch on Pyodide and on MicroPython (a page with authfetch's options block naming
the provider, served for real by :class:`e2e_tests.pagehost.PageHost` in front of the mock
server) and for the oidc-client-ts peer (``bench/peers/oidc-client-ts.html``), and prints a
Markdown table; ``--output PATH`` also writes it to a file, ``--client`` picks the clients,
``--rounds``, ``--tabs``, ``--calls`` change the work, ``--renew auto`` turns on
oidc-client-ts's own timer-based renewal too. ``make bench`` runs it too
(:func:`run_all`, :func:`table`).

The scenario: the provider (``tests/oidc_provider/provider.mjs``) rotates refresh tokens
with no grace (a rotated token presented again is ``invalid_grant`` and revokes the whole
sign-in) and issues access tokens for 60 s; its clock and every tab's ``page.clock`` are
moved forward together. Each round: a fresh sign-in through the provider's own login page
in the first tab, every tab sees it (shared ``localStorage``), both clocks move past the
expiry, then every tab fires ``calls`` API calls in the same instant (one tab posts a
BroadcastChannel message, the others fire on it). Reported per round: refresh calls at the
token endpoint, ``invalid_grant`` answers, tabs still signed in (the client holds a session
and one more call through it is answered 200), and calls that succeeded.

A page kind (:class:`PageKind`) says how to open a client's page, sign in, call the API and
read the state, so the same scenario drives authfetch's page (:func:`authfetch_kind`:
``authfetch.login()`` with no arguments, ``authfetch.fetch(url)``,
``authfetch.state().loggedIn``, ``<html data-authfetch="ready">``) and the peer's.

Moving a tab's ``page.clock`` past the expiry also fires the timers that fell due on the
way, as on a laptop waking from sleep: authfetch's proactive refresh (due 20 s before the
expiry) fires in every tab at that moment; oidc-client-ts in its on-401 set-up has no timer
and refreshes when the calls meet the 401. Either way every tab meets the expiry together.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from bench.browser import BENCH_DIR, StaticServer, launch
from bench.scenarios import Table
from e2e_tests.oidc_provider import (
    API_SCOPE,
    CLIENT_ID,
    OidcProvider,
    block_internet,
    sign_in_at_provider,
)

#: Access-token life with ``page_clock`` (the tabs' clocks move too).
ACCESS_TTL_S = 60
#: How far past the expiry the clocks are moved each round.
PAST_EXPIRY_S = 1
#: Access-token life without ``page_clock`` (the default): only the provider's clock moves,
#: so the tabs still hold a token they think valid and meet the expiry as a 401 at the same
#: instant; the long life keeps every client's own timers out of the rounds.
LONG_TTL_S = 600
LONG_PAST_EXPIRY_S = 10


def access_ttl(page_clock: bool) -> int:
    """The provider's access-token life for the mode."""
    return ACCESS_TTL_S if page_clock else LONG_TTL_S


def round_step(page_clock: bool) -> int:
    """How far the clocks move each round (seconds)."""
    return ACCESS_TTL_S + PAST_EXPIRY_S if page_clock else LONG_TTL_S + LONG_PAST_EXPIRY_S


ROUNDS = 10
TABS = 3
CALLS = 3
API_PATH = "/me"
SCOPE = "openid offline_access api:read"
#: Bound on one wait in a page (sign-in, a round's calls).
WAIT_MS = 60_000
PEER_MODULE = BENCH_DIR / "node_modules" / "oidc-client-ts" / "dist" / "browser"
#: The clients :func:`main` and ``make bench`` run, in the table's order.
CLIENTS = ("authfetch-py", "authfetch-mpy", "oidc-client-ts")


@dataclass(frozen=True)
class PageKind:
    """How the scenario drives one kind of client page.

    ``page_url(pages_origin, provider)``: the URL to open in every tab;
    ``redirect_uri(pages_origin)``: what the provider must accept as the redirect URI;
    ``ready``: the selector of the page's ready marker; ``sign_in(page, provider)``: sign in
    from a ready tab and return once it is ready again and signed in; ``fetch_js``: a
    JavaScript function ``(url) => Promise<status or error name>`` calling the API's
    ``url`` (absolute, on the provider's origin) with the client; ``state_js``: a
    JavaScript function returning ``{loggedIn, expiresAt}``.
    """

    key: str
    label: str
    page_url: Callable[[str, OidcProvider], str]
    redirect_uri: Callable[[str], str]
    ready: str
    sign_in: Callable[[Page, OidcProvider], None]
    fetch_js: str
    state_js: str
    #: Which server serves the page: ``"static"`` (the bench's static server, the peer's
    #: pages) or ``"pages"`` (a :class:`PageHost` in front of the mock server: authfetch).
    served_by: str = "static"
    #: For a page the page host serves: the interpreter of authfetch's page.
    interpreter: str = ""


def _sign_in_through_provider(login_js: str, ready: str, state_js: str) -> Callable:
    """A sign-in: call ``login_js`` (it navigates to the provider), fill the provider's
    pages, wait for the page to be ready and signed in again."""

    def sign_in(page: Page, provider: OidcProvider) -> None:
        with page.expect_navigation(url=lambda url: url.startswith(provider.issuer)):
            page.evaluate(f"() => {{ {login_js}; }}")
        sign_in_at_provider(page)
        page.wait_for_selector(ready, state="attached", timeout=WAIT_MS)
        page.wait_for_function(f"() => ({state_js})().loggedIn === true", timeout=WAIT_MS)

    return sign_in


OIDC_CLIENT_TS_PATH = "/bench/peers/oidc-client-ts.html"
#: The peer's ``window.peer.fetch`` resolves with the status (or the error's name).
PEER_FETCH = "(url) => peer.fetch(url)"
PEER_STATE = "() => peer.state()"


def oidc_client_ts_kind(renew: str = "on-401") -> PageKind:
    """oidc-client-ts 3.5.0, ``WebStorageStateStore`` on ``localStorage``, on 401:
    ``signinSilent()`` and retry once (``renew="auto"``: its timer-based renewal too)."""

    def page_url(origin: str, provider: OidcProvider) -> str:
        query = {
            "authority": provider.issuer,
            "client_id": CLIENT_ID,
            "api": provider.api,
            "scope": SCOPE,
            "renew": renew,
        }
        return f"{origin}{OIDC_CLIENT_TS_PATH}?{urlencode(query)}"

    suffix = "" if renew == "on-401" else ", automaticSilentRenew on"
    ready = "html[data-peer=ready]"
    return PageKind(
        key="oidc-client-ts" if renew == "on-401" else "oidc-client-ts-auto",
        label=f"oidc-client-ts 3.5.0 (localStorage, on 401: signinSilent + retry once{suffix})",
        page_url=page_url,
        redirect_uri=lambda origin: origin + OIDC_CLIENT_TS_PATH,
        ready=ready,
        sign_in=_sign_in_through_provider("peer.login()", ready, PEER_STATE),
        fetch_js=PEER_FETCH,
        state_js=PEER_STATE,
    )


#: authfetch's pages at the page host (root-level: the PyScript configs' paths are relative).
AUTHFETCH_PAGES = {"py": "/oidc-app.html", "mpy": "/oidc-app-mpy.html"}
AUTHFETCH_LABELS = {"py": "authfetch, Pyodide", "mpy": "authfetch, MicroPython"}
AUTOSTART = "/py/authfetch/src/authfetch/web/autostart.py"


def authfetch_kind(interpreter: str = "py") -> PageKind:
    """authfetch's start-up page on ``interpreter`` (``"py"`` or ``"mpy"``) at the page
    host, its options block naming the provider (:func:`authfetch_page`)."""
    path = AUTHFETCH_PAGES[interpreter]
    ready = "html[data-authfetch=ready]"
    state_js = "() => authfetch.state()"
    return PageKind(
        key=f"authfetch-{interpreter}",
        label=AUTHFETCH_LABELS[interpreter],
        page_url=lambda origin, provider: origin + path,
        redirect_uri=lambda origin: origin + path,
        ready=ready,
        sign_in=_sign_in_through_provider("authfetch.login()", ready, state_js),
        fetch_js=(
            "(url) => authfetch.fetch(url).then("
            "async (response) => { await response.text(); return response.status; },"
            " (error) => error.name || 'Error')"
        ),
        state_js=state_js,
        served_by="pages",
        interpreter=interpreter,
    )


def authfetch_page(kind: PageKind, origin: str, provider: OidcProvider) -> str:
    """The HTML of ``kind``'s authfetch page at ``origin``: the options block
    (``api_base``, ``issuer``, ``client_id``, ``scope``, ``redirect_uri``) and the start-up."""
    from e2e_tests.conftest import python_page

    options = {
        "api_base": provider.api,
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "scope": "openid offline_access " + API_SCOPE,
        "redirect_uri": kind.redirect_uri(origin),
    }
    block = (
        '<script type="application/json" id="authfetch-options">'
        + json.dumps(options)
        + "</script>"
    )
    return python_page(kind.interpreter, src=AUTOSTART, head=block)


def kinds_for(clients: list[str], renew: list[str] | None = None) -> list[PageKind]:
    """The page kinds of ``clients`` (keys of :data:`CLIENTS`), in the table's order."""
    kinds: list[PageKind] = []
    for client in CLIENTS:
        if client not in clients:
            continue
        if client.startswith("authfetch-"):
            kinds.append(authfetch_kind(client.removeprefix("authfetch-")))
        else:
            kinds += [oidc_client_ts_kind(mode) for mode in renew or ["on-401"]]
    return kinds


#: Every tab: ``window.__oidcBench.go(round)`` fires ``calls`` calls here and posts the round
#: on a BroadcastChannel, on which every other tab fires its own at once.
ARM = """([fetchSource, calls, url]) => {
    if (window.__oidcBench) return;
    const call = eval('(' + fetchSource + ')');
    const rounds = {};
    const fire = (round) => Promise.all(Array.from({length: calls}, () => call(url))).then(
        (outcomes) => { rounds[round] = outcomes; },
        (error) => { rounds[round] = ['driver error: ' + error]; });
    const channel = new BroadcastChannel('authfetch-oidc-bench');
    channel.onmessage = (event) => fire(event.data);
    window.__oidcBench = {
        rounds,
        go: (round) => { channel.postMessage(round); fire(round); },
        call,
    };
}"""


@dataclass
class Round:
    """What one round saw."""

    refreshes: int
    invalid_grant: int
    reuse: int
    signed_in: int
    ok: int
    calls: int
    outcomes: list = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """One refresh, no ``invalid_grant``, every call answered 200."""
        return self.refreshes == 1 and self.invalid_grant == 0 and self.ok == self.calls


@dataclass
class Result:
    """One page kind's rounds."""

    kind: PageKind
    tabs: int
    rounds: list[Round] = field(default_factory=list)
    page_clock: bool = False
    seconds: float = 0.0


def arm(page: Page, kind: PageKind, calls: int, url: str) -> None:
    """Install the round driver in ``page`` (once per document: again after a navigation)."""
    page.evaluate(ARM, [kind.fetch_js, calls, url])


def open_tab(context: BrowserContext, url: str, kind: PageKind, page_clock: bool) -> Page:
    """A new tab (with Playwright's fake clock if ``page_clock``), on ``url``, ready."""
    page = context.new_page()
    if page_clock:
        page.clock.install()
    page.goto(url)
    page.wait_for_selector(kind.ready, state="attached", timeout=WAIT_MS)
    return page


def still_signed_in(page: Page, kind: PageKind, url: str) -> bool:
    """The tab holds a session and one more call through it is answered 200."""
    if not page.evaluate(f"() => ({kind.state_js})().loggedIn"):
        return False
    return page.evaluate("(url) => window.__oidcBench.call(url)", url) == 200


def run_rotation(
    browser: Browser,
    kind: PageKind,
    provider: OidcProvider,
    pages_origin: str,
    tabs: int = TABS,
    rounds: int = ROUNDS,
    calls: int = CALLS,
    progress: Callable[[str], None] = print,
    page_clock: bool = False,
) -> Result:
    """The scenario for one page kind (see the module's docstring); ``page_clock``: move
    every tab's clock with the provider's (60 s tokens) instead of the provider's only."""
    result = Result(kind, tabs, page_clock=page_clock)
    started = time.monotonic()
    context = browser.new_context()
    try:
        block_internet(context)
        url = kind.page_url(pages_origin, provider)
        api_url = provider.api + API_PATH
        pages = [open_tab(context, url, kind, page_clock) for _ in range(tabs)]
        for number in range(1, rounds + 1):
            provider.reset()
            kind.sign_in(pages[0], provider)
            expires = pages[0].evaluate(f"() => ({kind.state_js})().expiresAt")
            for page in pages[1:]:
                page.wait_for_function(
                    f"e => ({kind.state_js})().loggedIn && ({kind.state_js})().expiresAt === e",
                    arg=expires,
                    timeout=WAIT_MS,
                )
            for page in pages:
                arm(page, kind, calls, api_url)
            step = round_step(page_clock)
            provider.advance(step)
            if page_clock:
                for page in pages:
                    page.clock.fast_forward(step * 1000)
            pages[0].evaluate("(round) => window.__oidcBench.go(round)", number)
            outcomes: list = []
            for page in pages:
                page.wait_for_function(
                    "(round) => window.__oidcBench.rounds[round] !== undefined",
                    arg=number,
                    timeout=WAIT_MS,
                )
                outcomes += page.evaluate("(round) => window.__oidcBench.rounds[round]", number)
            counters = provider.stats()
            signed_in = sum(still_signed_in(page, kind, api_url) for page in pages)
            seen = Round(
                refreshes=counters["refresh_ok"] + counters["invalid_grant"],
                invalid_grant=counters["invalid_grant"],
                reuse=counters["reuse_detected"],
                signed_in=signed_in,
                ok=sum(1 for outcome in outcomes if outcome == 200),
                calls=len(outcomes),
                outcomes=outcomes,
            )
            result.rounds.append(seen)
            progress(
                f"  {kind.key} round {number}: {seen.refreshes} refreshes, "
                f"{seen.invalid_grant} invalid_grant ({seen.reuse} reuse), "
                f"{seen.signed_in}/{tabs} tabs signed in, "
                f"{seen.ok}/{seen.calls} calls ok"
            )
    finally:
        context.close()
    result.seconds = time.monotonic() - started
    return result


def scenario_text(tabs: int, calls: int, page_clock: bool) -> str:
    """One paragraph saying what a round does in this mode."""
    ttl, step = access_ttl(page_clock), round_step(page_clock)
    moved = (
        f"the provider's clock and every tab's `page.clock` moved {step} s together"
        if page_clock
        else f"the provider's clock moved {step} s (the tabs still hold a token they think "
        "valid: the API's 401 tells every tab at once)"
    )
    return (
        f"node-oidc-provider 9.13.3 (`tests/oidc_provider/`), refresh tokens rotated with no "
        f"reuse grace (a rotated token presented again is `invalid_grant` and revokes the "
        f"sign-in), opaque access tokens for {ttl} s. Each round: a fresh sign-in through the "
        f"provider's own login page in the first of {tabs} tabs, every tab adopts it, {moved}, "
        f"then every tab fires {calls} API calls at the same instant (a BroadcastChannel "
        "message; `bench/oidc_rotation.py`). Refreshes: the token endpoint's refresh answers "
        "(`refresh_ok + invalid_grant`; 1 per round is right); `invalid_grant` here is always a "
        "rotated refresh token presented again (the sign-in is revoked); signed in: the client "
        "still holds a session and one more call is answered 200."
    )


def markdown(results: list[Result], calls: int) -> str:
    """The results as Markdown: a summary row per page kind, then every round."""
    lines = [
        "### rotation across tabs: node-oidc-provider, no reuse grace, per round",
        "",
        scenario_text(
            results[0].tabs if results else TABS,
            calls,
            bool(results and results[0].page_clock),
        ),
        "",
        "| client | rounds | clean rounds | refreshes (median) | `invalid_grant` (total) "
        "| rounds with reuse | rounds with every tab signed in | calls ok |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        rounds = result.rounds
        total_calls = sum(r.calls for r in rounds)
        lines.append(
            f"| {result.kind.label} | {len(rounds)} | {sum(r.clean for r in rounds)} "
            f"| {statistics.median(r.refreshes for r in rounds):g} "
            f"| {sum(r.invalid_grant for r in rounds)} "
            f"| {sum(r.reuse > 0 for r in rounds)} "
            f"| {sum(r.signed_in == result.tabs for r in rounds)} "
            f"| {sum(r.ok for r in rounds)} of {total_calls} |"
        )
    for result in results:
        lines += [
            "",
            f"{result.kind.label}, {result.tabs} tabs, per round (run: {result.seconds:.0f} s):",
            "",
            "| round | refreshes | `invalid_grant` (reuse) | tabs signed in | calls ok "
            "| other outcomes |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for number, r in enumerate(result.rounds, 1):
            others = Counter(str(o) for o in r.outcomes if o != 200)
            other = ", ".join(f"{o}: {n}" for o, n in others.most_common()) or "none"
            lines.append(
                f"| {number} | {r.refreshes} | {r.invalid_grant} ({r.reuse}) | {r.signed_in} of "
                f"{result.tabs} | {r.ok} of {r.calls} | {other} |"
            )
    return "\n".join(lines) + "\n"


def peer_missing(kinds: list[PageKind]) -> str:
    """Why the oidc-client-ts peer cannot run (installing the bench's peers first), or ``""``."""
    if not any(kind.served_by == "static" for kind in kinds):
        return ""
    if not (PEER_MODULE / "oidc-client-ts.min.js").exists():
        from bench.deps import SetupError, ensure_peers

        try:
            ensure_peers()
        except SetupError as error:
            return str(error)
        if not (PEER_MODULE / "oidc-client-ts.min.js").exists():
            return "bench set-up: oidc-client-ts missing: npm ci --prefix bench"
    return ""


def run_all(
    browser: Browser,
    kinds: list[PageKind],
    tabs: int = TABS,
    rounds: int = ROUNDS,
    calls: int = CALLS,
    progress: Callable[[str], None] = print,
    page_clock: bool = False,
) -> list[Result]:
    """Start what the ``kinds`` need (the provider; the bench's static server for the peer;
    a mock server and a page host in front of it for authfetch's pages), run the scenario
    for each kind in ``browser``, stop everything; the results in the kinds' order."""
    from pytest_authfetch import AuthfetchServer, ServerOptions

    from e2e_tests.pagehost import PageHost

    results: list[Result] = []
    with contextlib.ExitStack() as stack:
        static = StaticServer(upstream="http://127.0.0.1:9")
        stack.callback(static.stop)
        origins = {"static": static.url}
        if any(kind.served_by == "pages" for kind in kinds):
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="oidc-bench-")))
            server = AuthfetchServer.launch(folder / "pages.sqlite3", ServerOptions())
            stack.callback(server.stop)
            host = PageHost(server.url)
            stack.callback(host.close)
            origins["pages"] = host.origin
        redirect_uris = sorted({kind.redirect_uri(origins[kind.served_by]) for kind in kinds})
        provider = OidcProvider().start(
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=redirect_uris,
            cors_origins=sorted(set(origins.values())),
            access_ttl=access_ttl(page_clock),
        )
        stack.callback(provider.stop)
        static.httpd.upstream = provider.issuer
        for kind in kinds:
            origin = origins[kind.served_by]
            if kind.served_by == "pages":
                host.add(
                    kind.redirect_uri(origin)[len(origin) :], authfetch_page(kind, origin, provider)
                )
            progress(f"{kind.label}: {tabs} tabs x {rounds} rounds")
            results.append(
                run_rotation(
                    browser, kind, provider, origin, tabs=tabs, rounds=rounds, calls=calls,
                    progress=progress, page_clock=page_clock,
                )
            )  # fmt: skip
    return results


TABLE_TITLE = "multi-tab rotation against node-oidc-provider"


def table(results: list[Result], calls: int = CALLS) -> Table:
    """The results as one of ``make bench``'s tables: a row per client."""
    tabs = results[0].tabs if results else TABS
    page_clock = bool(results and results[0].page_clock)
    what = scenario_text(tabs, calls, page_clock)
    result_table = Table(
        key="oidc-rotation",
        title=TABLE_TITLE,
        what=what,
        columns=[
            "client",
            "rounds",
            "refreshes (per round)",
            "`invalid_grant`",
            "rounds with every tab signed in",
            "calls ok",
        ],
    )
    for result in results:
        rounds = result.rounds
        if not rounds:
            continue
        per_round = sorted({r.refreshes for r in rounds})
        spread = f"{per_round[0]}" if len(per_round) == 1 else f"{per_round[0]}-{per_round[-1]}"
        result_table.rows.append(
            [
                result.kind.label,
                str(len(rounds)),
                f"{sum(r.refreshes for r in rounds)} ({spread})",
                str(sum(r.invalid_grant for r in rounds)),
                f"{sum(r.signed_in == result.tabs for r in rounds)} of {len(rounds)}",
                f"{sum(r.ok for r in rounds)} of {sum(r.calls for r in rounds)}",
            ]
        )
    if page_clock:
        result_table.notes.append(
            "With the tabs' clocks moved, every timer that fell due on the way fires (as on a "
            "laptop waking from sleep): authfetch's proactive refresh starts then in every "
            "tab; oidc-client-ts in its on-401 set-up has no timer."
        )
    return result_table


def main(argv: list[str]) -> int:
    """Run the scenario for the chosen clients; print (and with ``--output`` write) the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.oidc_rotation", description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--tabs", type=int, default=TABS)
    parser.add_argument("--calls", type=int, default=CALLS, help="calls per tab per round")
    parser.add_argument(
        "--client",
        action="append",
        choices=CLIENTS,
        help="run only these clients (repeat); default: all",
    )
    parser.add_argument(
        "--renew",
        action="append",
        choices=["on-401", "auto"],
        help="oidc-client-ts renewal: on-401 (default) and/or auto (automaticSilentRenew too)",
    )
    parser.add_argument(
        "--page-clock",
        action="store_true",
        help=f"move every tab's clock with the provider's ({ACCESS_TTL_S} s tokens; timers "
        "that fall due fire) instead of the provider's only",
    )
    parser.add_argument("--output", type=Path, help="also write the Markdown here")
    args = parser.parse_args(argv)
    kinds = kinds_for(args.client or list(CLIENTS), args.renew)
    missing = peer_missing(kinds)
    if missing:
        print(missing, file=sys.stderr)
        return 1
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            results = run_all(
                browser,
                kinds,
                tabs=args.tabs,
                rounds=args.rounds,
                calls=args.calls,
                page_clock=args.page_clock,
            )
        finally:
            browser.close()
    text = table(results, args.calls).markdown() + "\n" + markdown(results, args.calls)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
