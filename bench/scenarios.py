"""The scenarios: each drives every client the same way and returns one Markdown table.

A client that fails (an exception, a timeout) gets a "failed" row and the
failure is listed at the end of the run; the other clients still run.
"""

from __future__ import annotations

import math
import statistics
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import count
from typing import TypeVar

from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from pytest_authfetch import AuthfetchServer

from bench.browser import (
    AUTH_REFRESH,
    AUTHFETCH,
    AUTHFETCH_BARE,
    AUTHFETCH_DPOP,
    CLASSIC,
    CLIENTS,
    FLOOR,
    INTERPRETERS,
    LOGIN_ANY,
    PASSTHROUGH,
    PASSWORD,
    PEERS,
    PLAIN,
    REQUEST_TIMEOUT_MS,
    STARTUP_PROBE,
    USERNAME,
    Client,
    StaticServer,
    login,
    new_context,
    open_pages,
)

#: Past the access token's 30 s lifetime plus the server's 5 s leeway.
EXPIRE_S = 40
#: The access token's usable life on the server: 30 s TTL + 5 s leeway.
LIFETIME_S = 35.0
BURST_REQUESTS = 50
TABS = 5
REQUESTS_PER_TAB = 10
OVERHEAD_WARMUP = 10
API_PATH = "/api/me"

#: The burst also runs authfetch alone on a page (no demo UI) on each interpreter.
BURST_CLIENTS = (*CLIENTS[:2], *AUTHFETCH_BARE.values(), *PEERS)
#: Per-request time: plain fetch, each interpreter's passthrough floor, authfetch's pages.
OVERHEAD_CLIENTS = (
    PLAIN,
    *PASSTHROUGH.values(),
    *AUTHFETCH.values(),
    *AUTHFETCH_BARE.values(),
    CLASSIC,
    AUTH_REFRESH,
)
#: Start-up and memory: each interpreter's floor, authfetch's pages, the JavaScript peers.
STARTUP_CLIENTS = (
    *FLOOR.values(),
    *AUTHFETCH_BARE.values(),
    *AUTHFETCH.values(),
    PLAIN,
    CLASSIC,
    AUTH_REFRESH,
)

_keys = count(1)
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """How much work each scenario does."""

    burst_runs: int = 3
    tabs_runs: int = 3
    lifetimes: int = 30
    overhead_requests: int = 200
    overhead_rounds: int = 8
    startup_runs: int = 5

    @classmethod
    def quick(cls) -> Settings:
        """A smaller run for a quick look (one round of each, fewer requests)."""
        return cls(
            burst_runs=1,
            tabs_runs=1,
            lifetimes=5,
            overhead_requests=50,
            overhead_rounds=2,
            startup_runs=1,
        )


@dataclass
class Bench:
    """What every scenario needs: the browser, the servers and the settings."""

    browser: Browser
    strict: AuthfetchServer
    lenient: AuthfetchServer
    static: StaticServer
    settings: Settings
    failures: list[str] = field(default_factory=list)
    #: Clients whose page did not start, with the reason (later scenarios show n/a).
    unavailable: dict[str, str] = field(default_factory=dict)
    #: Measured figures for the ratio table: scenario -> client key -> name -> value.
    metrics: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def record(self, scenario: str, client: Client, **values: float) -> None:
        """Keep figures of ``client`` for the ratio table."""
        self.metrics.setdefault(scenario, {}).setdefault(client.key, {}).update(values)


