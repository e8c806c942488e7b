"""Fault soak: a signed-in demo page keeps sending GETs and POSTs across many access lifetimes
while the server's refreshes fail (5xx), crawl, lose their answer after rotating, and the server
restarts under load. No POST may create its item twice; no logout while the login is valid.

``AUTHFETCH_SOAK_ROUNDS`` sets the length (``make test``: the short default; ``make bench``:
a long run). Every round arms its fault, moves the server clock and the page's clock
together by the next of :data:`STEPS_S`, then fires a batch through ``window.authfetch``.
"""

from __future__ import annotations

import datetime
import os
import platform
from collections import Counter
from dataclasses import dataclass, field
from itertools import count

from playwright.sync_api import Page
from pytest_authfetch import AuthfetchServer, Stats

from e2e_tests.conftest import PageErrors, bridge_login, demo_url, open_ready_page

ROUNDS = int(os.environ.get("AUTHFETCH_SOAK_ROUNDS", "24"))
REPORT = os.environ.get("AUTHFETCH_SOAK_REPORT")  # a Markdown file for the figures (make bench)
#: Clock steps in turn: mostly half the demo's 30 s access lifetime (so every other step
#: crosses the refresh mark), now and then a 40 s "sleep" after which the token is dead.
STEPS_S = (15, 15, 15, 40)
GETS, POSTS = 4, 3  # per round
#: What each round does to the server, in turn.
#: An odd count: the rounds that cross the refresh mark (every other one) meet each fault.
#: "jump": the server clock alone jumps 40 s (a corrected server clock), so the page sends
#: with a token it believes alive: 401, refresh, replay (the POST replay path).
FAULTS = ("none", "503", "slow", "lost", "jump", "503x3", "restart", "slow+lost", "none")
JUMP_S = 40
NAMED_ERRORS = {"SessionExpiredError", "RefreshUnavailableError", "NotReplayableError", "TypeError"}

WATCH_LOGOUTS = """() => {
    window.soakLogouts = 0;
    new MutationObserver((changes) => {
        for (const change of changes)
            for (const node of change.addedNodes)
                if (node.dataset && node.dataset.event === "logout") window.soakLogouts++;
    }).observe(document.getElementById("event-log"), {childList: true});
}"""
#: Start a batch of GETs and uniquely titled POSTs; outcomes are statuses or error names.
START_BATCH = """([gets, titles]) => {
    const outcome = (promise) => promise.then((r) => r.status, (e) => e.name);
    const post = (title) => authfetch.fetch("/api/items", {method: "POST",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify({title})});
    window.soakBatch = Promise.all([
        ...Array.from({length: gets}, () => outcome(authfetch.fetch("/api/items"))),
        ...titles.map((title) => outcome(post(title))),
    ]);
}"""


@dataclass
class Tally:
    """What the soak counted."""

    made: int = 0
    succeeded: int = 0
    named: Counter[str] = field(default_factory=Counter)
    unexplained: list[str] = field(default_factory=list)
    posted: dict[str, object] = field(default_factory=dict)  # title -> outcome
    server: Counter[str] = field(default_factory=Counter)  # counters summed over restarts
    faults_met: Counter[str] = field(default_factory=Counter)  # faults a refresh used up

    def add(self, outcomes: list[object], titles: list[str]) -> None:
        """Count one batch's outcomes (GETs first, then the POSTs of ``titles``)."""
        wanted = [200] * (len(outcomes) - len(titles)) + [201] * len(titles)
        for outcome, ok in zip(outcomes, wanted, strict=True):
            self.made += 1
            if outcome == ok:
                self.succeeded += 1
            elif outcome in NAMED_ERRORS:
                self.named[str(outcome)] += 1
            else:
                self.unexplained.append(repr(outcome))
        self.posted.update(zip(titles, outcomes[len(outcomes) - len(titles) :], strict=True))

    def add_server(self, stats: Stats) -> None:
        """Add a server process's counters (they restart at zero with the process)."""
        self.server.update(stats)

    def summary(self, duplicates: int, logouts: int, seconds: float) -> str:
        """One line for the log and the benchmark report."""
        named = ", ".join(f"{name} {n}" for name, n in sorted(self.named.items())) or "none"
        met = ", ".join(f"{name} {n}" for name, n in sorted(self.faults_met.items())) or "none"
        return (
            f"soak: {ROUNDS} rounds, {seconds / 30:.0f} access lifetimes (page clock): "
            f"faults met (restarts included): {met}; "
            f"{self.made} requests, {self.succeeded} succeeded, named errors: {named}, "
            f"other failures {len(self.unexplained)}, duplicate POSTs {duplicates}, "
            f"logouts {logouts}; server: refresh_ok {self.server['refresh_ok']}, "
            f"refresh_failed {self.server['refresh_failed']}, "
            f"reuse_detected {self.server['reuse_detected']}, api_401 {self.server['api_401']}"
        )


