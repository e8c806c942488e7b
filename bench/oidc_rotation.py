"""Multi-tab refresh with rotation against node-oidc-provider (issue 14, item 7).

``python -m bench.oidc_rotation`` (from the repository root, after ``make setup``) runs it
for the oidc-client-ts peer (``bench/peers/oidc-client-ts.html``) and prints a Markdown
table; ``--output PATH`` also writes it to a file, ``--rounds``, ``--tabs``, ``--calls``
change the work, ``--renew auto`` turns on oidc-client-ts's own timer-based renewal too.

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
read the state, so the same scenario can drive authfetch's page (:func:`authfetch_kind`:
``authfetch.login()`` with no arguments, ``authfetch.fetch(url)``,
``authfetch.state().loggedIn``, ``<html data-authfetch="ready">``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from bench.browser import BENCH_DIR, StaticServer, launch
from e2e_tests.oidc_provider import (
    CLIENT_ID,
    OidcProvider,
    block_internet,
    sign_in_at_provider,
)

ACCESS_TTL_S = 60
#: How far past the expiry both clocks are moved each round.
PAST_EXPIRY_S = 1
ROUNDS = 10
TABS = 3
CALLS = 3
API_PATH = "/me"
SCOPE = "openid offline_access api:read"
#: Bound on one wait in a page (sign-in, a round's calls).
WAIT_MS = 60_000
PEER_MODULE = BENCH_DIR / "node_modules" / "oidc-client-ts" / "dist" / "browser"


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


def authfetch_kind(path: str = "/", label: str = "authfetch demo, Pyodide") -> PageKind:
    """authfetch's page at ``path`` of the pages' origin, configured (by whoever serves it)
    for the provider. Not run yet: the page's OIDC options are being built (issue 14)."""
    ready = "html[data-authfetch=ready]"
    state_js = "() => authfetch.state()"
    return PageKind(
        key="authfetch" + path.replace("/", "-").replace("?", "-").replace("=", "-").rstrip("-"),
        label=label,
        page_url=lambda origin, provider: origin + path,
        redirect_uri=lambda origin: origin + path.split("?")[0],
        ready=ready,
        sign_in=_sign_in_through_provider("authfetch.login()", ready, state_js),
        fetch_js=(
            "(url) => authfetch.fetch(url).then("
            "async (response) => { await response.text(); return response.status; },"
            " (error) => error.name || 'Error')"
        ),
        state_js=state_js,
    )


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
    seconds: float = 0.0


def arm(page: Page, kind: PageKind, calls: int, url: str) -> None:
    """Install the round driver in ``page`` (once per document: again after a navigation)."""
    page.evaluate(ARM, [kind.fetch_js, calls, url])


def open_tab(context: BrowserContext, url: str, kind: PageKind) -> Page:
    """A new tab with Playwright's fake clock, on ``url``, ready."""
    page = context.new_page()
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
) -> Result:
    """The scenario for one page kind (see the module's docstring)."""
    result = Result(kind, tabs)
    started = time.monotonic()
    context = browser.new_context()
    try:
        block_internet(context)
        url = kind.page_url(pages_origin, provider)
        api_url = provider.api + API_PATH
        pages = [open_tab(context, url, kind) for _ in range(tabs)]
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
            step = ACCESS_TTL_S + PAST_EXPIRY_S
            provider.advance(step)
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


def markdown(results: list[Result], calls: int) -> str:
    """The results as Markdown: a summary row per page kind, then every round."""
    lines = [
        "### rotation across tabs: node-oidc-provider, no reuse grace",
        "",
        f"node-oidc-provider 9.13.3, refresh tokens rotated with no grace (a rotated token "
        f"presented again is `invalid_grant` and revokes the sign-in), access tokens for "
        f"{ACCESS_TTL_S} s. Each round: a fresh sign-in through the provider's login page, "
        f"the provider's clock and every tab's `page.clock` moved {ACCESS_TTL_S + PAST_EXPIRY_S}"
        f" s together, then every tab fires {calls} calls to the API at the same instant. "
        "Refreshes = the token endpoint's refresh answers (`refresh_ok + invalid_grant`); "
        "reuse = `invalid_grant` because a rotated refresh token was presented again (the "
        "sign-in is revoked); signed in = the client still holds a session and one more call "
        "is answered 200.",
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


def main(argv: list[str]) -> int:
    """Run the scenario for oidc-client-ts; print (and with ``--output`` write) the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.oidc_rotation", description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--tabs", type=int, default=TABS)
    parser.add_argument("--calls", type=int, default=CALLS, help="calls per tab per round")
    parser.add_argument(
        "--renew",
        action="append",
        choices=["on-401", "auto"],
        help="oidc-client-ts renewal: on-401 (default) and/or auto (automaticSilentRenew too)",
    )
    parser.add_argument("--output", type=Path, help="also write the Markdown here")
    args = parser.parse_args(argv)
    if not (PEER_MODULE / "oidc-client-ts.min.js").exists():
        from bench.deps import SetupError, ensure_peers

        try:
            ensure_peers()
        except SetupError as error:
            print(error, file=sys.stderr)
            return 1
        if not (PEER_MODULE / "oidc-client-ts.min.js").exists():
            print("bench set-up: oidc-client-ts missing: npm ci --prefix bench", file=sys.stderr)
            return 1
    kinds = [oidc_client_ts_kind(renew) for renew in args.renew or ["on-401"]]
    static = StaticServer(upstream="http://127.0.0.1:9")
    results = []
    try:
        provider = OidcProvider().start(
            redirect_uris=sorted({kind.redirect_uri(static.url) for kind in kinds}),
            post_logout_redirect_uris=sorted({kind.redirect_uri(static.url) for kind in kinds}),
            cors_origins=[static.url],
            access_ttl=ACCESS_TTL_S,
        )
        static.httpd.upstream = provider.issuer
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                try:
                    for kind in kinds:
                        print(f"{kind.label}: {args.tabs} tabs x {args.rounds} rounds", flush=True)
                        results.append(
                            run_rotation(
                                browser,
                                kind,
                                provider,
                                static.url,
                                tabs=args.tabs,
                                rounds=args.rounds,
                                calls=args.calls,
                            )
                        )
                finally:
                    browser.close()
        finally:
            provider.stop()
    finally:
        static.stop()
    text = markdown(results, args.calls)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