@dataclass
class Table:
    """One scenario's results as a Markdown table plus notes."""

    key: str
    title: str
    what: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_unavailable(self, client: Client, reason: str) -> None:
        """An "n/a" row for a client whose page did not start earlier in the run."""
        cells = [client.label, f"n/a ({reason})"] + [""] * (len(self.columns) - 2)
        self.rows.append(cells)

    def add_failure(self, bench: Bench, client_label: str, error: BaseException) -> None:
        """A "failed" row for ``client_label``, and the failure in the run's list."""
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        message = f"{type(error).__name__}: {first_line}"
        self.rows.append([client_label, f"**failed**: {message}"] + [""] * (len(self.columns) - 2))
        bench.failures.append(f"{self.key} / {client_label}: {message}")
        traceback.print_exception(error)

    def markdown(self) -> str:
        """The table under its title, with the description and notes."""
        lines = [f"### {self.title}", "", self.what, ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("| " + " | ".join("---" for _ in self.columns) + " |")
        for row in self.rows:
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


# -- small helpers ---------------------------------------------------------------


def reset(server: AuthfetchServer) -> None:
    """No sessions, zero counters, real time, no faults."""
    server.reset()


def advance(server: AuthfetchServer, seconds: float) -> None:
    """Move the server clock forward."""
    server.advance(seconds)


def stats(server: AuthfetchServer) -> dict[str, int]:
    """The server's counters."""
    return dict(server.stats())


def refresh_calls(counters: dict[str, int]) -> int:
    """Refresh requests that reached the server (``reuse_detected`` is a subset of failed)."""
    return counters["refresh_ok"] + counters["refresh_failed"]


def fire(page: Page, count_: int, path: str = API_PATH) -> list:
    """Fire ``count_`` concurrent ``peer.fetch(path)``; their outcomes (status or error name)."""
    return fire_timed(page, count_, path)[0]


def fire_timed(page: Page, count_: int, path: str = API_PATH) -> tuple[list, float]:
    """Fire ``count_`` concurrent ``peer.fetch(path)``; their outcomes, and the wall time
    in ms from the first call to the last answer (timed in the page)."""
    key = f"k{next(_keys)}"
    page.evaluate(
        """([path, n, key]) => {
            window.__benchDone = window.__benchDone || {};
            const start = performance.now();
            Promise.all(Array.from({length: n}, () => peer.fetch(path))).then(
                (outcomes) => { window.__benchDone[key] = [outcomes, performance.now() - start]; },
                (error) => { window.__benchDone[key] = [['driver error: ' + error], 0]; });
        }""",
        [path, count_, key],
    )
    page.wait_for_function(
        "key => window.__benchDone[key] !== undefined", arg=key, timeout=REQUEST_TIMEOUT_MS
    )
    outcomes, wall = page.evaluate("key => window.__benchDone[key]", key)
    return outcomes, wall


def others(outcomes: Iterable) -> str:
    """The outcomes other than 200 with their counts (``401: 49``), or ``""``."""
    counted = Counter(str(outcome) for outcome in outcomes if outcome != 200)
    return ", ".join(f"{outcome}: {n}" for outcome, n in counted.most_common())


def med(values: Iterable[float]) -> str:
    """The median, without a trailing ``.0`` for whole numbers."""
    value = statistics.median(list(values))
    return f"{value:g}"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def note_failure(bench: Bench, table: Table, client: Client, error: BaseException) -> None:
    """A failure row; a page that never became ready is not tried again in this run."""
    table.add_failure(bench, client.label, error)
    if isinstance(error, PlaywrightTimeout) and "data-" in str(error):
        bench.unavailable[client.key] = "its page did not start"


def for_each_client(
    bench: Bench, table: Table, clients: Iterable[Client], body: Callable[[Client], None]
) -> None:
    """Run ``body`` for every client; a failure becomes a row and the others go on."""
    for client in clients:
        if client.key in bench.unavailable:
            table.add_unavailable(client, bench.unavailable[client.key])
            continue
        print(f"  {table.key}: {client.label}", flush=True)
        try:
            body(client)
        except Exception as error:
            note_failure(bench, table, client, error)


def round_robin(
    bench: Bench, table: Table, items: list[T], rounds: int, step: Callable[[T, int], None]
) -> list[T]:
    """Run ``step(item, round)`` for every item in every round, the order rotating each round.

    An item whose step fails gets a failure row and is left out of later rounds;
    the items that never failed are returned, in their original order.
    """
    failed: set[int] = set()
    for index, item in enumerate(items):
        client = getattr(item, "client", item)
        if isinstance(client, Client) and client.key in bench.unavailable:
            failed.add(index)
            table.add_unavailable(client, bench.unavailable[client.key])
    for round_ in range(rounds):
        shift = round_ % len(items)
        for index in [*range(shift, len(items)), *range(shift)]:
            if index in failed:
                continue
            label = getattr(items[index], "label", str(items[index]))
            print(f"  {table.key}: {label} (round {round_ + 1} of {rounds})", flush=True)
            try:
                step(items[index], round_)
            except Exception as error:
                failed.add(index)
                client = getattr(items[index], "client", items[index])
                if isinstance(client, Client):
                    note_failure(bench, table, client, error)
                else:
                    table.add_failure(bench, label, error)
    return [item for index, item in enumerate(items) if index not in failed]


# -- 1. burst ----------------------------------------------------------------------


@dataclass
class Round:
    """One round at expiry: refresh calls, outcomes, revocation, tabs still logged in."""

    refreshes: int
    outcomes: list
    revoked: bool
    kept: int | None = None

    @property
    def ok(self) -> int:
        """Requests answered 200."""
        return sum(1 for outcome in self.outcomes if outcome == 200)

    def describe(self) -> str:
        """``1 refresh, 50/50 ok, kept`` and the other outcomes."""
        noun = "refresh" if self.refreshes == 1 else "refreshes"
        text = f"{self.refreshes} {noun}, {self.ok}/{len(self.outcomes)} ok"
        if self.kept is not None:
            text += f", kept in {self.kept} tabs"
        text += ", **revoked**" if self.revoked else ""
        rest = others(self.outcomes)
        return text + (f" ({rest})" if rest else "")


def burst(bench: Bench) -> Table:
    """50 concurrent requests right after expiry in one tab, reuse grace 0."""
    runs = bench.settings.burst_runs
    table = Table(
        "burst",
        f"burst: {BURST_REQUESTS} concurrent requests at expiry, one tab, reuse grace 0 "
        f"({runs} runs)",
        "Log in, move the server clock past the access token's expiry, fire "
        f"{BURST_REQUESTS} `GET {API_PATH}` at once. Refresh calls = the server's "
        "`refresh_ok + refresh_failed`; wall = from the first call to the last answer, "
        "timed in the page; revoked = the server detected reuse of a rotated refresh "
        "token and revoked the login.",
        [
            "client",
            "refresh calls (median)",
            f"ok of {BURST_REQUESTS} (median)",
            "wall ms (median)",
            "revoked",
            "runs",
        ],
    )
    server = bench.strict

    def body(client: Client) -> None:
        with new_context(bench.browser) as context:
            page = open_pages(context, server.url, client)[0]
            rounds, walls = [], []
            for _ in range(runs):
                reset(server)
                login(page)
                advance(server, EXPIRE_S)
                outcomes, wall = fire_timed(page, BURST_REQUESTS)
                walls.append(wall)
                counters = stats(server)
                rounds.append(
                    Round(refresh_calls(counters), outcomes, counters["reuse_detected"] > 0)
                )
        refreshes = statistics.median(r.refreshes for r in rounds)
        ok = statistics.median(r.ok for r in rounds)
        bench.record("burst", client, refreshes=refreshes, ok=ok, wall=statistics.median(walls))
        table.rows.append(
            [
                client.label,
                med(r.refreshes for r in rounds),
                med(r.ok for r in rounds),
                f"{statistics.median(walls):.0f}",
                f"{sum(r.revoked for r in rounds)} of {runs}",
                "; ".join(
                    f"{r.describe()}, {w:.0f} ms" for r, w in zip(rounds, walls, strict=True)
                ),
            ]
        )

    for_each_client(bench, table, BURST_CLIENTS, body)
    return table


# -- 2. tabs -------------------------------------------------------------------------

#: Each tab fires when a BroadcastChannel message arrives, so all start together.
ARM_TAB = """([requests, path]) => {
    window.__benchRounds = {};
    const fire = (round) => Promise.all(Array.from({length: requests}, () => peer.fetch(path)))
        .then((outcomes) => { window.__benchRounds[round] = outcomes; },
              (error) => { window.__benchRounds[round] = ['driver error: ' + error]; });
    const channel = new BroadcastChannel('authfetch-bench-go');
    channel.onmessage = (event) => fire(event.data);
    window.__benchGo = (round) => { channel.postMessage(round); fire(round); };
}"""


def tabs(bench: Bench) -> Table:
    """Five tabs, ten requests each, fired at the same instant at expiry, reuse grace 0."""
    runs = bench.settings.tabs_runs
    total = TABS * REQUESTS_PER_TAB
    table = Table(
        "tabs",
        f"tabs: {TABS} tabs, {REQUESTS_PER_TAB} requests each at expiry, fired together, "
        f"reuse grace 0 ({runs} runs)",
        f"{TABS} tabs of one browser context share the login (localStorage). After expiry "
        "one tab posts a BroadcastChannel message and every tab fires its requests in the "
        "same instant. Kept = tabs that are still logged in and get a 200 for one more "
        "request afterwards.",
        [
            "client",
            "refresh calls (median)",
            f"ok of {total} (median)",
            f"tabs keeping the session (of {TABS}, median)",
            "revoked",
            "runs",
        ],
    )
    server = bench.strict

    def body(client: Client) -> None:
        with new_context(bench.browser) as context:
            pages = open_pages(context, server.url, client, TABS)
            for page in pages:
                page.evaluate(ARM_TAB, [REQUESTS_PER_TAB, API_PATH])
            rounds = []
            for run in range(1, runs + 1):
                reset(server)
                expires = login(pages[0])["expiresAt"]
                for page in pages[1:]:
                    page.wait_for_function(
                        "e => peer.state().loggedIn && peer.state().expiresAt === e",
                        arg=expires,
                        timeout=REQUEST_TIMEOUT_MS,
                    )
                advance(server, EXPIRE_S)
                pages[0].evaluate("run => window.__benchGo(run)", run)
                outcomes = []
                for page in pages:
                    page.wait_for_function(
                        "run => window.__benchRounds[run] !== undefined",
                        arg=run,
                        timeout=REQUEST_TIMEOUT_MS,
                    )
                    outcomes += page.evaluate("run => window.__benchRounds[run]", run)
                counters = stats(server)
                kept = sum(1 for page in pages if still_logged_in(page))
                rounds.append(
                    Round(refresh_calls(counters), outcomes, counters["reuse_detected"] > 0, kept)
                )
        table.rows.append(
            [
                client.label,
                med(r.refreshes for r in rounds),
                med(r.ok for r in rounds),
                med(r.kept or 0 for r in rounds),
                f"{sum(r.revoked for r in rounds)} of {runs}",
                "; ".join(r.describe() for r in rounds),
            ]
        )

    for_each_client(bench, table, CLIENTS, body)
    return table


def still_logged_in(page: Page) -> bool:
    """The tab holds a session and one more request through it is answered 200."""
    if not page.evaluate("peer.state().loggedIn"):
        return False
    return fire(page, 1) == [200]


# -- 3. lifetimes ------------------------------------------------------------------------


def lifetimes(bench: Bench) -> Table:
    """Many access lifetimes with a request every half lifetime, on fake clocks."""
    n = bench.settings.lifetimes
    step = LIFETIME_S / 2
    table = Table(
        "lifetimes",
        f"lifetimes: {n} access lifetimes, a request every half lifetime",
        f"A request every {step:g} s (half of the access token's 30 s + 5 s server leeway) "
        f"for {n} lifetimes ({2 * n} requests). The server's test clock and the page's "
        "clock (Playwright `page.clock`) are moved forward together, so this takes seconds. "
        "401s = the server's `api_401`.",
        ["client", "401s on the wire", "refresh calls", "failed requests", "requests"],
    )
    server = bench.lenient

    def body(client: Client) -> None:
        with new_context(bench.browser) as context:
            page = open_pages(context, server.url, client, fake_clock=True)[0]
            reset(server)
            login(page)
            outcomes = []
            for _ in range(2 * n):
                advance(server, step)
                page.clock.fast_forward(int(step * 1000))
                outcomes += fire(page, 1)
            counters = stats(server)
        failed = len(outcomes) - outcomes.count(200)
        rest = others(outcomes)
        table.rows.append(
            [
                client.label,
                str(counters["api_401"]),
                str(refresh_calls(counters)),
                f"{failed}" + (f" ({rest})" if rest else ""),
                str(len(outcomes)),
            ]
        )

    for_each_client(bench, table, CLIENTS, body)
    return table


# -- 4. overhead -------------------------------------------------------------------------

#: Sequential requests timed in the page through ``peer.fetch``; with ``paired``, each is
#: followed by a plain ``fetch`` with the page's own bearer (``peer.accessToken()``), timed
#: too: the page's own baseline, taken in the same moments as the client's requests.
OVERHEAD_LOOP = """async ([path, count, warmup, paired]) => {
    const plainFetch = () => fetch(path, {headers: {Authorization: 'Bearer ' + peer.accessToken()}})
        .then(async (response) => { await response.text(); return response.status; });
    for (let i = 0; i < warmup; i++) {
        await peer.fetch(path);
        if (paired) await plainFetch();
    }
    const times = [], plain = [], failures = [];
    for (let i = 0; i < count; i++) {
        let start = performance.now();
        const outcome = await peer.fetch(path);
        times.push(performance.now() - start);
        if (outcome !== 200) failures.push(outcome);
        if (!paired) continue;
        start = performance.now();
        const status = await plainFetch();
        plain.push(performance.now() - start);
        if (status !== 200) failures.push('plain fetch ' + status);
    }
    return {times, plain, failures};
}"""


@dataclass
class Subject:
    """One row of the overhead table: a client's page and its request times."""

    client: Client
    times: list[float] = field(default_factory=list)
    #: The paired plain ``fetch`` of the same page (overhead scenario).
    plain: list[float] = field(default_factory=list)
    refreshes: int = 0

    @property
    def label(self) -> str:
        """The client's label."""
        return self.client.label


def overhead(bench: Bench) -> Table:
    """Per-request time of sequential requests with a valid token, clients interleaved, each
    request paired with a plain ``fetch`` in the same page."""
    n, rounds = bench.settings.overhead_requests, bench.settings.overhead_rounds
    per_block = math.ceil(n / rounds)
    table = Table(
        "overhead",
        f"overhead: per-request time, {per_block * rounds} sequential `GET {API_PATH}` "
        "with a valid token",
        "Timed in the page with `performance.now()` around each request, body read. "
        f"Every client's page is open at once; the requests run in {rounds} blocks of "
        f"{per_block} per client, taking turns (so a busy moment of the machine hits all "
        f"of them), each block after a fresh login and {OVERHEAD_WARMUP} warm-up requests. "
        "Each request is followed by a plain `fetch` with the page's own bearer, timed too: "
        "*x plain fetch* is the client's trimmed mean (10 % cut at each end; the median "
        "moves in steps of the page clock's 0.1 ms) over that of the plain fetches of its "
        "own page, taken in the same moments, so the machine's drift between blocks and "
        "pages cancels out. A passthrough floor is JavaScript calling one Python function "
        "that only calls `fetch` (MicroPython hands the response back through a JavaScript "
        "callback); *x passthrough floor* divides a client's *x plain fetch* by its "
        "interpreter's floor's.",
        [
            "client",
            "median ms",
            "trimmed mean ms",
            "p90 ms",
            "plain fetch, same page: trimmed mean ms",
            "x plain fetch",
            "x passthrough floor",
            "requests",
            "refresh calls during the run",
        ],
    )
    measured = time_requests(bench, table, OVERHEAD_CLIENTS, per_block, rounds, paired=True)
    relative = {
        subject.client.key: trimmed_mean(subject.times) / trimmed_mean(subject.plain)
        for subject in measured
    }
    for subject in measured:
        median, mean = statistics.median(subject.times), trimmed_mean(subject.times)
        own = relative[subject.client.key]
        bench.record("overhead", subject.client, median=median, mean=mean, relative=own)
        floor_client = PASSTHROUGH.get(subject.client.interpreter or "")
        floor = relative.get(floor_client.key) if floor_client else None
        table.rows.append(
            [
                subject.label,
                f"{median:.2f}",
                f"{mean:.3f}",
                f"{percentile(subject.times, 0.9):.2f}",
                f"{trimmed_mean(subject.plain):.3f}",
                f"{own:.2f}",
                ratio(own, floor) if subject.client is not floor_client else "1",
                str(len(subject.times)),
                str(subject.refreshes),
            ]
        )
    return table


def trimmed_mean(times: list[float], cut: float = 0.1) -> float:
    """The mean of ``times`` without the ``cut`` share at each end (finer than a median of
    times that move in 0.1 ms steps; as robust to a stray slow request)."""
    ordered = sorted(times)
    drop = int(len(ordered) * cut)
    kept = ordered[drop : len(ordered) - drop] or ordered
    return statistics.fmean(kept)


def time_requests(
    bench: Bench,
    table: Table,
    clients: Iterable[Client],
    per_block: int,
    rounds: int,
    paired: bool = False,
) -> list[Subject]:
    """Time sequential requests with a valid token on every client's page, all open at once,
    in ``rounds`` blocks of ``per_block`` taking turns, each after a fresh login; with
    ``paired``, each request is followed by a timed plain ``fetch`` in the same page."""
    server = bench.lenient
    subjects = [Subject(client) for client in clients]
    with ExitStack() as stack:
        pages: dict[str, Page] = {}

        def open_page(subject: Subject, _round: int) -> None:
            context = stack.enter_context(new_context(bench.browser))
            pages[subject.client.key] = open_pages(context, server.url, subject.client)[0]

        opened = round_robin(bench, table, subjects, 1, open_page)
        reset(server)

        def block(subject: Subject, _round: int) -> None:
            page = pages[subject.client.key]
            login(page)  # a fresh token: no refresh falls due during the block
            before = refresh_calls(stats(server))
            result = page.evaluate(OVERHEAD_LOOP, [API_PATH, per_block, OVERHEAD_WARMUP, paired])
            subject.refreshes += refresh_calls(stats(server)) - before
            if result["failures"]:
                raise RuntimeError(f"requests failed: {others(result['failures'])}")
            subject.times += result["times"]
            subject.plain += result["plain"]

        return round_robin(bench, table, opened, rounds, block)


def dpop_cost(bench: Bench) -> Table:
    """Per-request time with DPoP (a proof signed by WebCrypto per request) against without."""
    n, rounds = bench.settings.overhead_requests, bench.settings.overhead_rounds
    per_block = math.ceil(n / rounds)
    table = Table(
        "dpop",
        f"DPoP: per-request time, {per_block * rounds} sequential `GET {API_PATH}` with a "
        "valid token, with and without DPoP",
        "authfetch alone on a page (`setup()`), with `dpop: true` and without, on each "
        "interpreter, timed and interleaved as in the overhead scenario. With DPoP every "
        "request carries a new proof (ES256 signed by WebCrypto with the non-extractable key) "
        "and the mock server checks it (PyJWT); without, a bearer.",
        ["client", "median ms", "p90 ms", "x without DPoP", "requests"],
    )
    clients = [*AUTHFETCH_BARE.values(), *AUTHFETCH_DPOP.values()]
    measured = time_requests(bench, table, clients, per_block, rounds)
    medians = {subject.client.key: statistics.median(subject.times) for subject in measured}
    for subject in measured:
        median = medians[subject.client.key]
        bench.record("dpop", subject.client, median=median)
        bearer = AUTHFETCH_BARE.get(subject.client.interpreter or "")
        base = medians.get(bearer.key) if bearer else None
        table.rows.append(
            [
                subject.label,
                f"{median:.2f}",
                f"{percentile(subject.times, 0.9):.2f}",
                ratio(median, base) if subject.client is not bearer else "1",
                str(len(subject.times)),
            ]
        )
    return table


def ratio(value: float | None, base: float | None) -> str:
    """``value / base`` as ``1.23``, or ``n/a`` when either is missing."""
    if value is None or not base:
        return "n/a"
    return f"{value / base:.2f}"


# -- 5. start-up and memory ----------------------------------------------------------------

#: Keeps the WebAssembly memories a page instantiates (exported or imported) for measuring.
WASM_PROBE = """(() => {
    const memories = new Set();
    const keep = (value) => { if (value instanceof WebAssembly.Memory) memories.add(value); };
    const collect = (result) => {
        const instance =
            result instanceof WebAssembly.Instance ? result : result && result.instance;
        if (instance) Object.values(instance.exports).forEach(keep);
        return result;
    };
    for (const name of ['instantiate', 'instantiateStreaming']) {
        const original = WebAssembly[name];
        WebAssembly[name] = function (source, imports, ...rest) {
            for (const module of Object.values(imports || {})) {
                Object.values(module || {}).forEach(keep);
            }
            return original.call(this, source, imports, ...rest).then(collect);
        };
    }
    window.__benchWasmBytes = () =>
        [...memories].reduce((sum, memory) => sum + memory.buffer.byteLength, 0);
})();"""


@dataclass
class Load:
    """One measured navigation: ready marker and first authorized 200, ms since navigation;
    when the page's Python started, for the pages that note it (the floors, the bare pages)."""

    ready: float
    first: float
    script: float | None = None


def load_first_ok(page: Page, url: str, client: Client) -> Load:
    """Navigate to ``url``; when the page was ready, and when its first authorized
    ``GET /api/me`` (made by the start-up probe) was answered 200."""
    page.goto(url)
    page.wait_for_function(
        "window.__benchFirst !== undefined", timeout=client.ready_timeout_ms + REQUEST_TIMEOUT_MS
    )
    first = page.evaluate("window.__benchFirst")
    if first["status"] != 200:
        raise RuntimeError(f"the first authorized request got {first['status']}, not 200")
    script = page.evaluate("window.__benchScriptAt ?? null")
    return Load(page.evaluate("window.__benchReadyAt"), first["at"], script)


def startup(bench: Bench) -> Table:
    """Navigation to the first authorized 200 with tokens stored, cold and warm; memory."""
    runs = bench.settings.startup_runs
    table = Table(
        "startup",
        f"start-up and memory: navigation to the first authorized 200, tokens stored "
        f"(median of {runs})",
        "Each run logs in on a first load, then opens the page in a new browser context "
        "holding only that storage (cold: empty HTTP cache) and loads it again (warm). "
        "Measured in the page: `performance.now()` when the page's ready marker appears "
        "(`data-authfetch`, `data-peer` or `data-pyscript`) and when one authorized "
        "`GET /api/me` made right then through the page's own client (authfetch's bridge, "
        "the peer; for a floor, `fetch` with the stored bearer) was answered 200, body "
        "read. Python starts: when the page's own Python began (noted by the floors and "
        "the bare pages); for a bare page, what comes before it beyond its floor's is "
        "PyScript fetching and unpacking the library's archive, and from it to ready, "
        "the import and `setup()`. x floor: against PyScript alone on the same "
        "interpreter. Memory after the "
        "cold load and a GC: V8 heap in use (CDP `Runtime.getHeapUsage`) plus the "
        "WebAssembly memory the page instantiated. Every page comes from a small static "
        "server with the project's caching (versioned files immutable, the rest "
        "revalidated) that passes the demo page and the API to the project's server. "
        "The clients take turns in each run.",
        [
            "client",
            "cold ms",
            "warm ms",
            "cold x floor",
            "warm x floor",
            "ready cold / warm ms",
            "Python starts cold / warm ms",
            "memory MB (JS + wasm)",
            "cold runs",
            "warm runs",
        ],
    )
    loads: dict[str, dict[str, list]] = {
        client.key: {"cold": [], "warm": [], "memory": []} for client in STARTUP_CLIENTS
    }

    def load_twice(client: Client, _round: int) -> None:
        url = bench.static.url + client.path
        with new_context(bench.browser) as first_context:
            page = first_context.new_page()
            page.goto(url)
            open_wait(page, client)
            page.evaluate(LOGIN_ANY, [USERNAME, PASSWORD])
            storage = first_context.storage_state()
        context = bench.browser.new_context(storage_state=storage)
        try:
            context.add_init_script(STARTUP_PROBE)
            context.add_init_script(WASM_PROBE)
            page = context.new_page()
            cold = load_first_ok(page, url, client)
            cdp = context.new_cdp_session(page)
            cdp.send("HeapProfiler.collectGarbage")
            heap = cdp.send("Runtime.getHeapUsage")["usedSize"]
            memory_mb = (heap + page.evaluate("window.__benchWasmBytes()")) / 2**20
            warm = load_first_ok(page, url, client)
        finally:
            context.close()
        record = loads[client.key]
        record["cold"].append(cold)
        record["warm"].append(warm)
        record["memory"].append(memory_mb)

    measured = round_robin(bench, table, list(STARTUP_CLIENTS), runs, load_twice)
    medians: dict[str, dict[str, float]] = {}
    for client in measured:
        record = loads[client.key]
        medians[client.key] = {
            "cold": statistics.median(load.first for load in record["cold"]),
            "warm": statistics.median(load.first for load in record["warm"]),
            "cold_ready": statistics.median(load.ready for load in record["cold"]),
            "warm_ready": statistics.median(load.ready for load in record["warm"]),
            "cold_script": _median_script(record["cold"]),
            "warm_script": _median_script(record["warm"]),
            "memory": statistics.median(record["memory"]),
        }
        bench.record("startup", client, **medians[client.key])
    for client in measured:
        figures = medians[client.key]
        floor_client = FLOOR.get(client.interpreter or "")
        floor = medians.get(floor_client.key) if floor_client else None
        table.rows.append(
            [
                client.label,
                f"{figures['cold']:.0f}",
                f"{figures['warm']:.0f}",
                ratio(figures["cold"], floor and floor["cold"]),
                ratio(figures["warm"], floor and floor["warm"]),
                f"{figures['cold_ready']:.0f} / {figures['warm_ready']:.0f}",
                (
                    f"{figures['cold_script']:.0f} / {figures['warm_script']:.0f}"
                    if figures["cold_script"] >= 0 and figures["warm_script"] >= 0
                    else "-"
                ),
                f"{figures['memory']:.1f}",
                ", ".join(f"{load.first:.0f}" for load in loads[client.key]["cold"]),
                ", ".join(f"{load.first:.0f}" for load in loads[client.key]["warm"]),
            ]
        )
    return table


def _median_script(loads: list[Load]) -> float:
    """The median of when the page's Python started; -1 for a page that does not note it."""
    noted = [load.script for load in loads if load.script is not None]
    return statistics.median(noted) if noted and len(noted) == len(loads) else -1.0


def open_wait(page: Page, client: Client) -> None:
    """Wait for ``client``'s ready marker on an already navigated page."""
    page.wait_for_selector(
        f"html[data-{client.ready_attribute}=ready]",
        state="attached",
        timeout=client.ready_timeout_ms,
    )


# -- the targets ------------------------------------------------------------------------------


def targets(bench: Bench) -> Table:
    """The targets (issues 10 and 17) as ratios of this run's figures (n/a where a figure is
    missing)."""
    metrics = bench.metrics
    table = Table(
        "targets",
        "targets: authfetch against its floors, this run",
        "Ratios of the figures below (same run). Start-up: first authorized 200 with tokens "
        "stored, against PyScript alone on the same interpreter. Per request: against a "
        "plain fetch in the same page (see the overhead table), then against the passthrough "
        "floor of the same interpreter. "
        "Burst: 50 requests at expiry, wall time against the fastest JavaScript peer that "
        "also got 50/50. Memory: above the JavaScript peers' largest. The bare page is "
        "authfetch alone; the demo adds its UI (and, on Pyodide, pyodide-http for the "
        "synchronous path).",
        ["target", "Pyodide: bare / demo", "MicroPython: bare / demo", "goal"],
    )

    def get(scenario: str, key: str, name: str) -> float | None:
        return metrics.get(scenario, {}).get(key, {}).get(name)

    def pair(kind: str, figure: Callable[[str], str]) -> str:
        return f"{figure(AUTHFETCH_BARE[kind].key)} / {figure(AUTHFETCH[kind].key)}"

    for name, label in (("warm", "start-up warm x floor"), ("cold", "start-up cold x floor")):
        cells = [label]
        for kind in INTERPRETERS:
            floor = get("startup", FLOOR[kind].key, name)
            cells.append(pair(kind, lambda key, n=name, f=floor: ratio(get("startup", key, n), f)))
        table.rows.append([*cells, "≤ 1.05 Pyodide, ≤ 1.20 MicroPython; demo ≤ 1.15"])
    cells = ["per request x passthrough floor"]
    for kind in INTERPRETERS:
        floor = get("overhead", PASSTHROUGH[kind].key, "relative")
        cells.append(pair(kind, lambda key, f=floor: ratio(get("overhead", key, "relative"), f)))
    table.rows.append([*cells, "≤ 1.05"])
    cells = ["per request x plain fetch"]
    for kind in INTERPRETERS:
        cells.append(pair(kind, lambda key: ratio(get("overhead", key, "relative"), 1.0)))
    table.rows.append([*cells, "(reported)"])
    full = [
        get("burst", peer.key, "wall")
        for peer in PEERS
        if get("burst", peer.key, "ok") == BURST_REQUESTS
    ]
    fastest = min((wall for wall in full if wall is not None), default=None)

    def burst_cell(key: str) -> str:
        refreshes, ok = get("burst", key, "refreshes"), get("burst", key, "ok")
        wall = get("burst", key, "wall")
        if refreshes is None or ok is None or wall is None:
            return "n/a"
        return f"{refreshes:g} refresh, {ok:g}/50, {ratio(wall, fastest)}x"

    cells = ["burst: refreshes, ok, wall x fastest 50/50 peer"]
    for kind in INTERPRETERS:
        cells.append(pair(kind, burst_cell))
    table.rows.append([*cells, "1, 50/50, ≤ 1"])
    peers_memory = [get("startup", peer.key, "memory") for peer in (PLAIN, CLASSIC, AUTH_REFRESH)]
    js_memory = max((value for value in peers_memory if value is not None), default=None)

    def memory_cell(key: str) -> str:
        value = get("startup", key, "memory")
        if value is None or js_memory is None:
            return "n/a"
        return f"+{value - js_memory:.1f} MB"

    cells = ["memory above the JavaScript peers"]
    for kind in INTERPRETERS:
        cells.append(pair(kind, memory_cell))
    table.rows.append([*cells, "≤ 5 MB MicroPython"])
    if fastest is None:
        table.notes.append("No JavaScript peer got 50/50 in the burst: no wall-time baseline.")
    return table


SCENARIOS: dict[str, Callable[[Bench], Table]] = {
    "burst": burst,
    "tabs": tabs,
    "lifetimes": lifetimes,
    "overhead": overhead,
    "dpop": dpop_cost,
    "startup": startup,
}