def arm(server: AuthfetchServer, fault: str) -> None:
    """Arm the refresh fault of this round (``restart`` happens mid-batch instead)."""
    if fault == "503":
        server.fail_next_refresh(status=503)
    elif fault == "503x3":
        server.fail_next_refresh(3, status=502)  # every attempt of one refresh
    elif fault == "slow":
        server.fail_next_refresh(delay=1.5)
    elif fault == "lost":
        server.fail_next_refresh(lost=True)
    elif fault == "slow+lost":
        server.fail_next_refresh(delay=1.0, lost=True)
    elif fault == "jump":
        server.advance(JUMP_S)


def test_fault_soak_no_duplicate_posts_and_no_logouts(
    page: Page, authfetch_server: AuthfetchServer, page_errors: PageErrors
) -> None:
    """Across ROUNDS rounds of faults the page never doubles a POST, never logs out, and
    recovers after every fault (a plain GET succeeds once faults are cleared)."""
    # The browser logs each network failure the soak injects (a restart refuses the
    # connection, a lost answer drops it); the page's own errors still fail the test.
    page_errors.allow(r"^console\.error: Failed to load resource: net::ERR_")
    server = authfetch_server
    page.clock.install()
    open_ready_page(page, demo_url(server.url, "py"))
    bridge_login(page)
    page.evaluate(WATCH_LOGOUTS)
    tally = Tally()
    titles = (f"soak-{n}" for n in count())
    moved = 0
    for round_ in range(ROUNDS):
        fault = FAULTS[round_ % len(FAULTS)]
        step = STEPS_S[round_ % len(STEPS_S)]
        moved += step
        arm(server, fault)
        server.advance(step)
        page.clock.fast_forward(step * 1000)  # the proactive timer may refresh right here
        batch = [next(titles) for _ in range(POSTS)]
        page.evaluate(START_BATCH, [GETS, batch])
        if fault == "restart":
            tally.add_server(server.stats())
            server.restart()  # same port and database; the clock's offset is kept
        tally.add(page.evaluate("window.soakBatch"), batch)
        if fault in ("restart", "jump") or (fault != "none" and server.armed()["count"] == 0):
            tally.faults_met[fault] += 1
        server.clear_faults()
        recovered = page.evaluate("authfetch.fetch('/api/me').then(r => r.status, e => e.name)")
        assert recovered == 200, f"round {round_} ({fault}): the session did not recover"
    tally.add_server(server.stats())
    logouts = page.evaluate("window.soakLogouts")
    items = server.call("GET", "/api/items", token=server.login()["access_token"])
    created = Counter(item["title"] for item in items)
    duplicates = sum(n - 1 for n in created.values() if n > 1)
    summary = tally.summary(duplicates, logouts, moved)
    print(summary)
    if REPORT:
        write_report(REPORT, summary, page)

    assert duplicates == 0
    assert logouts == 0
    assert page.evaluate("authfetch.state().loggedIn") is True
    assert tally.server["reuse_detected"] == 0
    assert tally.unexplained == []
    lost_201s = [
        title for title, outcome in tally.posted.items() if outcome == 201 and title not in created
    ]
    assert lost_201s == []  # every POST answered 201 created its item (and only once: above)
    assert tally.succeeded >= tally.made // 2
    if 2 * len(FAULTS) <= ROUNDS:  # every fault had a round that crossed the refresh mark
        assert set(tally.faults_met) == set(FAULTS) - {"none"}, tally.faults_met


def write_report(path: str, summary: str, page: Page) -> None:
    """The soak's figures with the date, the machine and the browser (for ``make bench``)."""
    browser = page.context.browser
    lines = [
        "# Browser fault soak",
        "",
        f"Run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}, Chromium {browser.version if browser else '?'}"
        f", load average {os.getloadavg()[0]:.2f}. `make bench-soak` (part of `make bench`) runs "
        "`e2e_tests/test_fault_soak.py` with `AUTHFETCH_SOAK_ROUNDS`; `make test` runs 24 rounds.",
        "",
        summary.removeprefix("soak: ") + ".",
        "",
    ]
    with open(path, "w") as out:
        out.write("\n".join(lines))
